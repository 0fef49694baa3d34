"""Adding a bias over the last axis in place: y[..., f] += b[f].

``add_bias_reference`` is the formula as numpy writes it (``np.add(y, b, out=y)``). ``add_bias``
computes the same sums element for element (each output is the one addition y + b[f], so the
results are bit-identical) but views y as rows of about ``ROW`` elements, R = ROW // F copies of
the bias side by side: numpy's broadcast loop restarts at every row of the last axis, and a short
axis (16 filters of a conv, 10 units of a Dense) makes that loop overhead the cost (measured,
(32, 56, 56, 16) float32, 1 thread: 0.94 ms plain, 0.29 ms in 1024-wide rows). The rows left
over (fewer than R) take the plain path, and so do arrays under 4 ROW elements.
"""
from __future__ import annotations

import numpy as np

ROW = 1024  # target elements per row of the wide view


def add_bias_reference(y: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """y += b, broadcast over every leading axis; returns y."""
    np.add(y, bias, out=y)
    return y


def add_bias(y: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``add_bias_reference`` over wide rows (module docstring); y must be C-contiguous, (..., F)
    with F = bias.size (otherwise the plain path). Returns y."""
    if y.size < 4 * ROW or bias.ndim != 1:  # small: the view's own cost would dominate
        return add_bias_reference(y, bias)
    f = bias.shape[0]
    reps = ROW // f
    if reps < 2 or not y.flags.c_contiguous or y.shape[-1] != f:
        return add_bias_reference(y, bias)
    rows = y.size // f
    body = rows - rows % reps
    flat = y.reshape(rows, f)
    if body:
        wide = flat[:body].reshape(body // reps, reps * f)  # (rows / R, R F): R outputs' rows per row
        np.add(wide, np.tile(bias, reps), out=wide)
    if body < rows:
        np.add(flat[body:], bias, out=flat[body:])
    return y
