"""The command line: exit codes 0/1/2, one-line errors without traceback, the FIRM artifacts,
nothing half-written on bad input."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd

from parity.cli import main

GOOD = {"name": "cli-mlp", "seed": 2, "input_shape": [3, 4],
        "layers": [{"type": "dense", "units": 5, "activation": "relu"}, {"type": "dense", "units": 2}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 2}


def write(tmp_path, spec, name="case.json"):
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


def test_run_writes_the_firm_artifacts(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, GOOD)), "--dtype", "float32", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {"results.csv", "tensors.npz", "report.md", "environment.json"}
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns[:11]) == ["case", "dtype", "step", "quantity", "tensor", "backend_a", "backend_b",
                                     "max_abs", "max_rel", "tolerance", "passed"]
    assert set(df.dtype) == {"float32"} and df.passed.all()
    with np.load(out / "tensors.npz") as z:
        keys = set(z.files)
    for key in ("input", "target", "initial/0_dense/kernel", "torch/output/1_dense", "keras/grad/0_dense/kernel",
                "scratch/grad/input", "scratch/step2/1_dense/bias", "keras/loss"):
        assert f"cli-mlp@float32/{key}" in keys, key
    env = json.loads((out / "environment.json").read_text())
    assert {"python", "numpy", "torch", "tensorflow", "keras", "platform"} <= set(env)
    assert "pass  cli-mlp [float32]" in capsys.readouterr().out


def test_bad_spec_exits_2_with_one_line_and_writes_nothing(tmp_path):
    bad = dict(GOOD, layers=[{"type": "dense", "units": 0}])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "parity", "run", str(write(tmp_path, bad)), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "layers[0].units" in lines[0] and "case.json" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", str(write(tmp_path, GOOD)), "--out", str(blocker)]) == 2
    assert "--out" in capsys.readouterr().err


def test_mismatch_exits_1(tmp_path, monkeypatch):
    import dataclasses
    from parity import mappings

    mse = mappings.LOSSES["mean_squared_error"]
    monkeypatch.setitem(mappings.LOSSES, "mean_squared_error",
                        dataclasses.replace(mse, torch=lambda p, layout: __import__("torch").nn.MSELoss(reduction="sum")))
    assert main(["run", str(write(tmp_path, GOOD)), "--dtype", "float64", "--out", str(tmp_path / "o")]) == 1
    report = (tmp_path / "o" / "report.md").read_text()
    summary_row = next(l for l in report.splitlines() if l.startswith("| [cli-mlp](#case-cli-mlp-float64) | float64 |"))
    assert "| FAIL |" in summary_row and summary_row.rstrip().endswith("| torch |")


def test_list_and_explain(capsys):
    assert main(["list"]) == 0
    assert "tutorial-xor" in capsys.readouterr().out
    assert main(["explain", "dense"]) == 0
    text = capsys.readouterr().out
    assert "weight.T" in text and "keras.layers.Dense" in text and "nn.Linear" in text
    assert main(["explain", "nonsense"]) == 2
