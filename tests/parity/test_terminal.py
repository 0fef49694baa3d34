"""The terminal, --json and --junit-xml: every status handled from the one table, excused
differences shown on the pass line, stdout holding only JSON with --json, catalog names and -k."""
import io
import json
import xml.etree.ElementTree as ET

import pytest

from parity import terminal, verdicts
from parity.cli import main
from parity.selection import SelectionError, resolve

GOOD = {"name": "term-mlp", "seed": 3, "input_shape": [3, 4],
        "layers": [{"type": "dense", "units": 5, "activation": "tanh"}, {"type": "dense", "units": 2}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 2}


def row(status="pass", max_rel=1e-16, tolerance=1e-12, a="scratch", b="torch", tensor="0_dense/kernel", note="",
        odd=""):
    return {"case": "c", "dtype": "float64", "step": 1, "quantity": "step", "tensor": tensor, "backend_a": a,
            "backend_b": b, "max_abs": max_rel, "max_rel": max_rel, "tolerance": tolerance,
            "passed": verdicts.passed(status), "status": status, "note": note, "odd_one_out": odd,
            "worst_index": "(0, 1)"}


def test_pass_line_names_the_excused_difference():
    rows = [row(), row("convention", 1.6e-3, a="torch", b="keras", note="adam: Keras's eps_hat differs")]
    line = terminal.case_line("my-case", "float64", rows)
    assert line.startswith("pass  my-case [float64]")
    assert "(convention 1.6e-03 torch~keras: adam: Keras's eps_hat differs)" in line
    assert terminal.case_line("my-case", "float64", [row()]) == "pass  my-case [float64]"


@pytest.mark.parametrize("status", verdicts.NAMES)
def test_every_status_decides_verdict_exit_code_and_line(status):
    rows = [row(), row(status, 3e-2, note=f"why {status}", odd="torch")]
    assert terminal.case_verdict(rows) == status
    record = terminal.json_record("c", "float64", rows)
    assert record["verdict"] == status and record["worst"]["status"] == status
    assert verdicts.exit_code([record["verdict"]]) == (0 if status in verdicts.PASSING else 1)
    line = terminal.case_line("c", "float64", rows)
    if status in verdicts.PASSING:
        assert line.startswith("pass  c") and (status == "pass" or f"({status} 3.0e-02" in line)
    else:
        assert line.startswith(status.upper()) and "odd one out: torch" in line


def test_unknown_status_is_a_failure():
    rows = [row(), row("brand-new", 1e-3)]
    assert not terminal.json_record("c", "float64", rows)["passed"]
    assert terminal.case_line("c", "float64", rows).startswith("BRAND-NEW")


def test_failing_table_says_how_many_it_shows_to_three_digits():
    rows = [row("fail", 0.1 + i * 1e-3, tensor=f"t{i}") for i in range(433)] + [row()]
    caption, cells = terminal.failing_table(rows)
    assert caption == "showing 20 of 433 failing rows (worst first)"
    assert len(cells) == 20 and cells[0][2] == "t432"  # worst first
    assert cells[0][6] == "0.532" and cells[0][7] == "1.00e-12"
    assert terminal.failing_table(rows[:1])[0] == "1 failing row"


def test_significant_digits():
    assert [terminal.sig(v) for v in (0.123456, 1234.5, 1.23456e-7, 0.0, 12345678.0, 7)] == \
        ["0.123", "1.23e+03", "1.23e-07", "0", "1.23e+07", "7"]


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert terminal.use_colour(Tty()) and not terminal.use_colour(io.StringIO())
    assert "\x1b[31;1m" in terminal.case_line("c", "float64", [row("fail", 1.0)], colour=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not terminal.use_colour(Tty())


def _write(tmp_path, spec):
    path = tmp_path / f"{spec['name']}.json"
    path.write_text(json.dumps(spec))
    return path


def _plant_mse_sum(monkeypatch):
    import dataclasses
    from parity import mappings

    mse = mappings.LOSSES["mean_squared_error"]
    monkeypatch.setitem(mappings.LOSSES, "mean_squared_error", dataclasses.replace(
        mse, torch=lambda p, layout: __import__("torch").nn.MSELoss(reduction="sum")))


def test_json_lines_on_stdout_only_and_junit_xml(tmp_path, capsys, monkeypatch):
    good = _write(tmp_path, GOOD)
    bad = _write(tmp_path, dict(GOOD, name="term-mse-planted"))
    junit = tmp_path / "junit.xml"
    assert main(["run", str(good), "--out", str(tmp_path / "o"), "--json", "--junit-xml", str(junit)]) == 0
    out = capsys.readouterr()
    records = [json.loads(line) for line in out.out.splitlines()]
    assert [(r["name"], r["verdict"]) for r in records] == [("term-mlp", "pass")]
    assert "pass  term-mlp [float64]" in out.err and "1 pass" in out.err

    _plant_mse_sum(monkeypatch)  # torch's loss summed instead of averaged: torch is the odd one out
    assert main(["run", str(good), str(bad), "--dtype", "float32", "--out", str(tmp_path / "o"), "--json",
                 "--junit-xml", str(junit)]) == 1
    out = capsys.readouterr()
    records = [json.loads(line) for line in out.out.splitlines()]  # every stdout line is JSON
    assert [r["verdict"] for r in records] == ["fail", "fail"]
    assert all(r["odd_one_out"] == "torch" and r["worst"]["quantity"] in ("loss", "grad", "output", "step")
               for r in records)
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["term-mlp [float32]", "term-mse-planted [float32]"]
    assert suite.get("tests") == "2" and suite.get("failures") == "2"
    assert all("odd one out: torch" in c.find("failure").get("message") for c in cases)


def test_quiet_prints_only_what_did_not_pass(tmp_path, capsys):
    assert main(["run", str(_write(tmp_path, GOOD)), "--out", str(tmp_path / "o"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "term-mlp" not in out and out.startswith("1 pass")


def test_catalog_names_and_k_globs():
    names = [(s.name, s.dtype) for s in resolve(["opt-adam"], None, None)]
    assert names == [("opt-adam", "float64")]
    adam = resolve([], ["opt-adam*"], None)
    from parity.spec import load_catalog

    assert {s.name for s in adam} == {s.name for s in load_catalog() if s.name.startswith("opt-adam")}
    assert {"opt-adam", "opt-adam-eps"} <= {s.name for s in adam} and "opt-sgd" not in {s.name for s in adam}
    assert {s.dtype for s in adam} == {"float32", "float64"}
    assert {s.dtype for s in resolve([], ["opt-adam"], "float32")} == {"float32"}
    with pytest.raises(SelectionError, match="did you mean 'opt-adam'"):
        resolve(["opt-adm"], None, None)
    with pytest.raises(SelectionError, match="-k 'zz\\*'"):
        resolve([], ["zz*"], None)


def test_bad_selection_and_junit_target_exit_2(tmp_path, capsys):
    assert main(["run", "opt-adm", "--out", str(tmp_path / "o")]) == 2
    assert main(["run", "-k", "nothing-like-this", "--out", str(tmp_path / "o")]) == 2
    assert main(["run", "opt-adam", "--out", str(tmp_path / "o"), "--junit-xml", str(tmp_path / "no" / "j.xml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(l.startswith("error: ") for l in err)
    assert not (tmp_path / "o").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("parity ")
