"""2-D pooling on channels-last images: MaxPool2D, AveragePool2D, GlobalAveragePool2D.

Max pooling reduces over the ph * pw strided slices of the padded input, one per window offset
(``_windows.offsets``): ``np.maximum`` slice by slice, remembering which offset won; the backward
writes dy into the winning offset's slice, one strided slice per offset. On issue 6's CNN
(2x2 pool over (64, 26, 26, 16) float32, 1 thread) that is ~9x (forward) and ~4x (backward)
faster than an argmax over the 6-D window view. Average pooling sums the 6-D window view and
adds each window's gradient back with ``col2im``. Work arrays are reused between calls
(``layers.base``).
"padding" is "valid", "same" (TensorFlow's rule, as in Conv2D) or, beyond Keras, an explicit
symmetric int / [h, w] pair (torch's ``padding=p``, at most half the pool size, as torch requires).
"""
from __future__ import annotations

import numpy as np

from scratchnet.layers import _windows
from scratchnet.layers._reduce import reduce_mean
from scratchnet.layers.base import Layer, pair

__all__ = ["MaxPool2D", "AveragePool2D", "GlobalAveragePool2D"]

_ZERO = {np.dtype(t): np.zeros((), t) for t in (np.float32, np.float64)}  # 0-d zeros (package docstring)


def max_pool2d_forward(x, pool_size, strides, pads, buffer=None, relu=False):
    """y[n,i,j,c] = max_{a,b} xp[n, i s_h + a, j s_w + b, c], xp padded with -inf.

    Returns ``(y, cache)``; the cache keeps, per output, the flat index k = a pw + b of the
    window's FIRST maximum in row-major window order, which is where the gradient goes. Computed
    offset by offset: y = max(y, slice_k) and k where slice_k > y strictly (so the first maximum
    keeps it; since k only grows, idx = max(idx, k [slice_k > y])). A NaN in a window makes y
    NaN (``np.maximum`` propagates it) while the gradient goes to the first maximum of the cells
    before the first NaN, or to the NaN when it is cell 0 (torch points at the NaN).

    ``relu=True``: y = relu(max_{a,b} xp[...]) instead, which is max-pooling of relu(x) with
    relu(x)'s gradient (``scratchnet.fusion``): a window whose routed cell's value z* is not > 0
    sends no gradient anywhere, its index moved past the last offset (k + ph pw). z* is the
    maximum y, except in a window with a NaN (y NaN), where it is read from the routed cell."""
    xp = _windows.pad_into(x, pads, -np.inf, buffer)  # (N, H_p, W_p, C)
    (ph, pw), (sh, sw) = pool_size, strides
    n, c = x.shape[0], x.shape[3]
    ho, wo = _windows.output_size(xp.shape[1], ph, sh), _windows.output_size(xp.shape[2], pw, sw)
    shape = (n, ho, wo, c)
    idx_dtype = np.uint8 if 2 * ph * pw <= 256 else np.int32  # room for k + ph pw
    y = _windows.alloc(buffer, "y", shape, x.dtype)  # (N, H_out, W_out, C)
    idx = _windows.alloc(buffer, "idx", shape, idx_dtype)  # (N, H_out, W_out, C)
    mask = _windows.alloc(buffer, "mask", shape, np.uint8)  # shared with the backward's
    won = mask.view(np.bool_)
    slices = _windows.offsets(pool_size, strides, (ho, wo))
    _, _, rows, cols = slices[0]
    np.copyto(y, xp[:, rows, cols, :])
    idx.fill(0)
    for k, (_, _, rows, cols) in enumerate(slices[1:], 1):
        window = xp[:, rows, cols, :]  # (N, H_out, W_out, C): offset k of every window
        np.greater(window, y, out=won)  # 1 where offset k is a new maximum, else 0
        k_won = np.multiply(mask, idx_dtype(k), out=mask if idx_dtype is np.uint8 else None)  # k or 0
        np.maximum(idx, k_won, out=idx)
        np.maximum(y, window, out=y)
    if relu:  # relu' at the routed cell, [z* > 0]: the other windows' index past every offset
        if np.isnan(y.sum()):  # (rare) a NaN window routes to a cell before its NaN: read z* there
            routed = np.empty_like(y)
            for k, (_, _, rows, cols) in enumerate(slices):
                np.copyto(routed, xp[:, rows, cols, :], where=idx == k)
            np.greater(routed, _ZERO[y.dtype], out=won)
        else:  # z* = y
            np.greater(y, _ZERO[y.dtype], out=won)
        np.logical_not(won, out=won)
        k_off = np.multiply(mask, idx_dtype(ph * pw), out=mask if idx_dtype is np.uint8 else None)
        np.add(idx, k_off, out=idx)
        np.maximum(y, _ZERO[y.dtype], out=y)
    return y, (idx, x.shape, xp.shape, pool_size, strides, pads, {"buffer": buffer})


def max_pool2d_backward(dy, cache):
    """dxp[n, i s_h + a*, j s_w + b*, c] += dy[n,i,j,c] at each window's first maximum (a*, b*);
    dx = dxp without its padding (a padded -inf cell is never a maximum). Per offset k:
    dxp[slice_k] = dy [idx == k] (+= where windows overlap); an index past the last offset (a
    fused ReLU's dropped window) matches none."""
    idx, x_shape, xp_shape, (ph, pw), strides, pads = cache[:6]
    buffer = cache[6]["buffer"] if len(cache) > 6 else None
    n, ho, wo, c = dy.shape
    sh, sw = strides
    dxp = _windows.alloc(buffer, "dxp", xp_shape, dy.dtype)  # (N, H_p, W_p, C)
    overlap = sh < ph or sw < pw
    tiled = (sh, sw) == (ph, pw) and ho * sh == xp_shape[1] and wo * sw == xp_shape[2]
    if not tiled:  # tiled: the windows cover every cell exactly once, all written below
        dxp.fill(0)
    hit = _windows.alloc(buffer, "mask", dy.shape, np.uint8).view(np.bool_)  # the forward's mask
    for k, (_, _, rows, cols) in enumerate(_windows.offsets((ph, pw), strides, (ho, wo))):
        np.equal(idx, k, out=hit)
        if overlap:
            dxp[:, rows, cols, :] += dy * hit
        else:
            np.multiply(dy, hit, out=dxp[:, rows, cols, :])  # (N, H_out, W_out, C)
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
    """y[n, c] = (1 / (H W)) sum_{i,j} x[n, i, j, c], accumulated in float64 (a mean over the
    non-contiguous H and W axes adds its terms one after another: see ``reduce_sum``)."""
    return reduce_mean(x, (1, 2), keepdims=False), x.shape


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

    relu_output = False  # set for one forward by ``scratchnet.fusion``: y = relu(max), its gradient too

    def _forward(self, x, training):
        return max_pool2d_forward(x, self.pool_size, self.strides, self._padding, buffer=self._buffer,
                                  relu=self.relu_output)

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
