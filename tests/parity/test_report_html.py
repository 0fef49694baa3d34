"""report.html in headless Chromium (Debian's, driven by playwright; no browser is downloaded), at
desktop and phone width, on a run with passing, excused (convention) and failing cases: the
banner's counts equal the verdicts in results.csv, the FAIL filter shows exactly the failing cases,
every summary row's link lands on its (opened) case, the summary sorts. Screenshots of the banner,
a filtered view and an open case are kept in test-artifacts/report-html/ (PARITY_ARTIFACTS
overrides the folder) for a person to look at."""
import dataclasses
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from parity import verdicts
from parity.cli import main

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PARITY_ARTIFACTS", ROOT / "test-artifacts")) / "report-html"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

MLP = [{"type": "dense", "units": 4, "activation": "tanh"}, {"type": "dense", "units": 3}]
SPECS = [
    {"name": "html-pass", "seed": 1, "input_shape": [5, 3], "layers": MLP, "loss": {"type": "sum_squared_error"},
     "optimizer": {"type": "sgd", "learning_rate": 0.0625}, "steps": 3},
    {"name": "html-pass", "seed": 1, "dtype": "float32", "input_shape": [5, 3], "layers": MLP,
     "loss": {"type": "sum_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.0625}, "steps": 3},
    {"name": "html-convention", "seed": 2, "input_shape": [6, 3], "layers": MLP, "loss": {"type": "huber"},
     "optimizer": {"type": "adam", "learning_rate": 0.01, "beta_1": 0.875, "beta_2": 0.9375, "epsilon": 0.001}, "steps": 4},
    {"name": "html-fail-mse", "seed": 3, "input_shape": [4, 3], "layers": MLP, "loss": {"type": "mean_squared_error"},
     "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 2},
    {"name": "html-fail-mse-deep", "seed": 4, "input_shape": [7, 3], "layers": [*MLP, {"type": "dense", "units": 2}],
     "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 2},
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from parity import mappings

    if os.environ.get("REPORTS_DEV_OUT"):
        return Path(os.environ["REPORTS_DEV_OUT"])
    tmp = tmp_path_factory.mktemp("html")
    paths = []
    for i, spec in enumerate(SPECS):
        paths.append(tmp / f"{i}.json")
        paths[-1].write_text(json.dumps(spec))
    mse = mappings.LOSSES["mean_squared_error"]
    planted = dataclasses.replace(mse, torch=lambda p, layout: __import__("torch").nn.MSELoss(reduction="sum"))
    mappings.LOSSES["mean_squared_error"] = planted  # torch sums where the others average: FAIL, torch odd
    try:
        assert main(["run", *map(str, paths), "--out", str(tmp / "out"), "-q"]) == 1
    finally:
        mappings.LOSSES["mean_squared_error"] = mse
    return tmp / "out"


def _verdicts(out: Path) -> dict[tuple[str, str], str]:
    df = pd.read_csv(out / "results.csv")
    return {(c, d): verdicts.worst(g.status) for (c, d), g in df.groupby(["case", "dtype"])}


def test_report_is_small_and_self_contained(report):
    text = (report / "report.html").read_text()
    assert len(text) < 150_000 * len(SPECS)
    assert "data:image/png;base64," in text
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text.replace(
        "https://no-color.org", "")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser)")
def test_report_html_in_headless_chromium(report):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    expected = _verdicts(report)
    assert set(expected.values()) == {"pass", "convention", "fail"}  # the run has all three kinds
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for label, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
            page = browser.new_page(viewport=viewport)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto((report / "report.html").as_uri())
            page.wait_for_load_state("load")
            page.locator("header.banner").screenshot(path=str(ARTIFACTS / f"{label}-banner.png"))

            # the banner's counts are the verdicts of results.csv
            counts = dict(page.evaluate("Array.from(document.querySelectorAll('.counts button'))"
                                        ".map(b => [b.dataset.filter, +b.dataset.count])"))
            want = {v: list(expected.values()).count(v) for v in set(expected.values())}
            assert counts == {"all": len(expected), **want}

            # failing and excused cases open, passing ones closed
            state = dict(page.evaluate("Array.from(document.querySelectorAll('details.case'))"
                                       ".map(d => [d.id, [d.dataset.verdict, d.open]])"))
            assert len(state) == len(expected)
            assert all(is_open == (v != "pass") for v, is_open in state.values()), state

            # FAIL shows exactly the failing cases, in the summary and among the cases
            page.click(".counts button[data-filter=fail]")
            shown = page.evaluate("Array.from(document.querySelectorAll('details.case:not(.hidden)'))"
                                  ".map(d => d.dataset.name + ' ' + d.dataset.verdict)")
            failing = sorted(f"{c} fail" for (c, d), v in expected.items() if v == "fail")
            assert sorted(shown) == failing
            rows = page.evaluate("Array.from(document.querySelectorAll('#summary ~ .scroll tr[data-verdict]:not(.hidden)'))"
                                 ".map(r => r.dataset.verdict)")
            assert rows == ["fail"] * len(failing)
            page.screenshot(path=str(ARTIFACTS / f"{label}-filtered-fail.png"), full_page=True)
            page.click(".counts button[data-filter=all]")
            page.fill("#filter", "deep")
            assert page.evaluate("Array.from(document.querySelectorAll('details.case:not(.hidden)')).map(d => d.id)") \
                == ["case-html-fail-mse-deep-float64"]
            page.fill("#filter", "")

            # every summary row links to its case, which opens and comes into view
            links = page.evaluate("Array.from(document.querySelectorAll('tr[data-verdict] a')).map(a => a.hash)")
            assert len(links) == len(expected)
            for link in links:
                page.click(f"tr[data-verdict] a[href='{link}']")
                landed = page.evaluate("id => { const d = document.getElementById(id); "
                                       "const r = d.getBoundingClientRect(); "
                                       "return [d.tagName, d.open, Math.round(r.top), innerHeight]; }", link[1:])
                assert landed[0] == "DETAILS" and landed[1] and 0 <= landed[2] < landed[3] / 2, (link, landed)
            page.goto((report / "report.html").as_uri() + "#case-html-pass-float32")
            assert page.evaluate("document.getElementById('case-html-pass-float32').open")
            page.locator("#case-html-fail-mse-float64").screenshot(path=str(ARTIFACTS / f"{label}-open-case.png"))

            # the summary sorts by a column, both ways
            names = "Array.from(document.querySelectorAll('tr[data-verdict]')).map(r => r.cells[0].textContent)"
            page.click("table.sortable th:nth-child(1)")
            up = page.evaluate(names)
            page.click("table.sortable th:nth-child(1)")
            assert page.evaluate(names) == up[::-1] and up == sorted(up)

            # at phone width nothing but the tables' own boxes scrolls sideways
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth + 1"), label
            images = page.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])")
            assert images and all(w >= 400 and h >= 300 for w, h in images), images  # 100 dpi panels
            page.close()
        browser.close()
    assert not errors, errors
