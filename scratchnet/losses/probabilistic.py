"""Cross-entropies, KL divergence and Poisson (Keras's definitions), per sample, then
``reduce_weighted`` (reduction, sample and class weights: see ``_common``).

Per sample (C the size of the loss axis, eps = 1e-7, ts the smoothed target):
- binary_crossentropy(from_logits, label_smoothing, axis): ts = t (1 - ls) + ls / 2;
    probabilities: p' = clip(p, eps, 1 - eps), l = -(1/C) sum [ts log p' + (1 - ts) log(1 - p')],
        dl/dp = (p' - ts) / (p' (1 - p') C) where eps <= p <= 1 - eps, else 0;
    logits z: l = (1/C) sum [max(z, 0) - z ts + log1p(exp(-|z|))],  dl/dz = (sigmoid(z) - ts) / C.
- categorical_crossentropy(from_logits, label_smoothing, axis, class_weight): ts = t (1 - ls) + ls / C;
    logits: l = -sum_c ts log_softmax(z),  dl/dz = softmax(z) sum_c ts - ts;
    probabilities: q = clip(p / sum_c p, eps, 1 - eps), l = -sum_c ts log q;
        g = dl/dq = -ts / q (0 where clipped), dl/dp = (g - sum_c g q') / sum_c p, q' = p / sum_c p
        (the renormalisation's vector-Jacobian product).
- sparse_categorical_crossentropy(from_logits, class_weight): the same with t = one_hot(labels);
    labels of y_pred's shape without the class axis, or with a trailing 1 (Keras's (N, 1)). Keras
    has no label smoothing for it.
- kl_divergence: t' = clip(t, eps, 1), p' = clip(p, eps, 1), l = sum_c t' log(t' / p');
    dl/dp = -t' / p' where eps <= p <= 1, else 0.
- poisson: l = (1/C) sum [p - t log(p + eps)];  dl/dp = (1 - t / (p + eps)) / C.
class_weight (cce, scce): sample s weighted by class_weight[class of s], the class the argmax of
the (unsmoothed) one-hot target, as Keras's ``fit(class_weight=)``; (N, C) outputs only.

From probabilities scratchnet follows Keras: categorical p is first renormalised to sum 1 along
the class axis, then clipped to [1e-7, 1 - 1e-7] (gradient 0 where the clip bites). torch's
BCELoss instead clamps log p at -100 and its NLL-after-softmax neither renormalises nor clips;
the two agree wherever no probability is within 1e-7 of 0 or 1. From logits everything goes
through log-sum-exp and is finite at any logit.
"""
from __future__ import annotations

import numpy as np

from scratchnet.activations import log_softmax, sigmoid, softmax
from scratchnet.losses._common import (EPSILON, as_pred, as_target, class_ids, class_weights_of, mean_over,
                                       one_hot, reduce_weighted, reduction_check, smooth_binary,
                                       smooth_categorical, unit_interval)

_DEFAULT = "sum_over_batch_size"


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1,
                        reduction=_DEFAULT, sample_weight=None):
    """Probabilities: l = -mean_C[ts log p + (1-ts) log(1-p)], p clipped to [eps, 1-eps];
        dl/dp = (p - ts) / (p (1 - p)) / C where not clipped, else 0.
    Logits z: l = mean_C[max(z, 0) - z ts + log1p(exp(-|z|))];  dl/dz = (sigmoid(z) - ts) / C."""
    name = "binary_crossentropy"
    y_pred = as_pred(y_pred, name)
    t = as_target(y_true, y_pred, name)
    if np.any((t < 0) | (t > 1)):
        raise ValueError("binary_crossentropy: y_true must lie in [0, 1]")
    t = smooth_binary(t, unit_interval(label_smoothing, f"{name}: label_smoothing"))
    if from_logits:
        z = y_pred
        elementwise = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        d = sigmoid(z) - t
    else:
        eps = y_pred.dtype.type(EPSILON)
        p = np.clip(y_pred, eps, 1 - eps)
        elementwise = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        inside = (y_pred >= eps) & (y_pred <= 1 - eps)
        d = np.where(inside, (p - t) / (p * (1 - p)), 0).astype(y_pred.dtype, copy=False)
    per_sample, inv_c = mean_over(elementwise, axis)
    return reduce_weighted(name, per_sample, d * inv_c, reduction_check(reduction, f"{name}: reduction"),
                           sample_weight, axis=axis)


def _categorical(name, t, y_pred, from_logits, axis):
    """(per-sample -sum_c t log q, its gradient) for the categorical cross-entropy."""
    if from_logits:
        per_sample = -np.sum(t * log_softmax(y_pred, axis=axis), axis=axis)
        return per_sample, softmax(y_pred, axis=axis) * np.sum(t, axis=axis, keepdims=True) - t
    if np.any(y_pred < 0):
        raise ValueError(f"{name}: y_pred must be probabilities (>= 0) unless from_logits=True")
    eps = y_pred.dtype.type(EPSILON)
    s = np.sum(y_pred, axis=axis, keepdims=True)
    q_raw = y_pred / s
    q = np.clip(q_raw, eps, 1 - eps)
    per_sample = -np.sum(t * np.log(q), axis=axis)
    g = np.where((q_raw >= eps) & (q_raw <= 1 - eps), -t / q, 0)
    return per_sample, ((g - np.sum(g * q_raw, axis=axis, keepdims=True)) / s).astype(y_pred.dtype, copy=False)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1,
                             class_weight=None, reduction=_DEFAULT, sample_weight=None):
    """Logits z: l = -sum_c ts log_softmax(z);  dl/dz = softmax(z) sum_c ts - ts.
    Probabilities p: q = clip(p / sum_c p, eps, 1 - eps), l = -sum_c ts log q (gradient: module
    docstring). ts = t (1 - ls) + ls / C; then weights and the reduction."""
    name = "categorical_crossentropy"
    y_pred = as_pred(y_pred, name)
    t = as_target(y_true, y_pred, name)
    if np.any(t < 0):
        raise ValueError(f"{name}: y_true must be non-negative (one-hot or class probabilities)")
    class_w = None
    if class_weight is not None:
        class_w = class_weights_of(name, class_weight, np.argmax(t, axis=axis), y_pred.shape[axis], y_pred.ndim,
                                   y_pred.dtype)
    t = smooth_categorical(t, unit_interval(label_smoothing, f"{name}: label_smoothing"), axis)
    per_sample, grad = _categorical(name, t, y_pred, from_logits, axis)
    return reduce_weighted(name, per_sample, grad, reduction_check(reduction, f"{name}: reduction"),
                           sample_weight, class_w, axis=axis)


def sparse_labels(y_true, y_pred, name="sparse_categorical_crossentropy"):
    """Labels of y_pred's shape without the class axis; Keras's (N, ..., 1) squeezed first."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"{name}: y_true shape {y_true.shape} must be y_pred's shape without its class "
                         f"axis, {y_pred.shape[:-1]} (or with a trailing 1)")
    return y_true


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, class_weight=None,
                                    reduction=_DEFAULT, sample_weight=None):
    """From logits, without building t (label l):
        l = -(z_l - max_c z_c - log sum_c exp(z_c - max_c z_c)),  dl/dz = softmax(z) - one_hot(l).
    From probabilities, Keras's order (clip, then renormalise: TensorFlow takes log_softmax of the
    clipped log p), unlike categorical_crossentropy's (renormalise, then clip):
        c = clip(p, eps, 1 - eps), S = sum_c c,  l = log S - log c_l,
        dl/dp_j = [eps <= p_j <= 1 - eps] (1 / S - [j = l] / c_l)."""
    name = "sparse_categorical_crossentropy"
    y_pred = as_pred(y_pred, name)
    y_true = sparse_labels(y_true, y_pred)
    labels = class_ids(y_true, y_pred.shape[-1])
    reduction = reduction_check(reduction, f"{name}: reduction")
    class_w = None
    if class_weight is not None:
        class_w = class_weights_of(name, class_weight, labels, y_pred.shape[-1], y_pred.ndim, y_pred.dtype)
    if not from_logits:
        eps = y_pred.dtype.type(EPSILON)
        c = np.clip(y_pred, eps, 1 - eps)  # (..., C)
        total = np.sum(c, axis=-1, keepdims=True)  # (..., 1)
        c_label = np.take_along_axis(c, labels[..., None], axis=-1)  # (..., 1)
        per_sample = np.log(total[..., 0]) - np.log(c_label[..., 0])
        g = np.broadcast_to(1 / total, c.shape).copy()
        np.put_along_axis(g, labels[..., None], 1 / total - 1 / c_label, axis=-1)
        grad = np.where((y_pred >= eps) & (y_pred <= 1 - eps), g, 0).astype(y_pred.dtype, copy=False)
        return reduce_weighted(name, per_sample, grad, reduction, sample_weight, class_w)
    flat = labels.reshape(-1)  # (M,)
    z = y_pred.reshape(-1, y_pred.shape[-1])  # (M, C)
    rows = np.arange(z.shape[0])
    shifted = z - z.max(axis=1, keepdims=True)  # (M, C)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)  # (M, 1)
    per_sample = (np.log(s[:, 0]) - shifted[rows, flat]).reshape(labels.shape)
    grad = np.divide(e, s, e)  # softmax(z)
    grad[rows, flat] -= 1
    return reduce_weighted(name, per_sample, grad.reshape(y_pred.shape), reduction, sample_weight, class_w)


def kl_divergence(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """t' = clip(t, eps, 1), p' = clip(p, eps, 1), l = sum_C t' log(t' / p');
    dl/dp = -t' / p' where eps <= p <= 1, else 0."""
    name = "kl_divergence"
    y_pred = as_pred(y_pred, name)
    eps = y_pred.dtype.type(EPSILON)
    t = np.clip(as_target(y_true, y_pred, name), eps, 1)
    p = np.clip(y_pred, eps, 1)
    per_sample = np.sum(t * np.log(t / p), axis=-1)
    grad = np.where((y_pred >= eps) & (y_pred <= 1), -t / p, 0).astype(y_pred.dtype, copy=False)
    return reduce_weighted(name, per_sample, grad, reduction_check(reduction, f"{name}: reduction"), sample_weight)


def poisson(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = mean_C [p - t log(p + eps)];  dl/dp = (1 - t / (p + eps)) / C. p must exceed -eps."""
    name = "poisson"
    y_pred = as_pred(y_pred, name)
    t = as_target(y_true, y_pred, name)
    q = y_pred + y_pred.dtype.type(EPSILON)
    if np.any(q <= 0):
        raise ValueError(f"{name}: y_pred must be > -1e-7 (a rate: log(y_pred + 1e-7) is taken), got min "
                         f"{y_pred.min()}")
    per_sample, inv_c = mean_over(y_pred - t * np.log(q), -1)
    return reduce_weighted(name, per_sample, (1 - t / q) * inv_c, reduction_check(reduction, f"{name}: reduction"),
                           sample_weight)
