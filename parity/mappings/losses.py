"""Losses in all three frameworks, and the targets the harness generates for each.

The spec's loss is Keras's: a per-sample loss (a mean over the last axis for the regression, hinge
and binary losses; a sum over it for the categorical ones, KL and cosine), then the reduction:
``sum_over_batch_size`` (the default: the sum over the per-sample losses divided by their count,
N for (N, C) outputs, N*T per token) or ``sum``. Weights multiply each per-sample loss: the case's
``sample_weight`` (one per sample, drawn by ``parity.run.prepare``) and, for the categorical
losses, ``class_weight[class]`` (Keras's ``fit(class_weight=)``); the divisor stays the count.
torch's side computes the same per-sample losses with torch's own functionals (reduction='none')
and reduces them as Keras does (``_keras_reduce``); where torch's own reduction means something
else, the atlas entry says so and by how much (measured on the catalog case, ``MEASURED``).

Reductions: Keras's default ``sum_over_batch_size`` = torch's ``reduction='mean'`` (sum of the
per-sample losses over their count). The seed tutorial's loss is a plain SUM of squared errors:
torch ``MSELoss(reduction='sum')``; Keras has no such class (``MeanSquaredError(reduction='sum')``
sums per-sample MEANS, i.e. divides by the last axis), so the harness writes
``keras.ops.sum(keras.ops.square(y_pred - y_true))``.

Cross-entropy from probabilities: Keras renormalises categorical probabilities and clips them to
[1e-7, 1 - 1e-7]; torch's BCELoss clamps log p at -100 and has no probability-input categorical
loss, so the harness writes Keras's meaning: -(t log q), q = clip(p / sum_c p, 1e-7, 1 - 1e-7),
summed over classes (``_keras_probabilities``), and for the sparse loss TF's other order: clip,
then renormalise (``_keras_sparse_log_probabilities``); ``from_logits=True`` agrees exactly in
every framework. Binary cross-entropy (and the binary focal loss's cross-entropy factor) from
probabilities: BCELoss of p clamped to [1e-7, 1 - 1e-7] first, as Keras clips it (at p = 1, a
softmax over one unit, Keras's loss is 16.1 a sample, plain BCELoss's 100). KL divergence: Keras
clips both t and q to [1e-7, 1]; torch's kl_div takes 0 log 0 = 0, so the harness clamps both
first (a target of 0 and q = 1 gives Keras 1e-7 log 1e-7 = -1.6e-6, plain kl_div 0).

The Keras logits shortcut, and why the harness turns it off: ``keras.activations.softmax`` and
``sigmoid`` store their input on the output tensor (``y._keras_logits = x``), and in a
``tf.function`` the op type (``Softmax`` / ``Sigmoid``) marks it too; Keras's cross-entropies
then use those pre-activation values instead of ``y_pred`` and switch to ``from_logits=True``.
A compiled Keras model takes that shortcut: with probabilities it is only a more stable
formula, but ``from_logits=True`` after a softmax silently uses the pre-softmax values (the
loss of z, not of the model's output softmax(z); Keras only warns), and binary_crossentropy
after a softmax applies sigmoid-BCE to the softmax's input. The spec's loss is the loss of the
model's OUTPUT, as torch and scratchnet compute it, so every Keras loss here is handed
``_without_keras_logits(y_pred)``: a new tensor (``tf.identity``, an ``Identity`` op) with the
same values and gradient and neither marker, in eager mode and inside ``tf.function`` alike.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from parity.mappings.base import SAME, Atlas, Deviation, Layout, snippet


@dataclass(frozen=True)
class LossMapping:
    """One spec loss type in all three frameworks. ``torch(params, layout, sample_weight=None)`` ->
    fn(output, target); ``keras(params, dtype, sample_weight=None)`` -> fn(y_true, y_pred) (the
    sample weight a (N,) tensor of the case's dtype, or None); ``scratch(params)`` -> the scratchnet
    ``Loss`` (called with the sample weight); ``targets(rng, shape, dtype)`` draws y_true."""

    type: str
    atlas: Atlas
    torch: Callable[..., Callable[[Any, Any], Any]]
    keras: Callable[..., Callable[[Any, Any], Any]]
    targets: Callable[[np.random.Generator, tuple, str], np.ndarray]  # canonical, batch included
    # (case, scratchnet's loss value) -> a Deviation of the loss row, or None (see ``Deviation``)
    deviation: Callable[[Any, float], Deviation | None] = lambda case, value: None

    def scratch(self, params: dict):
        """The scratchnet loss: the spec's fields but ``sample_weight`` (a call argument there)."""
        from scratchnet import losses

        return losses.get(self.type, **{k: v for k, v in params.items() if k != "sample_weight"})


EPSILON = 1e-7  # Keras's backend epsilon (clips, floors)


# -- targets ----------------------------------------------------------------------------------
def _normal_targets(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _binary_targets(rng, shape, dtype):
    return rng.integers(0, 2, size=shape).astype(dtype)


def _one_hot_targets(rng, shape, dtype):
    return np.eye(shape[-1], dtype=dtype)[rng.integers(0, shape[-1], size=shape[:-1])]


def _sparse_targets(rng, shape, dtype):
    return rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int64)


def _away_from_zero_targets(rng, shape, dtype):
    """MAPE divides by |t|: targets with 0.5 <= |t| < 2."""
    return (rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)).astype(dtype)


def _positive_targets(rng, shape, dtype):
    return rng.uniform(0.1, 3.0, size=shape).astype(dtype)


def _count_targets(rng, shape, dtype):
    return rng.poisson(1.5, size=shape).astype(dtype)


def _distribution_targets(rng, shape, dtype):
    """Probability distributions over the last axis, every entry > 0 (softmax of normals)."""
    z = rng.standard_normal(shape)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


# -- torch ------------------------------------------------------------------------------------
def _classes_to_dim1(t, layout: Layout):
    """torch's class losses want classes at dim 1: canonical outputs have them last; a
    channels-first torch output (a conv's) has them at dim 1 already."""
    if t.dim() == 2 or layout.kind == "channels_first":
        return t
    return t.movedim(-1, 1)


def _keras_reduce(per_sample, p, w):
    """Keras's reduction of torch per-sample losses (batch first): weighted by ``w`` (N,) or not,
    then summed, and for sum_over_batch_size divided by their count (never by the weights)."""
    if w is not None:
        per_sample = per_sample * w.reshape(w.shape[0], *([1] * (per_sample.dim() - 1)))
    total = per_sample.sum()
    return total / per_sample.numel() if p["reduction"] == "sum_over_batch_size" else total


def _plain(p, w) -> bool:
    """No option that changes torch's own mean: the default reduction, no weights, no smoothing."""
    return (p.get("reduction", "sum_over_batch_size") == "sum_over_batch_size" and w is None
            and not p.get("label_smoothing") and p.get("class_weight") is None)


def _per_sample(fn, mean: bool):
    """A torch loss from ``fn(out, t, d) -> elementwise (mean) or per-sample (sum) values``, d the
    torch dim of the canonical last axis, reduced as Keras."""
    def build(p, layout: Layout = SAME, sample_weight=None):
        def loss(out, t):
            d = layout.torch_axis(-1, out.dim())
            values = fn(out, t, d, p)
            return _keras_reduce(values.mean(d) if mean else values, p, sample_weight)
        return loss
    return build


def _torch_sse(p, layout: Layout = SAME, sample_weight=None):
    import torch.nn as nn
    return nn.MSELoss(reduction="sum")


def _torch_mse(p, layout: Layout = SAME, sample_weight=None):
    import torch.nn as nn
    import torch.nn.functional as F

    if _plain(p, sample_weight):
        return nn.MSELoss()
    return _per_sample(lambda o, t, d, p: F.mse_loss(o, t, reduction="none"), True)(p, layout, sample_weight)


def _torch_huber(p, layout: Layout = SAME, sample_weight=None):
    import torch.nn as nn
    import torch.nn.functional as F

    if _plain(p, sample_weight):
        return nn.HuberLoss(delta=p["delta"])
    return _per_sample(lambda o, t, d, p: F.huber_loss(o, t, reduction="none", delta=p["delta"]), True)(
        p, layout, sample_weight)


def _mae(o, t, d, p):
    import torch.nn.functional as F
    return F.l1_loss(o, t, reduction="none")


def _mape(o, t, d, p):
    return 100 * (t - o).abs() / t.abs().clamp_min(EPSILON)


def _msle(o, t, d, p):
    import torch
    return (torch.log(o.clamp_min(EPSILON) + 1) - torch.log(t.clamp_min(EPSILON) + 1)) ** 2


def _log_cosh(o, t, d, p):
    """|e| + log1p(exp(-2|e|)) - log 2 (F.softplus would return its input past threshold=20: off
    by log1p(exp(-20)) = 2e-9 beyond |e| = 10)."""
    import math
    import torch
    a = (o - t).abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def _cosine(o, t, d, p):
    import torch.nn.functional as F
    axis = p["layout"].torch_axis(p["axis"], o.dim()) if "layout" in p else p["axis"]
    return -(F.normalize(o, dim=axis, eps=EPSILON) * F.normalize(t, dim=axis, eps=EPSILON)).sum(axis)


def _torch_cosine(p, layout: Layout = SAME, sample_weight=None):
    return _per_sample(_cosine, False)({**p, "layout": layout}, layout, sample_weight)


def _hinge_labels(t):
    """Keras's mapping of 0/1 labels to -1/+1 (only when every label is 0 or 1)."""
    import torch
    return torch.where(((t == 0) | (t == 1)).all(), 2 * t - 1, t)


def _hinge(o, t, d, p):
    return (1 - _hinge_labels(t) * o).clamp_min(0)


def _squared_hinge(o, t, d, p):
    return (1 - _hinge_labels(t) * o).clamp_min(0) ** 2


def _categorical_hinge(o, t, d, p):
    pos = (t * o).sum(d)
    neg = ((1 - t) * o).amax(d)
    return (neg - pos + 1).clamp_min(0)


def _kl(o, t, d, p):
    """F.kl_div(log q', t') = t' (log t' - log q') elementwise on t' = clamp(t, 1e-7, 1) and
    q' = clamp(q, 1e-7, 1), as Keras clips both (plain kl_div takes 0 log 0 = 0 where t = 0),
    summed over the classes; torch's reduction='batchmean' is this summed, over N."""
    import torch
    import torch.nn.functional as F
    return F.kl_div(torch.log(o.clamp(EPSILON, 1)), t.clamp(EPSILON, 1), reduction="none").sum(d)


def _poisson(o, t, d, p):
    """nn.PoissonNLLLoss(log_input=False, eps=1e-7): o - t log(o + eps), Keras's epsilon (torch's
    default eps is 1e-8)."""
    import torch.nn.functional as F
    return F.poisson_nll_loss(o, t, log_input=False, full=False, eps=EPSILON, reduction="none")


def _smooth_binary(t, p):
    ls = p.get("label_smoothing", 0.0)
    return t * (1 - ls) + 0.5 * ls if ls else t


def _torch_bce(p, layout: Layout = SAME, sample_weight=None):
    import torch.nn as nn
    import torch.nn.functional as F

    if _plain(p, sample_weight) and p["from_logits"]:
        return nn.BCEWithLogitsLoss()

    def bce(o, t, d, p):
        ts = _smooth_binary(t, p)  # torch has no label_smoothing for BCE: the twin smooths the target
        if p["from_logits"]:
            return F.binary_cross_entropy_with_logits(o, ts, reduction="none")
        return F.binary_cross_entropy(o.clamp(EPSILON, 1 - EPSILON), ts, reduction="none")  # Keras's clip
    return _per_sample(bce, True)(p, layout, sample_weight)


def _class_weights(t, p, sparse: bool, d: int, layout: Layout = SAME):
    """The per-sample weight class_weight[class] (class: the label, or argmax of the one-hot).
    ``t`` is in torch's layout: after a flat layout's Flatten, torch position perm[i] holds
    canonical class i (the label too is perm[i]), so the weights are read through the same
    permutation (``Layout.from_canonical``)."""
    import torch
    cw = np.asarray(p["class_weight"], dtype=np.float64)
    cw = layout.from_canonical(cw[None, :])[0] if layout.kind == "flat" else cw
    cw = torch.tensor(cw, dtype=torch.get_default_dtype())
    return cw[t if sparse else t.argmax(d)]


def _weighted(sample_weight, t, p, sparse, d, layout: Layout = SAME):
    if p.get("class_weight") is None:
        return sample_weight
    cw = _class_weights(t, p, sparse, d, layout)
    return cw if sample_weight is None else cw * sample_weight


def _keras_probabilities(out, d: int):
    """Keras's reading of probabilities: q = clip(p / sum_c p, 1e-7, 1 - 1e-7) over class axis ``d``
    (torch has no probability-input categorical loss; the clip's gradient is 0 outside, as TF's)."""
    return (out / out.sum(d, keepdim=True)).clamp(EPSILON, 1 - EPSILON)


def _keras_sparse_log_probabilities(out, d: int):
    """Keras's sparse reading of probabilities: log_softmax(log clip(p, 1e-7, 1 - 1e-7)) over
    ``d`` (TF clips, then renormalises through sparse_softmax_cross_entropy_with_logits)."""
    import torch

    return torch.log_softmax(torch.log(out.clamp(EPSILON, 1 - EPSILON)), d)


def _torch_cce(p, layout: Layout = SAME, sample_weight=None):
    import torch
    import torch.nn.functional as F

    if _plain(p, sample_weight):
        if p["from_logits"]:
            return lambda out, t: F.cross_entropy(_classes_to_dim1(out, layout), _classes_to_dim1(t, layout))
        return lambda out, t: torch.mean(torch.sum(
            -t * torch.log(_keras_probabilities(out, layout.torch_axis(-1, out.dim()))),
            dim=layout.torch_axis(-1, out.dim())))

    def loss(out, t):
        d = layout.torch_axis(-1, out.dim())
        ls = p["label_smoothing"]
        if p["from_logits"]:  # torch's label_smoothing on probability targets is Keras's: t (1 - ls) + ls / C
            values = F.cross_entropy(_classes_to_dim1(out, layout), _classes_to_dim1(t, layout), reduction="none",
                                     label_smoothing=ls)
        else:
            ts = t * (1 - ls) + ls / t.shape[d] if ls else t
            values = torch.sum(-ts * torch.log(_keras_probabilities(out, d)), dim=d)
        return _keras_reduce(values, p, _weighted(sample_weight, t, p, False, d, layout))
    return loss


def _torch_scce(p, layout: Layout = SAME, sample_weight=None):
    import torch.nn.functional as F

    if _plain(p, sample_weight):
        if p["from_logits"]:
            return lambda out, t: F.cross_entropy(_classes_to_dim1(out, layout), t)
        return lambda out, t: F.nll_loss(_classes_to_dim1(
            _keras_sparse_log_probabilities(out, layout.torch_axis(-1, out.dim())), layout), t)

    def loss(out, t):
        if p["from_logits"]:  # no weight=: its mean divides by the sum of the weights used (see the atlas)
            values = F.cross_entropy(_classes_to_dim1(out, layout), t, reduction="none")
        else:
            log_q = _keras_sparse_log_probabilities(out, layout.torch_axis(-1, out.dim()))
            values = F.nll_loss(_classes_to_dim1(log_q, layout), t, reduction="none")
        return _keras_reduce(values, p, _weighted(sample_weight, t, p, True, -1, layout))
    return loss


def _binary_focal(o, t, d, p):
    import torch
    import torch.nn.functional as F
    ts = _smooth_binary(t, p)
    if p["from_logits"]:
        prob, bce = torch.sigmoid(o), F.binary_cross_entropy_with_logits(o, ts, reduction="none")
    else:
        prob, bce = o, F.binary_cross_entropy(o.clamp(EPSILON, 1 - EPSILON), ts, reduction="none")  # p_t unclipped, as Keras
    p_t = ts * prob + (1 - ts) * (1 - prob)
    focal = (1 - p_t).clamp_min(0) ** p["gamma"] * bce
    if p["apply_class_balancing"]:
        focal = (ts * p["alpha"] + (1 - ts) * (1 - p["alpha"])) * focal
    return focal


def _torch_categorical_focal(p, layout: Layout = SAME, sample_weight=None):
    import torch

    def loss(out, t):
        d = layout.torch_axis(-1, out.dim())
        ls = p["label_smoothing"]
        ts = t * (1 - ls) + ls / t.shape[d] if ls else t
        prob = torch.softmax(out, dim=d) if p["from_logits"] else out
        q = (prob / prob.sum(d, keepdim=True)).clamp(EPSILON, 1 - EPSILON)
        values = (p["alpha"] * (1 - q) ** p["gamma"] * -ts * torch.log(q)).sum(d)
        return _keras_reduce(values, p, _weighted(sample_weight, t, p, False, d, layout))
    return loss


# -- Keras ------------------------------------------------------------------------------------
def _without_keras_logits(y_pred):
    """``y_pred`` as a new tensor without Keras's logits marker (see the module docstring): equal
    values, identity gradient, no ``_keras_logits`` attribute, op type ``Identity`` in a graph."""
    import tensorflow as tf
    return tf.identity(y_pred)


def _keras_sse(p, dtype, sample_weight=None):
    import keras

    def loss(y, out):
        out = _without_keras_logits(out)
        return keras.ops.sum(keras.ops.square(out - y))
    return loss


_NOT_KERAS_LOSS_ARGS = ("sample_weight", "class_weight")


def _keras_class(name):
    """``keras.losses.<name>(**fields)``, called with the sample weight times, for class_weight,
    Keras's own ``fit(class_weight=)`` conversion (``class_weight_to_sample_weights``: the weight
    of each sample's class, the argmax of a one-hot target or the label)."""
    def build(p, dtype, sample_weight=None):
        import keras

        fn = getattr(keras.losses, name)(**{k: v for k, v in p.items() if k not in _NOT_KERAS_LOSS_ARGS}, dtype=dtype)
        cw = p.get("class_weight")

        def loss(y, out):
            w = sample_weight
            if cw is not None:
                from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights

                c = keras.ops.convert_to_tensor(class_weight_to_sample_weights(y, dict(enumerate(cw))), dtype=dtype)
                w = c if w is None else w * c
            if w is not None:  # (N, 1, ..): the rank of Keras's per-sample losses, one weight per sample
                w = keras.ops.reshape(w, (-1, *([1] * (len(out.shape) - 2))))
            return fn(y, _without_keras_logits(out), sample_weight=w)
        return loss
    return build


LOG2_FLOAT32_ERROR = abs(float(np.float32(np.log(np.float32(2.0)))) - float(np.log(2.0)))  # 1.9e-9


def _log_cosh_deviation(case, value: float) -> Deviation | None:
    """Keras's LogCosh subtracts ``ops.log(2.0)``: computed in float32, then cast to the case's
    dtype, so in float64 every per-sample loss is shifted by 1.9e-9 (gradients untouched). The loss
    row may differ by twice the resulting shift of L (weights and the reduction included)."""
    spec = case.spec
    if spec.dtype != "float64":
        return None
    w = 1.0 if case.sample_weight is None else float(np.mean(case.sample_weight))
    count = spec.input_shape[0] * int(np.prod(case.plan.output.out_shape[:-1]))
    shift = LOG2_FLOAT32_ERROR * w * (1 if spec.loss.params["reduction"] == "sum_over_batch_size" else count)
    rel = shift / max(abs(value), np.finfo(float).tiny)
    return Deviation("keras", ("loss",), 2 * rel + 1e-12,
                     f"Keras's LogCosh subtracts log 2 computed in float32 (ops.log(2.0), then cast): each per-sample "
                     f"loss is {LOG2_FLOAT32_ERROR:.2g} off in float64, {rel:.2g} of this loss; allowed twice that")


# -- measured differences (atlas text; tests/parity/test_loss_conventions.py measures them again) ----
MEASURED = {  # float64, at the initial weights of the named catalog case
    "class_weight_keras": 2.54, "class_weight_torch": 1.30,  # loss-scce-class-weight-weighted (weights alone)
    "kl_keras": 0.297, "kl_mean_ratio": 4.0, "kl_batchmean_diff": 5.55e-17,  # loss-kl
    "sum_ratio": 4.0,  # loss-huber-sum: torch's reduction='sum' / Keras's
    "bce_smoothing_twin_diff": 0.0, "bce_smoothing_effect": 0.00702,  # loss-bce-smoothing-weighted (relative)
    "hinge_keras": 1.10, "hinge_unmapped": 0.995,  # loss-hinge
    "poisson_default_eps_rel": 1.85e-7,  # loss-poisson-weighted: PoissonNLLLoss(log_input=False) with eps=1e-8
    "cat_hinge_keras": 1.70, "cat_hinge_multimargin": 0.933,  # loss-categorical-hinge
    "clip_1e-9_keras": 16.1, "clip_1e-9_torch": 20.7, "clip_0_keras": 16.1, "clip_0_torch": 100.0,  # t = 1
}
M = MEASURED


_CE_NOTES = ("Keras's crossentropies default to from_logits=False: logits passed by mistake are read as probabilities "
             "(clipped to [1e-7, 1 - 1e-7], and renormalised over the classes for the categorical ones), a wrong loss "
             "without an error; torch's CrossEntropyLoss and BCEWithLogitsLoss always take logits. Argument order: "
             "Keras loss(y_true, y_pred), torch loss(input, target), i.e. (prediction, target)")
# the crossentropies' student answers, framework names and runnable snippet (parity explain, the atlas)
_CE_EXTRAS = {
    "binary_crossentropy": {"aliases": ("BCELoss", "BCEWithLogitsLoss", "BinaryCrossentropy")},
    "categorical_crossentropy": {"aliases": ("CrossEntropyLoss", "CategoricalCrossentropy"),
                                 "snippet": "categorical_crossentropy"},
    "sparse_categorical_crossentropy": {"aliases": ("NLLLoss", "SparseCategoricalCrossentropy")},
}


def _atlas(title, math, scratch, torch, keras, notes="", defaults="none that matter"):
    return Atlas(title, math, scratch, torch, keras, defaults=defaults, notes=notes)


_REDUCTION_NOTE = ("reduction 'sum' is Keras's sum of the per-sample MEANS over the last axis: torch's "
                   "reduction='sum' sums every element, C times more (measured on loss-huber-sum: torch/Keras = "
                   f"{M['sum_ratio']:g}, C = 4); the twin reduces per-sample means.")
_WEIGHT_NOTE = "sample_weight: one weight per sample multiplies its per-sample loss; the divisor stays the count."

MAPPINGS: dict[str, LossMapping] = {m.type: m for m in [
    LossMapping("sum_squared_error", _atlas(
        "sum_squared_error (the tutorial's loss)", "L = sum (y - t)^2;  dL/dy = 2 (y - t)",
        "scratchnet.losses.get('sum_squared_error')", "nn.MSELoss(reduction='sum')",
        "keras.ops.sum(keras.ops.square(y_pred - y_true))  (no Keras class: MeanSquaredError(reduction='sum') divides by the last axis)"),
        _torch_sse, _keras_sse, _normal_targets),
    LossMapping("mean_squared_error", _atlas(
        "mean_squared_error", "l = (1/C) sum_c (y - t)^2 per sample;  L = sum w l / |S| (or sum w l)",
        "scratchnet.losses.get('mean_squared_error', reduction=...)",
        "nn.MSELoss()  (reduction='mean'); options: F.mse_loss(reduction='none').mean(-1), reduced as Keras",
        "keras.losses.MeanSquaredError(reduction=...)(y, p, sample_weight=w)", _REDUCTION_NOTE + " " + _WEIGHT_NOTE),
        _torch_mse, _keras_class("MeanSquaredError"), _normal_targets),
    LossMapping("mean_absolute_error", _atlas(
        "mean_absolute_error", "l = (1/C) sum |y - t|;  dl/dy = sign(y - t) / C (0 at y = t in every framework)",
        "scratchnet.losses.get('mean_absolute_error')", "F.l1_loss(reduction='none').mean(-1)  (nn.L1Loss() for the plain mean)",
        "keras.losses.MeanAbsoluteError(reduction=...)", _REDUCTION_NOTE),
        _per_sample(_mae, True), _keras_class("MeanAbsoluteError"), _normal_targets),
    LossMapping("mean_absolute_percentage_error", _atlas(
        "mean_absolute_percentage_error", "l = (100/C) sum |t - y| / max(|t|, 1e-7)",
        "scratchnet.losses.get('mean_absolute_percentage_error')",
        "(100 * (t - y).abs() / t.abs().clamp_min(1e-7)).mean(-1)  (no torch loss)",
        "keras.losses.MeanAbsolutePercentageError(reduction=...)",
        "targets are drawn with 0.5 <= |t| < 2 (the divisor)"),
        _per_sample(_mape, True), _keras_class("MeanAbsolutePercentageError"), _away_from_zero_targets),
    LossMapping("mean_squared_logarithmic_error", _atlas(
        "mean_squared_logarithmic_error", "l = (1/C) sum (log(max(y, 1e-7) + 1) - log(max(t, 1e-7) + 1))^2",
        "scratchnet.losses.get('mean_squared_logarithmic_error')",
        "((log(y.clamp_min(1e-7) + 1) - log(t.clamp_min(1e-7) + 1)) ** 2).mean(-1)  (no torch loss)",
        "keras.losses.MeanSquaredLogarithmicError(reduction=...)",
        "an output below 1e-7 is floored there (gradient 0) in all three; targets are drawn in [0.1, 3)"),
        _per_sample(_msle, True), _keras_class("MeanSquaredLogarithmicError"), _positive_targets),
    LossMapping("huber", _atlas(
        "huber", "l = (1/C) sum h(e), e = y - t, h = e^2/2 if |e| <= delta else delta (|e| - delta/2);  dl/dy = clip(e, -delta, delta) / C",
        "scratchnet.losses.get('huber', delta=delta)", "nn.HuberLoss(delta=delta)  (SmoothL1Loss(beta) = Huber / beta)",
        "keras.losses.Huber(delta=delta)", _REDUCTION_NOTE),
        _torch_huber, _keras_class("Huber"), _normal_targets),
    LossMapping("log_cosh", _atlas(
        "log_cosh", "l = (1/C) sum log cosh(e) = (1/C) sum [|e| + log1p(exp(-2|e|)) - log 2];  dl/dy = tanh(e) / C",
        "scratchnet.losses.get('log_cosh')", "(e.abs() + log1p(exp(-2 e.abs())) - log 2).mean(-1)  (no torch loss)",
        "keras.losses.LogCosh()  (e + softplus(-2e) - log 2)",
        "torch's F.softplus returns its input past threshold=20, off by log1p(exp(-20)) = 2.1e-9 beyond |e| = 10; "
        "the twin writes the stable form out. Keras's log 2 is float32's (1.9e-9 off): a stated deviation of the "
        "float64 loss row (measured 4.3e-09 relative on loss-log-cosh-weighted)"),
        _per_sample(_log_cosh, True), _keras_class("LogCosh"), _normal_targets, _log_cosh_deviation),
    LossMapping("cosine_similarity", _atlas(
        "cosine_similarity (axis=-1)", "l = -sum_axis u v, u = t / max(|t|, 1e-7), v = y / max(|y|, 1e-7)",
        "scratchnet.losses.get('cosine_similarity', axis=axis)",
        "-(F.normalize(y, dim=axis, eps=1e-7) * F.normalize(t, dim=axis, eps=1e-7)).sum(axis)",
        "keras.losses.CosineSimilarity(axis=axis)",
        "F.cosine_similarity(eps=1e-8) clamps each norm at 1e-8 instead of 1e-7: the same wherever both norms "
        "exceed 1e-7"),
        _torch_cosine, _keras_class("CosineSimilarity"), _normal_targets),
    LossMapping("hinge", _atlas(
        "hinge", "t' = 2t - 1 if every t is 0 or 1 (else t);  l = (1/C) sum max(1 - t' y, 0);  dl/dy = -t' [1 - t' y > 0] / C",
        "scratchnet.losses.get('hinge')", "(1 - t' * y).clamp_min(0).mean(-1), t' mapped as Keras (no torch loss: "
        "nn.HingeEmbeddingLoss is a distance loss)",
        "keras.losses.Hinge()  (maps 0/1 labels to -1/+1)",
        "targets are 0/1 labels; the twin maps them as Keras does (stated mapping). Without the mapping the same "
        f"formula is another loss: {M['hinge_unmapped']:.3g} vs Keras's {M['hinge_keras']:.3g} on loss-hinge"),
        _per_sample(_hinge, True), _keras_class("Hinge"), _binary_targets),
    LossMapping("squared_hinge", _atlas(
        "squared_hinge", "l = (1/C) sum max(1 - t' y, 0)^2 (t' as hinge);  dl/dy = -2 t' max(1 - t' y, 0) / C",
        "scratchnet.losses.get('squared_hinge')", "((1 - t' * y).clamp_min(0) ** 2).mean(-1)",
        "keras.losses.SquaredHinge()", "targets are 0/1 labels"),
        _per_sample(_squared_hinge, True), _keras_class("SquaredHinge"), _binary_targets),
    LossMapping("categorical_hinge", _atlas(
        "categorical_hinge", "l = max(max_c (1 - t) y - sum_c t y + 1, 0) (one-hot t; the max includes the target's 0)",
        "scratchnet.losses.get('categorical_hinge')",
        "(((1 - t) * y).amax(-1) - (t * y).sum(-1) + 1).clamp_min(0)",
        "keras.losses.CategoricalHinge()",
        "nn.MultiMarginLoss is another loss (the mean over wrong classes of max(0, 1 - y_t + y_c)), not its twin: "
        f"{M['cat_hinge_multimargin']:.3g} vs Keras's {M['cat_hinge_keras']:.3g} on loss-categorical-hinge"),
        _per_sample(_categorical_hinge, False), _keras_class("CategoricalHinge"), _one_hot_targets),
    LossMapping("kl_divergence", _atlas(
        "kl_divergence", "l = sum_c t' log(t' / q'), t' = clip(t, 1e-7, 1), q' = clip(q, 1e-7, 1)",
        "scratchnet.losses.get('kl_divergence')",
        "F.kl_div(log q.clamp(1e-7, 1), t.clamp(1e-7, 1), reduction='none').sum(-1), reduced as Keras "
        "(= nn.KLDivLoss(reduction='batchmean') for (N, C) outputs)",
        "keras.losses.KLDivergence()",
        "torch's reduction='mean' divides by every element: Keras/torch-mean = "
        f"{M['kl_mean_ratio']:g} = C on loss-kl (Keras {M['kl_keras']:.3g}); 'batchmean' divides by N and matches "
        f"(difference {M['kl_batchmean_diff']:.2g}). Keras clips t and q to [1e-7, 1]; plain kl_div takes 0 log 0 = 0, "
        "so a target entry of 0 differs (q = 1: Keras 1e-7 log 1e-7 = -1.6e-6 an entry, kl_div 0): the torch side clamps "
        "both first"),
        _per_sample(_kl, False), _keras_class("KLDivergence"), _distribution_targets),
    LossMapping("poisson", _atlas(
        "poisson", "l = (1/C) sum [y - t log(y + 1e-7)];  dl/dy = (1 - t / (y + 1e-7)) / C",
        "scratchnet.losses.get('poisson')", "nn.PoissonNLLLoss(log_input=False, eps=1e-7, reduction='none').mean(-1)",
        "keras.losses.Poisson()", "torch's default eps is 1e-8, Keras's 1e-7: the twin sets eps=1e-7 (with torch's "
        f"default the loss moves by {M['poisson_default_eps_rel']:.2g} relative on loss-poisson-weighted, past the "
        "float64 tolerance)",
        defaults="PoissonNLLLoss eps: torch 1e-8, Keras 1e-7 (filled in: 1e-7)"),
        _per_sample(_poisson, True), _keras_class("Poisson"), _count_targets),
    LossMapping("binary_crossentropy", _atlas(
        "binary_crossentropy", "ts = t (1 - ls) + ls/2;  logits z: l = (1/C) sum [max(z,0) - z ts + log1p(exp(-|z|))], "
        "dl/dz = (sigmoid(z) - ts)/C;  probabilities p: l = -(1/C) sum [ts log p + (1-ts) log(1-p)]",
        "scratchnet.losses.get('binary_crossentropy', from_logits=..., label_smoothing=...)",
        "nn.BCEWithLogitsLoss() (from_logits) | nn.BCELoss()(p.clamp(1e-7, 1 - 1e-7), t) (Keras's clip; BCELoss alone "
        "clamps log at -100); label_smoothing: the same on smoothed targets (torch's BCE has no label_smoothing)",
        "keras.losses.BinaryCrossentropy(from_logits=..., label_smoothing=...)  (clips p to [1e-7, 1-1e-7]). Given a "
        "Keras sigmoid's (or softmax's) output, a compiled Keras model uses its input as logits instead; the harness "
        "passes tf.identity(y_pred) so the loss is that of the output",
        "label smoothing: the torch twin from smoothed targets equals Keras (measured difference "
        f"{M['bce_smoothing_twin_diff']:g} on loss-bce-smoothing-weighted; the smoothing itself moves that loss by "
        f"{M['bce_smoothing_effect']:.2g} relative). Probability clipping: Keras clips p to [1e-7, 1 - 1e-7], torch's "
        "BCELoss clamps log p at -100: they agree for 1e-7 <= p <= 1 - 1e-7; at t = 1, "
        f"p = 1e-9: Keras {M['clip_1e-9_keras']:.3g}, plain BCELoss {M['clip_1e-9_torch']:.3g}; p = 0: Keras "
        f"{M['clip_0_keras']:.3g}, plain BCELoss {M['clip_0_torch']:g}, so the torch side clamps p first (a port "
        "that must match Keras at saturation, e.g. a softmax over one unit, whose output is 1, does the same)"),
        _torch_bce, _keras_class("BinaryCrossentropy"), _binary_targets),
    LossMapping("categorical_crossentropy", _atlas(
        "categorical_crossentropy", "ts = t (1 - ls) + ls/C;  logits z: l = -sum_c ts log_softmax(z), dl/dz = softmax(z) - ts;  "
        "probabilities p: l = -sum_c ts log p  (p from a final softmax over the classes: Keras and scratchnet divide p "
        "by its row sum, torch does not, so the spec refuses any other probabilities);  class_weight: w_s = cw[argmax t_s]",
        "scratchnet.losses.get('categorical_crossentropy', from_logits=..., label_smoothing=..., class_weight=...)",
        "F.cross_entropy(logits, probability targets, label_smoothing=ls) (torch's smoothing is Keras's) | "
        "-(ts * log p).sum(-1); class weights as per-sample weights, divided by N",
        "keras.losses.CategoricalCrossentropy(from_logits=..., label_smoothing=...)  (probabilities renormalised and "
        "clipped); class_weight as fit() applies it. Given a Keras softmax's output, a compiled Keras model uses its "
        "input as logits instead; the harness passes tf.identity(y_pred) so the loss is that of the output"),
        _torch_cce, _keras_class("CategoricalCrossentropy"), _one_hot_targets),
    LossMapping("sparse_categorical_crossentropy", _atlas(
        "sparse_categorical_crossentropy", "as categorical_crossentropy with t = one_hot(labels); no label smoothing",
        "scratchnet.losses.get('sparse_categorical_crossentropy', from_logits=..., class_weight=...)",
        "F.cross_entropy(logits, labels) | F.nll_loss(log p, labels); class_weight: per-sample weights cw[label], "
        "divided by N (not F.cross_entropy(weight=cw), whose mean divides by the sum of the weights used: "
        f"{M['class_weight_torch']:.3g} vs Keras's {M['class_weight_keras']:.3g} on loss-scce-class-weight-weighted)",
        "keras.losses.SparseCategoricalCrossentropy(from_logits=...)  (as categorical_crossentropy, also the "
        "softmax-logits shortcut the harness turns off with tf.identity(y_pred))"),
        _torch_scce, _keras_class("SparseCategoricalCrossentropy"), _sparse_targets),
    LossMapping("binary_focal_crossentropy", _atlas(
        "binary_focal_crossentropy (gamma=2, alpha=0.25, apply_class_balancing=false)",
        "l = (1/C) sum a (1 - p_t)^gamma bce(ts, p), p_t = ts p + (1-ts)(1-p), a = ts alpha + (1-ts)(1-alpha) "
        "with class balancing (else 1); from logits p = sigmoid(z) and bce from logits",
        "scratchnet.losses.get('binary_focal_crossentropy', gamma=..., alpha=..., apply_class_balancing=...)",
        "written from torch ops: BCE-with-logits (or BCE) x (1 - p_t)**gamma (x a)  (torchvision's sigmoid_focal_loss "
        "is the class-balanced logits form; torchvision is not a dependency)",
        "keras.losses.BinaryFocalCrossentropy(...)"),
        _per_sample(_binary_focal, True), _keras_class("BinaryFocalCrossentropy"), _binary_targets),
    LossMapping("categorical_focal_crossentropy", _atlas(
        "categorical_focal_crossentropy (gamma=2, alpha=0.25)",
        "q = clip(p / sum_c p, 1e-7, 1 - 1e-7) (p = softmax(z) from logits), l = alpha sum_c (1 - q)^gamma (-ts log q)",
        "scratchnet.losses.get('categorical_focal_crossentropy', gamma=..., alpha=...)",
        "written from torch ops (torch has no focal loss), the clip included",
        "keras.losses.CategoricalFocalCrossentropy(...)  (clips q from logits too)"),
        _torch_categorical_focal, _keras_class("CategoricalFocalCrossentropy"), _one_hot_targets),
]}
for _name, _extra in _CE_EXTRAS.items():
    _m = MAPPINGS[_name]
    _a = dataclasses.replace(_m.atlas, notes="; ".join(filter(None, [_m.atlas.notes, _CE_NOTES])),
                             aliases=_extra["aliases"],
                             snippet=snippet(_extra["snippet"]) if "snippet" in _extra else _m.atlas.snippet)
    MAPPINGS[_name] = dataclasses.replace(_m, atlas=_a)

# every other loss's runnable snippet, one per family (parity/mappings/snippets/<file>.py)
_FAMILY_SNIPPETS = {
    "regression_losses": ("sum_squared_error", "mean_squared_error", "mean_absolute_error",
                          "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "huber", "log_cosh",
                          "cosine_similarity", "poisson", "kl_divergence"),
    "classification_losses": ("hinge", "squared_hinge", "categorical_hinge", "binary_crossentropy",
                              "sparse_categorical_crossentropy", "binary_focal_crossentropy",
                              "categorical_focal_crossentropy"),
}
for _file, _names in _FAMILY_SNIPPETS.items():
    for _name in _names:
        _m = MAPPINGS[_name]
        MAPPINGS[_name] = dataclasses.replace(_m, atlas=dataclasses.replace(_m.atlas, snippet=snippet(_file)))
