"""Losses with their gradients, as pure functions ``f(y_true, y_pred, ...) -> (value, dL/dy_pred)``
and a thin ``Loss`` class that keeps the gradient between ``forward`` and ``backward``.

Reductions (written out per loss; N is the batch size, n the number of elements of y_pred):
- sum_squared_error  (the tutorial's):  L = sum_i (y_i - t_i)^2                       (a SUM)
- mean_squared_error:                    L = (1/n) sum_i (y_i - t_i)^2
- huber(delta):      L = (1/n) sum_i h(e_i), e = y - t, h(e) = e^2/2 if |e| <= delta
                                                          else delta (|e| - delta/2)
- binary_crossentropy:  L = -(1/n) sum_i [t_i log p_i + (1 - t_i) log(1 - p_i)]
- categorical_crossentropy:  L = -(1/M) sum_m sum_c t_mc log p_mc, with M = n / C rows
  (classes on the last axis: the mean over the batch, and over any axes between)
- sparse_categorical_crossentropy: the same with t = one_hot(labels), labels of shape y_pred.shape[:-1].

Keras calls this "sum_over_batch_size" (= torch's reduction='mean'): the per-sample losses are
summed and divided by their count.

From probabilities (``from_logits=False``) scratchnet follows Keras: categorical p is first
renormalised to sum 1 along the class axis, then p is clipped to [1e-7, 1 - 1e-7] (gradient 0 where
the clip bites). torch's BCELoss instead clamps log p at -100 and its NLL-after-softmax neither
renormalises nor clips; the two agree wherever no probability is within 1e-7 of 0 or 1.
From logits (``from_logits=True``) everything goes through log-sum-exp and is finite at any
logit; this is the setting in which the three frameworks agree exactly.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet.activations import log_softmax, sigmoid, softmax
from scratchnet.checks import boolean

EPSILON = 1e-7  # Keras backend epsilon used for probability clipping


def _as_pred(y_pred, name):
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        raise ValueError(f"{name}: y_pred must be float32 or float64, got {y_pred.dtype}")
    return y_pred


def _as_target(y_true, y_pred, name, check_finite=True):
    """y_true as an array of y_pred's shape and dtype. ``check_finite=False`` leaves the check of
    non-finite targets to the caller (``_finite_target``), for losses whose value is non-finite
    whenever a target is."""
    y_true = np.asarray(y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true shape {y_true.shape} does not match y_pred shape {y_pred.shape}")
    if check_finite:
        _finite_target(y_true, name)
    return y_true.astype(y_pred.dtype, copy=False)


def _finite_target(y_true, name):
    if not np.all(np.isfinite(y_true)):
        raise ValueError(f"{name}: y_true contains non-finite values")


_DOT_MAX = 4096


def sum_of_squares(e):
    """sum_i e_i^2. Up to ``_DOT_MAX`` elements one BLAS dot (one call instead of a square and a
    reduction: ~0.6 us less on the tutorial's 4 rows); above, numpy's pairwise sum, because a BLAS
    dot adds each lane sequentially (measured on 1e6 float32 normals: relative error 2e-6 against
    the pairwise sum's 2e-8; at 1e4 both 2e-8)."""
    if e.size <= _DOT_MAX:
        return np.vdot(e, e)
    return np.add.reduce(e * e, axis=None)  # = np.sum, without its Python wrapper


def sum_squared_error(y_true, y_pred):
    """L = sum (y - t)^2;  dL/dy = 2 (y - t)."""
    y_pred = _as_pred(y_pred, "sum_squared_error")
    t = _as_target(y_true, y_pred, "sum_squared_error", check_finite=False)
    e = y_pred - t
    value = sum_of_squares(e)
    if not math.isfinite(value):  # a non-finite target makes the value non-finite: check it only then
        _finite_target(t, "sum_squared_error")
    return value, np.add(e, e, e)  # 2 e (exactly); out positional


def mean_squared_error(y_true, y_pred):
    """L = mean (y - t)^2;  dL/dy = 2 (y - t) / n."""
    y_pred = _as_pred(y_pred, "mean_squared_error")
    t = _as_target(y_true, y_pred, "mean_squared_error", check_finite=False)
    e = y_pred - t
    value = sum_of_squares(e) / y_pred.dtype.type(e.size)
    if not math.isfinite(value):
        _finite_target(t, "mean_squared_error")
    return value, np.multiply(e, 2 / y_pred.dtype.type(e.size), e)


def huber(y_true, y_pred, delta=1.0):
    """L = mean h(e), e = y - t;  dL/dy = (e if |e| <= delta else delta sign(e)) / n."""
    y_pred = _as_pred(y_pred, "huber")
    d = y_pred.dtype.type(positive_delta(delta))
    e = y_pred - _as_target(y_true, y_pred, "huber")
    a = np.abs(e)
    quadratic = a <= d
    value = np.mean(np.where(quadratic, 0.5 * e * e, d * (a - 0.5 * d)))
    grad = np.where(quadratic, e, d * np.sign(e)) / y_pred.dtype.type(e.size)
    return value, grad


def positive_delta(value, what: str = "huber: delta") -> float:
    """Huber's delta as a float: a finite number > 0 (a string or None is refused, not compared)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what}: expected a finite number > 0, got {value!r}")
    return float(value)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Probabilities: L = -mean[t log p + (1-t) log(1-p)], p clipped to [eps, 1-eps];
        dL/dp = (p - t) / (p (1 - p)) / n where not clipped, else 0.
    Logits z: L = mean[max(z, 0) - z t + log1p(exp(-|z|))];  dL/dz = (sigmoid(z) - t) / n."""
    y_pred = _as_pred(y_pred, "binary_crossentropy")
    t = _as_target(y_true, y_pred, "binary_crossentropy")
    if np.any((t < 0) | (t > 1)):
        raise ValueError("binary_crossentropy: y_true must lie in [0, 1]")
    n = y_pred.dtype.type(y_pred.size)
    if from_logits:
        z = y_pred
        value = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
        return value, (sigmoid(z) - t) / n
    eps = y_pred.dtype.type(EPSILON)
    p = np.clip(y_pred, eps, 1 - eps)
    value = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    inside = (y_pred >= eps) & (y_pred <= 1 - eps)
    return value, np.where(inside, (p - t) / (p * (1 - p)), 0) / n


def categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Logits z: L = -(1/M) sum t log_softmax(z);  dL/dz = (softmax(z) sum_c t - t) / M.
    Probabilities p: q = clip(p / sum_c p, eps, 1 - eps), L = -(1/M) sum t log q;
        g = dL/dq = -t / (q M) (0 where clipped),  dL/dp = (g - sum_c g q') / sum_c p,
        q' = p / sum_c p  (the renormalisation's vector-Jacobian product)."""
    y_pred = _as_pred(y_pred, "categorical_crossentropy")
    t = _as_target(y_true, y_pred, "categorical_crossentropy")
    if np.any(t < 0):
        raise ValueError("categorical_crossentropy: y_true must be non-negative (one-hot or class probabilities)")
    rows = y_pred.dtype.type(y_pred.size // y_pred.shape[axis])
    if from_logits:
        logp = log_softmax(y_pred, axis=axis)
        value = -np.sum(t * logp) / rows
        grad = (softmax(y_pred, axis=axis) * np.sum(t, axis=axis, keepdims=True) - t) / rows
        return value, grad
    if np.any(y_pred < 0):
        raise ValueError("categorical_crossentropy: y_pred must be probabilities (>= 0) unless from_logits=True")
    eps = y_pred.dtype.type(EPSILON)
    s = np.sum(y_pred, axis=axis, keepdims=True)
    q_raw = y_pred / s
    q = np.clip(q_raw, eps, 1 - eps)
    value = -np.sum(t * np.log(q)) / rows
    g = np.where((q_raw >= eps) & (q_raw <= 1 - eps), -t / (q * rows), 0)
    grad = (g - np.sum(g * q_raw, axis=axis, keepdims=True)) / s
    return value, grad


def class_ids(labels, num_classes, name="sparse_categorical_crossentropy"):
    """``labels`` as integer class ids, validated: integer-valued and in [0, num_classes)."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{name}: y_true must hold integer class ids, got non-integer values")
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{name}: y_true must hold integer class ids, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name}: class ids must lie in [0, {num_classes}), got range "
                         f"[{labels.min()}, {labels.max()}]")
    return labels


def one_hot(labels, num_classes, dtype, name="sparse_categorical_crossentropy"):
    """One-hot encode integer ``labels`` (any shape) along a new last axis, validating the range."""
    labels = class_ids(labels, num_classes, name)
    return (labels[..., None] == np.arange(num_classes)).astype(dtype)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """categorical_crossentropy with t = one_hot(y_true); y_true has y_pred's shape without the
    class axis. From logits, without building t (M rows, label l_m):
        L = -(1/M) sum_m (z_m,l_m - max_c z_m,c - log sum_c exp(z_m,c - max_c z_m,c))
        dL/dz = (softmax(z) - one_hot(l)) / M   (softmax(z) - 1 at each row's label)."""
    y_pred = _as_pred(y_pred, "sparse_categorical_crossentropy")
    y_true = np.asarray(y_true)
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: y_true shape {y_true.shape} must be y_pred's "
                         f"shape without its class axis, {y_pred.shape[:-1]}")
    if not from_logits:
        t = one_hot(y_true, y_pred.shape[-1], y_pred.dtype)
        return categorical_crossentropy(t, y_pred, from_logits=False)
    labels = class_ids(y_true, y_pred.shape[-1]).reshape(-1)  # (M,)
    z = y_pred.reshape(-1, y_pred.shape[-1])  # (M, C)
    rows = np.arange(z.shape[0])
    shifted = z - z.max(axis=1, keepdims=True)  # (M, C)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)  # (M, 1)
    m = y_pred.dtype.type(z.shape[0])
    value = -np.sum(shifted[rows, labels] - np.log(s[:, 0])) / m
    grad = np.divide(e, s, e)  # softmax(z)
    grad[rows, labels] -= 1
    grad /= m
    return value, grad.reshape(y_pred.shape)


_LOSSES = {
    "sum_squared_error": (sum_squared_error, {}),
    "mean_squared_error": (mean_squared_error, {}),
    "huber": (huber, {"delta": 1.0}),
    "binary_crossentropy": (binary_crossentropy, {"from_logits": False}),
    "categorical_crossentropy": (categorical_crossentropy, {"from_logits": False}),
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy, {"from_logits": False}),
}
NAMES = tuple(_LOSSES)


def _checked(name: str, key: str, value, default):
    """A parameter checked once, at construction: a bool default (from_logits) takes only True or
    False (a truthy "false" would silently switch to logits); delta a finite number > 0."""
    what = f"loss {name!r}: {key}"
    if isinstance(default, bool):
        return boolean(value, what)
    if key == "delta":
        return positive_delta(value, what)
    return value


class Loss:
    """A loss bound to its parameters: ``forward(y_true, y_pred)`` returns the value and keeps
    dL/dy_pred for ``backward()``."""

    def __init__(self, name: str, **params):
        if name not in _LOSSES:
            raise ValueError(f"loss: unknown name {name!r}; expected one of {', '.join(NAMES)}")
        fn, defaults = _LOSSES[name]
        unknown = set(params) - set(defaults)
        if unknown:
            raise ValueError(f"loss {name!r}: unknown parameter(s) {sorted(unknown)}; accepts {sorted(defaults) or 'none'}")
        checked = {k: _checked(name, k, v, defaults[k]) for k, v in params.items()}
        self.name, self.fn, self.params = name, fn, {**defaults, **checked}
        self._grad = None

    def forward(self, y_true, y_pred):
        value, self._grad = self.fn(y_true, y_pred, **self.params)
        return value

    __call__ = forward

    def backward(self):
        if self._grad is None:
            raise RuntimeError(f"loss {self.name}: backward called before forward")
        return self._grad

    def __repr__(self):
        return f"Loss({self.name!r}, {self.params})"


def get(name, **params) -> Loss:
    """A ``Loss`` by name (or the Loss itself)."""
    return name if isinstance(name, Loss) else Loss(name, **params)
