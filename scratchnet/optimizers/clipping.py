"""Gradient clipping, in both conventions, applied to all of a step's gradients before any update.

keras convention (``clipnorm`` / ``global_clipnorm`` / ``clipvalue`` on every Keras optimizer;
``tf.clip_by_norm`` and ``clip_by_global_norm`` of ``keras/src/optimizers/base_optimizer.py``)::

    clipnorm c:         g_i <- g_i * c / max(||g_i||, c)                each parameter on its own
    global_clipnorm c:  N = sqrt(sum_i ||g_i||^2);  g_i <- g_i * (c * min(1/N, 1/c))
    clipvalue c:        g_i <- clip(g_i, -c, c)                         elementwise

torch convention (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` before
``optimizer.step()``; clipnorm is ``clip_grad_norm_`` called on each parameter alone)::

    clipnorm c:         g_i <- g_i * min(1, c / (||g_i|| + 1e-6))       each parameter on its own
    global_clipnorm c:  N = ||(||g_1||, ||g_2||, ...)||;  g_i <- g_i * min(1, c / (N + 1e-6))
    clipvalue c:        g_i <- clamp(g_i, -c, c)

The two norm rules part by torch's 1e-6: a gradient of norm N > c is scaled to c * N / (N + 1e-6)
in torch (measured: norm 5 clipped to 1 gives 0.9999998), to c in Keras; one of norm just below c
is left alone by Keras and scaled by c / (N + 1e-6) < 1 by torch when N > c - 1e-6. clipvalue is
the same in both. At most one of the three may be set (Keras refuses two).

Every function returns new arrays (the caller's gradients are never written) in each gradient's
dtype.
"""
from __future__ import annotations

import numpy as np

from scratchnet.checks import finite_real

MODES = ("clipnorm", "clipvalue", "global_clipnorm")
TORCH_NORM_EPS = 1e-6  # clip_grad_norm_'s max_norm / (total_norm + 1e-6)


def check_clipping(clipnorm=None, clipvalue=None, global_clipnorm=None) -> tuple[str, float] | None:
    """(mode, value) for the one clipping option given, or None; refuses two, or a value <= 0."""
    given = {k: v for k, v in zip(MODES, (clipnorm, clipvalue, global_clipnorm)) if v is not None}
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)}: expected at most one of clipnorm, clipvalue and "
                         "global_clipnorm (Keras refuses two)")
    if not given:
        return None
    (mode, value), = given.items()
    x = finite_real(value, mode)
    if not x > 0:
        raise ValueError(f"{mode}: expected a finite number > 0, got {value!r}")
    return mode, x


def _norm(g):
    return np.sqrt(np.sum(np.square(g)))


def clip_by_norm_keras(g, clipnorm):
    """g * c / max(||g||, c)  (``tf.clip_by_norm``: the product first, then the division)."""
    c = g.dtype.type(clipnorm)
    return (g * c) / np.maximum(_norm(g), c)


def clip_by_norm_torch(g, clipnorm):
    """g * min(1, c / (||g|| + 1e-6))  (``clip_grad_norm_`` on one parameter)."""
    dt = g.dtype.type
    coef = dt(clipnorm) / (_norm(g) + dt(TORCH_NORM_EPS))
    return g * np.minimum(coef, dt(1.0))


def clip_by_global_norm_keras(grads, clipnorm):
    """[g_i * (c * min(1/N, 1/c))], N = sqrt(sum_i sum g_i^2) (N = 0: the scale is c * (1/c))."""
    dt = grads[0].dtype.type
    c = dt(clipnorm)
    n = np.sqrt(sum(np.sum(np.square(g)) for g in grads))
    inv_c = dt(1.0) / c
    scale = c * (np.minimum(dt(1.0) / n, inv_c) if n > 0 else inv_c)
    return [g * dt(scale) for g in grads]


def clip_by_global_norm_torch(grads, clipnorm):
    """[g_i * min(1, c / (N + 1e-6))], N the norm of the per-parameter norms (torch's order)."""
    dt = grads[0].dtype.type
    n = np.sqrt(np.sum(np.square(np.array([_norm(g) for g in grads]))))
    coef = np.minimum(dt(clipnorm) / (dt(n) + dt(TORCH_NORM_EPS)), dt(1.0))
    return [g * coef for g in grads]


def clip_by_value(g, clipvalue):
    """clip(g, -c, c): the same in both frameworks."""
    c = g.dtype.type(clipvalue)
    return np.clip(g, -c, c)


def clip(grads: list, mode: str, value: float, convention: str) -> list:
    """The step's gradients clipped by ``mode`` ("clipnorm", "clipvalue", "global_clipnorm")."""
    if mode == "clipvalue":
        return [clip_by_value(g, value) for g in grads]
    if mode == "clipnorm":
        one = clip_by_norm_keras if convention == "keras" else clip_by_norm_torch
        return [one(g, value) for g in grads]
    if not grads:
        return grads
    every = clip_by_global_norm_keras if convention == "keras" else clip_by_global_norm_torch
    return every(grads, value)
