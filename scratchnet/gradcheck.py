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

Checks that scale (``tensor_differences``). Element by element, a tensor of n elements costs 2n
evaluations of the loss: hours for a real-size model. As ``torch.autograd.gradcheck(fast_mode=True)``
does, a large tensor is checked instead by

1. ``DIRECTIONS`` random directional derivatives. For a unit vector v (normalised standard normal
   draws from an explicit Generator) and x+- = fl(x +- eps v), compare

       n = (L(x+) - L(x-)) / (2 eps)    with    a = g . d,   d = (x+ - x-) / (2 eps),

   g the analytic gradient. d is the step actually taken (x+ - x- is exact by Sterbenz's lemma
   wherever eps|v_i| << |x_i|), so the representation error of x +- eps v, up to u|x_i| per element
   (u = 2^-53), does not enter. Taylor about x with h+ = x+ - x, h- = x - x- (both eps v up to
   rounding): L(x+) - L(x-) = g . (x+ - x-) + (h+ H h+ - h- H h-) / 2 + (D3L[h+] + D3L[h-]) / 6 + ...,
   the second-order terms cancelling up to O(u |x| |H| eps) (negligible), so

       |n - a| <= eps^2 / 6 |D3L[v, v, v]|  +  delta_L / eps,

   D3L the third derivative and delta_L the rounding error of one evaluation of L (about u|L| for
   a well-conditioned loss; 4u|L| is allowed). By Cauchy-Schwarz |a| <= |g| |d| (2-norms), and the
   comparison is made relative to that scale (``directional_tolerance``):

       |n - a| <= (rtol + 4 u |L| / (eps |g| |d|)) * |g| |d|,

   rtol covering the truncation (|D3L[v, v, v]| up to 6 rtol |g| / eps^2: 6e5 |g| at rtol 1e-7 and
   eps 1e-6, as for one element). A gradient g + e that is wrong by e shifts a by e . d, which is
   about |e| z / sqrt(n) with z standard normal, against an allowance of about rtol |g|. So one
   direction misses the error only when |e| / |g| < rtol sqrt(n) / |z| (n = 48120, rtol 1e-7:
   2.2e-5 / |z|): an error in any element of the tensor, sampled or not, is caught unless it is
   that small or v is nearly orthogonal to it in every direction drawn (|z| < 1e-3 four times:
   probability ~1e-12).
2. Exact central differences on every element of a tensor of at most ``ELEMENT_CAP`` elements, and
   on ``SAMPLED_ELEMENTS`` elements drawn without replacement from a larger one. These see an error
   in one element down to rtol of the tensor's largest gradient (the directional check only above
   rtol sqrt(n) of its norm), in the elements they cover. The cap bounds a small tensor's cost at
   2 x 256 evaluations: every bias, normalisation vector and small kernel stays checked element by
   element, while a real-size kernel (LeNet-5's 48120-weight dense kernel: 96240 evaluations one
   by one) costs 2 x (64 + 4), and a tensor just above the cap still has a quarter of its elements
   checked one by one.

Kinks: an element whose one-sided slopes differ (``numerical_gradient_at``) is left out and counted.
A direction whose one-sided slopes differ by more than ``kink_rtol`` times the largest |n| drawn
crosses a kink somewhere along x +- eps v (a ReLU at 0, a max-pool tie), where the central
difference means nothing: it is kept and flagged, and another v is drawn, at most ``KINK_TRIES``
draws per direction; the caller reports how many crossed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

ELEMENT_CAP = 256       # tensors up to this size: every element checked on its own
SAMPLED_ELEMENTS = 64   # above it: this many elements, drawn without replacement
DIRECTIONS = 4          # ... plus this many random directional derivatives
KINK_TRIES = 3          # draws per direction before it is reported as crossing a kink


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
    """Central differences on every element plus a mask of the elements where ``f`` has a kink
    (``numerical_gradient_at`` over all of ``x``)."""
    _check_array(x)
    values, kinks = numerical_gradient_at(f, x, np.arange(x.size), eps, kink_rtol)
    return values.reshape(x.shape), kinks.reshape(x.shape)


def _check_array(x: np.ndarray) -> None:
    if x.dtype != np.float64:
        raise ValueError(f"numerical_gradient: needs a float64 array, got {x.dtype}")
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient: x must be C-contiguous")


def numerical_gradient_at(f: Callable[[], float], x: np.ndarray, indices: np.ndarray, eps: float = 1e-6,
                          kink_rtol: float = 1e-3, f0: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Central differences at the flat ``indices`` of ``x`` (perturbed in place and restored), and
    which of them sit at a kink.

    With x+- = fl(x_i +- eps), the difference (f(x+) - f(x-)) / (x+ - x-) divides by the step
    actually taken (x_i +- eps rounds by up to u|x_i|). With f0 = f(x), the one-sided slopes
    r = (f(x+) - f0) / eps and l = (f0 - f(x-)) / eps differ by about eps f'' where f is smooth, but
    by the jump of the derivative where a ReLU sits at 0 or a max-pool window holds a tie (blank
    image regions). There the derivative does not exist and a central difference means nothing, so
    elements with |r - l| > kink_rtol * max|central| (over ``indices``) are flagged and the caller
    leaves them out of the check. ``f0``: f(x), when the caller has it.
    """
    _check_array(x)
    f0 = f() if f0 is None else f0
    flat = x.reshape(-1)
    indices = np.asarray(indices, dtype=np.intp)
    grad, jump = np.zeros(indices.size), np.zeros(indices.size)
    for j, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + eps
        up = flat[i]
        plus = f()
        flat[i] = old - eps
        down = flat[i]
        minus = f()
        flat[i] = old
        grad[j] = (plus - minus) / (up - down)
        jump[j] = abs((plus - f0) - (f0 - minus)) / eps
    scale = np.max(np.abs(grad), initial=0.0)
    return grad, jump > kink_rtol * scale if scale > 0 else np.zeros(indices.size, bool)


def element_indices(size: int, rng: np.random.Generator, cap: int = ELEMENT_CAP,
                    sample: int = SAMPLED_ELEMENTS) -> np.ndarray:
    """The flat indices checked element by element: all of them up to ``cap`` elements, else
    ``sample`` of them drawn from ``rng`` without replacement (sorted)."""
    if size <= cap:
        return np.arange(size)
    return np.sort(rng.choice(size, size=sample, replace=False))


def random_direction(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """A unit vector (2-norm 1) of ``shape``, uniform on the sphere (normalised normal draws)."""
    v = rng.standard_normal(shape)
    return v / np.linalg.norm(v)


def directional_difference(f: Callable[[], float], x: np.ndarray, v: np.ndarray, eps: float = 1e-6,
                           f0: float | None = None) -> tuple[float, np.ndarray, float]:
    """``(n, d, jump)`` along the direction ``v``: n = (f(x+) - f(x-)) / (2 eps), the step taken
    d = (x+ - x-) / (2 eps) with x+- = fl(x +- eps v), and the one-sided slopes' difference
    jump = |(f(x+) - f0) - (f0 - f(x-))| / eps. ``x`` is perturbed in place and restored; the
    analytic counterpart of n is g . d (module docstring)."""
    _check_array(x)
    f0 = f() if f0 is None else f0
    old = x.copy()
    np.add(old, eps * v, out=x)
    up = x.copy()
    plus = f()
    np.subtract(old, eps * v, out=x)
    down = x.copy()
    minus = f()
    x[...] = old
    return (plus - minus) / (2 * eps), (up - down) / (2 * eps), abs((plus - f0) - (f0 - minus)) / eps


@dataclass(frozen=True)
class TensorDifferences:
    """What ``tensor_differences`` measured on one tensor of ``shape``.

    ``indices`` (flat), ``values`` (the central differences there) and ``kinks`` (at a kink): the
    elements checked one by one. ``steps`` (k, *shape), ``directional`` (k,) and ``crossed`` (k,):
    every direction drawn, its step d, its difference n, and whether it crossed a kink (none for a
    tensor checked element by element in full)."""
    shape: tuple
    indices: np.ndarray
    values: np.ndarray
    kinks: np.ndarray
    steps: np.ndarray
    directional: np.ndarray
    crossed: np.ndarray

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def exhaustive(self) -> bool:
        return self.indices.size == self.size

    def dense(self) -> np.ndarray:
        """The element differences in the tensor's shape, NaN where no element was checked."""
        out = np.full(self.size, np.nan)
        out[self.indices] = self.values
        return out.reshape(self.shape)


def tensor_differences(f: Callable[[], float], x: np.ndarray, rng: np.random.Generator, eps: float = 1e-6,
                       kink_rtol: float = 1e-3, cap: int = ELEMENT_CAP, sample: int = SAMPLED_ELEMENTS,
                       directions: int = DIRECTIONS, tries: int = KINK_TRIES) -> TensorDifferences:
    """Finite differences that scale (module docstring): every element of a tensor of at most
    ``cap`` elements; else ``sample`` elements drawn from ``rng`` plus ``directions`` directional
    differences along directions drawn from ``rng``, one that crosses a kink replaced by a fresh
    draw, up to ``tries`` draws per direction. A direction crosses a kink when its one-sided slopes
    differ by more than ``kink_rtol`` times the largest |n| drawn (none does when every n is 0)."""
    _check_array(x)
    f0 = f()
    indices = element_indices(x.size, rng, cap, sample)
    values, kinks = numerical_gradient_at(f, x, indices, eps, kink_rtol, f0=f0)
    draws: list[tuple[float, np.ndarray, float]] = []

    def crossed() -> list[bool]:
        scale = max((abs(n) for n, _, _ in draws), default=0.0)
        return [scale > 0 and jump > kink_rtol * scale for _, _, jump in draws]

    while indices.size < x.size:
        smooth = len(draws) - sum(crossed())
        if smooth >= directions or len(draws) >= directions * tries:
            break
        for _ in range(min(directions - smooth, directions * tries - len(draws))):
            draws.append(directional_difference(f, x, random_direction(rng, x.shape), eps, f0))
    steps = np.array([d for _, d, _ in draws], np.float64).reshape(len(draws), *x.shape)
    return TensorDifferences(tuple(x.shape), indices, values, kinks, steps,
                             np.array([n for n, _, _ in draws], np.float64), np.array(crossed(), bool))


def evaluations(size: int, cap: int = ELEMENT_CAP, sample: int = SAMPLED_ELEMENTS, directions: int = DIRECTIONS,
                tries: int = KINK_TRIES) -> int:
    """The most evaluations of f that ``tensor_differences`` makes on a tensor of ``size`` elements:
    f(x) once, two per element checked, two per direction drawn (every redraw included)."""
    if size <= cap:
        return 1 + 2 * size
    return 1 + 2 * sample + 2 * directions * tries


def evaluation_noise(f: Callable[[], float], x: np.ndarray, rng: np.random.Generator, delta: float = 1e-9,
                     points: int = 9) -> float:
    """The rounding noise of one evaluation of ``f`` (its standard deviation), measured as Moré and
    Wild's ECnoise does: f at x + (i - points // 2) delta v, i = 0..points-1, along a unit direction
    v drawn from ``rng``; the k-th differences of those values cancel the smooth part of f (it
    contributes about delta^k |f^(k)|, nothing at delta = 1e-9) and leave the noise, whose variance
    they multiply by (2k)! / (k!)^2. The estimate is the median over k = 3..6 of
    sqrt((k!)^2 / (2k)! * mean(Delta^k f)^2). x is restored."""
    v = random_direction(rng, x.shape)
    x0 = x.copy()
    values = []
    try:
        for i in range(points):
            x[...] = x0 + (i - points // 2) * delta * v
            values.append(f())
    finally:
        x[...] = x0
    table = np.asarray(values, np.float64) - values[points // 2]
    estimates = []
    for k in range(3, 7):
        d = np.diff(table, k)
        gamma = math.factorial(k) ** 2 / math.factorial(2 * k)
        estimates.append(math.sqrt(gamma * float(np.mean(d ** 2))))
    return float(np.median(estimates))


def directional_tolerance(loss: float, scale: float, eps: float = 1e-6, rtol: float = 1e-7,
                          noise: float = 0.0) -> float:
    """The relative tolerance of a directional difference n against g . d, relative to
    ``scale`` = |g| |d| (module docstring): rtol for the truncation plus the rounding bound
    4 max(u |L|, noise) / (eps * scale), u = 2^-53, ``noise`` a measured evaluation noise
    (``evaluation_noise``); inf for a zero scale (nothing to be relative to)."""
    rounding = 4 * max(2.0 ** -53 * abs(loss), noise, 1e-300) / eps
    return rtol + (rounding / scale if scale > 0 else np.inf)


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
