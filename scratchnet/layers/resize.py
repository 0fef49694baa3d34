"""UpSampling2D and ZeroPadding2D on channels-last images (N, H, W, C).

UpSampling2D multiplies H and W by integer factors (s_h, s_w):
- nearest:  y[n, i, j, c] = x[n, i // s_h, j // s_w, c]
- bilinear: as TensorFlow's ``resize`` (``half_pixel_centers``, no corner alignment): output row i
  samples input position u = (i + 1/2) / s_h - 1/2, between rows lo = max(floor(u), 0) and
  hi = min(ceil(u), H - 1) with weight w = u - floor(u) on hi (1 - w on lo): rows beyond the
  edges repeat the edge. That is a fixed (H_out, H) matrix A_h per axis:
      y[n, :, :, c] = A_h x[n, :, :, c] A_w^T,      dx[n, :, :, c] = A_h^T dy[n, :, :, c] A_w
  (``interpolation_matrix``; corner alignment, i.e. u = i (H - 1) / (H_out - 1), is a different
  matrix: torch's ``align_corners=True``).

ZeroPadding2D adds zero rows and columns: ((top, bottom), (left, right)); the backward crops.
"""
from __future__ import annotations

import numpy as np

from scratchnet.layers import _windows
from scratchnet.layers.base import Layer, pair

__all__ = ["UpSampling2D", "ZeroPadding2D"]


def interpolation_matrix(size: int, scale: int, dtype=np.float64) -> np.ndarray:
    """The (size * scale, size) bilinear matrix of one axis, half-pixel centres, edges repeated:
    row i has 1 - w at column lo and w at column hi (the module docstring's u, lo, hi, w)."""
    out = size * scale
    u = (np.arange(out) + 0.5) / scale - 0.5  # (H_out,) source positions
    floor = np.floor(u)
    lo = np.maximum(floor, 0).astype(int)
    hi = np.minimum(np.ceil(u), size - 1).astype(int)
    w = u - floor
    a = np.zeros((out, size))
    np.add.at(a, (np.arange(out), lo), 1 - w)
    np.add.at(a, (np.arange(out), hi), w)
    return a.astype(dtype)


class UpSampling2D(Layer):
    """y = x enlarged by (s_h, s_w), nearest or bilinear (formulas in the module docstring).

    Shapes: x (N, H, W, C) -> y (N, s_h H, s_w W, C).
    Forward:  nearest  y[n,i,j,c] = x[n, i // s_h, j // s_w, c]
              bilinear y[n,:,:,c] = A_h x[n,:,:,c] A_w^T
    Backward: nearest  dx[n,p,q,c] = sum_{a < s_h, b < s_w} dy[n, p s_h + a, q s_w + b, c]
              bilinear dx[n,:,:,c] = A_h^T dy[n,:,:,c] A_w

    NOTE: torch's ``nn.Upsample(scale_factor=(s_h, s_w), mode="bilinear", align_corners=False)``
    (= ``F.interpolate``) computes the same matrix (it clamps u at 0 before the floor: the same
    weights); ``align_corners=True`` is another map. Keras ``UpSampling2D(size, interpolation)``
    calls TensorFlow's resize, which computes in float32: a float64 Keras model's bilinear output
    is float32-rounded (nearest copies values, so it is exact).
    """

    def __init__(self, size=2, interpolation="nearest", name=None, rng=None):
        super().__init__(name, rng)
        self.size = pair(size, f"{self.name}: size")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{self.name}: interpolation: expected 'nearest' or 'bilinear', got {interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        h, w, c = _windows.image_hw(self.name, input_shape)
        return h * self.size[0], w * self.size[1], c

    def _build(self, input_shape, rng):
        h, w, _ = input_shape
        if self.interpolation == "bilinear":
            self._a_h = interpolation_matrix(h, self.size[0], self.dtype)  # (H_out, H)
            self._a_w = interpolation_matrix(w, self.size[1], self.dtype)  # (W_out, W)

    def _forward(self, x, training):
        sh, sw = self.size
        if self.interpolation == "nearest":
            return x.repeat(sh, axis=1).repeat(sw, axis=2), x.shape
        rows = np.einsum("ip,npqc->niqc", self._a_h, x)  # (N, H_out, W, C)
        return np.einsum("jq,niqc->nijc", self._a_w, rows), x.shape  # (N, H_out, W_out, C)

    def _backward(self, dy, cache):
        n, h, w, c = cache
        sh, sw = self.size
        if self.interpolation == "nearest":
            return dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))  # (N, H, W, C)
        cols = np.einsum("jq,nijc->niqc", self._a_w, dy)  # (N, H_out, W, C)
        return np.einsum("ip,niqc->npqc", self._a_h, cols)  # (N, H, W, C)


def zero_padding_arg(padding, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's ``padding``: an int p, an (h, w) pair, or ((top, bottom), (left, right)), all
    non-negative, as ((top, bottom), (left, right))."""
    def nonneg(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0

    if nonneg(padding):
        p = int(padding)
        return (p, p), (p, p)
    if isinstance(padding, (list, tuple)) and len(padding) == 2:
        if all(nonneg(v) for v in padding):
            return (int(padding[0]),) * 2, (int(padding[1]),) * 2
        if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(nonneg(u) for u in v) for v in padding):
            (t, b), (l, r) = padding
            return (int(t), int(b)), (int(l), int(r))
    raise ValueError(f"{what}: expected a non-negative int, an [h, w] pair or [[top, bottom], [left, right]], "
                     f"got {padding!r}")


class ZeroPadding2D(Layer):
    """y = x with zero rows and columns around it.

    Shapes: x (N, H, W, C) -> y (N, top + H + bottom, left + W + right, C).
    Forward:  y[n, top + i, left + j, c] = x[n, i, j, c], 0 elsewhere
    Backward: dx = dy[:, top:top + H, left:left + W, :]

    NOTE: torch's ``nn.ZeroPad2d(padding)`` takes (left, right, top, bottom): the LAST axis first
    (``F.pad``'s order), while Keras's ``ZeroPadding2D(((top, bottom), (left, right)))`` and this
    layer name H first.
    """

    def __init__(self, padding=1, name=None, rng=None):
        super().__init__(name, rng)
        self.padding = zero_padding_arg(padding, f"{self.name}: padding")

    def compute_output_shape(self, input_shape):
        h, w, c = _windows.image_hw(self.name, input_shape)
        (t, b), (l, r) = self.padding
        return t + h + b, l + w + r, c

    def _forward(self, x, training):
        return _windows.pad(x, self.padding).copy(), x.shape

    def _backward(self, dy, cache):
        _, h, w, _ = cache
        (t, _), (l, _) = self.padding
        return dy[:, t:t + h, l:l + w, :].copy()
