"""Focal cross-entropies (Lin et al. 2017, as Keras defines them), per sample over the loss axis
(size C), then ``reduce_weighted`` (reduction, sample and class weights: see ``_common``).

binary_focal_crossentropy(gamma, alpha, apply_class_balancing, from_logits, label_smoothing, axis):
    ts = t (1 - ls) + ls / 2, p = sigmoid(z) (logits) or y_pred (probabilities),
    bce = the binary cross-entropy of ts (from logits the stable max(z, 0) - z ts + log1p(exp(-|z|)),
          from probabilities with p clipped to [eps, 1 - eps], as ``binary_crossentropy``),
    x = 1 - p_t, p_t = ts p + (1 - ts)(1 - p) (p unclipped), f = x^gamma,
    a = ts alpha + (1 - ts)(1 - alpha) with apply_class_balancing, else 1,
    l = (1/C) sum a f bce;
    df/dp = gamma x^(gamma - 1) (1 - 2 ts);
    dl/dp = a (f dbce/dp + bce df/dp) / C,   dl/dz = a (f (p - ts) + bce df/dp p (1 - p)) / C.
  (Keras on TensorFlow: the logits path's bce is tf.nn.sigmoid_cross_entropy_with_logits, its p_t
  the unclipped sigmoid; the same here.) At x = 0 (a saturated p equal to its target) df/dp is
  taken as 0, except gamma = 1 where it is (1 - 2 ts); for 0 < gamma < 1 it is infinite there.
categorical_focal_crossentropy(gamma, alpha, from_logits, label_smoothing, axis, class_weight):
    ts = t (1 - ls) + ls / C, p = softmax(z) (logits) or y_pred, q' = p / sum_c p,
    q = clip(q', eps, 1 - eps), l = alpha sum_c (1 - q)^gamma (-ts log q);
    g = dl/dq = alpha [-(1 - q)^gamma ts / q + gamma (1 - q)^(gamma - 1) ts log q] (0 where clipped),
    dl/dp = (g - sum_c g q') / sum_c p,  dl/dz = p (dl/dp - sum_c p dl/dp)  (softmax's VJP).
  Keras clips q from logits too (softmax first, then the probability formula), and so does this.
"""
from __future__ import annotations

import numpy as np

from scratchnet.activations import sigmoid, softmax
from scratchnet.losses._common import (EPSILON, as_pred, as_target, class_weights_of, mean_over,
                                       non_negative, reduce_weighted, reduction_check, smooth_binary,
                                       smooth_categorical, unit_interval)
from scratchnet.checks import boolean

_DEFAULT = "sum_over_batch_size"


def _power_derivative(x, gamma):
    """d(x^gamma)/dx = gamma x^(gamma - 1) for x >= 0; at x = 0: 0 (gamma > 1 or gamma = 0),
    1 (gamma = 1); 0 for 0 < gamma < 1 (where it is infinite, see the module docstring)."""
    at_zero = 1.0 if gamma == 1 else 0.0
    return gamma * np.where(x > 0, np.where(x > 0, x, 1) ** (gamma - 1), at_zero)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1, reduction=_DEFAULT,
                              sample_weight=None):
    """l = mean_C a (1 - p_t)^gamma bce (module docstring: the formula and its gradient)."""
    name = "binary_focal_crossentropy"
    y_pred = as_pred(y_pred, name)
    t = as_target(y_true, y_pred, name)
    if np.any((t < 0) | (t > 1)):
        raise ValueError(f"{name}: y_true must lie in [0, 1]")
    gamma = non_negative(gamma, f"{name}: gamma")
    alpha = unit_interval(alpha, f"{name}: alpha")
    t = smooth_binary(t, unit_interval(label_smoothing, f"{name}: label_smoothing"))
    dt = y_pred.dtype.type
    if from_logits:
        z = y_pred
        p = sigmoid(z)
        bce = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        dbce = p - t  # d bce / dz
        dp = p * (1 - p)  # dp / dz
    else:
        p = y_pred
        eps = dt(EPSILON)
        pc = np.clip(p, eps, 1 - eps)
        bce = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
        dbce = np.where((p >= eps) & (p <= 1 - eps), (pc - t) / (pc * (1 - pc)), 0)  # d bce / dp
        dp = dt(1)
    x = np.maximum(1 - (t * p + (1 - t) * (1 - p)), 0)
    f = x ** gamma
    df = _power_derivative(x, gamma) * (1 - 2 * t)
    a = t * alpha + (1 - t) * (1 - alpha) if boolean(apply_class_balancing, f"{name}: apply_class_balancing") \
        else dt(1)
    per_sample, inv_c = mean_over(a * f * bce, axis)
    grad = (a * (f * dbce + bce * df * dp) * inv_c).astype(y_pred.dtype, copy=False)
    return reduce_weighted(name, per_sample, grad, reduction_check(reduction, f"{name}: reduction"),
                           sample_weight, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1, class_weight=None, reduction=_DEFAULT,
                                   sample_weight=None):
    """l = alpha sum_c (1 - q)^gamma (-ts log q) (module docstring: the formula and its gradient)."""
    name = "categorical_focal_crossentropy"
    y_pred = as_pred(y_pred, name)
    t = as_target(y_true, y_pred, name)
    if np.any(t < 0):
        raise ValueError(f"{name}: y_true must be non-negative (one-hot or class probabilities)")
    gamma = non_negative(gamma, f"{name}: gamma")
    alpha = non_negative(alpha, f"{name}: alpha")
    class_w = None
    if class_weight is not None:
        class_w = class_weights_of(name, class_weight, np.argmax(t, axis=axis), y_pred.shape[axis], y_pred.ndim,
                                   y_pred.dtype)
    t = smooth_categorical(t, unit_interval(label_smoothing, f"{name}: label_smoothing"), axis)
    if from_logits:
        p = softmax(y_pred, axis=axis)
    else:
        if np.any(y_pred < 0):
            raise ValueError(f"{name}: y_pred must be probabilities (>= 0) unless from_logits=True")
        p = y_pred
    eps = y_pred.dtype.type(EPSILON)
    s = np.sum(p, axis=axis, keepdims=True)
    q_raw = p / s
    q = np.clip(q_raw, eps, 1 - eps)
    log_q = np.log(q)
    one_minus = 1 - q  # >= eps: the clip keeps every power finite
    mod = one_minus ** gamma
    per_sample = alpha * np.sum(mod * (-t * log_q), axis=axis)
    g = alpha * (-mod * t / q + gamma * one_minus ** (gamma - 1) * t * log_q)
    g = np.where((q_raw >= eps) & (q_raw <= 1 - eps), g, 0)
    grad = (g - np.sum(g * q_raw, axis=axis, keepdims=True)) / s
    if from_logits:
        grad = p * (grad - np.sum(grad * p, axis=axis, keepdims=True))
    return reduce_weighted(name, per_sample, grad.astype(y_pred.dtype, copy=False),
                           reduction_check(reduction, f"{name}: reduction"), sample_weight, class_w, axis=axis)
