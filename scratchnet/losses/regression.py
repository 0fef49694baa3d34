"""Regression losses. Each per-sample loss is a mean over the last axis (C its size, e = y - t),
then ``reduce_weighted`` (reduction, sample weights: see ``_common``). Per sample:

- mean_squared_error:  l = (1/C) sum e^2;                      dl/dy = 2 e / C
- mean_absolute_error: l = (1/C) sum |e|;                      dl/dy = sign(e) / C  (0 at e = 0)
- mean_absolute_percentage_error:
      l = (100/C) sum |e| / max(|t|, eps);                      dl/dy = 100 sign(e) / (C max(|t|, eps))
- mean_squared_logarithmic_error:
      a = log(max(y, eps) + 1), b = log(max(t, eps) + 1), l = (1/C) sum (a - b)^2;
      dl/dy = 2 (a - b) / ((y + 1) C) where y > eps, else 0  (Keras's formula, eps = 1e-7)
- huber(delta):        l = (1/C) sum h(e), h = e^2/2 if |e| <= delta else delta (|e| - delta/2);
                       dl/dy = clip(e, -delta, delta) / C
- log_cosh:            l = (1/C) sum log cosh(e), written |e| + log1p(exp(-2|e|)) - log 2 so that it
                       is finite at any e (cosh overflows past |e| ~ 710 in float64, ~89 in float32);
                       dl/dy = tanh(e) / C
- cosine_similarity(axis): u = t / max(|t|, eps), v = y / max(|y|, eps) (norms along ``axis``,
      Keras's l2 normalisation), l = -sum_axis u v;
      dl/dy = -(u - (u.v) v) / |y| where |y| > eps, else -u / eps
- sum_squared_error (the tutorial's, no Keras class and no options): L = sum e^2, dL/dy = 2 e.
"""
from __future__ import annotations

import math

import numpy as np

from scratchnet.losses._common import (EPSILON, as_pred, as_target, finite_target, mean_over,
                                       positive_delta, reduce_weighted, reduction_check, sum_of_squares)

_DEFAULT = "sum_over_batch_size"
_LOG2 = math.log(2.0)


def sum_squared_error(y_true, y_pred):
    """L = sum (y - t)^2;  dL/dy = 2 (y - t)."""
    y_pred = as_pred(y_pred, "sum_squared_error")
    t = as_target(y_true, y_pred, "sum_squared_error", check_finite=False)
    e = y_pred - t
    value = sum_of_squares(e)
    if not math.isfinite(value):  # a non-finite target makes the value non-finite: check it only then
        finite_target(t, "sum_squared_error")
    return value, np.add(e, e, e)  # 2 e (exactly); out positional


def _finish(name, per_sample, grad, reduction, sample_weight, axis=-1):
    return reduce_weighted(name, per_sample, grad, reduction_check(reduction, f"{name}: reduction"),
                           sample_weight, axis=axis)


def mean_squared_error(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = mean_C (y - t)^2;  dl/dy = 2 (y - t) / C; then the reduction (module docstring)."""
    y_pred = as_pred(y_pred, "mean_squared_error")
    t = as_target(y_true, y_pred, "mean_squared_error", check_finite=False)
    e = y_pred - t
    if reduction == _DEFAULT and sample_weight is None:  # the plain mean: one dot (the hot path)
        value = sum_of_squares(e) / y_pred.dtype.type(e.size)
        if not math.isfinite(value):
            finite_target(t, "mean_squared_error")
        return value, np.multiply(e, 2 / y_pred.dtype.type(e.size), e)
    finite_target(t, "mean_squared_error")
    per_sample, inv_c = mean_over(e * e, -1)
    return _finish("mean_squared_error", per_sample, e * (2 * inv_c), reduction, sample_weight)


def mean_absolute_error(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = mean_C |y - t|;  dl/dy = sign(y - t) / C (0 at y = t, as torch and TF)."""
    y_pred = as_pred(y_pred, "mean_absolute_error")
    e = y_pred - as_target(y_true, y_pred, "mean_absolute_error")
    per_sample, inv_c = mean_over(np.abs(e), -1)
    return _finish("mean_absolute_error", per_sample, np.sign(e) * inv_c, reduction, sample_weight)


def mean_absolute_percentage_error(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = 100 mean_C |y - t| / max(|t|, eps);  dl/dy = 100 sign(y - t) / (C max(|t|, eps))."""
    y_pred = as_pred(y_pred, "mean_absolute_percentage_error")
    t = as_target(y_true, y_pred, "mean_absolute_percentage_error")
    e = y_pred - t
    d = np.maximum(np.abs(t), y_pred.dtype.type(EPSILON))
    per_sample, inv_c = mean_over(100 * np.abs(e) / d, -1)
    return _finish("mean_absolute_percentage_error", per_sample, 100 * np.sign(e) / d * inv_c, reduction,
                   sample_weight)


def mean_squared_logarithmic_error(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """a = log(max(y, eps) + 1), b = log(max(t, eps) + 1), l = mean_C (a - b)^2;
    dl/dy = 2 (a - b) / ((y + 1) C) where y > eps (0 where the max holds y at eps)."""
    y_pred = as_pred(y_pred, "mean_squared_logarithmic_error")
    t = as_target(y_true, y_pred, "mean_squared_logarithmic_error")
    eps = y_pred.dtype.type(EPSILON)
    m = np.maximum(y_pred, eps)
    diff = np.log(m + 1) - np.log(np.maximum(t, eps) + 1)
    per_sample, inv_c = mean_over(diff * diff, -1)
    grad = np.where(y_pred > eps, 2 * diff / (m + 1), 0) * inv_c
    return _finish("mean_squared_logarithmic_error", per_sample, grad.astype(y_pred.dtype, copy=False),
                   reduction, sample_weight)


def huber(y_true, y_pred, delta=1.0, reduction=_DEFAULT, sample_weight=None):
    """l = mean_C h(e), e = y - t;  dl/dy = (e if |e| <= delta else delta sign(e)) / C."""
    y_pred = as_pred(y_pred, "huber")
    d = y_pred.dtype.type(positive_delta(delta))
    e = y_pred - as_target(y_true, y_pred, "huber")
    a = np.abs(e)
    quadratic = a <= d
    per_sample, inv_c = mean_over(np.where(quadratic, 0.5 * e * e, d * (a - 0.5 * d)), -1)
    grad = np.where(quadratic, e, d * np.sign(e)) * inv_c
    return _finish("huber", per_sample, grad, reduction, sample_weight)


def log_cosh(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = mean_C log cosh(e), log cosh(e) = |e| + log1p(exp(-2|e|)) - log 2 (finite for any e);
    dl/dy = tanh(e) / C."""
    y_pred = as_pred(y_pred, "log_cosh")
    e = y_pred - as_target(y_true, y_pred, "log_cosh")
    a = np.abs(e)
    per_sample, inv_c = mean_over(a + np.log1p(np.exp(-2 * a)) - y_pred.dtype.type(_LOG2), -1)
    return _finish("log_cosh", per_sample, np.tanh(e) * inv_c, reduction, sample_weight)


def cosine_similarity(y_true, y_pred, axis=-1, reduction=_DEFAULT, sample_weight=None):
    """u = t / max(|t|, eps), v = y / max(|y|, eps) along ``axis``, l = -sum_axis u v;
    dl/dy = -(u - (u.v) v) / |y| where |y| > eps, else -u / eps (the max holds the norm)."""
    y_pred = as_pred(y_pred, "cosine_similarity")
    t = as_target(y_true, y_pred, "cosine_similarity")
    eps = y_pred.dtype.type(EPSILON)
    norm_t = np.sqrt(np.sum(t * t, axis=axis, keepdims=True))
    norm_y = np.sqrt(np.sum(y_pred * y_pred, axis=axis, keepdims=True))
    u = t / np.maximum(norm_t, eps)
    ny = np.maximum(norm_y, eps)
    v = y_pred / ny
    uv = np.sum(u * v, axis=axis, keepdims=True)
    grad = np.where(norm_y > eps, -(u - uv * v), -u) / ny
    return _finish("cosine_similarity", -np.squeeze(uv, axis=axis), grad, reduction, sample_weight, axis=axis)
