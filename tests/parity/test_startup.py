"""Start-up: the commands that need no framework (list, explain, schema, and every refusal of bad
input) run without importing torch or TensorFlow, each in a fresh interpreter."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("torch", "tensorflow", "keras")
RUNNER = """\
import json, runpy, sys
for name in sys.argv[1].split(",") if sys.argv[1] else []:
    __import__(name)
sys.argv = ["parity", *sys.argv[2:]]
try:
    runpy.run_module("parity", run_name="__main__")
    code = 0
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "loaded": [m for m in %r if m in sys.modules]}), file=sys.stderr)
""" % (FRAMEWORKS,)

UNSUPPORTED = {"name": "rnn-sigmoid", "seed": 0, "input_shape": [2, 3, 4],
               "layers": [{"type": "simple_rnn", "units": 3, "activation": "sigmoid"}],
               "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "steps": 1}


def run_parity(*args: str, preload: str = "") -> dict:
    """Exit code and the frameworks in sys.modules after ``python -m parity ARGS`` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", RUNNER, preload, *args], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    return json.loads(out.stderr.strip().splitlines()[-1])


def commands(tmp: Path) -> dict[str, tuple[list[str], int]]:
    bad = tmp / "bad.json"
    bad.write_text(json.dumps({"name": "no-shape"}))
    unsupported = tmp / "unsupported.json"
    unsupported.write_text(json.dumps(UNSUPPORTED))
    out = str(tmp / "out")
    return {"list": (["list"], 0), "explain": (["explain", "lstm"], 0), "schema": (["schema"], 0),
            "schema-json": (["schema", "--json"], 0),
            "bad spec": (["run", str(bad), "--out", out], 2),
            "no twin in torch": (["run", str(unsupported), "--out", out], 2),
            "missing file": (["run", str(tmp / "missing.json"), "--out", out], 2),
            "bad argument": (["run", "--dtype", "float16"], 2),
            "unknown type": (["explain", "no_such_layer"], 2),
            "bench bad spec": (["bench", str(bad)], 2)}


@pytest.mark.parametrize("name", ["list", "explain", "schema", "schema-json", "bad spec", "no twin in torch",
                                  "missing file", "bad argument", "unknown type", "bench bad spec"])
def test_command_imports_no_framework(name, tmp_path):
    args, code = commands(tmp_path)[name]
    got = run_parity(*args)
    assert got == {"exit": code, "loaded": []}
    assert not (tmp_path / "out").exists()  # a refusal writes nothing


def test_the_check_sees_a_framework_that_was_imported(tmp_path):
    """The same runner with torch imported first reports it (the check above can fail)."""
    assert run_parity("list", preload="torch")["loaded"] == ["torch"]
