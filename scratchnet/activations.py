"""Activation functions and their derivatives, as pure functions.

Each activation is a pair ``f(x, **p) -> y`` and ``f_backward(dy, x, y, **p) -> dx`` where
``dx = dy * f'(x)`` (elementwise) or the vector-Jacobian product for softmax and log_softmax.
``get(name, **params)`` returns an ``Activation`` that binds them and keeps ``(x, y)`` as the cache.

Kinks follow one rule, the one torch and TensorFlow both use: at x = 0 the branch for x <= 0
applies (relu'(0) = 0, leaky_relu'(0) = negative_slope, elu'(0) = alpha); hard_sigmoid has
derivative 1/6 strictly inside (-3, 3) and 0 at and beyond both ends; relu6 and hard_tanh have
derivative 1 strictly inside (0, 6) and (-1, 1), 0 at and beyond the ends (torch's hardtanh
backward and TF's Relu6Grad use the same open intervals).

Defaults differ between frameworks and are filled in explicitly by the parity harness:
- leaky_relu: torch ``negative_slope=0.01``, Keras ``LeakyReLU`` layer 0.3, ``keras.activations``
  0.2 (the default here, since a spec's ``"activation": "leaky_relu"`` means the Keras function).
- gelu: torch and ``keras.activations.gelu`` default to the exact erf form; ``keras.ops.gelu`` to
  the tanh approximation. Default here: exact.
- softplus: torch returns x above ``threshold=20``; Keras and this module use the exact, stable
  ``max(x, 0) + log1p(exp(-|x|))``.
- hard_sigmoid is Keras 3's ``relu6(x + 3) / 6`` (= torch ``Hardsigmoid``), not Keras 2's
  ``0.2 x + 0.5``.

Speed: linear, relu, sigmoid and tanh accept ``out=`` (forward and backward) and their backward
reads only y, so a layer may compute y in place over its pre-activation buffer
(``Activation.in_place``); the others allocate their results. Their ufunc calls take ``out``
positionally and constants as 0-d arrays (the rule and its measurements: ``scratchnet`` package
docstring).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from scratchnet.checks import boolean, finite_real, integer
from scratchnet.constants import per_dtype

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
_ONE = per_dtype(1.0)
# the largest x whose exp(x) is finite: 88 in float32, 709 in float64
_EXP_CAP = per_dtype(lambda t: np.floor(np.log(np.finfo(t).max)))


def linear(x, out=None):
    """y = x (``out`` is ignored: y is x itself)."""
    return x


def linear_backward(dy, x, y, out=None):
    """dx = dy (dy itself)."""
    return dy


def sigmoid(x, out=None):
    """y = 1 / (1 + exp(-x)), torch's formula, with exp's argument capped at the largest value
    whose exp is finite in the dtype (88 in float32, 709 in float64): below x = -88 (-709) the
    true y is under 1e-38 (1e-308) and the capped formula gives a value of that size too, so
    nothing overflows and no floating-point error state has to be switched (which costs more
    than the sigmoid itself on small arrays). Relative error a few ulp elsewhere."""
    cap = _EXP_CAP.get(x.dtype, 709.0)
    if out is None:
        return 1 / (1 + np.exp(np.minimum(-x, cap)))
    np.negative(x, out)  # ufuncs with out positional (see the module docstring)
    np.minimum(out, cap, out=out)  # (maximum/minimum deprecate a positional out)
    np.exp(out, out)  # exp(-x), finite
    np.add(out, _ONE.get(out.dtype, 1), out)
    return np.reciprocal(out, out)


def sigmoid_backward(dy, x, y, out=None):
    """dx = dy * y (1 - y)."""
    if out is None:
        return dy * y * (1 - y)
    np.subtract(_ONE.get(out.dtype, 1), y, out)  # 1 - y
    np.multiply(out, y, out)
    return np.multiply(out, dy, out)


def tanh(x, out=None):
    """y = tanh(x)."""
    return np.tanh(x, out)


def tanh_backward(dy, x, y, out=None):
    """dx = dy * (1 - y^2)."""
    if out is None:
        return dy * (1 - y * y)
    np.multiply(y, y, out)
    np.subtract(_ONE.get(out.dtype, 1), out, out)
    return np.multiply(dy, out, out)


_ZERO = per_dtype(0.0)
_ZEROS = {np.dtype(t): np.zeros(4096, t) for t in (np.float32, np.float64)}
for _z in _ZEROS.values():
    _z.flags.writeable = False


def relu(x, out=None):
    """y = max(x, 0).

    Large contiguous float arrays go through ``maximum`` against a row of zeros: numpy 2.4's
    ``maximum`` with a scalar operand runs ~3x slower than with an array operand (measured,
    AVX-512 build); the values are the same."""
    zeros = _ZEROS.get(x.dtype)
    if zeros is None or x.size < 2 * zeros.size or not x.flags.c_contiguous or (
            out is not None and not out.flags.c_contiguous):
        return np.maximum(x, _ZERO.get(x.dtype, 0), out=out)  # (a positional out is deprecated here)
    out = np.empty_like(x) if out is None else out
    n, k = x.size, zeros.size
    body = n - n % k
    xf, of = x.reshape(-1), out.reshape(-1)
    np.maximum(xf[:body].reshape(-1, k), zeros, out=of[:body].reshape(-1, k))  # (n // k, k)
    np.maximum(xf[body:], zeros[:n - body], out=of[body:])
    return out


def relu_backward(dy, x, y, out=None):
    """dx = dy * [x > 0]  (0 at the kink), read from y when given: y > 0 exactly where x > 0."""
    return np.multiply(dy, np.greater(x if y is None else y, _ZERO.get(dy.dtype, 0)), out)


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
    """dx = dy for x > 0, dy * alpha exp(x) otherwise (from the cached x; exp(min(x, 0)), so the
    branch not taken never overflows).

    NOTE: alpha exp(x) also equals y + alpha, but that form cancels when y is close to -alpha:
    float32 relative error 0.44 at x = -17 and 1.0 (a zero gradient) at x = -20; float64 gives
    exactly 0 at x = -40. torch's (not in-place) ELU backward computes alpha exp(x) (exact), as
    here; TensorFlow's EluGrad uses dy * (y + alpha), so Keras loses that precision for large
    negative x."""
    t = x.dtype.type
    return np.where(x > 0, dy, dy * (t(alpha) * np.exp(np.minimum(x, t(0)))))


def selu(x):
    """y = scale * elu(x, alpha) with the fixed self-normalising alpha and scale."""
    return x.dtype.type(SELU_SCALE) * elu(x, SELU_ALPHA)


def selu_backward(dy, x, y):
    """dx = dy * scale for x > 0, dy * scale * alpha exp(x) otherwise (from the cached x).

    NOTE: as for ``elu_backward``, the equal form y + scale alpha cancels for large negative x
    (float32 relative error 0.64 at x = -17, 1.0 at x = -20; float64 exactly 0 at x = -40).
    torch's SELU backward computes scale alpha exp(x) (exact), as here; TensorFlow's SeluGrad
    uses dy * (y + scale alpha), so Keras loses that precision there."""
    t = x.dtype.type
    return np.where(x > 0, dy * t(SELU_SCALE), dy * (t(SELU_SCALE * SELU_ALPHA) * np.exp(np.minimum(x, t(0)))))


def _gelu_constants(float32_constants: bool) -> tuple[float, float]:
    """(k, c) = (1/sqrt 2, 0.044715); with ``float32_constants`` as TensorFlow's float64 GELU has
    them: ``math_ops.cast(0.7071067811865476, float64)`` and ``cast(0.044715, float64)`` go through
    a float32 constant first (sqrt(2/pi) multiplies as a Python float, exact)."""
    k, c = math.sqrt(0.5), _GELU_TANH_C
    if float32_constants:
        k, c = float(np.float32(k)), float(np.float32(c))
    return k, c


def gelu(x, approximate=False, float32_constants=False):
    """Exact: y = x/2 (1 + erf(x / sqrt 2)) = x Phi(x) (TF: x/2 erfc(-k x), k = 1/sqrt 2).
    approximate: y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + c x^3), c = 0.044715.
    ``float32_constants``: k and c rounded to float32 (TensorFlow's float64 GELU)."""
    t = x.dtype.type
    k, c = _gelu_constants(float32_constants)
    if approximate:
        u = t(_SQRT_2_OVER_PI) * (x + t(c) * x ** 3)
        return t(0.5) * x * (1 + np.tanh(u))
    if float32_constants:
        return t(0.5) * x * (1 + erf(x * t(k)))
    return t(0.5) * x * (1 + erf(x / t(math.sqrt(2.0))))


def gelu_backward(dy, x, y, approximate=False, float32_constants=False):
    """Exact: dx = dy (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi); with k for 1/sqrt 2:
    dy (1/2 (1 + erf(k x)) + k x exp(-(k x)^2) / sqrt pi).
    approximate: dx = dy (1/2 (1 + tanh u) + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 c x^2))."""
    t = x.dtype.type
    k, c = _gelu_constants(float32_constants)
    if approximate:
        th = np.tanh(t(_SQRT_2_OVER_PI) * (x + t(c) * x ** 3))
        du = t(_SQRT_2_OVER_PI) * (1 + t(3 * c) * x * x)
        return dy * (t(0.5) * (1 + th) + t(0.5) * x * (1 - th * th) * du)
    if float32_constants:
        z = x * t(k)
        return dy * (t(0.5) * (1 + erf(z)) + z * np.exp(-z * z) / t(math.sqrt(math.pi)))
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


def hard_sigmoid(x, float32_constants=False):
    """y = relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1) (``float32_constants`` touches the backward only)."""
    return np.clip(x + 3, 0, 6) / x.dtype.type(6)


def hard_sigmoid_backward(dy, x, y, float32_constants=False):
    """dx = dy / 6 for -3 < x < 3, else 0. ``float32_constants``: dy times the float32 constant
    1.0f/6.0f instead (torch's float64 Hardsigmoid backward)."""
    t = dy.dtype.type
    inside = (x > -3) & (x < 3)
    if float32_constants:
        return np.where(inside, dy * t(np.float32(1.0) / np.float32(6.0)), t(0))
    return np.where(inside, dy / t(6), t(0))


def relu6(x):
    """y = min(max(x, 0), 6)."""
    t = x.dtype.type
    return np.clip(x, t(0), t(6))


def relu6_backward(dy, x, y):
    """dx = dy for 0 < x < 6, else 0 (both kinks take the flat side, as torch and TF do)."""
    t = dy.dtype.type
    return np.where((x > 0) & (x < 6), dy, t(0))


def hard_silu(x):
    """y = x hard_sigmoid(x) = x relu6(x + 3) / 6  (hard swish: 0 below -3, x above 3)."""
    return x * hard_sigmoid(x)


def hard_silu_backward(dy, x, y):
    """dx = dy (hard_sigmoid(x) + x [-3 < x < 3] / 6) = dy (2 x + 3) / 6 inside (-3, 3), dy above
    3, 0 below -3 (the product rule on y = x hard_sigmoid(x))."""
    t = dy.dtype.type
    inside = (x > -3) & (x < 3)
    return dy * (hard_sigmoid(x) + np.where(inside, x / t(6), t(0)))


def softsign(x):
    """y = x / (1 + |x|)."""
    return x / (1 + np.abs(x))


def softsign_backward(dy, x, y):
    """dx = dy / (1 + |x|)^2."""
    d = 1 + np.abs(x)
    return dy / (d * d)


def log_sigmoid(x):
    """y = log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))  (finite at any x)."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def log_sigmoid_backward(dy, x, y):
    """dx = dy (1 - sigmoid(x)) = dy sigmoid(-x)."""
    return dy * sigmoid(-x)


def celu(x, alpha=1.0, float32_constants=False):
    """y = max(x, 0) + min(0, alpha (exp(x / alpha) - 1))  (= elu with exp(x / alpha));
    ``float32_constants`` touches the backward only."""
    t = x.dtype.type
    return np.maximum(x, t(0)) + t(alpha) * np.expm1(np.minimum(x, t(0)) / t(alpha))


def celu_backward(dy, x, y, alpha=1.0, float32_constants=False):
    """dx = dy for x > 0, dy exp(x / alpha) otherwise (from x; the branch not taken never
    overflows). ``float32_constants``: dy alpha s exp(x s) with s = 1 / float32(alpha) instead
    (torch's CELU backward is ``elu_backward(grad, alpha, 1, 1.0 / alpha.toFloat(), ...)``: its
    input scale goes through float32, so dx is off by alpha / float32(alpha) - 1, up to 6e-8)."""
    t = x.dtype.type
    if float32_constants:
        s = t(1.0 / float(np.float32(alpha)))
        return np.where(x > 0, dy, dy * s * t(alpha) * np.exp(np.minimum(x, t(0)) * s))
    return np.where(x > 0, dy, dy * np.exp(np.minimum(x, t(0)) / t(alpha)))


def hard_tanh(x):
    """y = clip(x, -1, 1)."""
    t = x.dtype.type
    return np.clip(x, t(-1), t(1))


def hard_tanh_backward(dy, x, y):
    """dx = dy for -1 < x < 1, else 0."""
    return np.where((x > -1) & (x < 1), dy, dy.dtype.type(0))


def mish(x):
    """y = x tanh(softplus(x))."""
    return x * np.tanh(softplus(x))


def mish_backward(dy, x, y):
    """dx = dy (tanh(sp) + x (1 - tanh^2(sp)) sigmoid(x)), sp = softplus(x), since
    d softplus / dx = sigmoid(x)."""
    th = np.tanh(softplus(x))
    return dy * (th + x * (1 - th * th) * sigmoid(x))


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
    "gelu": (gelu, gelu_backward, {"approximate": False, "float32_constants": False}),
    "softplus": (softplus, softplus_backward, {}),
    "silu": (silu, silu_backward, {}),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_backward, {"float32_constants": False}),
    "relu6": (relu6, relu6_backward, {}),
    "hard_silu": (hard_silu, hard_silu_backward, {}),
    "softsign": (softsign, softsign_backward, {}),
    "log_sigmoid": (log_sigmoid, log_sigmoid_backward, {}),
    "celu": (celu, celu_backward, {"alpha": 1.0, "float32_constants": False}),
    "hard_tanh": (hard_tanh, hard_tanh_backward, {}),
    "mish": (mish, mish_backward, {}),
    "softmax": (softmax, softmax_backward, {"axis": -1}),
    "log_softmax": (log_softmax, log_softmax_backward, {"axis": -1}),
}
NAMES = tuple(_FUNCTIONS)
_WITH_OUT = frozenset({"linear", "relu", "sigmoid", "tanh"})  # accept out=, backward reads only y


@dataclass(frozen=True)
class Activation:
    """An activation function bound to its parameters; ``forward`` returns ``(y, cache)``."""

    name: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        # in_place: the backward reads only y, so ``forward(z, out=z)`` may overwrite z;
        # dy_in_place: ``backward(dy, cache, out=dy)`` is correct (dy read once per element)
        object.__setattr__(self, "in_place", self.name in _WITH_OUT)
        object.__setattr__(self, "dy_in_place", self.name in ("relu", "linear"))

    def forward(self, x, out=None):
        """``(y, (x, y))``; with ``out`` (used by linear, relu, sigmoid, tanh) y is written there."""
        f = _FUNCTIONS[self.name][0]
        y = f(x, out=out) if out is not None and self.in_place else f(x, **self.params)
        return y, (x, y)

    def backward(self, dy, cache, out=None):
        """dL/dx from dL/dy and the forward's cache; ``out`` as in ``forward``."""
        df = _FUNCTIONS[self.name][1]
        if out is not None and self.in_place:
            return df(dy, None, cache[1], out=out)
        return df(dy, cache[0], cache[1], **self.params)

    def __call__(self, x):
        return self.forward(x)[0]


# -- argument checks ------------------------------------------------------------------------------
def _checked(name: str, key: str, value, default):
    """A parameter checked against the type of its default: bool, int (an axis) or a finite real."""
    what = f"activation {name!r}: {key}"
    if isinstance(default, bool):
        return boolean(value, what)
    if isinstance(default, int):
        return integer(value, what)
    return finite_real(value, what)


def get(name: "str | Activation | None", **params) -> Activation:
    """Look an activation up by name (None means linear); unknown names and parameters raise, and
    so do parameters of the wrong kind (a bool flag given anything but True/False, an axis that is
    not an int, a slope or alpha that is not a finite real number)."""
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
    checked = {k: _checked(name, k, v, defaults[k]) for k, v in params.items()}
    if name == "celu" and checked.get("alpha", 1.0) <= 0:
        raise ValueError(f"activation 'celu': alpha: expected a number > 0 (celu divides by it), "
                         f"got {checked['alpha']!r}")
    return Activation(name, {**defaults, **checked})
