"""The command line under bad usage, a crashing case and specs too large to hold: one line and
exit 2 for bad input, the other cases kept and exit 1 for a crash, never a traceback."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from parity.cli import main
from parity.spec import SpecError, load_catalog, parse_spec
from parity.spec.shapes import MAX_ELEMENTS

GOOD = {"name": "ok-mlp", "seed": 2, "input_shape": [3, 4],
        "layers": [{"type": "dense", "units": 5, "activation": "relu"}, {"type": "dense", "units": 2}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 1}


def write(tmp_path, spec, name):
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


# --- usage errors: one line on stderr, exit 2; --help still the full help --------------------

@pytest.mark.parametrize("argv, text", [
    (["run", "x.json", "--dtype", "float16"], "--dtype: invalid choice: 'float16'"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["explain"], "required: type"),
    ([], "required: command"),
    (["bench", "--repeat"], "--repeat: expected one argument"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, text, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and text in err, err
    assert "usage:" not in err and "--help" in err


def test_usage_error_from_the_shell_has_no_usage_block():
    proc = subprocess.run([sys.executable, "-m", "parity", "run", "--dtype", "float16"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and "float16" in proc.stderr, proc.stderr


def test_help_still_prints_the_full_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m parity run") and "--dtype" in out and "--out" in out


# --- a case that raises: reported, the others kept, exit 1 ----------------------------------

def _exploding(names, exc=RuntimeError("framework exploded\nsecond line")):
    from parity import run

    real = run.run_case

    def run_case(spec, **options):
        if spec.name in names:
            raise exc
        return real(spec)
    return run_case


def test_a_crashing_case_is_reported_and_the_others_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("parity.run.run_case", _exploding({"boom"}))
    specs = [write(tmp_path, dict(GOOD, name="boom"), "boom.json"), write(tmp_path, GOOD, "ok.json")]
    out = tmp_path / "out"
    assert main(["run", *specs, "--dtype", "float32", "--out", str(out)]) == 1
    stdout = capsys.readouterr().out
    assert "ERROR boom [float32]: RuntimeError: framework exploded\n" in stdout
    assert "pass  ok-mlp [float32]" in stdout
    assert "1 pass, 1 ERROR; did not run: boom [float32]" in stdout.splitlines()[-1]
    assert set(pd.read_csv(out / "results.csv").case) == {"ok-mlp"}
    for report in ("report.md", "report.html"):
        text = (out / report).read_text()
        assert "Cases that did not run" in text and "framework exploded" in text, report


def test_every_case_crashing_exits_1_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("parity.run.run_case", _exploding({"boom", "ok-mlp"}, MemoryError()))
    specs = [write(tmp_path, dict(GOOD, name="boom"), "boom.json"), write(tmp_path, GOOD, "ok.json")]
    out = tmp_path / "out"
    assert main(["run", *specs, "--dtype", "float32", "--out", str(out)]) == 1
    stdout = capsys.readouterr().out
    assert "ERROR boom [float32]: MemoryError" in stdout and "ERROR ok-mlp [float32]: MemoryError" in stdout
    assert "2 ERROR; did not run: boom [float32], ok-mlp [float32]" in stdout
    assert not out.exists() and not list(tmp_path.glob(".parity-*"))


def test_ctrl_c_still_stops_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("parity.run.run_case", _exploding({"ok-mlp"}, KeyboardInterrupt()))
    specs = [write(tmp_path, GOOD, "ok.json"), write(tmp_path, dict(GOOD, name="later"), "later.json")]
    assert main(["run", *specs, "--out", str(tmp_path / "out")]) == 130
    captured = capsys.readouterr()
    assert captured.err == "interrupted\n" and "later" not in captured.out  # the next case never started


# --- specs too large to hold in memory: SpecError, one line, exit 2 --------------------------

HUGE = 2**62  # within the int64 cap on every int field (a larger int is refused at the field itself)


@pytest.mark.parametrize("input_shape, layer, path, what", [
    ([3, 4], {"type": "dense", "units": HUGE}, "layers[0]", "the kernel of shape (4 x ~10^18)"),
    ([100000, 100000], {"type": "dense", "units": 2}, "input_shape", "the input of shape (100000 x 100000)"),
    ([2**20, 4], {"type": "dense", "units": 128}, "layers[0]", "the output (batch included)"),
    ([2, 8, 8, 3], {"type": "conv2d", "filters": 2**25, "kernel_size": 1}, "layers[0]", "the kernel"),
    ([2, 8, 8, 3], {"type": "depthwise_conv2d", "kernel_size": 1, "depth_multiplier": 2**25}, "layers[0]",
     "the kernel"),
    ([2, 5, 3], {"type": "lstm", "units": 5000}, "layers[0]", "the recurrent_kernel of shape (5000 x 20000)"),
    ([2, 5, 3], {"type": "gru", "units": 2**13}, "layers[0]", "the recurrent_kernel"),
    ([2, 5, 3], {"type": "simple_rnn", "units": 2**14}, "layers[0]", "the recurrent_kernel"),
])
def test_too_large_tensors_are_refused(input_shape, layer, path, what):
    data = dict(GOOD, input_shape=input_shape, layers=[layer])
    with pytest.raises(SpecError) as info:
        parse_spec(data, "big.json")
    assert info.value.path == path and what in info.value.message, str(info.value)
    assert f"at most {MAX_ELEMENTS} elements" in info.value.message


def test_too_large_embedding_is_refused():
    data = dict(GOOD, input_shape=[2, 5], input={"kind": "integers", "high": 3},
                layers=[{"type": "embedding", "input_dim": HUGE, "output_dim": 2}, {"type": "flatten"}])
    with pytest.raises(SpecError, match=r"layers\[0\]: .*the embeddings of shape \(~10\^18 x 2\)"):
        parse_spec(data, "big.json")


def test_a_trajectory_too_long_to_keep_is_refused():
    """Each framework keeps the weights after every step: 100000 steps of a 4M-parameter model
    would be 3 TB, though every single tensor is small."""
    from parity.spec.shapes import MAX_TRAJECTORY

    data = dict(GOOD, input_shape=[2, 2000], layers=[{"type": "dense", "units": 2000}], steps=100000)
    with pytest.raises(SpecError, match=rf"steps: expected steps x parameter elements <= {MAX_TRAJECTORY} .*"
                                        r"got 100000 x 4000000 = 400000000000"):
        parse_spec(data, "long.json")
    parse_spec(dict(data, steps=MAX_TRAJECTORY // 4_000_000))


def test_just_under_the_limit_is_accepted():
    parse_spec(dict(GOOD, input_shape=[2**20, 64], layers=[{"type": "dense", "units": 64}]))  # 2**26 each
    assert load_catalog()


@pytest.mark.parametrize("command", ["run", "bench"])
def test_too_large_spec_exits_2_from_run_and_bench(tmp_path, command, capsys):
    path = write(tmp_path, dict(GOOD, layers=[{"type": "dense", "units": HUGE}]), "huge.json")
    out = tmp_path / "out"
    assert main([command, path, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "huge.json: layers[0]:" in err and "kernel" in err, err
    assert not out.exists()
