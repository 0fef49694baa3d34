"""The Python API and the pytest helper, used as a user would: from a test file of their own, in a
folder of their own, run by pytest in a subprocess."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import parity
from parity.spec import SpecError, catalog_dir

ROOT = Path(__file__).resolve().parents[2]
SPEC = catalog_dir() / "opt-adam.json"


def test_check_rows_equal_the_csv_the_command_line_writes(tmp_path):
    r = parity.check(SPEC, dtype="float32")
    assert r.verdict == "pass" and r.passed and r.odd_one_out == ""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "parity", "run", str(SPEC), "--dtype", "float32", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    csv = pd.read_csv(out / "results.csv", keep_default_na=False)
    api = r.rows.reset_index(drop=True)
    assert list(csv.columns) == list(api.columns)
    assert len(csv) == len(api)
    for col in ("case", "dtype", "step", "quantity", "tensor", "backend_a", "backend_b", "passed", "status"):
        assert csv[col].astype(str).tolist() == api[col].astype(str).tolist(), col
    for col in ("max_abs", "max_rel", "tolerance"):  # results.csv writes 6 significant digits
        assert csv[col].astype(float).tolist() == [float(f"{v:.6g}") for v in api[col]], col


def test_check_takes_a_dict_and_a_bad_spec_raises_spec_error():
    import json

    spec = json.loads(SPEC.read_text())
    assert parity.check(spec, dtype="float32").spec.name == "opt-adam"
    with pytest.raises(SpecError, match="steps"):
        parity.check({**spec, "steps": -1})


USER_TEST = '''
import parity.testing as pt

@pt.parametrize_specs("specs")
def test_parity(spec):
    pt.assert_parity(spec)
'''

PLANTED = '''
import dataclasses
import parity.testing as pt
from parity.mappings import OPTIMIZERS

def test_planted_keras_learning_rate(monkeypatch):
    m = OPTIMIZERS["adam"]
    monkeypatch.setitem(OPTIMIZERS, "adam", dataclasses.replace(
        m, keras=lambda p: m.keras({**p, "learning_rate": p["learning_rate"] * 1.01})))
    pt.assert_parity("specs/opt-adam.json", dtype="float32")
'''


def _pytest(folder: Path, *files: str):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
                          capture_output=True, text=True, cwd=folder, env=env, timeout=900)


def test_a_users_three_line_test_passes_then_fails_on_a_planted_mismatch_without_warnings(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "opt-adam.json").write_text(SPEC.read_text())
    (tmp_path / "test_parity.py").write_text(textwrap.dedent(USER_TEST))
    ok = _pytest(tmp_path, "test_parity.py")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 passed" in ok.stdout and "warning" not in ok.stdout.lower()
    (tmp_path / "test_planted.py").write_text(textwrap.dedent(PLANTED))
    bad = _pytest(tmp_path, "test_planted.py")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    text = bad.stdout
    assert "AssertionError: Parity check failed for case 'opt-adam' [float32]: verdict fail" in text
    for part in ("step '0_dense/kernel'", "scratch vs keras", "greatest absolute difference",
                 "greatest relative difference", "(allowed ", ", rule ", "odd one out: keras"):
        assert part in text, part
    assert "warning" not in text.lower()


def test_the_fixture_is_registered_by_the_plugin(tmp_path):
    (tmp_path / "test_fixture.py").write_text(textwrap.dedent(f'''
        def test_it(parity_check):
            assert parity_check({str(SPEC)!r}, dtype="float32").verdict == "pass"
    '''))
    proc = _pytest(tmp_path, "test_fixture.py")  # the installed entry point (pytest11) registers it
    assert proc.returncode == 0, proc.stdout + proc.stderr
