"""``parity import torch|keras MODULE:FACTORY``: the spec file (and weights) of an existing model;
bad input exits 2 with one line and writes nothing."""
from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")

from parity.cli import main  # noqa: E402
from parity.spec import parse_spec  # noqa: E402

MODELS = textwrap.dedent('''
    import torch
    import torch.nn as nn

    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 3, 3))

    def unmapped():
        return nn.Sequential(nn.Linear(3, 3), nn.PReLU())

    def broken():
        raise RuntimeError("no weights file")

    def not_a_model():
        return 3

    def keras_net():
        import keras
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh", name="hidden"),
                                 keras.layers.Dense(2, name="out")])
''')


@pytest.fixture
def models(tmp_path, monkeypatch):
    name = f"porter_models_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_torch_spec_and_weights(models, tmp_path, capsys):
    code = main(["import", "torch", f"{models}:net", "--input-shape", "2,6,5,1", "--loss",
                 '{"type": "categorical_crossentropy", "from_logits": true}', "--optimizer", "adam", "--steps", "2",
                 "--weights", "w.npz", "--out", "spec.json"])
    assert code == 0, capsys.readouterr().err
    spec = json.loads((tmp_path / "spec.json").read_text())
    parsed = parse_spec(spec)
    assert [l.type for l in parsed.layers] == ["conv2d", "relu", "flatten", "dense"]
    assert parsed.loss.params["from_logits"] is True and parsed.optimizer.type == "adam" and parsed.steps == 2
    weights = np.load(tmp_path / "w.npz")
    assert sorted(weights.files) == ["0/bias", "0/kernel", "3/bias", "3/kernel"]
    assert weights["0/kernel"].shape == (3, 3, 1, 2)  # canonical HWIO
    assert main(["run", "spec.json", "--out", str(tmp_path / "out"), "-q"]) == 0


def test_keras_prints_the_spec(models, capsys):
    assert main(["import", "keras", f"{models}:keras_net"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert [l["name"] for l in spec["layers"]] == ["hidden", "out"] and spec["input_shape"] == [2, 5]


@pytest.mark.parametrize("argv, message", [
    (["torch", "{m}:unmapped", "--input-shape", "2,3"], "{m}:unmapped: 1 (PReLU): no parity mapping for torch class PReLU"),
    (["torch", "{m}:broken", "--input-shape", "2,3"], "{m}:broken: broken() raised RuntimeError: no weights file"),
    (["torch", "{m}:missing", "--input-shape", "2,3"], "{m}:missing: {m} has no callable 'missing'"),
    (["torch", "{m}:not_a_model", "--input-shape", "2,3"], "{m}:not_a_model: returned a int, not a torch.nn.Module"),
    (["torch", "no_such_module_xyz:f", "--input-shape", "2,3"], "no_such_module_xyz:f: cannot import no_such_module_xyz"),
    (["torch", "{m}:net"], "--input-shape: required for a torch model"),
    (["torch", "{m}:net", "--input-shape", "2,0,5"], "--input-shape: expected positive ints"),
    (["torch", "{m}", "--input-shape", "2,3"], "MODULE:FACTORY: expected a module and a callable"),
    (["torch", "{m}:net", "--input-shape", "2,6,5,1", "--loss", "{bad"], "--loss: not a JSON object"),
    (["torch", "{m}:net", "--input-shape", "2,6,5,1", "--optimizer", "nadamw"], "optimizer.type: expected"),
    (["keras", "{m}:keras_net", "--input-shape", "2,6"], "input_shape [2, 6] does not fit the model's input"),
])
def test_bad_input_exits_2_in_one_line(models, tmp_path, capsys, argv, message):
    argv = [a.replace("{m}", models) for a in argv]
    code = main(["import", *argv, "--out", "spec.json", "--weights", "w.npz"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message.replace("{m}", models) in err
    assert not (tmp_path / "spec.json").exists() and not (tmp_path / "w.npz").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_out_replaced_whole(models, tmp_path, capsys):
    (tmp_path / "spec.json").write_text("old")
    assert main(["import", "torch", f"{models}:unmapped", "--input-shape", "2,3", "--out", "spec.json"]) == 2
    assert (tmp_path / "spec.json").read_text() == "old"
    assert main(["import", "torch", f"{models}:net", "--input-shape", "2,6,5,1", "--out", "spec.json"]) == 0
    assert json.loads((tmp_path / "spec.json").read_text())["layers"][0]["type"] == "conv2d"
