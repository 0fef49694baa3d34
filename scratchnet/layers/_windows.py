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
- ``offsets(...)``: per kernel offset (a, b), the strided slice of the padded input that offset
  sees in every window: ``xp[:, rows, cols, :]`` is (N, H_out, W_out, C). Copying these kh * kw
  slices into the im2col matrix (``im2col``) is ~5x faster than reshaping the 6-D ``windows``
  view (one long strided gather), and the max-pool reduction over them is ~4x faster.
- ``pad_channels_first`` / ``im2col_channels_first`` / ``col2im_channels_first``: what
  convolutions use. The same matrix as ``im2col`` (the plain reference, tested against it),
  transposed, copied from a channels-first (C, N, H_p, W_p) copy of the padded input, so that
  every copy runs along W_out pixels instead of C channels (3 for an RGB image): 2-8x faster.
- ``copy_channels_first``: the interior of ``pad_channels_first``'s array for a slice of the
  images (a convolution copies each chunk of images as it reaches it).
- ``row_run`` / ``im2col_rows`` / ``col2im_rows`` / ``grid_view``: the stride-1 matrix on the run
  positions of each flattened padded image (one copy of runs of L = (H_out - 1) W_p + W_out cells
  per kernel offset), its adjoint, and the view of the output pixels among the run positions;
  tested against ``im2col_channels_first`` / the plain formulas in tests/scratchnet/test_conv.py.
- ``alloc`` / ``pad_into``: work arrays from a layer's buffer (``Layer._buffer``) or fresh.

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


def alloc(buffer, key, shape, dtype, fill=None) -> np.ndarray:
    """``buffer(key, shape, dtype, fill)`` (a layer's reused work array) or, without a buffer, a
    fresh ``np.empty`` / ``np.full``."""
    if buffer is not None:
        return buffer(key, shape, dtype, fill)
    return np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)


def pad_into(x: np.ndarray, pads, value=0, buffer=None, key="xp") -> np.ndarray:
    """``pad(x, pads, value)`` written into a work array: its border is filled when the array is
    (re)allocated and never written again, so each call copies only the interior."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    n, h, w, c = x.shape
    xp = alloc(buffer, key, (n, t + h + b, l + w + r, c), x.dtype, fill=value)
    xp[:, t:t + h, l:l + w, :] = x  # (N, H, W, C) interior
    return xp


def offsets(kernel, strides, out_hw, dilation=(1, 1)):
    """``[(a, b, rows, cols), ...]`` in row-major kernel order: ``xp[:, rows, cols, :]`` holds
    ``xp[n, i s_h + a d_h, j s_w + b d_w, c]`` at [n, i, j, c], shape (N, H_out, W_out, C)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilation, out_hw
    return [(a, b, slice(a * dh, a * dh + (ho - 1) * sh + 1, sh),
             slice(b * dw, b * dw + (wo - 1) * sw + 1, sw)) for a in range(kh) for b in range(kw)]


def im2col(xp: np.ndarray, kernel, strides, dilation, out_hw, groups, out: np.ndarray) -> np.ndarray:
    """The im2col matrix of the padded input, one row per output pixel and group, written into
    ``out`` (g, N*H_out*W_out, kh*kw*C/g):
        out[gi, (n, i, j), (a, b, c)] = xp[n, i s_h + a d_h, j s_w + b d_w, gi C/g + c]."""
    n, c = xp.shape[0], xp.shape[3]
    (kh, kw), (ho, wo), g = kernel, out_hw, groups
    out7 = out.reshape(g, n, ho, wo, kh, kw, c // g)  # (g, N, H_out, W_out, kh, kw, C/g)
    for a, b, rows, cols in offsets(kernel, strides, out_hw, dilation):
        win = xp[:, rows, cols, :].reshape(n, ho, wo, g, c // g)  # (N, H_out, W_out, g, C/g), a view
        out7[:, :, :, :, a, b, :] = win.transpose(3, 0, 1, 2, 4)  # (g, N, H_out, W_out, C/g)
    return out


def pad_channels_first(x: np.ndarray, pads, buffer=None, key="xt") -> np.ndarray:
    """x (N, H, W, C) zero-padded on H and W and laid out channels-first, (C, N, H_p, W_p):
        xt[c, n, top + i, left + j] = x[n, i, j, c].
    Written into a work array whose zero border is filled when it is (re)allocated; each call
    copies the interior (``copy_channels_first``)."""
    (t, b), (l, r) = pads
    n, h, w, c = x.shape
    xt = alloc(buffer, key, (c, n, t + h + b, l + w + r), x.dtype, fill=0)
    return copy_channels_first(x, pads, xt)


def copy_channels_first(x: np.ndarray, pads, xt: np.ndarray, images=slice(None)) -> np.ndarray:
    """The interior of ``pad_channels_first``'s array: xt[c, n, top + i, left + j] = x[n, i, j, c]
    for the images n in ``images`` (a slice of the N axis; all by default), one transposing copy.
    A caller working chunk by chunk copies each chunk while it uses it: one pass over all of a
    (32, 28, 28, 16) float32 x is ~1.5-2.5x slower than chunks of a few images (its reads, C
    channels a pixel apart, do not stay in cache from one channel to the next)."""
    (t, _), (l, _) = pads
    h, w = x.shape[1], x.shape[2]
    xt[:, images, t:t + h, l:l + w] = x[images].transpose(3, 0, 1, 2)  # (C, n, H, W)
    return xt


def im2col_channels_first(xt: np.ndarray, kernel, strides, dilation, out_hw, groups, out: np.ndarray) -> np.ndarray:
    """``im2col``'s matrix of the same image, transposed per group, from the channels-first padded
    input ``xt`` (C, N, H_p, W_p) (``pad_channels_first``), written into ``out``
    (g, kh*kw*C/g, N*H_out*W_out):
        out[gi, (a, b, c), (n, i, j)] = xt[gi C/g + c, n, i s_h + a d_h, j s_w + b d_w]
                                      = im2col(...)[gi, (n, i, j), (a, b, c)].
    One strided copy per kernel offset, as ``im2col``, but each copies runs of W_out consecutive
    pixels where ``im2col`` copies runs of C/g channels (3 for an RGB image): on (32, 56, 56, 3)
    float32 a 3x3 kernel's matrix takes ~0.9 ms against ~7.5 ms, on (32, 28, 28, 16) ~2.0 against
    ~4.5 ms (1 thread)."""
    c, n = xt.shape[0], xt.shape[1]
    (kh, kw), (ho, wo), g = kernel, out_hw, groups
    out7 = out.reshape(g, kh, kw, c // g, n, ho, wo)  # (g, kh, kw, C/g, N, H_out, W_out)
    xg = xt.reshape(g, c // g, *xt.shape[1:])  # (g, C/g, N, H_p, W_p)
    for a, b, rows, cols in offsets(kernel, strides, out_hw, dilation):
        out7[:, a, b] = xg[:, :, :, rows, cols]  # (g, C/g, N, H_out, W_out)
    return out


def col2im_channels_first(dcols: np.ndarray, kernel, strides, dilation, out_hw, groups, out: np.ndarray) -> np.ndarray:
    """Adjoint of ``im2col_channels_first``, written into ``out`` (C, N, H_p, W_p):
        out = 0,  out[gi C/g + c, n, i s_h + a d_h, j s_w + b d_w] += dcols[gi, (a, b, c), (n, i, j)]
    for ``dcols`` (g, kh*kw*C/g, N*H_out*W_out): one strided slice-add per kernel offset, over runs
    of W_out pixels (``col2im``'s run over C channels)."""
    c, n = out.shape[0], out.shape[1]
    (kh, kw), (ho, wo), g = kernel, out_hw, groups
    d7 = dcols.reshape(g, kh, kw, c // g, n, ho, wo)  # (g, kh, kw, C/g, N, H_out, W_out)
    og = out.reshape(g, c // g, *out.shape[1:])  # (g, C/g, N, H_p, W_p), a view
    out.fill(0)
    for a, b, rows, cols in offsets(kernel, strides, out_hw, dilation):
        og[:, :, :, rows, cols] += d7[:, a, b]  # (g, C/g, N, H_out, W_out)
    return out


def row_run(padded_hw, out_hw) -> int:
    """L = (H_out - 1) W_p + W_out: how many consecutive cells of a flattened (H_p W_p) padded
    image one kernel offset of a stride-1 window reads, from its first window's cell to its last
    (``im2col_rows``)."""
    return (out_hw[0] - 1) * padded_hw[1] + out_hw[1]


def grid_view(rows: np.ndarray, out_hw, padded_w: int) -> np.ndarray:
    """The output pixels among the run positions of ``im2col_rows``: ``rows`` (n, L, F) (C-order,
    any F) -> view (n, H_out, W_out, F), [n, i, j] = rows[n, i W_p + j]."""
    n, length, f = rows.shape
    s_n, s_r, s_f = rows.strides
    return as_strided(rows, shape=(n, out_hw[0], out_hw[1], f), strides=(s_n, padded_w * s_r, s_r, s_f))


def im2col_rows(xt: np.ndarray, kernel, dilation, out_hw, groups, out: np.ndarray) -> np.ndarray:
    """The stride-1 im2col matrix on the run positions of a flattened image, written into ``out``
    (g, kh*kw*C/g, N*L) from the channels-first padded input ``xt`` (C, N, H_p, W_p), with
    L = ``row_run`` and xf[c, n] = xt[c, n] flattened (H_p W_p):
        out[gi, (a, b, c), (n, r)] = xf[gi C/g + c, n, a d_h W_p + b d_w + r],   0 <= r < L.
    At r = i W_p + j with j < W_out that is ``im2col_channels_first``'s column (n, i, j) (stride 1:
    xt[c, n, i + a d_h, j + b d_w]); the other r (j >= W_out, the run stepping over the row's end)
    hold cells of the image that no output uses. Each kernel offset is one copy of runs of L
    consecutive cells, where ``im2col_channels_first`` copies runs of W_out."""
    c, n, hp, wp = xt.shape
    (kh, kw), (dh, dw), g = kernel, dilation, groups
    length = row_run((hp, wp), out_hw)
    out6 = np.reshape(out, (g, kh, kw, c // g, n, length), copy=False)  # (g, kh, kw, C/g, N, L)
    xf = np.reshape(xt, (g, c // g, n, hp * wp), copy=False)  # (g, C/g, N, H_p W_p)
    for a in range(kh):
        for b in range(kw):
            start = a * dh * wp + b * dw
            out6[:, a, b] = xf[:, :, :, start:start + length]  # (g, C/g, N, L)
    return out


def col2im_rows(dcols: np.ndarray, kernel, dilation, out_hw, groups, out: np.ndarray) -> np.ndarray:
    """Adjoint of ``im2col_rows``, written into ``out`` (C, N, H_p, W_p):
        out = 0,  xf[gi C/g + c, n, a d_h W_p + b d_w + r] += dcols[gi, (a, b, c), (n, r)]
    (xf: out flattened per image). It is ``col2im_channels_first`` (stride 1) when dcols is zero
    at the run positions that are not output pixels (j >= W_out), as the convolution's are."""
    c, n, hp, wp = out.shape
    (kh, kw), (dh, dw), g = kernel, dilation, groups
    length = row_run((hp, wp), out_hw)
    d6 = dcols.reshape(g, kh, kw, c // g, n, length)
    out.fill(0)
    of = np.reshape(out, (g, c // g, n, hp * wp), copy=False)  # (g, C/g, N, H_p W_p)
    for a in range(kh):
        for b in range(kw):
            start = a * dh * wp + b * dw
            of[:, :, :, start:start + length] += d6[:, a, b]  # (g, C/g, N, L)
    return out


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
