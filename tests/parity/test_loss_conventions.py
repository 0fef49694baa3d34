"""The torch-vs-Keras differences of the loss options, measured with both frameworks on the
catalog cases' own data (the model's output at the initial weights), and checked against the
numbers the atlas quotes (``parity.mappings.losses.MEASURED``, 2 significant digits).

Each measurement puts torch's own API (where it means something else) beside Keras's loss:
class weights (torch's weight= divides by the sum of the weights used), KL reductions ('mean' vs
'batchmean'), 'sum' of per-sample means, Keras's label smoothing on BCE vs a torch twin from
smoothed targets, hinge's 0/1 -> -1/+1 mapping, Poisson's epsilon, probability clipping, and
categorical hinge vs nn.MultiMarginLoss."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from parity.mappings import losses as LM  # noqa: E402


def _case_output(name):
    """(prepared case, model output at the initial weights) of a catalog case, float64."""
    from parity.backends import scratch
    from parity.run import prepare
    from parity.spec import load_catalog

    spec = next(s for s in load_catalog() if s.name == name).with_dtype("float64")
    case = prepare(spec)
    return case, scratch.build_model(case).forward(case.x, training=spec.training).copy()


def _keras(name, y, out, sample_weight=None, **kw):
    from parity.backends.keras_backend import keras_state

    with keras_state("float64"):
        fn = getattr(keras.losses, name)(**kw, dtype="float64")
        return float(fn(y, out, sample_weight=sample_weight))


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def measure() -> dict[str, float]:
    import torch.nn as nn
    import torch.nn.functional as F

    m = {}
    # class weights: Keras divides by N, torch's CrossEntropyLoss(weight=) by the sum of the weights used
    case, z = _case_output("loss-scce-class-weight-weighted")
    cw = case.spec.loss.params["class_weight"]
    labels = case.y
    keras_value = _keras("SparseCategoricalCrossentropy", labels, z, sample_weight=np.asarray(cw)[labels], from_logits=True)
    torch_value = float(F.cross_entropy(_t(z), _t(labels), weight=_t(np.asarray(cw))))
    m["class_weight_keras"], m["class_weight_torch"] = keras_value, torch_value
    # KL: reduction='mean' divides by N*C, 'batchmean' by N (= Keras for (N, C))
    case, q = _case_output("loss-kl")
    keras_value = _keras("KLDivergence", case.y, q)
    m["kl_keras"] = keras_value
    with warnings.catch_warnings():  # torch warns that 'mean' will mean 'batchmean' one day: the point here
        warnings.simplefilter("ignore", UserWarning)
        m["kl_mean_ratio"] = keras_value / float(nn.KLDivLoss(reduction="mean")(torch.log(_t(q)), _t(case.y)))
    m["kl_batchmean_diff"] = abs(keras_value - float(nn.KLDivLoss(reduction="batchmean")(torch.log(_t(q)), _t(case.y))))
    # 'sum': Keras sums per-sample means; torch's reduction='sum' every element
    case, y = _case_output("loss-huber-sum")
    keras_value = _keras("Huber", case.y, y, delta=0.5, reduction="sum")
    m["sum_ratio"] = float(nn.HuberLoss(delta=0.5, reduction="sum")(_t(y), _t(case.y))) / keras_value
    # BCE label smoothing: torch has none; BCE-with-logits on smoothed targets is Keras's
    case, z = _case_output("loss-bce-smoothing-weighted")
    ls = case.spec.loss.params["label_smoothing"]
    keras_value = _keras("BinaryCrossentropy", case.y, z, from_logits=True, label_smoothing=ls)
    twin = float(nn.BCEWithLogitsLoss()(_t(z), _t(case.y * (1 - ls) + 0.5 * ls)))
    m["bce_smoothing_twin_diff"] = abs(keras_value - twin)
    m["bce_smoothing_effect"] = abs(keras_value - float(nn.BCEWithLogitsLoss()(_t(z), _t(case.y)))) / keras_value
    # hinge: Keras maps 0/1 labels to -1/+1; the same formula on unmapped labels is another loss
    case, y = _case_output("loss-hinge")
    keras_value = _keras("Hinge", case.y, y)
    unmapped = float(torch.clamp(1 - _t(case.y) * _t(y), min=0).mean())
    m["hinge_keras"], m["hinge_unmapped"] = keras_value, unmapped
    # Poisson: torch's default eps 1e-8 vs Keras's 1e-7
    case, y = _case_output("loss-poisson-weighted")
    keras_value = _keras("Poisson", case.y, y)
    m["poisson_default_eps_rel"] = abs(keras_value - float(nn.PoissonNLLLoss(log_input=False)(_t(y), _t(case.y)))) / keras_value
    # categorical hinge vs nn.MultiMarginLoss (another loss)
    case, y = _case_output("loss-categorical-hinge")
    m["cat_hinge_keras"] = _keras("CategoricalHinge", case.y, y)
    m["cat_hinge_multimargin"] = float(nn.MultiMarginLoss()(_t(y), _t(case.y.argmax(-1))))
    # probability clipping: a saturated probability, t = 1
    for p, key in ((1e-9, "clip_1e-9"), (0.0, "clip_0")):
        pp = np.array([[p]])
        m[f"{key}_keras"] = _keras("BinaryCrossentropy", np.array([[1.0]]), pp)
        m[f"{key}_torch"] = float(nn.BCELoss()(_t(pp), _t(np.array([[1.0]]))))
    return m


def _close(a, b) -> bool:
    return a == b or (abs(a - b) <= 0.05 * max(abs(a), abs(b))) or max(abs(a), abs(b)) < 1e-15


def test_the_atlas_quotes_what_the_frameworks_do():
    measured = measure()
    assert set(measured) == set(LM.MEASURED), sorted(set(measured) ^ set(LM.MEASURED))
    wrong = {k: (measured[k], LM.MEASURED[k]) for k in measured if not _close(measured[k], LM.MEASURED[k])}
    assert not wrong, wrong
    # the reconciled ones are exact, the others are not small
    assert measured["kl_batchmean_diff"] < 1e-15 and measured["bce_smoothing_twin_diff"] < 1e-15
    assert measured["kl_mean_ratio"] == pytest.approx(4.0) and measured["sum_ratio"] == pytest.approx(4.0)
    assert abs(measured["class_weight_torch"] - measured["class_weight_keras"]) > 0.01
    assert measured["clip_0_torch"] == 100.0 and measured["clip_0_keras"] == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_a_planted_stale_number_is_caught(monkeypatch):
    monkeypatch.setitem(LM.MEASURED, "sum_ratio", 3.0)
    with pytest.raises(AssertionError, match="sum_ratio"):
        test_the_atlas_quotes_what_the_frameworks_do()
