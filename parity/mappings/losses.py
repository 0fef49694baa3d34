"""Losses in all three frameworks, and the targets the harness generates for each.

Reductions: Keras's default ``sum_over_batch_size`` = torch's ``reduction='mean'`` (sum of the
per-sample losses over their count). The seed tutorial's loss is a plain SUM of squared errors:
torch ``MSELoss(reduction='sum')``; Keras has no such class (``MeanSquaredError(reduction='sum')``
sums per-sample MEANS, i.e. divides by the last axis), so the harness writes
``keras.ops.sum(keras.ops.square(y_pred - y_true))``.

Cross-entropy from probabilities: Keras renormalises categorical probabilities and clips them to
[1e-7, 1 - 1e-7]; torch's BCELoss clamps log p at -100 and has no probability-input categorical
loss, so the harness writes -(t log p) summed over classes, averaged. All agree while no
probability is within 1e-7 of 0 or 1 and (categorical) every row sums to 1, which the spec
ensures; ``from_logits=True`` agrees exactly in every framework.

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

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from parity.mappings.base import SAME, Atlas, Layout, snippet


@dataclass(frozen=True)
class LossMapping:
    type: str
    atlas: Atlas
    torch: Callable[[dict, Layout], Callable[[Any, Any], Any]]  # (params, output layout) -> fn(output, target)
    keras: Callable[[dict, str], Callable[[Any, Any], Any]]  # (params, dtype) -> fn(y_true, y_pred)
    targets: Callable[[np.random.Generator, tuple, str], np.ndarray]  # canonical, batch included


def _normal_targets(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _binary_targets(rng, shape, dtype):
    return rng.integers(0, 2, size=shape).astype(dtype)


def _one_hot_targets(rng, shape, dtype):
    return np.eye(shape[-1], dtype=dtype)[rng.integers(0, shape[-1], size=shape[:-1])]


def _sparse_targets(rng, shape, dtype):
    return rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int64)


def _classes_to_dim1(t, layout: Layout):
    """torch's class losses want classes at dim 1: canonical outputs have them last; a
    channels-first torch output (a conv's) has them at dim 1 already."""
    if t.dim() == 2 or layout.kind == "channels_first":
        return t
    return t.movedim(-1, 1)


def _torch_sse(p, layout: Layout = SAME):
    import torch.nn as nn
    return nn.MSELoss(reduction="sum")


def _torch_mse(p, layout: Layout = SAME):
    import torch.nn as nn
    return nn.MSELoss()


def _torch_huber(p, layout: Layout = SAME):
    import torch.nn as nn
    return nn.HuberLoss(delta=p["delta"])


def _torch_bce(p, layout: Layout = SAME):
    import torch.nn as nn
    return nn.BCEWithLogitsLoss() if p["from_logits"] else nn.BCELoss()


def _torch_cce(p, layout: Layout = SAME):
    import torch
    import torch.nn.functional as F

    if p["from_logits"]:
        return lambda out, t: F.cross_entropy(_classes_to_dim1(out, layout), _classes_to_dim1(t, layout))
    return lambda out, t: torch.mean(torch.sum(-t * torch.log(out), dim=layout.torch_axis(-1, out.dim())))


def _torch_scce(p, layout: Layout = SAME):
    import torch
    import torch.nn.functional as F

    if p["from_logits"]:
        return lambda out, t: F.cross_entropy(_classes_to_dim1(out, layout), t)
    return lambda out, t: F.nll_loss(_classes_to_dim1(torch.log(out), layout), t)


def _without_keras_logits(y_pred):
    """``y_pred`` as a new tensor without Keras's logits marker (see the module docstring): equal
    values, identity gradient, no ``_keras_logits`` attribute, op type ``Identity`` in a graph."""
    import tensorflow as tf
    return tf.identity(y_pred)


def _keras_sse(p, dtype):
    import keras

    def loss(y, out):
        out = _without_keras_logits(out)
        return keras.ops.sum(keras.ops.square(out - y))
    return loss


def _keras_class(name):
    def build(p, dtype):
        import keras

        fn = getattr(keras.losses, name)(**p, dtype=dtype)
        return lambda y, out: fn(y, _without_keras_logits(out))
    return build


_CE_NOTES = ("Keras's crossentropies default to from_logits=False: logits passed by mistake are read as probabilities "
             "(clipped to [1e-7, 1 - 1e-7], and renormalised over the classes for the categorical ones), a wrong loss "
             "without an error; torch's CrossEntropyLoss and BCEWithLogitsLoss always take logits. Argument order: "
             "Keras loss(y_true, y_pred), torch loss(input, target), i.e. (prediction, target)")


MAPPINGS: dict[str, LossMapping] = {m.type: m for m in [
    LossMapping("sum_squared_error", Atlas(
        "sum_squared_error (the tutorial's loss)", "L = sum (y - t)^2;  dL/dy = 2 (y - t)",
        "scratchnet.losses.get('sum_squared_error')", "nn.MSELoss(reduction='sum')",
        "keras.ops.sum(keras.ops.square(y_pred - y_true))  (no Keras class: MeanSquaredError(reduction='sum') divides by the last axis)"),
        _torch_sse, _keras_sse, _normal_targets),
    LossMapping("mean_squared_error", Atlas(
        "mean_squared_error", "L = (1/n) sum (y - t)^2;  dL/dy = 2 (y - t) / n",
        "scratchnet.losses.get('mean_squared_error')", "nn.MSELoss()  (reduction='mean')",
        "keras.losses.MeanSquaredError()  (sum_over_batch_size)"),
        _torch_mse, _keras_class("MeanSquaredError"), _normal_targets),
    LossMapping("huber", Atlas(
        "huber", "L = (1/n) sum h(e), e = y - t, h = e^2/2 if |e| <= delta else delta (|e| - delta/2);  dL/dy = clip(e, -delta, delta) / n",
        "scratchnet.losses.get('huber', delta=delta)", "nn.HuberLoss(delta=delta)  (SmoothL1Loss(beta) = Huber / beta)",
        "keras.losses.Huber(delta=delta)"),
        _torch_huber, _keras_class("Huber"), _normal_targets),
    LossMapping("binary_crossentropy", Atlas(
        "binary_crossentropy", "logits z: L = mean[max(z,0) - z t + log1p(exp(-|z|))], dL/dz = (sigmoid(z) - t)/n;  "
        "probabilities p: L = -mean[t log p + (1-t) log(1-p)]",
        "scratchnet.losses.get('binary_crossentropy', from_logits=...)",
        "nn.BCEWithLogitsLoss() (from_logits) | nn.BCELoss() (clamps log at -100)",
        "keras.losses.BinaryCrossentropy(from_logits=...)  (clips p to [1e-7, 1-1e-7]). Given a Keras sigmoid's "
        "(or softmax's) output, a compiled Keras model uses its input as logits instead; the harness "
        "passes tf.identity(y_pred) so the loss is that of the output", notes=_CE_NOTES,
        aliases=("BCELoss", "BCEWithLogitsLoss", "BinaryCrossentropy")),
        _torch_bce, _keras_class("BinaryCrossentropy"), _binary_targets),
    LossMapping("categorical_crossentropy", Atlas(
        "categorical_crossentropy", "logits z: L = -(1/M) sum t log_softmax(z), dL/dz = (softmax(z) - t)/M (one-hot t);  "
        "probabilities p: L = -(1/M) sum t log p  (p from a final softmax over the classes: Keras and scratchnet divide p "
        "by its row sum, torch does not, so the spec refuses any other probabilities)",
        "scratchnet.losses.get('categorical_crossentropy', from_logits=...)",
        "F.cross_entropy(logits, probability targets) | -(t * log p).sum(-1).mean()",
        "keras.losses.CategoricalCrossentropy(from_logits=...)  (probabilities renormalised and clipped). Given a "
        "Keras softmax's output, a compiled Keras model uses its input as logits instead (with from_logits=True "
        "silently the pre-softmax values); the harness passes tf.identity(y_pred) so the loss is that of the output",
        notes=_CE_NOTES, aliases=("CrossEntropyLoss", "CategoricalCrossentropy"),
        snippet=snippet("categorical_crossentropy")),
        _torch_cce, _keras_class("CategoricalCrossentropy"), _one_hot_targets),
    LossMapping("sparse_categorical_crossentropy", Atlas(
        "sparse_categorical_crossentropy", "as categorical_crossentropy with t = one_hot(labels)",
        "scratchnet.losses.get('sparse_categorical_crossentropy', from_logits=...)",
        "F.cross_entropy(logits, labels) | F.nll_loss(log p, labels)",
        "keras.losses.SparseCategoricalCrossentropy(from_logits=...)  (as categorical_crossentropy, also the "
        "softmax-logits shortcut the harness turns off with tf.identity(y_pred))", notes=_CE_NOTES,
        aliases=("NLLLoss", "SparseCategoricalCrossentropy")),
        _torch_scce, _keras_class("SparseCategoricalCrossentropy"), _sparse_targets),
]}
