"""Regularisation layers: Dropout (inverted scaling, injectable mask)."""
from __future__ import annotations

import numpy as np

from scratchnet.layers.base import Layer

__all__ = ["Dropout"]


def dropout_forward(x, mask, rate):
    """y = x * mask * s,  s = 1/(1 - rate) computed once in float64 and cast to x's dtype.

    ``mask`` is boolean (True = keep), x's shape. Returns ``(y, (mask, s))``."""
    scale = np.asarray(1.0 / (1.0 - rate), dtype=x.dtype)  # 0-d, x's dtype
    return x * mask * scale, (mask, scale)


def dropout_backward(dy, cache):
    """dx = dy * mask * s (the same fixed mask and scale as the forward)."""
    mask, scale = cache
    return dy * mask * scale


class Dropout(Layer):
    """Inverted dropout: y = x * mask / (1 - rate) in training, y = x at inference.

    Shapes: x (N, ...) -> y, same shape; the mask has x's full shape (batch axis included).

    Forward (training):  mask_i ~ Bernoulli(1 - rate) (True = keep),  y = x * mask * s,
                         s = 1/(1 - rate) (computed in float64, then cast to the layer dtype)
    Backward (training): dx = dy * mask * s
    Inference:           y = x, dx = dy.

    The mask is either injected or drawn:
    - ``layer.set_mask(mask)`` (or ``layer.mask = mask``): a boolean or 0/1 array of the input's
      full shape, used for every following training forward until ``layer.clear_mask()`` (or
      ``set_mask(None)`` / ``layer.mask = None``). A wrong shape is a ValueError at forward.
    - otherwise drawn as ``rng.random(x.shape) >= rate`` from the layer's own Generator: ``rng``
      given at construction, else ``numpy.random.default_rng(seed)`` when a seed is given, else a
      Generator spawned at build time from the model's build Generator (so two Dropout layers of
      one model never share a stream).
    ``layer.last_mask`` holds the boolean mask of the last training forward (injected or drawn),
    so a harness can hand a drawn mask to another framework.

    NOTE: torch ``nn.Dropout(p)`` and Keras ``Dropout(rate)`` both scale the kept units by
    1/(1 - p) in training and are the identity at inference (torch: ``eval()``; Keras:
    ``training=False``, the default of ``model(x)``). Their masks come from different generators,
    so parity needs the same injected mask in all three. Multiplying by the precomputed reciprocal
    ``x * (1/(1 - p))`` matches both frameworks bit for bit; ``x / (1 - p)`` is 1 ulp off.
    Keras's ``noise_shape`` (mask broadcast over some axes) is not supported here.
    """

    def __init__(self, rate, seed=None, name=None, rng=None):
        super().__init__(name, rng)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) \
                or not 0.0 <= rate < 1.0:
            raise ValueError(f"{self.name}: rate: expected a float in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self._generator = rng if rng is not None else (None if seed is None else np.random.default_rng(seed))
        self._mask: np.ndarray | None = None
        self.last_mask: np.ndarray | None = None

    # -- the injected mask --------------------------------------------------------------------
    def set_mask(self, mask) -> None:
        """Use ``mask`` (boolean or 0/1, the input's full shape) for every training forward until
        cleared; ``None`` clears it."""
        if mask is None:
            self._mask = None
            return
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            if mask.dtype.kind not in "iuf" or not np.all((mask == 0) | (mask == 1)):
                raise ValueError(f"{self.name}: mask: expected a boolean or 0/1 array, got dtype {mask.dtype} "
                                 f"with values {np.unique(mask)[:5]}")
            mask = mask != 0
        self._mask = mask.copy()

    def clear_mask(self) -> None:
        self._mask = None

    @property
    def mask(self) -> np.ndarray | None:
        """The injected mask (boolean), or None when masks are drawn."""
        return self._mask

    @mask.setter
    def mask(self, value) -> None:
        self.set_mask(value)

    # -- running ------------------------------------------------------------------------------
    def _build(self, input_shape, rng):
        if self._generator is None:  # no seed, no rng: a stream of its own from the build Generator
            self._generator = rng.spawn(1)[0]

    def _forward(self, x, training):
        if not training:
            return x, (None, None)  # not None: base.Layer reads a None cache as "no forward yet"
        if self._mask is not None:
            if self._mask.shape != x.shape:
                raise ValueError(f"{self.name}: mask: expected the input's shape {x.shape}, "
                                 f"got {self._mask.shape}")
            mask = self._mask
        else:
            mask = self._generator.random(x.shape) >= self.rate  # keep with probability 1 - rate
        self.last_mask = mask.copy()
        return dropout_forward(x, mask, self.rate)

    def _backward(self, dy, cache):
        return dy if cache[0] is None else dropout_backward(dy, cache)
