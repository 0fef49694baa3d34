"""What every loss shares: input checks, the option checks, and the one reduction.

Every loss but the tutorial's ``sum_squared_error`` is written in two parts, as Keras does:
1. the per-sample loss ``l`` over one axis (Keras's ``call``; the axis is the last unless the loss
   takes ``axis``), ``l`` of y_pred's shape without that axis (S), together with ``G``, y_pred's
   shape, ``G[s, :] = dl_s / dy_pred[s, :]`` (each sample's loss reads only its own row, so G holds
   the whole Jacobian);
2. ``reduce_weighted`` (Keras's ``reduce_weighted_values``): with per-sample weights w (the
   ``sample_weight`` call argument, times the class weight of each sample's class),
       "sum_over_batch_size" (the default):  L = sum_s w_s l_s / |S|   (|S|: the number of
                                                entries of l, N for (N, C) outputs: NOT sum_s w_s)
       "sum":                                 L = sum_s w_s l_s
       "none":                                L = w * l  (an array of shape S)
   and dL/dy_pred = G * w / |S| (resp. G * w), w broadcast along the loss axis. For "none" the
   gradient returned is that of sum(L), the vector-Jacobian product with ones.
A 1-D y_pred has a 0-d l, which Keras returns unreduced (|S| = 1).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

EPSILON = 1e-7  # Keras backend epsilon used for probability clipping
REDUCTIONS = ("sum_over_batch_size", "sum", "none")


def as_pred(y_pred, name):
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        raise ValueError(f"{name}: y_pred must be float32 or float64, got {y_pred.dtype}")
    return y_pred


def as_target(y_true, y_pred, name, check_finite=True):
    """y_true as an array of y_pred's shape and dtype. ``check_finite=False`` leaves the check of
    non-finite targets to the caller (``finite_target``), for losses whose value is non-finite
    whenever a target is."""
    y_true = np.asarray(y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true shape {y_true.shape} does not match y_pred shape {y_pred.shape}")
    if check_finite:
        finite_target(y_true, name)
    return y_true.astype(y_pred.dtype, copy=False)


def finite_target(y_true, name):
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


# -- option checks (one-line ValueErrors naming the argument) -----------------------------------
def _real(value) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real) and math.isfinite(value)


def positive_delta(value, what: str = "huber: delta") -> float:
    """Huber's delta as a float: a finite number > 0 (a string or None is refused, not compared)."""
    if not _real(value) or not value > 0:
        raise ValueError(f"{what}: expected a finite number > 0, got {value!r}")
    return float(value)


def reduction_check(value, what: str) -> str:
    if not isinstance(value, str) or value not in REDUCTIONS:
        raise ValueError(f"{what}: expected one of {', '.join(REDUCTIONS)}, got {value!r}")
    return value


def unit_interval(value, what: str) -> float:
    """A finite number in [0, 1] (label_smoothing; alpha)."""
    if not _real(value) or not 0 <= value <= 1:
        raise ValueError(f"{what}: expected a number in [0, 1], got {value!r}")
    return float(value)


def non_negative(value, what: str) -> float:
    """A finite number >= 0 (gamma)."""
    if not _real(value) or value < 0:
        raise ValueError(f"{what}: expected a finite number >= 0, got {value!r}")
    return float(value)


def class_weight_check(value, what: str) -> tuple[float, ...] | None:
    """None, or a non-empty sequence of finite numbers >= 0, one per class."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0 \
            or not all(_real(v) and v >= 0 for v in value):
        raise ValueError(f"{what}: expected a non-empty list of finite numbers >= 0 (one per class), got {value!r}")
    return tuple(float(v) for v in value)


def axis_check(value, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what}: expected an int axis, got {value!r}")
    return int(value)


def smooth_binary(t, label_smoothing):
    """Keras: t (1 - ls) + ls / 2 (squeezed towards 0.5)."""
    return t * (1 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else t


def smooth_categorical(t, label_smoothing, axis):
    """Keras: t (1 - ls) + ls / C, C the size of the class axis."""
    return t * (1 - label_smoothing) + label_smoothing / t.shape[axis] if label_smoothing else t


# -- weights and the reduction ----------------------------------------------------------------
def sample_weights(name, sample_weight, shape, dtype) -> np.ndarray:
    """``sample_weight`` as an array of the per-sample loss shape S. Accepted: a scalar; S itself;
    S with a trailing 1 (Keras's (N, 1)); a prefix of S, such as (N,) for a per-token loss of shape
    (N, T), broadcast over the remaining axes (one weight per sample); any of these with 1s where
    S has other sizes ((N, 1) for (N, T))."""
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiub" or not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: sample_weight must hold finite numbers, got dtype {w.dtype}")
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    if w.ndim <= len(shape):
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))  # left-aligned: (N,) -> (N, 1, ...)
    if w.ndim != len(shape) or any(a not in (1, b) for a, b in zip(w.shape, shape)):
        raise ValueError(f"{name}: sample_weight shape {np.shape(sample_weight)} does not fit the per-sample "
                         f"loss shape {tuple(shape)} (expected a scalar, {tuple(shape[:1])} or {tuple(shape)})")
    return np.broadcast_to(w.astype(dtype, copy=False), shape)


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


def class_weights_of(name, class_weight, labels, num_classes, rank, dtype) -> np.ndarray:
    """Keras's ``fit(class_weight=)``: each sample weighted by the weight of its class (``labels``:
    class ids of shape (N,)). Keras defines it for (N, C) outputs only (its data adapter refuses
    3+ dimensional targets), and so does this."""
    if rank != 2:
        raise ValueError(f"{name}: class_weight applies to (N, C) outputs only (Keras leaves it undefined "
                         f"for per-token or per-pixel targets), got an output of rank {rank}")
    if len(class_weight) != num_classes:
        raise ValueError(f"{name}: class_weight has {len(class_weight)} entries, expected one per class "
                         f"({num_classes})")
    return np.asarray(class_weight, dtype=dtype)[labels]


def reduce_weighted(name, values, grad, reduction, sample_weight=None, class_w=None, axis=-1):
    """(L, dL/dy_pred) from the per-sample losses ``values`` (shape S) and ``grad`` (G, y_pred's
    shape): the reduction of the module docstring. ``axis``: the axis of y_pred the loss reduced."""
    dtype = values.dtype
    w = None
    if sample_weight is not None:
        w = sample_weights(name, sample_weight, values.shape, dtype)
    if class_w is not None:
        w = class_w if w is None else w * class_w
    if w is not None:
        values = values * w
    if reduction == "none":
        scale = w
    else:
        divisor = values.size if reduction == "sum_over_batch_size" and values.ndim else 1
        scale = (w if w is not None else dtype.type(1)) / dtype.type(divisor)
        values = np.sum(values) / dtype.type(divisor)
    if scale is not None:
        grad = grad * (np.expand_dims(scale, axis) if np.ndim(scale) else scale)
    return values, grad


def mean_over(e, axis):
    """(mean of e over ``axis``, 1 / size of that axis) for the per-sample mean losses."""
    c = e.shape[axis] if e.ndim else 1
    return np.mean(e, axis=axis) if e.ndim else e, e.dtype.type(1.0 / c)
