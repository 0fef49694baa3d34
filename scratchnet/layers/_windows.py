"""Sliding windows over channels-last images, shared by conv.py and pooling.py.

- ``same_padding(size, kernel, stride, dilation)``: TensorFlow's (and so Keras's) "same" rule
  for one axis, ``(lo, hi)``.
- ``resolve_padding(...)``: a layer's ``padding`` argument ("valid" | "same" | int | [h, w])
  as ``((top, bottom), (left, right))``.
- ``output_size(...)``: how many windows fit along one padded axis.
- ``pad(x, pads, value)``: pad the H and W axes of (N, H, W, C).
- ``windows(xp, kernel, strides, dilation)``: a read-only strided view (N, H_out, W_out, kh, kw, C)
  of every window; no copy (im2col without the copy; reshaping it makes the copy once).
- ``col2im(dcols, padded_shape, kernel, strides, dilation)``: the adjoint of ``windows``: sum the
  gradient of every window cell back into a zero (N, H_p, W_p, C) array, one strided slice-add
  per kernel offset (kh * kw additions, each over the whole batch, all pixels and channels).

The padding rule, per axis, with effective kernel k_eff = (k - 1) d + 1:
    valid:  lo = hi = 0
    same:   total = max((ceil(H / s) - 1) s + k_eff - H, 0),  lo = total // 2,  hi = total - lo
            (the odd cell goes to the bottom / right; the output has ceil(H / s) rows)
    int p or [p_h, p_w]: lo = hi = p  (explicit symmetric padding, torch's ``padding=p``)
    H_out = floor((lo + H + hi - k_eff) / s) + 1
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding along one axis: ``(lo, hi)`` with hi - lo in {0, 1}.

    total = max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0),
    lo = total // 2, hi = total - lo.  E.g. size 8, kernel 3, stride 2: total 1 -> (0, 1).
    """
    out = -(-size // stride)  # ceil(size / stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def padding_arg(padding, what: str, explicit: bool = True):
    """Validate a ``padding`` argument: "valid" / "same" (any case) or, when ``explicit``, a
    non-negative int or an [h, w] pair of them. Returns "valid", "same" or an ``(h, w)`` tuple."""
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.lower()
    if explicit:
        if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool) and padding >= 0:
            return int(padding), int(padding)
        if (isinstance(padding, (tuple, list)) and len(padding) == 2
                and all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0
                        for p in padding)):
            return int(padding[0]), int(padding[1])
        raise ValueError(f"{what}: expected 'valid', 'same', a non-negative int or an [h, w] "
                         f"pair of them, got {padding!r}")
    raise ValueError(f"{what}: expected 'valid' or 'same', got {padding!r}")


def resolve_padding(padding, size_hw, kernel_hw, strides, dilation=(1, 1)):
    """``((top, bottom), (left, right))`` for a validated ``padding`` (see ``padding_arg``)."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(size_hw, kernel_hw, strides, dilation))
    return (padding[0], padding[0]), (padding[1], padding[1])


def output_size(padded: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Number of windows along a padded axis: floor((padded - k_eff) / s) + 1 (<= 0: none fit)."""
    effective = (kernel - 1) * dilation + 1
    if padded < effective:
        return 0
    return (padded - effective) // stride + 1


def pad(x: np.ndarray, pads, value=0) -> np.ndarray:
    """Pad axes 1 and 2 of (N, H, W, C) by ``pads = ((top, bottom), (left, right))``."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def windows(xp: np.ndarray, kernel, strides, dilation=(1, 1)) -> np.ndarray:
    """Read-only view (N, H_out, W_out, kh, kw, C) with
    ``view[n, i, j, a, b, c] = xp[n, i s_h + a d_h, j s_w + b d_w, c]``."""
    n, hp, wp, c = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilation
    ho, wo = output_size(hp, kh, sh, dh), output_size(wp, kw, sw, dw)
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(xp, shape=(n, ho, wo, kh, kw, c),
                      strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c), writeable=False)


def col2im(dcols: np.ndarray, padded_shape, kernel, strides, dilation=(1, 1)) -> np.ndarray:
    """Adjoint of ``windows``: dxp[n, i s_h + a d_h, j s_w + b d_w, c] += dcols[n, i, j, a, b, c].

    ``dcols`` is (N, H_out, W_out, kh, kw, C), or (N, H_out, W_out, C) when every cell of a window
    gets the same gradient (average pooling). Loops over the kh * kw kernel offsets only; the
    result has ``dcols``'s dtype."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilation
    ho, wo = dcols.shape[1], dcols.shape[2]
    per_offset = dcols.ndim == 6
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for a in range(kh):
        for b in range(kw):
            rows = slice(a * dh, a * dh + (ho - 1) * sh + 1, sh)
            cols = slice(b * dw, b * dw + (wo - 1) * sw + 1, sw)
            dxp[:, rows, cols, :] += dcols[:, :, :, a, b, :] if per_offset else dcols  # (N, H_out, W_out, C)
    return dxp


def image_hw(name: str, input_shape) -> tuple[int, int, int]:
    """``(H, W, C)`` of an image shape without the batch axis, or a ValueError naming the layer."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"{name}: input_shape: expected an image (H, W, C) without the batch axis "
                         f"(channels-last), got {input_shape}")
    return input_shape


def windows_out_hw(name: str, what: str, size_hw, kernel, strides, pads, dilation=(1, 1)):
    """``(H_out, W_out)``, or a ValueError naming the layer and ``what`` (the kernel argument)
    when the (dilated) window is larger than the padded input on some axis."""
    out = []
    for axis, n, k, s, d, (lo, hi) in zip("HW", size_hw, kernel, strides, dilation, pads):
        o = output_size(lo + n + hi, k, s, d)
        if o < 1:
            raise ValueError(f"{name}: {what}: the window along {axis} spans {(k - 1) * d + 1} cells "
                             f"(size {k}, dilation {d}), larger than the padded input's {lo + n + hi} "
                             f"(input {n}, padding {lo}+{hi}); expected at most {lo + n + hi}")
        out.append(o)
    return tuple(out)
