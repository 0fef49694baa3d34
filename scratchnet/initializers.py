"""Weight initialisers. Each takes ``(shape, rng, dtype)`` and returns a new array.

fan_in / fan_out follow Keras: for a kernel of shape (..., fan_in_last, fan_out) the receptive
field (product of the leading dims) multiplies both: a Dense kernel (in, out) has fan_in = in,
fan_out = out; a conv kernel (kh, kw, C_in, C_out) has fan_in = kh kw C_in, fan_out = kh kw C_out.

- glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))      (Keras's default kernel init)
- glorot_normal:  truncated-free N(0, s^2), s = sqrt(2 / (fan_in + fan_out))
- he_uniform:     U(-l, l), l = sqrt(6 / fan_in)
- he_normal:      N(0, s^2), s = sqrt(2 / fan_in)
- zeros, ones

Keras's own glorot_normal and he_normal draw from a truncated normal; torch's
``kaiming_uniform_(a=sqrt(5))`` default for Linear is U(+-1/sqrt(fan_in)). Parity does not depend on
either: the harness copies one set of initial weights into all three frameworks.
"""
from __future__ import annotations

import numpy as np


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, Keras's rule."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, rng, dtype="float64"):
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, rng, dtype="float64"):
    fan_in, fan_out = fans(shape)
    return (rng.standard_normal(size=shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_uniform(shape, rng, dtype="float64"):
    fan_in, _ = fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, rng, dtype="float64"):
    fan_in, _ = fans(shape)
    return (rng.standard_normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def zeros(shape, rng=None, dtype="float64"):
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng=None, dtype="float64"):
    return np.ones(shape, dtype=dtype)


_INITIALIZERS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, zeros, ones)}


def get(name):
    """An initialiser by name, or the callable itself."""
    if callable(name):
        return name
    if name not in _INITIALIZERS:
        raise ValueError(f"initializer: unknown name {name!r}; expected one of {', '.join(_INITIALIZERS)}")
    return _INITIALIZERS[name]
