"""Conv2DTranspose: the adjoint (transpose) of Conv2D, channels-last, Keras's kernel layout.

Conv2D with a kernel K (kh, kw, F, C) maps an image z (N, H_out, W_out, F) to (N, H, W, C);
as a linear map of z it is a matrix A. The transposed convolution is A^T: it maps
x (N, H, W, C) back to (N, H_out, W_out, F) with the SAME kernel array, so that

    <conv2d(z; K, pads), x> = <z, conv2d_transpose(x; K)>        for every z and x

(``tests/scratchnet/test_conv_transpose.py`` checks this identity). Written out, every input
pixel scatters a kernel-sized patch into the "full" output, and the full output is cropped:

    full[n, p s_h + a d_h, q s_w + b d_w, f] += sum_c x[n, p, q, c] K[a, b, f, c]
    y[n, i, j, f] = b[f] + full[n, i + top, j + left, f]

H_full = (H - 1) s + (k - 1) d + 1. Output size and crop, as Keras 3 on TensorFlow computes them
(``compute_conv_transpose_output_shape`` then ``tf.nn.conv_transpose``, per axis):
    output_padding None:  valid: H_out = H s + max(k_eff - s, 0);   same: H_out = H s
    output_padding op:    H_out = (H - 1) s + k_eff - 2 pad + op,  pad = 0 (valid), k_eff // 2 (same)
    top (the crop):       valid: 0;  same: TensorFlow's same rule for a conv from H_out:
                          total = max((ceil(H_out / s) - 1) s + k_eff - H_out, 0), top = total // 2
with k_eff = (k - 1) d + 1. Cells of y beyond the full output (H_out > top + H_full) receive no
input: they are the bias alone. TensorFlow requires the conv from H_out to give back H
(ceil(H_out / s) = H for same, floor((H_out - k_eff) / s) + 1 = H for valid); a combination that
does not is refused with a ValueError (e.g. same, k 4, s 2, output_padding 0: H_out = 2H - 2).

Computation: the forward is a matmul x (M, C) K^T (C, kh kw F) followed by ``_windows.col2im``
(the scatter); the backward is ``_windows.im2col`` of dy placed back into the full frame, then
two matmuls (the forward of Conv2D and its kernel gradient).
"""
from __future__ import annotations

import numpy as np

from scratchnet import activations, checks, initializers
from scratchnet.layers import _windows
from scratchnet.layers.base import Layer, pair, positive_int

__all__ = ["Conv2DTranspose"]


def transpose_output_size(size: int, kernel: int, stride: int, padding: str, output_padding=None,
                          dilation: int = 1) -> int:
    """Keras's H_out for one axis (module docstring)."""
    k_eff = (kernel - 1) * dilation + 1
    if output_padding is None:
        return size * stride + max(k_eff - stride, 0) if padding == "valid" else size * stride
    pad = 0 if padding == "valid" else k_eff // 2
    return (size - 1) * stride + k_eff - 2 * pad + output_padding


def transpose_crop(size: int, out: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """``top``: how many leading cells of the full transposed convolution TensorFlow drops; raises
    ValueError when the conv from ``out`` would not give back ``size`` (TF refuses that)."""
    k_eff = (kernel - 1) * dilation + 1
    if padding == "valid":
        back, top = (out - k_eff) // stride + 1 if out >= k_eff else 0, 0
    else:
        back, top = -(-out // stride), _windows.same_padding(out, kernel, stride, dilation)[0]
    if back != size:
        raise ValueError(f"output size {out} does not invert: the {padding} convolution from {out} "
                         f"(kernel {kernel}, stride {stride}) gives {back}, not the input's {size}")
    return top


def conv2d_transpose_forward(x, kernel, bias, strides, out_hw, crop, dilation=(1, 1)):
    """x (N, H, W, C), kernel (kh, kw, F, C), bias (F,) or None -> y (N, H_out, W_out, F).

        full = col2im(x K^T),  y = full[:, top:top + H_out, left:left + W_out] + b
    Returns ``(y, cache)``."""
    n, h, w, c = x.shape
    kh, kw, f, _ = kernel.shape
    (ho, wo), (top, left) = out_hw, crop
    kmat = kernel.reshape(kh * kw * f, c)  # (kh*kw*F, C)
    cols = x.reshape(n * h * w, c) @ kmat.T  # (N*H*W, kh*kw*F)
    hf = max((h - 1) * strides[0] + (kh - 1) * dilation[0] + 1, top + ho)
    wf = max((w - 1) * strides[1] + (kw - 1) * dilation[1] + 1, left + wo)
    full = _windows.col2im(cols.reshape(n, h, w, kh, kw, f), (n, hf, wf, f), (kh, kw), strides, dilation)
    y = full[:, top:top + ho, left:left + wo, :].copy()  # (N, H_out, W_out, F)
    if bias is not None:
        y += bias
    return y, (x, kmat, kernel.shape, strides, crop, (hf, wf), dilation)


def conv2d_transpose_backward(dy, cache):
    """Given dL/dy (N, H_out, W_out, F): ``(dx, dkernel (kh, kw, F, C), dbias)``.

        dfull = dy placed at [top:top + H_out, left:left + W_out] of a zero (N, H_full, W_full, F)
        dcols = im2col(dfull)  (N*H*W, kh*kw*F): the window each input pixel scattered into
        dx = dcols K   (the Conv2D forward of dfull),   dK = dcols^T x,   db = sum_{n,i,j} dy
    """
    x, kmat, k_shape, strides, (top, left), (hf, wf), dilation = cache
    n, h, w, c = x.shape
    kh, kw, f, _ = k_shape
    ho, wo = dy.shape[1], dy.shape[2]
    dfull = np.zeros((n, hf, wf, f), dy.dtype)
    dfull[:, top:top + ho, left:left + wo, :] = dy
    dcols = np.empty((1, n * h * w, kh * kw * f), dy.dtype)
    _windows.im2col(dfull, (kh, kw), strides, dilation, (h, w), 1, dcols)
    dcols = dcols[0]  # (N*H*W, kh*kw*F)
    dx = (dcols @ kmat).reshape(n, h, w, c)  # (N, H, W, C)
    dkernel = (dcols.T @ x.reshape(n * h * w, c)).reshape(k_shape)  # (kh, kw, F, C)
    return dx, dkernel, dy.sum(axis=(0, 1, 2))


class Conv2DTranspose(Layer):
    """y = act(conv2d_transpose(x, kernel) + bias): Conv2D's adjoint (module docstring).

    Shapes: x (N, H, W, C) -> y (N, H_out, W_out, F); kernel (kh, kw, F, C) (Keras's layout:
    output channels BEFORE input channels, the reverse of Conv2D's); bias (F,).
    H_out and the crop: module docstring (Keras's rule for valid/same and output_padding).

    Forward:  full[n, p s_h + a d_h, q s_w + b d_w, f] += sum_c x[n,p,q,c] K[a,b,f,c]
              z = full[:, top:top + H_out, left:left + W_out] + b,  y = act(z)
    Backward: dz = act'(z) * dy, dfull = dz in the full frame (zeros elsewhere),
              dx[n,p,q,c] = sum_{a,b,f} dfull[n, p s_h + a d_h, q s_w + b d_w, f] K[a,b,f,c]
              dK[a,b,f,c] = sum_{n,p,q} dfull[n, p s_h + a d_h, q s_w + b d_w, f] x[n,p,q,c]
              db[f] = sum_{n,i,j} dz[n,i,j,f]
    (dx is the Conv2D forward of dfull with the same K: the adjoint's adjoint.)

    NOTE: torch's ``nn.ConvTranspose2d`` takes NCHW and stores ``weight`` (C_in, C_out/groups, kh,
    kw): ``kernel = weight.permute(2, 3, 1, 0)``. Its output is H_out = (H - 1) s - 2 p +
    d (k - 1) + output_padding + 1: the full output with p cells cropped from the START and
    p - output_padding from the END. TensorFlow crops ``top`` from the start and the rest from the
    end, where ``top = total // 2`` may be smaller than the end's share (k 3, s 2, same: total 1,
    top 0); then no (p, output_padding) gives TF's values, and the exact torch twin is the full
    output (padding 0) cropped [top:top + H_out] (``parity/mappings/conv_transpose.py``).
    Keras refuses output_padding >= strides; TensorFlow on CPU cannot run a dilated transposed
    convolution (scratchnet can: dilation_rate is accepted here, refused by the parity spec).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, rng=None, **activation_params):
        super().__init__(name, rng)
        self.filters = positive_int(filters, f"{self.name}: filters")
        self.kernel_size = pair(kernel_size, f"{self.name}: kernel_size")
        self.strides = pair(strides, f"{self.name}: strides")
        self.padding = _windows.padding_arg(padding, f"{self.name}: padding", explicit=False)
        self.dilation_rate = pair(dilation_rate, f"{self.name}: dilation_rate")
        self.output_padding = None if output_padding is None else _non_negative_pair(
            output_padding, f"{self.name}: output_padding")
        if self.output_padding is not None and any(
                op >= max(s, d) for op, s, d in zip(self.output_padding, self.strides, self.dilation_rate)):
            raise ValueError(f"{self.name}: output_padding: expected less than strides "
                             f"{list(self.strides)} on each axis, got {list(self.output_padding)}")
        self.activation = activations.get(activation, **activation_params)
        self.use_bias = checks.boolean(use_bias, f"{self.name}: use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _geometry(self, h, w):
        """``((H_out, W_out), (top, left))``, or a ValueError naming the layer."""
        ops = self.output_padding or (None, None)
        out, crop = [], []
        for axis, n, k, s, d, op in zip("HW", (h, w), self.kernel_size, self.strides, self.dilation_rate, ops):
            o = transpose_output_size(n, k, s, self.padding, op, d)
            if o < 1:
                raise ValueError(f"{self.name}: output_padding: gives an empty output along {axis} ({o})")
            try:
                crop.append(transpose_crop(n, o, k, s, self.padding, d))
            except ValueError as exc:
                raise ValueError(f"{self.name}: output_padding: along {axis}, {exc}") from None
            out.append(o)
        return tuple(out), tuple(crop)

    def compute_output_shape(self, input_shape):
        h, w, _ = _windows.image_hw(self.name, input_shape)
        return (*self._geometry(h, w)[0], self.filters)

    def _build(self, input_shape, rng):
        h, w, c = input_shape
        self._out_hw, self._crop = self._geometry(h, w)
        shape = (*self.kernel_size, self.filters, c)
        self.add_param("kernel", self.kernel_initializer(shape, rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.filters,), rng, self.dtype))

    def _forward(self, x, training):
        z, cache = conv2d_transpose_forward(x, self.params["kernel"], self.params.get("bias"), self.strides,
                                            self._out_hw, self._crop, self.dilation_rate)
        y, act_cache = self.activation.forward(z)
        return y, (cache, act_cache)

    def _backward(self, dy, cache):
        cache, act_cache = cache
        dz = self.activation.backward(dy, act_cache)
        dx, dkernel, dbias = conv2d_transpose_backward(dz, cache)
        self.grads["kernel"][...] = dkernel
        if "bias" in self.grads:
            self.grads["bias"][...] = dbias
        return dx


def _non_negative_pair(value, what):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise ValueError(f"{what}: expected a non-negative int or an [h, w] pair of them, got {value!r}")
    return int(value[0]), int(value[1])
