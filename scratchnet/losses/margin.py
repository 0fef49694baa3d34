"""Margin (hinge) losses (Keras's definitions), per sample over the last axis (size C), then
``reduce_weighted`` (reduction, sample weights: see ``_common``).

Labels: like Keras, ``hinge`` and ``squared_hinge`` expect t in {-1, +1}; when EVERY entry of y_true
is 0 or 1 they are mapped to -1/+1 first (t' = 2 t - 1), otherwise used as given (the test is over
the whole batch, as Keras's ``convert_binary_labels_to_hinge``).

- hinge:          m = 1 - t' y,  l = (1/C) sum max(m, 0);     dl/dy = -t' [m > 0] / C
- squared_hinge:  l = (1/C) sum max(m, 0)^2;                   dl/dy = -2 t' max(m, 0) / C
- categorical_hinge (t one-hot or {-1, 1}; no label mapping):
      pos = sum_c t y,  neg = max_c (1 - t) y,  l = max(neg - pos + 1, 0);
      dl/dy = [l > 0] ((1 - t) e_k - t), k = argmax_c (1 - t) y
  Note Keras's neg includes the target's own entry, (1 - 1) y = 0: when every other score is
  negative, neg is 0, not their maximum. torch's nn.MultiMarginLoss is a different loss (the mean
  over the wrong classes of max(0, 1 - y_target + y_c)).
At the kink m = 0 the derivative taken is 0 (the branch for m <= 0).
"""
from __future__ import annotations

import numpy as np

from scratchnet.losses._common import as_pred, as_target, mean_over, reduce_weighted, reduction_check

_DEFAULT = "sum_over_batch_size"


def hinge_labels(t):
    """Keras's label mapping: 2 t - 1 when every entry is 0 or 1, else t unchanged."""
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def _margins(name, y_true, y_pred):
    y_pred = as_pred(y_pred, name)
    t = hinge_labels(as_target(y_true, y_pred, name))
    return y_pred, t, 1 - t * y_pred


def hinge(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = mean_C max(1 - t' y, 0);  dl/dy = -t' [1 - t' y > 0] / C."""
    y_pred, t, m = _margins("hinge", y_true, y_pred)
    per_sample, inv_c = mean_over(np.maximum(m, 0), -1)
    grad = np.where(m > 0, -t, 0).astype(y_pred.dtype, copy=False) * inv_c
    return reduce_weighted("hinge", per_sample, grad, reduction_check(reduction, "hinge: reduction"), sample_weight)


def squared_hinge(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = mean_C max(1 - t' y, 0)^2;  dl/dy = -2 t' max(1 - t' y, 0) / C."""
    y_pred, t, m = _margins("squared_hinge", y_true, y_pred)
    h = np.maximum(m, 0)
    per_sample, inv_c = mean_over(h * h, -1)
    return reduce_weighted("squared_hinge", per_sample, -2 * t * h * inv_c,
                           reduction_check(reduction, "squared_hinge: reduction"), sample_weight)


def categorical_hinge(y_true, y_pred, reduction=_DEFAULT, sample_weight=None):
    """l = max(max_c (1 - t) y - sum_c t y + 1, 0);  dl/dy = [l > 0] ((1 - t) e_k - t)."""
    y_pred = as_pred(y_pred, "categorical_hinge")
    t = as_target(y_true, y_pred, "categorical_hinge")
    rest = (1 - t) * y_pred
    k = np.argmax(rest, axis=-1)[..., None]  # (..., 1)
    neg = np.take_along_axis(rest, k, axis=-1)[..., 0]
    pos = np.sum(t * y_pred, axis=-1)
    margin = neg - pos + 1
    d_neg = np.zeros_like(y_pred)
    np.put_along_axis(d_neg, k, np.take_along_axis(1 - t, k, axis=-1), axis=-1)
    grad = np.where((margin > 0)[..., None], d_neg - t, 0).astype(y_pred.dtype, copy=False)
    return reduce_weighted("categorical_hinge", np.maximum(margin, 0), grad,
                           reduction_check(reduction, "categorical_hinge: reduction"), sample_weight)
