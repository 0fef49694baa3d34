"""Reports: the committed report and atlas cover the catalog and the vocabulary (so neither goes
stale silently), the HTML is self-contained and renders in headless Chromium, and a failed run
leaves the previous report intact."""
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from parity.atlas import known_types
from parity.cli import main
from parity.report.document import case_anchor
from parity.spec import load_catalog

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
CASE = {"name": "report-mlp", "seed": 4, "input_shape": [5, 3],
        "layers": [{"type": "dense", "units": 4, "activation": "tanh"}, {"type": "dense", "units": 2}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 3}


def test_committed_report_covers_the_whole_catalog_in_both_dtypes():
    df = pd.read_csv(REPORTS / "results.csv")
    expected = {(s.name, d) for s in load_catalog() for d in ("float64", "float32")}
    assert set(zip(df.case, df.dtype)) == expected
    assert df.passed.all()
    md = (REPORTS / "report.md").read_text()
    html = (REPORTS / "report.html").read_text()
    for name, dtype in expected:
        assert f"### {name} ({dtype}):" in md, name
        assert f"id='{case_anchor(name, dtype)}'" in html or f"{name} ({dtype}):" in html, name  # (older layout)


def test_committed_atlas_covers_the_vocabulary_and_quotes_measurements():
    atlas = (REPORTS / "atlas.md").read_text()
    titles = set(re.findall(r"^## (\S+)", atlas, flags=re.M))
    assert known_types() <= titles
    measured = re.findall(r"^- \*\*measured\*\*: ", atlas, flags=re.M) or re.findall(r"^measured:   ", atlas, flags=re.M)
    assert len(measured) == len(known_types())  # (the second spelling: the layout before headings left the fences)
    assert "not measured yet" not in atlas


def test_report_html_is_self_contained(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(_write(tmp_path)), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"(src|href)=['\"](https?:|//|file:)", html)
    assert (out / "plots" / "report-mlp-float64.png").exists()
    assert "plots/report-mlp-float64.png" in (out / "report.md").read_text()


def _write(tmp_path, spec=CASE):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (make browser)")
def test_report_html_renders_in_headless_chromium(tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    out = tmp_path / "out"
    assert main(["run", str(_write(tmp_path)), "--out", str(out)]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # passing: closed
        figure = page.locator("figure img").first
        figure.screenshot(path=str(tmp_path / "figure.png"))
        browser.close()
    assert not errors, errors
    assert images and all(ok and w > 100 and h > 50 for ok, w, h in images), images
    _assert_plot_has_colour(tmp_path / "figure.png")


def _assert_plot_has_colour(png: Path):
    """The screenshot of a figure shows coloured curves, not a blank or broken image."""
    import matplotlib.image as mpimg

    rgb = mpimg.imread(png)[..., :3]
    saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
    assert (saturation > 0.3).mean() > 0.001  # some clearly coloured pixels (the loss and error curves)


def test_failed_run_leaves_the_previous_report_intact(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(_write(tmp_path)), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = dict(CASE, layers=[{"type": "dense", "units": 4, "activaton": "tanh"}])
    assert main(["run", str(_write(tmp_path, bad)), "--out", str(out)]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".parity-")]
