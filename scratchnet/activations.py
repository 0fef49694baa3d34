"""Activation functions and their derivatives, as pure functions.

Each activation is a pair ``f(x, **p) -> y`` and ``f_backward(dy, x, y, **p) -> dx`` where
``dx = dy * f'(x)`` (elementwise) or the vector-Jacobian product for softmax and log_softmax.
``get(name, **params)`` returns an ``Activation`` that binds them and keeps ``(x, y)`` as the cache.

Kinks follow one rule, the one torch and TensorFlow both use: at x = 0 the branch for x <= 0
applies (relu'(0) = 0, leaky_relu'(0) = negative_slope, elu'(0) = alpha); hard_sigmoid has
derivative 1/6 strictly inside (-3, 3) and 0 at and beyond both ends.

Defaults differ between frameworks and are filled in explicitly by the parity harness:
- leaky_relu: torch ``negative_slope=0.01``, Keras ``LeakyReLU`` layer 0.3, ``keras.activations``
  0.2 (the default here, since a spec's ``"activation": "leaky_relu"`` means the Keras function).
- gelu: torch and ``keras.activations.gelu`` default to the exact erf form; ``keras.ops.gelu`` to
  the tanh approximation. Default here: exact.
- softplus: torch returns x above ``threshold=20``; Keras and this module use the exact, stable
  ``max(x, 0) + log1p(exp(-|x|))``.
- hard_sigmoid is Keras 3's ``relu6(x + 3) / 6`` (= torch ``Hardsigmoid``), not Keras 2's
  ``0.2 x + 0.5``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_C = 0.044715
_erf_ufunc = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise, in x's dtype (``math.erf``: numpy has none)."""
    x = np.asarray(x)
    return _erf_ufunc(x.astype(np.float64)).astype(x.dtype)


# -- elementwise -------------------------------------------------------------------------------
def linear(x):
    """y = x."""
    return x


def linear_backward(dy, x, y):
    """dx = dy."""
    return dy


def sigmoid(x):
    """y = 1 / (1 + exp(-x)), evaluated without overflow: exp(x) / (1 + exp(x)) for x < 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(dy, x, y):
    """dx = dy * y (1 - y)."""
    return dy * y * (1 - y)


def tanh(x):
    """y = tanh(x)."""
    return np.tanh(x)


def tanh_backward(dy, x, y):
    """dx = dy * (1 - y^2)."""
    return dy * (1 - y * y)


def relu(x):
    """y = max(x, 0)."""
    return np.maximum(x, 0)


def relu_backward(dy, x, y):
    """dx = dy * [x > 0]  (0 at the kink)."""
    return dy * (x > 0)


def leaky_relu(x, negative_slope=0.2):
    """y = x for x > 0, negative_slope * x otherwise."""
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(dy, x, y, negative_slope=0.2):
    """dx = dy for x > 0, dy * negative_slope otherwise."""
    return np.where(x > 0, dy, dy * dy.dtype.type(negative_slope))


def elu(x, alpha=1.0):
    """y = x for x > 0, alpha (exp(x) - 1) otherwise."""
    return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))


def elu_backward(dy, x, y, alpha=1.0):
    """dx = dy for x > 0, dy * alpha exp(x) = dy * (y + alpha) otherwise."""
    return np.where(x > 0, dy, dy * (y + x.dtype.type(alpha)))


def selu(x):
    """y = scale * elu(x, alpha) with the fixed self-normalising alpha and scale."""
    return x.dtype.type(SELU_SCALE) * elu(x, SELU_ALPHA)


def selu_backward(dy, x, y):
    """dx = dy * scale for x > 0, dy * scale * alpha exp(x) = dy * (y + scale alpha) otherwise."""
    s = x.dtype.type(SELU_SCALE)
    return np.where(x > 0, dy * s, dy * (y + s * x.dtype.type(SELU_ALPHA)))


def gelu(x, approximate=False):
    """Exact: y = x Phi(x) = x/2 (1 + erf(x / sqrt 2)).
    approximate: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    t = x.dtype.type
    if approximate:
        u = t(_SQRT_2_OVER_PI) * (x + t(_GELU_TANH_C) * x ** 3)
        return t(0.5) * x * (1 + np.tanh(u))
    return t(0.5) * x * (1 + erf(x / t(math.sqrt(2.0))))


def gelu_backward(dy, x, y, approximate=False):
    """Exact: dx = dy (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi).
    approximate: dx = dy (1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2))."""
    t = x.dtype.type
    if approximate:
        th = np.tanh(t(_SQRT_2_OVER_PI) * (x + t(_GELU_TANH_C) * x ** 3))
        du = t(_SQRT_2_OVER_PI) * (1 + t(3 * _GELU_TANH_C) * x * x)
        return dy * (t(0.5) * (1 + th) + t(0.5) * x * (1 - th * th) * du)
    cdf = t(0.5) * (1 + erf(x / t(math.sqrt(2.0))))
    pdf = np.exp(t(-0.5) * x * x) / t(math.sqrt(2 * math.pi))
    return dy * (cdf + x * pdf)


def softplus(x):
    """y = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))  (no overflow, no threshold)."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softplus_backward(dy, x, y):
    """dx = dy * sigmoid(x)."""
    return dy * sigmoid(x)


def silu(x):
    """y = x sigmoid(x)  (also called swish)."""
    return x * sigmoid(x)


def silu_backward(dy, x, y):
    """dx = dy (s + x s (1 - s)), s = sigmoid(x)."""
    s = sigmoid(x)
    return dy * (s + x * s * (1 - s))


def hard_sigmoid(x):
    """y = relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1)."""
    return np.clip(x + 3, 0, 6) / x.dtype.type(6)


def hard_sigmoid_backward(dy, x, y):
    """dx = dy / 6 for -3 < x < 3, else 0."""
    return np.where((x > -3) & (x < 3), dy / dy.dtype.type(6), dy.dtype.type(0))


# -- along an axis -------------------------------------------------------------------------------
def softmax(x, axis=-1):
    """y_i = exp(x_i - max x) / sum_j exp(x_j - max x) along ``axis``."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(dy, x, y, axis=-1):
    """dx_i = y_i (dy_i - sum_j dy_j y_j)  (the Jacobian diag(y) - y y^T applied to dy)."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """y_i = x_i - m - log sum_j exp(x_j - m), m = max x (log-sum-exp; finite at any logit)."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def log_softmax_backward(dy, x, y, axis=-1):
    """dx_i = dy_i - softmax(x)_i sum_j dy_j, with softmax(x) = exp(y)."""
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


# -- registry ------------------------------------------------------------------------------------
_FUNCTIONS: dict[str, tuple[Callable, Callable, dict]] = {
    "linear": (linear, linear_backward, {}),
    "sigmoid": (sigmoid, sigmoid_backward, {}),
    "tanh": (tanh, tanh_backward, {}),
    "relu": (relu, relu_backward, {}),
    "leaky_relu": (leaky_relu, leaky_relu_backward, {"negative_slope": 0.2}),
    "elu": (elu, elu_backward, {"alpha": 1.0}),
    "selu": (selu, selu_backward, {}),
    "gelu": (gelu, gelu_backward, {"approximate": False}),
    "softplus": (softplus, softplus_backward, {}),
    "silu": (silu, silu_backward, {}),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_backward, {}),
    "softmax": (softmax, softmax_backward, {"axis": -1}),
    "log_softmax": (log_softmax, log_softmax_backward, {"axis": -1}),
}
NAMES = tuple(_FUNCTIONS)


@dataclass(frozen=True)
class Activation:
    """An activation function bound to its parameters; ``forward`` returns ``(y, cache)``."""

    name: str
    params: dict = field(default_factory=dict)

    def forward(self, x):
        f, _, _ = _FUNCTIONS[self.name]
        y = f(x, **self.params)
        return y, (x, y)

    def backward(self, dy, cache):
        _, df, _ = _FUNCTIONS[self.name]
        x, y = cache
        return df(dy, x, y, **self.params)

    def __call__(self, x):
        return self.forward(x)[0]


def get(name: "str | Activation | None", **params) -> Activation:
    """Look an activation up by name (None means linear); unknown names and parameters raise."""
    if isinstance(name, Activation):
        return name
    name = "linear" if name is None else name
    if name not in _FUNCTIONS:
        raise ValueError(f"activation: unknown name {name!r}; expected one of {', '.join(NAMES)}")
    defaults = _FUNCTIONS[name][2]
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"activation {name!r}: unknown parameter(s) {sorted(unknown)}; "
                         f"accepts {sorted(defaults) or 'none'}")
    return Activation(name, {**defaults, **params})
