"""Finite-difference gradient checks, usable on any layer, loss or model.

Central differences in float64:  df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), with a
truncation error O(eps^2 f''') and a rounding error O(u f / eps); eps = 1e-6 balances the two at
about 1e-10 relative for smooth functions of order-one values.

A layer's output is reduced to a scalar with a fixed random projection, L = sum(y * r), so that
dL/dy = r exercises every output element with a distinct weight (a ones projection would hide,
for example, a backward that sums the wrong axis of a softmax).

The error reported is ``rel_error(a, n) = max|a - n| / max(max|a|, max|n|)`` (0 when both are 0):
scaled by the gradient's magnitude, not elementwise, since elementwise relative errors explode
on elements near zero. Kinks (relu at 0) are avoided by the caller: the check draws its inputs
away from them or documents the one-sided rule being tested.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max|a - n| / max(max|a|, max|n|); 0.0 when both are identically zero."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if a.shape != n.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {n.shape}")
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(n), initial=0.0))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - n)) / scale)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to ``x``, perturbing ``x``
    in place one element at a time (and restoring it). ``x`` must be C-contiguous float64."""
    return numerical_gradient_with_kinks(f, x, eps)[0]


def numerical_gradient_with_kinks(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6,
                                  kink_rtol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Central differences plus a mask of the elements where ``f`` has a kink.

    With f0 = f(x), the one-sided slopes r = (f(x + eps e_i) - f0) / eps and
    l = (f0 - f(x - eps e_i)) / eps differ by about eps f'' where f is smooth, but by the jump of
    the derivative where a ReLU sits at 0 or a max-pool window holds a tie (blank image regions).
    There the derivative does not exist and a central difference means nothing, so elements with
    |r - l| > kink_rtol * max|central| are flagged and the caller leaves them out of the check.
    """
    if x.dtype != np.float64:
        raise ValueError(f"numerical_gradient: needs a float64 array, got {x.dtype}")
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient: x must be C-contiguous")
    f0 = f()
    grad, jump = np.zeros_like(x), np.zeros_like(x)
    flat, gflat, jflat = x.reshape(-1), grad.reshape(-1), jump.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
        jflat[i] = abs((plus - f0) - (f0 - minus)) / eps
    scale = np.max(np.abs(grad), initial=0.0)
    return grad, jump > kink_rtol * scale if scale > 0 else np.zeros(x.shape, bool)


def check_layer(layer, x: np.ndarray, rng: np.random.Generator, training: bool = False,
                eps: float = 1e-6) -> dict[str, float]:
    """Relative errors of ``layer``'s input and parameter gradients against central differences.

    Returns ``{"x": err, "<param>": err, ...}``; integer inputs (token ids) get no "x" entry.
    The layer must be float64 (built, or built here from ``x``).
    """
    x = np.array(x)  # owned copy, perturbed in place
    y = layer.forward(x, training=training)
    if layer.dtype != np.float64:
        raise ValueError(f"check_layer: {layer.name} must be float64, is {layer.dtype}")
    r = rng.standard_normal(y.shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x, training=training) * r))

    loss()
    dx = layer.backward(r)
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    errors = {}
    if x.dtype.kind == "f":
        errors["x"] = rel_error(dx, numerical_gradient(loss, x, eps))
    for name, param in layer.params.items():
        errors[name] = rel_error(analytic[name], numerical_gradient(loss, param, eps))
    return errors


def check_loss(loss, y_true: np.ndarray, y_pred: np.ndarray, eps: float = 1e-6) -> float:
    """Relative error of ``loss``'s gradient with respect to ``y_pred``."""
    y_pred = np.array(y_pred, dtype=np.float64)
    loss.forward(y_true, y_pred)
    analytic = loss.backward()
    return rel_error(analytic, numerical_gradient(lambda: float(loss.forward(y_true, y_pred)), y_pred, eps))


def check_model(model, x: np.ndarray, y: np.ndarray, loss, training: bool = False,
                eps: float = 1e-6) -> dict[str, float]:
    """Relative errors of a Sequential model's gradients of ``loss(y, model(x))`` for the input
    and every parameter, keyed ``"x"`` and ``"<layer>/<param>"``."""
    x = np.array(x)

    def value() -> float:
        return float(loss.forward(y, model.forward(x, training=training)))

    value()
    dx = model.backward(loss.backward())
    params = model.parameters()
    analytic = {key: g.copy() for key, (_, g) in params.items()}
    errors = {}
    if x.dtype.kind == "f":
        errors["x"] = rel_error(dx, numerical_gradient(value, x, eps))
    for key, (param, _) in params.items():
        errors[key] = rel_error(analytic[key], numerical_gradient(value, param, eps))
    return errors
