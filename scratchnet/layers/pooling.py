"""2-D pooling on channels-last images: MaxPool2D, AveragePool2D, GlobalAveragePool2D.

Windows come from the same strided view as the convolutions (``scratchnet.layers._windows``);
the backward adds each window's gradient back with one strided slice-add per window offset.
"padding" is "valid", "same" (TensorFlow's rule, as in Conv2D) or, beyond Keras, an explicit
symmetric int / [h, w] pair (torch's ``padding=p``, at most half the pool size, as torch requires).
"""
from __future__ import annotations

import numpy as np

from scratchnet.layers import _windows
from scratchnet.layers.base import Layer, pair

__all__ = ["MaxPool2D", "AveragePool2D", "GlobalAveragePool2D"]


def max_pool2d_forward(x, pool_size, strides, pads):
    """y[n,i,j,c] = max_{a,b} xp[n, i s_h + a, j s_w + b, c], xp padded with -inf.

    Returns ``(y, cache)``; the cache keeps, per output, the flat index a pw + b of the window's
    FIRST maximum in row-major window order (``argmax``), which is where the gradient goes."""
    xp = _windows.pad(x, pads, value=-np.inf)  # (N, H_p, W_p, C)
    view = _windows.windows(xp, pool_size, strides)  # (N, H_out, W_out, ph, pw, C)
    n, ho, wo, ph, pw, c = view.shape
    flat = view.reshape(n, ho, wo, ph * pw, c)  # (N, H_out, W_out, ph*pw, C): copy
    idx = flat.argmax(axis=3)[:, :, :, None, :]  # (N, H_out, W_out, 1, C): first maximum
    y = np.take_along_axis(flat, idx, axis=3)[:, :, :, 0, :]  # (N, H_out, W_out, C)
    return y, (idx, x.shape, xp.shape, pool_size, strides, pads)


def max_pool2d_backward(dy, cache):
    """dxp[n, i s_h + a*, j s_w + b*, c] += dy[n,i,j,c] at each window's first maximum (a*, b*);
    dx = dxp without its padding (a padded -inf cell is never a maximum)."""
    idx, x_shape, xp_shape, (ph, pw), strides, pads = cache
    n, ho, wo, c = dy.shape
    dcols = np.zeros((n, ho, wo, ph * pw, c), dtype=dy.dtype)  # (N, H_out, W_out, ph*pw, C)
    np.put_along_axis(dcols, idx, dy[:, :, :, None, :], axis=3)
    dcols = dcols.reshape(n, ho, wo, ph, pw, c)  # (N, H_out, W_out, ph, pw, C)
    dxp = _windows.col2im(dcols, xp_shape, (ph, pw), strides)  # (N, H_p, W_p, C)
    (top, _), (left, _) = pads
    return dxp[:, top:top + x_shape[1], left:left + x_shape[2], :]


def average_pool2d_forward(x, pool_size, strides, pads):
    """y[n,i,j,c] = (1 / K_ij) sum_{a,b real} x[n, i s_h + a - top, j s_w + b - left, c], where K_ij
    counts the window's cells inside the input (padded cells are left out of sum and count)."""
    h, w = x.shape[1], x.shape[2]
    xp = _windows.pad(x, pads)  # (N, H_p, W_p, C), zeros add nothing to the sum
    total = _windows.windows(xp, pool_size, strides).sum(axis=(3, 4))  # (N, H_out, W_out, C)
    ones = _windows.pad(np.ones((1, h, w, 1), dtype=x.dtype), pads)  # (1, H_p, W_p, 1): 1 = real cell
    count = _windows.windows(ones, pool_size, strides).sum(axis=(3, 4))  # (1, H_out, W_out, 1)
    return total / count, (count, x.shape, xp.shape, pool_size, strides, pads)


def average_pool2d_backward(dy, cache):
    """dxp[n, i s_h + a, j s_w + b, c] += dy[n,i,j,c] / K_ij for every cell of window (i, j);
    dx = dxp without its padding."""
    count, x_shape, xp_shape, pool_size, strides, pads = cache
    dxp = _windows.col2im(dy / count, xp_shape, pool_size, strides)  # (N, H_p, W_p, C)
    (top, _), (left, _) = pads
    return dxp[:, top:top + x_shape[1], left:left + x_shape[2], :]


def global_average_pool2d_forward(x):
    """y[n, c] = (1 / (H W)) sum_{i,j} x[n, i, j, c]."""
    return x.mean(axis=(1, 2)), x.shape


def global_average_pool2d_backward(dy, cache):
    """dx[n, i, j, c] = dy[n, c] / (H W)."""
    n, h, w, c = cache
    return np.broadcast_to((dy / (h * w))[:, None, None, :], cache).copy()  # (N, H, W, C)


class _Pool2D(Layer):
    """Shared argument handling: pool_size, strides (default: pool_size, as in Keras), padding."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, rng=None):
        super().__init__(name, rng)
        self.pool_size = pair(pool_size, f"{self.name}: pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, f"{self.name}: strides")
        self.padding = _windows.padding_arg(padding, f"{self.name}: padding")
        if isinstance(self.padding, tuple) and any(2 * p > k for p, k in zip(self.padding, self.pool_size)):
            raise ValueError(f"{self.name}: padding: expected at most half of pool_size "
                             f"{list(self.pool_size)} on each axis, got {list(self.padding)}")

    def _pads(self, h, w):
        return _windows.resolve_padding(self.padding, (h, w), self.pool_size, self.strides)

    def compute_output_shape(self, input_shape):
        h, w, c = _windows.image_hw(self.name, input_shape)
        return (*_windows.windows_out_hw(self.name, "pool_size", (h, w), self.pool_size,
                                         self.strides, self._pads(h, w)), c)

    def _build(self, input_shape, rng):
        self._padding = self._pads(*input_shape[:2])


class MaxPool2D(_Pool2D):
    """y = max over each window, channels-last.

    Shapes: x (N, H, W, C) -> y (N, H_out, W_out, C), H_out = floor((H + top + bottom - ph) / s_h)
    + 1; "same": top/bottom by TensorFlow's rule (see ``Conv2D``), H_out = ceil(H / s_h).

    Forward:  y[n,i,j,c] = max_{0<=a<ph, 0<=b<pw} xp[n, i s_h + a, j s_w + b, c], xp padded with -inf
    Backward: dx[n, i s_h + a* - top, j s_w + b* - left, c] += dy[n,i,j,c], where (a*, b*) is the
              window's maximum; overlapping windows add up.
    Ties: the FIRST maximum in row-major window order (smallest a, then smallest b) gets all of the
    gradient, the others none. torch (CPU) and TensorFlow do the same (measured: torch 2.13,
    TF 2.21); the gradient is then a valid subgradient, not the 1/k split of a symmetric rule.

    NOTE: torch's ``max_pool2d(kernel_size, stride=None, padding=p)`` takes NCHW, its stride also
    defaults to the kernel size, and it pads only symmetrically (with -inf, p <= k/2). For Keras's
    "same" with top < bottom (e.g. k3 s2 H=8: top 0, bottom 1), pad explicitly:
    ``F.pad(x, (left, right, top, bottom), value=-inf)``, then padding=0. Keras ``MaxPooling2D``
    (alias ``MaxPool2D``) matches this layer; it has no explicit int padding.
    """

    def _forward(self, x, training):
        return max_pool2d_forward(x, self.pool_size, self.strides, self._padding)

    def _backward(self, dy, cache):
        return max_pool2d_backward(dy, cache)


class AveragePool2D(_Pool2D):
    """y = mean over the real (unpadded) cells of each window, channels-last.

    Shapes: as ``MaxPool2D``.

    Forward:  y[n,i,j,c] = (1 / K_ij) sum_{(a,b) real} xp[n, i s_h + a, j s_w + b, c],
              K_ij = number of cells of window (i, j) inside the input (ph pw away from padding)
    Backward: dx[n, i s_h + a - top, j s_w + b - left, c] += dy[n,i,j,c] / K_ij for every real cell.

    NOTE: Keras ``AveragePooling2D(padding="same")`` (TF) leaves padded cells out of the count, as
    here. torch's ``avg_pool2d`` counts them by default (``count_include_pad=True``): pass
    ``count_include_pad=False`` for symmetric padding (top == bottom). Where TF's "same" is
    asymmetric (top < bottom), zeros padded with ``F.pad`` would count as real cells; an exact
    recipe for every case is a window sum over a count, both of zero-padded tensors:
    ``avg_pool2d(F.pad(x, p), k, s, divisor_override=1) / avg_pool2d(F.pad(ones, p), k, s,
    divisor_override=1)`` with ``p = (left, right, top, bottom)``; ``ceil_mode=True`` with
    ``padding=top`` gives the same windows only in some cases (e.g. k3 s2 H=8).
    """

    def _forward(self, x, training):
        return average_pool2d_forward(x, self.pool_size, self.strides, self._padding)

    def _backward(self, dy, cache):
        return average_pool2d_backward(dy, cache)


class GlobalAveragePool2D(Layer):
    """y = mean over the spatial axes.

    Shapes: x (N, H, W, C) -> y (N, C).
    Forward:  y[n,c] = (1 / (H W)) sum_{i,j} x[n,i,j,c]
    Backward: dx[n,i,j,c] = dy[n,c] / (H W)

    NOTE: Keras ``GlobalAveragePooling2D()`` (keepdims=False) is this; torch has no class of that
    name: ``x.mean(dim=(2, 3))`` on NCHW, or ``AdaptiveAvgPool2d(1)`` followed by a flatten.
    """

    def __init__(self, name=None, rng=None):
        super().__init__(name, rng)

    def compute_output_shape(self, input_shape):
        _, _, c = _windows.image_hw(self.name, input_shape)
        return (c,)

    def _forward(self, x, training):
        return global_average_pool2d_forward(x)

    def _backward(self, dy, cache):
        return global_average_pool2d_backward(dy, cache)
