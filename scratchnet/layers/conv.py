"""2-D convolutions on channels-last images: Conv2D (with groups) and DepthwiseConv2D.

Both run as im2col + one (batched) matmul: the (transposed) im2col matrix is filled with one
strided slice copy per kernel offset from a channels-first copy of the padded input
(``_windows.im2col_channels_first``; ``_windows.im2col`` is the plain channels-last reference it
is tested against), times the kernel reshaped to a matrix, one matrix per group (numpy's batched
matmul; no Python loop over groups). The backward is the same two matmuls transposed plus
``col2im_channels_first``, which adds each window's gradient back into the padded input with one
strided slice-add per kernel offset (kh * kw of them). Channels-first inside, because each copy
then runs along an image row rather than along C channels (on a 3x3 convolution of
(32, 56, 56, 3) float32 ~2-8x faster than channels-last copies). What keeps the step in
cache and out of extra passes (``conv2d_forward``): the matrix is built and multiplied
a chunk of images at a time (``CHUNK_BYTES``, ~2 MiB; a single BLAS product over a 10-15 MiB
matrix ran at ~25-40 GFLOP/s where chunks of it run at ~45-60, 1 thread, OpenBLAS Haswell);
the bias is one more row of the kernel matrix against a row of ones (so y comes out of the
product with its bias, and dbias out of the dkernel product); and at stride 1 the matrix's
columns are the run positions of each flattened padded row (``_windows.im2col_rows``: copies
and adds of runs of L cells instead of W_out), where that pays (``uses_runs``); a ReLU
activation is applied to each chunk's rows in cache (``relu=True``, the layer's choice for
``activation="relu"``), and dy [y > 0] taken chunk by chunk in the backward. Measured on
issue 12's two-conv CNN (1 thread, forward + backward of one layer against the plain
channels-first version): 0.80-0.85x at (32, 56, 56, 3) -> 16, 0.85-0.9x at (32, 28, 28, 16)
-> 32. ``conv2d_reference`` / ``conv2d_backward_reference`` are the formulas written as
einsums over the window view, what the fast path is tested against. Padding rule and window
helpers: ``scratchnet.layers._windows`` (``same_padding`` is TensorFlow's rule).

Work arrays (padded input, one chunk's matrix, output, dcols) come from ``buffer`` (the layer's
``_buffer``, reused between calls; see ``layers.base``) or are allocated when it is None. The
layer passes its gradient arrays in the cache's ``work`` dict so that dkernel and dbias are
written straight into them, and ``dx: False`` when no input gradient is wanted.
"""
from __future__ import annotations

import numpy as np

from scratchnet import activations, checks, initializers
from scratchnet.layers import _windows
from scratchnet.layers.base import Layer, pair, positive_int

__all__ = ["Conv2D", "DepthwiseConv2D"]


_ZERO = {np.dtype(t): np.zeros((), t) for t in (np.float32, np.float64)}  # 0-d zeros (package docstring)


def _relu_mask(y):
    """[y > 0] for y = relu(z): relu'(z), 0 at the kink (``activations.relu_backward``)."""
    return np.greater(y, _ZERO[y.dtype])


CHUNK_BYTES = 2 << 20  # target size of one chunk's im2col matrix (module docstring)


def chunk_images(n: int, rows: int, pixels: int, itemsize: int, chunk: int | None = None) -> int:
    """Images per chunk: ``chunk`` if given, else as many as keep a chunk's im2col matrix (``rows``
    x ``pixels`` per image) within ``CHUNK_BYTES``; at least 1 and at most n, then lowered to
    ceil(n / ceil(n / per)), the fewest per chunk for the same number of chunks (n = 32 at 10 per
    chunk: 4 chunks of 8, not 10, 10, 10, 2)."""
    per = chunk if chunk is not None else max(1, CHUNK_BYTES // max(1, rows * pixels * itemsize))
    per = max(1, min(int(per), n))
    count = -(-n // per)
    return -(-n // count)


def _chunk_cols(cols, xt, n0, n1, kernel, strides, dilation, out_hw, groups, k, run, grid):
    """The im2col matrix of images n0..n1-1 in the first ``(n1 - n0) run`` columns' worth of the
    ``cols`` work array, as a contiguous (g, kb, (n1 - n0) run) view: rows [0, k) from
    ``_windows.im2col_rows`` (``grid``, stride 1: ``run`` = L, see there) or
    ``im2col_channels_first`` (``run`` = H_out W_out), row k (present when kb = k + 1) all ones."""
    g, kb = cols.shape[0], cols.shape[1]
    m = (n1 - n0) * run
    cc = cols.reshape(-1)[:g * kb * m].reshape(g, kb, m)
    if grid:
        _windows.im2col_rows(xt[:, n0:n1], kernel, dilation, out_hw, groups, cc[:, :k])
    else:
        _windows.im2col_channels_first(xt[:, n0:n1], kernel, strides, dilation, out_hw, groups, cc[:, :k])
    if kb > k:
        cc[:, k] = 1
    return cc


def uses_runs(strides, rows: int, filters: int) -> bool:
    """Whether ``conv2d_forward`` builds its matrix on run positions (``_windows.im2col_rows``):
    stride 1, and ``rows`` (g K, the matrix's rows) at least twice ``filters`` (F). The run layout
    copies y out of the runs and dy into them, 2 F values per pixel, to copy the g K values per
    pixel of the matrix (and add back as many in the backward) in runs of L cells instead of
    W_out; measured (1 thread), on 3x3 kernels it pays from C/g = 16 -> F = 32 (0.85-0.9x the
    time of the channels-first matrix at 14-28 px) and not on C = 3 -> F = 16 (1.1x)."""
    return tuple(strides) == (1, 1) and rows >= 2 * filters


def conv2d_forward(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
                   groups=1, buffer=None, chunk=None, relu=False):
    """Grouped 2-D cross-correlation (what every framework calls convolution), channels-last.

    x (N, H, W, C), kernel (kh, kw, C/g, F), bias (F,) or None, ``pads`` = ((top, bottom),
    (left, right)) already resolved (``_windows.resolve_padding``). Output channel f belongs to
    group f // (F/g) and sees input channels [g_f C/g, (g_f + 1) C/g):

        y[n, i, j, f] = b[f] + sum_{a, b, c} xp[n, i s_h + a d_h, j s_w + b d_w, g_f C/g + c]
                                             * kernel[a, b, c, f]

    As matrices, per group, with M = N H_out W_out and K = kh kw C/g:
        cols[(a, b, c), (n, i, j)] = xp[n, i s_h + a d_h, j s_w + b d_w, c]    (K, M)
        cols[K, (n, i, j)] = 1 and Wb[K, f] = b[f] when there is a bias         (K + 1 rows)
        y[(n, i, j), f] = sum_k cols[k, (n, i, j)] Wb[k, f]                     y = cols^T Wb
    ``cols`` is the transpose of the usual im2col matrix, built from a channels-first copy of the
    padded input (``_windows.pad_channels_first``, chunk by chunk): its copies run along image rows, not along
    the (few) channels. With stride 1 (and ``uses_runs``) its columns are the L run positions of each flattened
    padded image (``_windows.im2col_rows``: one copy of runs of L cells per kernel offset), the
    products at the positions that are not output pixels computed and dropped (W_p / W_out more
    columns, e.g. 58 / 56). The columns are taken ``chunk`` images at a time (``chunk_images``;
    the rows of y are independent), each chunk's matrix written into one small work array and
    multiplied while it is in cache; the backward starts from the last chunk, whose matrix is
    still there, and rebuilds the others from the padded input. ``conv2d_reference`` is the
    plain formula this is tested against. ``relu``: y = max(conv, 0) instead, applied to each
    chunk's rows while they are in cache (the values of ``activations.relu``; the backward then
    takes dL/dy of the ReLU's output and applies dy [y > 0] chunk by chunk, as
    ``activations.relu_backward``). Returns ``(y, cache)``, y (N, H_out, W_out, F).
    """
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    g, fg = groups, f // groups
    (top, bottom), (left, right) = pads
    hp, wp = top + h + bottom, left + w + right
    ho = _windows.output_size(hp, kh, strides[0], dilation[0])
    wo = _windows.output_size(wp, kw, strides[1], dilation[1])
    k = kh * kw * cg
    grid = uses_runs(strides, g * k, f)
    run = _windows.row_run((hp, wp), (ho, wo)) if grid else ho * wo  # columns per image
    kb = k + (bias is not None)
    wb = _windows.alloc(buffer, "wb", (g, kb, fg), x.dtype)  # (g, K [+ 1], F/g): kernel rows, bias row
    wb[:, :k].reshape(g, kh, kw, cg, fg)[...] = kernel.reshape(kh, kw, cg, g, fg).transpose(3, 0, 1, 2, 4)
    if bias is not None:
        wb[:, k] = bias.reshape(g, fg)
    per = chunk_images(n, g * kb, run, x.dtype.itemsize, chunk)
    cols = _windows.alloc(buffer, "cols", (g, kb, per * run), x.dtype)  # one chunk's matrix
    y = _windows.alloc(buffer, "y", (n, ho, wo, f), x.dtype)  # (N, H_out, W_out, F)
    staged = grid or g > 1  # the products go through a work array before y
    yw = _windows.alloc(buffer, "yw", (g, per * run, fg), x.dtype) if staged else None
    xt = _windows.alloc(buffer, "xt", (c, n, hp, wp), x.dtype, fill=0)  # (C, N, H_p, W_p), zero border
    for n0 in range(0, n, per):
        n1 = min(n0 + per, n)
        _windows.copy_channels_first(x, pads, xt, slice(n0, n1))  # these images' interior
        cc = _chunk_cols(cols, xt, n0, n1, (kh, kw), strides, dilation, (ho, wo), g, k, run, grid)  # (g, kb, m)
        m = cc.shape[2]
        yc = y[n0:n1]  # (n, H_out, W_out, F): these images' outputs
        if not staged:
            np.dot(cc[0].T, wb[0], out=yc.reshape(m, f))  # (m, kb) (kb, F)
            if relu:
                np.maximum(yc, _ZERO[x.dtype], out=yc)
            continue
        ywc = yw.reshape(-1)[:g * m * fg].reshape(g, m, fg)
        np.matmul(cc.transpose(0, 2, 1), wb, out=ywc)  # (g, m, F/g); channel = group * F/g + k
        if grid and g == 1:
            src = _windows.grid_view(ywc[0].reshape(n1 - n0, run, f), (ho, wo), wp)
        elif grid:
            rows = _windows.grid_view(ywc.reshape(g * (n1 - n0), run, fg), (ho, wo), wp)
            yc = yc.reshape(n1 - n0, ho, wo, g, fg)
            src = rows.reshape(g, n1 - n0, ho, wo, fg).transpose(1, 2, 3, 0, 4)
        else:
            yc, src = yc.reshape(m, g, fg), ywc.transpose(1, 0, 2)  # (m, g, F/g)
        if relu:
            np.maximum(src, _ZERO[x.dtype], out=yc)
        else:
            np.copyto(yc, src)
    work = {"buffer": buffer}
    return y, (xt, cols, wb, x.shape, (ho, wo), run, grid, kernel.shape, strides, pads, dilation, groups, per,
               y if relu else None, work)


def conv2d_backward(dy, cache):
    """Given dL/dy (N, H_out, W_out, F): ``(dx, dkernel, dbias)``, per group and chunk of images
    (the forward's), M = N H_out W_out summed over the chunks:

        [dkernel; dbias] = cols dy   (kb, M) (M, F/g): the ones row of cols gives dbias = sum dy
        dcols   = W dy^T             (K, F/g) (F/g, M)
        dx      = col2im(dcols)      (``_windows.col2im_rows`` / ``col2im_channels_first``),
                                     cropped back from the padded input, channels-last again

    With stride 1, dy is laid out on the forward's run positions with zeros where no output
    pixel is (so those columns of cols add nothing, and dcols is zero there). Without a bias in
    the forward, dbias = ones^T dy (a BLAS product: numpy's axis-0 sum of a tall (M, F) array is
    ~15x slower). The cache's last entry ``work`` may name output arrays: ``dkernel`` (kh, kw,
    C/g, F) and ``dbias`` (F,); ``dx: False`` or ``dbias: False`` skips that gradient (returned
    as None); ``dy_writable: True`` lets a fused ReLU's dz be written over dy (``layers.base``'s
    ``consume_dy``).
    """
    xt, cols, wb, x_shape, (ho, wo), run, grid, k_shape, strides, pads, dilation, g, per, relu_y, work = cache
    buffer = work.get("buffer")
    n, h, w, c = x_shape
    kh, kw, cg, f = k_shape
    fg, k, kb = f // g, kh * kw * cg, wb.shape[1]
    want_dx = work.get("dx") is not False
    dwb = _windows.alloc(buffer, "dwb", (g, kb, fg), dy.dtype)  # (g, kb, F/g): [dkernel; dbias]
    part = _windows.alloc(buffer, "dwb_part", (g, kb, fg), dy.dtype) if per < n else None
    dyw = _windows.alloc(buffer, "dy_runs", (per, run, f), dy.dtype, fill=0) if grid else None  # zero off the pixels
    dz_over_dy = relu_y is not None and not grid and work.get("dy_writable", False) and dy.flags.c_contiguous
    dzw = None if relu_y is None or grid or dz_over_dy else _windows.alloc(buffer, "dz_chunk", (per * run, f), dy.dtype)
    (top, _), (left, _) = pads
    if want_dx:
        dcols = _windows.alloc(buffer, "dcols", (g, k, per * run), dy.dtype)
        dxt = _windows.alloc(buffer, "dxt", xt.shape, dy.dtype)  # (C, N, H_p, W_p)
        dx = _windows.alloc(buffer, "dx", x_shape, dy.dtype)  # (N, H, W, C)
    starts = range(0, n, per)
    for n0 in reversed(starts):  # the last chunk first: its matrix is still in cols
        n1 = min(n0 + per, n)
        first = n0 == starts[-1]
        m = (n1 - n0) * run
        if first:
            cc = cols.reshape(-1)[:g * kb * m].reshape(g, kb, m)  # as the forward left it
        else:
            cc = _chunk_cols(cols, xt, n0, n1, (kh, kw), strides, dilation, (ho, wo), g, k, run, grid)  # (g, kb, m)
        if grid:
            dst = _windows.grid_view(dyw[:n1 - n0], (ho, wo), xt.shape[3])
            if relu_y is None:
                np.copyto(dst, dy[n0:n1])
            else:  # dz = dy [y > 0]
                np.multiply(dy[n0:n1], _relu_mask(relu_y[n0:n1]), out=dst)
            dyc = dyw[:n1 - n0].reshape(m, f)  # (m, F)
        elif relu_y is None:
            dyc = dy[n0:n1].reshape(m, f)  # (m, F)
        else:
            dyc = dy[n0:n1].reshape(m, f) if dz_over_dy else dzw.reshape(-1)[:m * f].reshape(m, f)
            np.multiply(dy[n0:n1].reshape(m, f), _relu_mask(relu_y[n0:n1].reshape(m, f)), out=dyc)
        target = dwb if first else part
        if g == 1:
            np.dot(cc[0], dyc, out=target[0])  # (kb, m) (m, F)
        else:
            np.matmul(cc, dyc.reshape(m, g, fg).transpose(1, 0, 2), out=target)  # (g, kb, F/g)
        if not first:
            np.add(dwb, part, out=dwb)
        if want_dx:
            dc = dcols.reshape(-1)[:g * k * m].reshape(g, k, m)
            if g == 1:
                np.dot(wb[0, :k], dyc.T, out=dc[0])  # (K, F) (F, m)
            else:
                np.matmul(wb[:, :k], dyc.reshape(m, g, fg).transpose(1, 2, 0), out=dc)  # (g, K, m)
            if grid:
                _windows.col2im_rows(dc, (kh, kw), dilation, (ho, wo), g, dxt[:, n0:n1])
            else:
                _windows.col2im_channels_first(dc, (kh, kw), strides, dilation, (ho, wo), g, dxt[:, n0:n1])
            np.copyto(dx[n0:n1], dxt[:, n0:n1, top:top + h, left:left + w].transpose(1, 2, 3, 0))  # (n, H, W, C)
    dkernel = work.get("dkernel")
    if dkernel is None:
        dkernel = np.empty(k_shape, dy.dtype)
    np.copyto(dkernel.reshape(kh, kw, cg, g, fg), dwb[:, :k].reshape(g, kh, kw, cg, fg).transpose(1, 2, 3, 0, 4))
    dbias = work.get("dbias")
    if dbias is False:
        dbias = None
    elif kb > k:
        if dbias is None:
            dbias = np.empty(f, dy.dtype)
        np.copyto(dbias, dwb[:, k].reshape(f))  # (F,): the ones row's products
    else:
        ones = _windows.alloc(buffer, "ones", (n * ho * wo,), dy.dtype, fill=1)
        dz = dy if relu_y is None else dy * _relu_mask(relu_y)
        dbias = np.matmul(ones, dz.reshape(n * ho * wo, f), out=dbias)  # (F,)
    return (dx if want_dx else None), dkernel, dbias


def conv2d_reference(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """The forward formula of ``conv2d_forward`` as written, one einsum per group over the window
    view (``_windows.windows``): the plain reference the fast path is tested against."""
    kh, kw, cg, f = kernel.shape
    fg = f // groups
    win = _windows.windows(_windows.pad(x, pads), (kh, kw), strides, dilation)  # (N, H_out, W_out, kh, kw, C)
    y = np.concatenate([np.einsum("nijabc,abcf->nijf", win[..., gi * cg:(gi + 1) * cg],
                                  kernel[..., gi * fg:(gi + 1) * fg]) for gi in range(groups)], axis=-1)
    return y if bias is None else y + bias


def conv2d_backward_reference(dy, x, kernel, strides=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """``(dx, dkernel, dbias)`` by the backward formulas of ``Conv2D`` as written: einsums over the
    window view for dkernel and the window gradients, ``_windows.col2im`` adding those back."""
    kh, kw, cg, f = kernel.shape
    fg = f // groups
    xp = _windows.pad(x, pads)
    win = _windows.windows(xp, (kh, kw), strides, dilation)  # (N, H_out, W_out, kh, kw, C)
    dk = np.concatenate([np.einsum("nijabc,nijf->abcf", win[..., gi * cg:(gi + 1) * cg], dy[..., gi * fg:(gi + 1) * fg])
                         for gi in range(groups)], axis=-1)
    dwin = np.concatenate([np.einsum("nijf,abcf->nijabc", dy[..., gi * fg:(gi + 1) * fg], kernel[..., gi * fg:(gi + 1) * fg])
                           for gi in range(groups)], axis=-1)  # (N, H_out, W_out, kh, kw, C)
    dxp = _windows.col2im(dwin, xp.shape, (kh, kw), strides, dilation)
    (top, _), (left, _) = pads
    return dxp[:, top:top + x.shape[1], left:left + x.shape[2]], dk, dy.sum(axis=(0, 1, 2))


def depthwise_conv2d_forward(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)),
                             dilation=(1, 1), buffer=None, relu=False):
    """Depthwise convolution: x (N, H, W, C), kernel (kh, kw, C, m) -> y (N, H_out, W_out, C m),

        y[n, i, j, c m + k] = b[c m + k] + sum_{a, b} xp[n, i s_h + a d_h, j s_w + b d_w, c]
                                                   * kernel[a, b, c, k]

    It is the grouped convolution with groups = C and kernel.reshape(kh, kw, 1, C m): output
    channel c m + k is in group c, exactly the channel order above, so no data moves.
    """
    kh, kw, c, mult = kernel.shape
    return conv2d_forward(x, kernel.reshape(kh, kw, 1, c * mult), bias, strides, pads, dilation, groups=c,
                          buffer=buffer, relu=relu)


def depthwise_conv2d_backward(dy, cache):
    """``(dx, dkernel (kh, kw, C, m), dbias (C m,))``: the grouped backward, kernel reshaped back."""
    dx, dkernel, dbias = conv2d_backward(dy, cache)
    kh, kw, _, cm = dkernel.shape
    c = cache[3][3]  # the input shape's C
    return dx, dkernel.reshape(kh, kw, c, cm // c), dbias


class _ConvBase(Layer):
    """Shared argument handling and the fused activation."""

    def _init_windows(self, kernel_size, strides, padding, dilation_rate):
        self.kernel_size = pair(kernel_size, f"{self.name}: kernel_size")
        self.strides = pair(strides, f"{self.name}: strides")
        self.padding = _windows.padding_arg(padding, f"{self.name}: padding")
        self.dilation_rate = pair(dilation_rate, f"{self.name}: dilation_rate")

    def _pads(self, h, w):
        return _windows.resolve_padding(self.padding, (h, w), self.kernel_size, self.strides,
                                        self.dilation_rate)

    def _out_hw(self, h, w):
        return _windows.windows_out_hw(self.name, "kernel_size", (h, w), self.kernel_size,
                                       self.strides, self._pads(h, w), self.dilation_rate)

    relu_deferred = False  # set for one forward by ``scratchnet.fusion``: the max-pool reading y applies the ReLU

    def relu_activation(self) -> bool:
        """Whether the activation is a plain ReLU (what the convolution can fuse, or defer)."""
        return self.activation.name == "relu" and not self.activation.params

    def _fused_relu(self) -> bool:
        """Whether the convolution applies the activation itself (``conv2d_forward(relu=True)``)."""
        return self.relu_activation() and not self.relu_deferred

    def _activate(self, z, conv_cache):
        """y = act(z), over z's own buffer when the activation allows it (else a fresh y); a
        fused ReLU was applied by the convolution already, a deferred one is left to the pool
        (no activation cache then: the backward takes dy as dz)."""
        if self.relu_activation():
            return z, (conv_cache, None)
        y, act_cache = self.activation.forward(z, out=z if self.activation.in_place else None)
        return y, (conv_cache, act_cache)

    def _work_for_backward(self, dy, cache, direct_kernel):
        """dz = act'(z) dy (left to the convolution's backward for a fused ReLU), and the conv
        cache with its ``work`` naming the outputs: the bias gradient (and, when its layout
        matches, the kernel gradient) written in place."""
        conv_cache, act_cache = cache
        if act_cache is None:
            dz = dy
        else:
            dz = self.activation.backward(dy, act_cache, out=self._dz_out(self.activation, dy))
        work = conv_cache[-1]
        work["dbias"] = self.grads.get("bias", False)
        work["dkernel"] = self.grads["kernel"] if direct_kernel else None
        work["dx"] = self._input_grad
        work["dy_writable"] = self._consume_dy
        return conv_cache, dz

    def _store_grads(self, dx, dkernel, dbias):
        for name, value in (("kernel", dkernel), ("bias", dbias)):
            if name in self.grads and value is not self.grads[name]:
                self.grads[name][...] = value
        return dx


def init_filter_fields(layer, filters, groups, activation, use_bias, kernel_initializer, bias_initializer,
                       activation_params) -> None:
    """The fields every filtering convolution (Conv1D, Conv2D) checks alike: ``filters`` and
    ``groups`` positive ints, groups dividing filters, the activation, ``use_bias``, the initializers."""
    layer.filters = positive_int(filters, f"{layer.name}: filters")
    layer.groups = positive_int(groups, f"{layer.name}: groups")
    if layer.filters % layer.groups:
        raise ValueError(f"{layer.name}: groups: expected a divisor of filters={layer.filters}, "
                         f"got groups={layer.groups}")
    layer.activation = activations.get(activation, **activation_params)
    layer.use_bias = checks.boolean(use_bias, f"{layer.name}: use_bias")
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)


def check_groups_divide(layer, channels: int, input_shape) -> None:
    """groups must divide the input's channels C too."""
    if channels % layer.groups:
        raise ValueError(f"{layer.name}: groups: expected a divisor of the input channels C={channels}, "
                         f"got groups={layer.groups} (input_shape {tuple(input_shape)})")


class Conv2D(_ConvBase):
    """y = act(conv(x, kernel) + bias), channels-last, with groups, strides, dilation, padding.

    Shapes: x (N, H, W, C) -> y (N, H_out, W_out, F); kernel (kh, kw, C/g, F); bias (F,).
        H_out = floor((H + top + bottom - ((kh - 1) d_h + 1)) / s_h) + 1   (W likewise)
    padding: "valid" (none), "same" (TensorFlow's rule: total = max((ceil(H/s) - 1) s +
    (k - 1) d + 1 - H, 0), top = total // 2, bottom = total - top, so H_out = ceil(H / s)),
    an int p or an [p_h, p_w] pair (explicit symmetric padding, as torch's ``padding=p``).

    Forward (group of output channel f: g_f = f // (F/g)):
        z[n,i,j,f] = b[f] + sum_{a,b,c} xp[n, i s_h + a d_h, j s_w + b d_w, g_f C/g + c] W[a,b,c,f]
        y = act(z)
    Backward (dz = act'(z) * dy, or act's vector-Jacobian product):
        dW[a,b,c,f] = sum_{n,i,j} xp[n, i s_h + a d_h, j s_w + b d_w, g_f C/g + c] dz[n,i,j,f]
        db[f]       = sum_{n,i,j} dz[n,i,j,f]
        dxp[n, i s_h + a d_h, j s_w + b d_w, g_f C/g + c] += W[a,b,c,f] dz[n,i,j,f]  (all terms),
        dx = dxp without its padding.
    Computed as im2col + one batched matmul per call (``conv2d_forward`` / ``conv2d_backward``).

    NOTE: torch's ``nn.Conv2d`` takes NCHW input and stores ``weight`` as OIHW (F, C/g, kh, kw):
    ``kernel = weight.permute(2, 3, 1, 0)``, input ``x_torch = x.permute(0, 3, 1, 2)``. Both group
    output channels in the same contiguous blocks. torch refuses ``padding='same'`` with stride > 1
    and its explicit padding is symmetric, while TF's "same" may put one more row/column at the
    bottom/right: reproduce it with ``F.pad(x, (left, right, top, bottom))`` and ``padding=0``
    (``_windows.same_padding`` gives (lo, hi) per axis). Keras ``Conv2D`` matches this layout and
    rule exactly, but refuses strides > 1 together with dilation_rate > 1 (torch and this layer
    allow it). Keras has no explicit int padding for Conv2D.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, rng=None, **activation_params):
        super().__init__(name, rng)
        self._init_windows(kernel_size, strides, padding, dilation_rate)
        init_filter_fields(self, filters, groups, activation, use_bias, kernel_initializer, bias_initializer,
                           activation_params)

    def compute_output_shape(self, input_shape):
        h, w, c = _windows.image_hw(self.name, input_shape)
        check_groups_divide(self, c, input_shape)
        return (*self._out_hw(h, w), self.filters)

    def _build(self, input_shape, rng):
        h, w, c = input_shape
        self._padding = self._pads(h, w)
        shape = (*self.kernel_size, c // self.groups, self.filters)
        self.add_param("kernel", self.kernel_initializer(shape, rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.filters,), rng, self.dtype))

    def _forward(self, x, training):
        z, conv_cache = conv2d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides,
                                       self._padding, self.dilation_rate, self.groups, buffer=self._buffer,
                                       relu=self._fused_relu())
        return self._activate(z, conv_cache)

    def _backward(self, dy, cache):
        conv_cache, dz = self._work_for_backward(dy, cache, direct_kernel=True)
        return self._store_grads(*conv2d_backward(dz, conv_cache))


class DepthwiseConv2D(_ConvBase):
    """Each input channel convolved with its own m = depth_multiplier filters.

    Shapes: x (N, H, W, C) -> y (N, H_out, W_out, C m); kernel (kh, kw, C, m); bias (C m,).
    H_out, W_out and the padding rule as in ``Conv2D``.

    Forward:  z[n,i,j,c m + k] = b[c m + k] + sum_{a,b} xp[n, i s_h + a d_h, j s_w + b d_w, c] W[a,b,c,k]
              y = act(z)
    Backward: dW[a,b,c,k] = sum_{n,i,j} xp[n, i s_h + a d_h, j s_w + b d_w, c] dz[n,i,j,c m + k]
              db[c m + k] = sum_{n,i,j} dz[n,i,j,c m + k]
              dxp[n, i s_h + a d_h, j s_w + b d_w, c] += sum_k W[a,b,c,k] dz[n,i,j,c m + k]
    Computed as the grouped convolution with groups = C (``depthwise_conv2d_forward``).

    NOTE: torch has no depthwise class: it is ``nn.Conv2d(C, C m, k, groups=C)`` with weight
    (C m, 1, kh, kw), output channel c m + k as here; ``kernel = W[:, 0].transpose(1, 2, 0)
    .reshape(kh, kw, C, m)`` (and back: ``kernel.reshape(kh, kw, C m).transpose(2, 0, 1)[:, None]``).
    Keras's ``DepthwiseConv2D`` stores this same ``kernel`` (kh, kw, C, m) (its initializer
    argument is ``depthwise_initializer``, accepted here too) and refuses strides > 1 with
    dilation_rate > 1.
    """

    def __init__(self, kernel_size, depth_multiplier=1, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, rng=None, **activation_params):
        super().__init__(name, rng)
        self._init_windows(kernel_size, strides, padding, dilation_rate)
        self.depth_multiplier = positive_int(depth_multiplier, f"{self.name}: depth_multiplier")
        self.activation = activations.get(activation, **activation_params)
        self.use_bias = checks.boolean(use_bias, f"{self.name}: use_bias")
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def compute_output_shape(self, input_shape):
        h, w, c = _windows.image_hw(self.name, input_shape)
        return (*self._out_hw(h, w), c * self.depth_multiplier)

    def _build(self, input_shape, rng):
        h, w, c = input_shape
        self._padding = self._pads(h, w)
        shape = (*self.kernel_size, c, self.depth_multiplier)
        self.add_param("kernel", self.depthwise_initializer(shape, rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((c * self.depth_multiplier,), rng, self.dtype))

    def _forward(self, x, training):
        z, conv_cache = depthwise_conv2d_forward(x, self.params["kernel"], self.params.get("bias"),
                                                 self.strides, self._padding, self.dilation_rate,
                                                 buffer=self._buffer, relu=self._fused_relu())
        return self._activate(z, conv_cache)

    def _backward(self, dy, cache):
        conv_cache, dz = self._work_for_backward(dy, cache, direct_kernel=False)
        return self._store_grads(*depthwise_conv2d_backward(dz, conv_cache))
