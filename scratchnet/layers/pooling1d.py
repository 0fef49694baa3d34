"""Pooling over sequences (N, T, C), and global max pooling over images.

MaxPool1D and AveragePool1D are the 2-D poolings of ``pooling.py`` on the one-row image
(N, 1, T, C) with window (1, k) and strides (1, s); padding "valid" or "same" (TensorFlow's rule
along T: total = max((ceil(T/s) - 1) s + k - T, 0), lo = total // 2). The global poolings reduce
over T (or H and W).

Global max ties: every cell holding the maximum gets an equal share of the gradient, dy / m for m
tied cells: what TensorFlow's ``reduce_max`` gradient and torch's ``amax`` backward do (a windowed
max pool gives all of it to the first maximum instead; see ``MaxPool2D``).
"""
from __future__ import annotations

import numpy as np

from scratchnet.layers import _windows
from scratchnet.layers._reduce import reduce_mean
from scratchnet.layers.base import Layer, positive_int
from scratchnet.layers.conv1d import _t_out, sequence_shape
from scratchnet.layers.pooling import (average_pool2d_backward, average_pool2d_forward, max_pool2d_backward,
                                       max_pool2d_forward)

__all__ = ["MaxPool1D", "AveragePool1D", "GlobalAveragePool1D", "GlobalMaxPool1D", "GlobalMaxPool2D"]


class _Pool1D(Layer):
    """pool_size, strides (default: pool_size, as in Keras), padding "valid" | "same"."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, rng=None):
        super().__init__(name, rng)
        self.pool_size = positive_int(pool_size, f"{self.name}: pool_size")
        self.strides = self.pool_size if strides is None else positive_int(strides, f"{self.name}: strides")
        self.padding = _windows.padding_arg(padding, f"{self.name}: padding", explicit=False)

    def _pads(self, t_len):
        lo_hi = (0, 0) if self.padding == "valid" else _windows.same_padding(t_len, self.pool_size, self.strides)
        return (0, 0), lo_hi

    def compute_output_shape(self, input_shape):
        t_len, c = sequence_shape(self.name, input_shape)
        return _t_out(self.name, "pool_size", t_len, self.pool_size, self.strides, self._pads(t_len)[1]), c

    def _build(self, input_shape, rng):
        self._padding = self._pads(input_shape[0])
        self._window = (1, self.pool_size), (1, self.strides)


class MaxPool1D(_Pool1D):
    """y[n, t, c] = max_{0 <= a < k} xp[n, t s + a, c], xp padded with -inf.

    Shapes: x (N, T, C) -> y (N, T_out, C), T_out = floor((T + lo + hi - k) / s) + 1 (same:
    ceil(T / s)). Backward: dx[n, t s + a* - lo, c] += dy[n, t, c] at the window's first maximum.
    Computed as ``MaxPool2D`` on (N, 1, T, C).

    NOTE: torch ``nn.MaxPool1d(k, stride)`` takes (N, C, T); for TF's "same" with lo < hi pad
    explicitly with -inf. Keras ``MaxPooling1D`` matches this layer.
    """

    def _forward(self, x, training):
        y, cache = max_pool2d_forward(x[:, None], *self._window, self._padding, buffer=self._buffer)
        return y[:, 0], cache

    def _backward(self, dy, cache):
        return max_pool2d_backward(dy[:, None], cache)[:, 0]


class AveragePool1D(_Pool1D):
    """y[n, t, c] = (1 / K_t) sum_{a real} xp[n, t s + a, c], K_t = real (unpadded) cells of window t.

    Shapes: as ``MaxPool1D``. Backward: dx[n, t s + a - lo, c] += dy[n, t, c] / K_t per real cell.

    NOTE: torch ``nn.AvgPool1d`` counts padded cells unless ``count_include_pad=False`` (Keras,
    TF and this layer leave them out).
    """

    def _forward(self, x, training):
        y, cache = average_pool2d_forward(x[:, None], *self._window, self._padding)
        return y[:, 0], cache

    def _backward(self, dy, cache):
        return average_pool2d_backward(dy[:, None], cache)[:, 0]


class GlobalAveragePool1D(Layer):
    """y[n, c] = (1 / T) sum_t x[n, t, c];  dx[n, t, c] = dy[n, c] / T.  x (N, T, C) -> y (N, C).

    NOTE: Keras ``GlobalAveragePooling1D()``; torch: ``x.mean(dim=1)`` on (N, T, C)."""

    def compute_output_shape(self, input_shape):
        return (sequence_shape(self.name, input_shape)[1],)

    def _forward(self, x, training):
        return reduce_mean(x, (1,), keepdims=False), x.shape

    def _backward(self, dy, cache):
        n, t_len, c = cache
        return np.broadcast_to((dy / t_len)[:, None, :], cache).copy()  # (N, T, C)


def global_max_forward(x, axes):
    """y = max of x over ``axes``; the cache keeps the tie mask divided by the tie count."""
    y = np.max(x, axis=axes, keepdims=True)
    hit = (x == y).astype(x.dtype)
    share = hit / np.sum(hit, axis=axes, keepdims=True)  # 1/m on each of m tied maxima
    return np.squeeze(y, axis=axes), (share, axes)


def global_max_backward(dy, cache):
    """dx = share * dy broadcast back over the reduced axes (share = [x = max] / #ties)."""
    share, axes = cache
    return share * np.expand_dims(dy, axes)


class GlobalMaxPool1D(Layer):
    """y[n, c] = max_t x[n, t, c];  dx[n, t, c] = dy[n, c] [x = y] / m (m tied maxima).
    x (N, T, C) -> y (N, C).

    NOTE: Keras ``GlobalMaxPooling1D()``; torch: ``x.amax(dim=1)`` (ties share the gradient as
    here; ``x.max(dim=1).values`` would give it to one index)."""

    def compute_output_shape(self, input_shape):
        return (sequence_shape(self.name, input_shape)[1],)

    def _forward(self, x, training):
        return global_max_forward(x, (1,))

    def _backward(self, dy, cache):
        return global_max_backward(dy, cache)


class GlobalMaxPool2D(Layer):
    """y[n, c] = max_{i,j} x[n, i, j, c];  dx[n, i, j, c] = dy[n, c] [x = y] / m (m tied maxima).
    x (N, H, W, C) -> y (N, C).

    NOTE: Keras ``GlobalMaxPooling2D()``; torch: ``x.amax(dim=(2, 3))`` on NCHW (no class of this
    name; ``AdaptiveMaxPool2d(1)`` gives the whole gradient to one cell of a tie)."""

    def compute_output_shape(self, input_shape):
        return (_windows.image_hw(self.name, input_shape)[2],)

    def _forward(self, x, training):
        return global_max_forward(x, (1, 2))

    def _backward(self, dy, cache):
        return global_max_backward(dy, cache)
