"""The loss fields of the spec (DESIGN.md "Training options"): defaults filled in, the refusals
(exit 2, one line naming the field, nothing written), and the sample weights' own generator."""
from __future__ import annotations

import json

import numpy as np
import pytest

from parity.cli import main
from parity.spec import SpecError, parse_spec

MLP = [{"type": "dense", "units": 7, "activation": "tanh"}, {"type": "dense", "units": 4}]


def spec(loss, layers=MLP, input_shape=(6, 5)):
    return {"name": "case", "input_shape": list(input_shape), "layers": layers, "loss": loss,
            "optimizer": {"type": "sgd"}}


def test_defaults_are_keras_and_filled_in():
    p = parse_spec(spec({"type": "binary_focal_crossentropy", "from_logits": True})).loss.params
    assert p == {"gamma": 2.0, "alpha": 0.25, "apply_class_balancing": False, "from_logits": True,
                 "label_smoothing": 0.0, "reduction": "sum_over_batch_size", "sample_weight": False}
    p = parse_spec(spec({"type": "categorical_focal_crossentropy", "from_logits": True})).loss.params
    assert p == {"gamma": 2.0, "alpha": 0.25, "from_logits": True, "label_smoothing": 0.0, "class_weight": None,
                 "reduction": "sum_over_batch_size", "sample_weight": False}
    assert parse_spec(spec({"type": "cosine_similarity"})).loss.params["axis"] == -1
    assert parse_spec(spec({"type": "sum_squared_error"})).loss.params == {}
    weights = parse_spec(spec({"type": "categorical_crossentropy", "from_logits": True, "class_weight": [1, 2, 3, 4]}))
    assert weights.loss.params["class_weight"] == (1.0, 2.0, 3.0, 4.0)
    assert json.loads(json.dumps(weights.to_dict()))["loss"]["class_weight"] == [1.0, 2.0, 3.0, 4.0]


SEQUENCE = [{"type": "dense", "units": 4}]
REFUSED = [
    ({"type": "categorical_crossentropy", "from_logits": True, "class_weight": [1, 2, 3]}, MLP, (6, 5),
     "loss.class_weight: expected 4 weights (one per class of the output), got 3"),
    ({"type": "categorical_crossentropy", "from_logits": True, "class_weight": [1, 2, 3, 4]}, SEQUENCE, (3, 5, 2),
     "loss.class_weight: expected no class_weight for a per-token or per-pixel target"),
    ({"type": "sparse_categorical_crossentropy", "from_logits": True, "label_smoothing": 0.1}, MLP, (6, 5),
     "loss.label_smoothing: expected no label_smoothing for sparse_categorical_crossentropy"),
    ({"type": "mean_squared_error", "label_smoothing": 0.1}, MLP, (6, 5),
     "loss.label_smoothing: expected no label_smoothing for mean_squared_error"),
    ({"type": "mean_squared_error", "reduction": "mean"}, MLP, (6, 5),
     'loss.reduction: expected one of "sum_over_batch_size", "sum", got "mean"'),
    ({"type": "hinge", "reduction": "none"}, MLP, (6, 5), 'loss.reduction: expected one of "sum_over_batch_size", "sum"'),
    ({"type": "sum_squared_error", "sample_weight": True}, MLP, (6, 5),
     "loss.sample_weight: expected no sample_weight for sum_squared_error"),
    ({"type": "mean_absolute_error", "class_weight": [1, 1, 1, 1]}, MLP, (6, 5),
     "loss.class_weight: expected no class_weight for mean_absolute_error"),
    ({"type": "binary_crossentropy", "from_logits": True, "label_smoothing": 1.5}, MLP, (6, 5),
     "loss.label_smoothing: expected a number in [0, 1]"),
    ({"type": "categorical_crossentropy", "from_logits": True, "class_weight": [1, -2, 3, 4]}, MLP, (6, 5),
     "loss.class_weight: expected a non-empty list of finite numbers >= 0"),
    ({"type": "cosine_similarity", "axis": 2}, MLP, (6, 5), "loss.axis: expected an axis of the output"),
    ({"type": "poisson"}, MLP, (6, 5), "loss.type: expected a model whose output ends in softplus or sigmoid or softmax"),
    ({"type": "kl_divergence"}, MLP, (6, 5), "loss.type: expected a model whose output ends in softmax or sigmoid"),
    ({"type": "categorical_focal_crossentropy"}, MLP, (6, 5), "loss.from_logits: expected true, or a last layer"),
]


@pytest.mark.parametrize("loss,layers,shape,message", REFUSED, ids=[m.split(":")[0] + "-" + l["type"] for l, _, _, m in REFUSED])
def test_refused_in_one_line_with_exit_2(tmp_path, capsys, loss, layers, shape, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec(loss, layers, shape)))
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse_spec(json.loads(path.read_text()), str(path))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and str(path) in err
    assert not out.exists()


def test_sample_weights_come_from_their_own_generator_and_move_nothing_else():
    from parity.run import prepare

    plain = parse_spec(spec({"type": "mean_squared_error"}))
    weighted = parse_spec(spec({"type": "mean_squared_error", "sample_weight": True}))
    a, b = prepare(plain), prepare(weighted)
    assert a.sample_weight is None
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert all(np.array_equal(a.initial[k], b.initial[k]) for k in a.initial)
    w = b.sample_weight
    assert w.shape == (6,) and w.dtype == np.float64 and np.all((w >= 0.5) & (w < 1.5))
    np.testing.assert_array_equal(w, np.random.default_rng([0, 2]).uniform(0.5, 1.5, size=6))
    assert prepare(weighted.with_dtype("float32")).sample_weight.dtype == np.float32


def test_a_planted_sample_weight_bug_in_one_backend_is_blamed_on_it(monkeypatch):
    """torch given the weights in reverse order: the loss row fails and torch is the odd one out."""
    from parity.backends import torch_backend
    from parity.run import run_case

    real = torch_backend.run

    def reversed_weights(case, **kw):
        import dataclasses
        return real(dataclasses.replace(case, sample_weight=case.sample_weight[::-1].copy()), **kw)

    monkeypatch.setattr(torch_backend, "run", reversed_weights)
    res = run_case(parse_spec(spec({"type": "mean_absolute_error", "sample_weight": True})))
    loss_rows = [r for r in res.rows if r["quantity"] == "loss"]
    assert not all(r["passed"] for r in loss_rows)
    assert {r["odd_one_out"] for r in loss_rows} == {"torch"}
