"""Conv1D on batch-first sequences (N, T, C): the 2-D convolution on a one-row image.

A sequence (N, T, C) is the image (N, 1, T, C) and a kernel (k, C/g, F) the kernel
(1, k, C/g, F), so the forward and backward are ``conv.conv2d_forward`` / ``conv2d_backward``
on those views (no copy), with the padding resolved along T only:
    valid:   lo = hi = 0
    same:    TensorFlow's rule (``_windows.same_padding``): total = max((ceil(T/s) - 1) s +
             (k - 1) d + 1 - T, 0), lo = total // 2, hi = total - lo
    causal:  lo = (k - 1) d, hi = 0 (Keras's left padding: output t sees inputs <= t s only)
    int p:   lo = hi = p (torch's ``padding=p``)
    T_out = floor((lo + T + hi - ((k - 1) d + 1)) / s) + 1
"""
from __future__ import annotations

import numpy as np

from scratchnet.layers import _windows
from scratchnet.layers.base import Layer, positive_int
from scratchnet.layers.conv import check_groups_divide, conv2d_backward, conv2d_forward, init_filter_fields

__all__ = ["Conv1D"]


def padding_1d(padding, what: str):
    """Validate a 1-D ``padding``: "valid", "same", "causal" (any case) or a non-negative int."""
    if isinstance(padding, str) and padding.lower() in ("valid", "same", "causal"):
        return padding.lower()
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool) and padding >= 0:
        return int(padding)
    raise ValueError(f"{what}: expected 'valid', 'same', 'causal' or a non-negative int, got {padding!r}")


def resolve_padding_1d(padding, size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """``(lo, hi)`` along T for a validated 1-D padding (rules in the module docstring)."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return _windows.same_padding(size, kernel, stride, dilation)
    if padding == "causal":
        return (kernel - 1) * dilation, 0
    return padding, padding


def sequence_shape(name: str, input_shape) -> tuple[int, int]:
    """``(T, C)`` of a sequence shape without the batch axis, or a ValueError naming the layer."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 2 or min(input_shape) < 1:
        raise ValueError(f"{name}: input_shape: expected a sequence (T, C) without the batch axis, "
                         f"got {input_shape}")
    return input_shape


def _t_out(name, what, t_len, kernel, stride, pads, dilation=1) -> int:
    """T_out, or a ValueError naming the layer when the (dilated) window is longer than the
    padded sequence (``_windows.windows_out_hw`` on the one-row image, its axis named T)."""
    try:
        return _windows.windows_out_hw(name, what, (1, t_len), (1, kernel), (1, stride), ((0, 0), tuple(pads)),
                                       (1, dilation))[1]
    except ValueError as exc:
        raise ValueError(str(exc).replace(" along W ", " along T ")) from None


def conv1d_forward(x, kernel, bias=None, stride=1, pads=(0, 0), dilation=1, groups=1, buffer=None):
    """y[n, t, f] = b[f] + sum_{a, c} xp[n, t s + a d, g_f C/g + c] kernel[a, c, f]:
    ``conv2d_forward`` on x (N, 1, T, C) and kernel (1, k, C/g, F). Returns ``(y (N, T_out, F), cache)``."""
    y, cache = conv2d_forward(x[:, None], kernel[None], bias, (1, stride), ((0, 0), tuple(pads)),
                              (1, dilation), groups, buffer=buffer)  # (N, 1, T_out, F)
    return y[:, 0], cache


def conv1d_backward(dy, cache):
    """``(dx (N, T, C), dkernel (k, C/g, F), dbias (F,))`` from ``conv2d_backward`` on the one-row views."""
    dx, dkernel, dbias = conv2d_backward(dy[:, None], cache)
    return (None if dx is None else dx[:, 0]), dkernel[0], dbias


class Conv1D(Layer):
    """y = act(conv1d(x, kernel) + bias) on (N, T, C), with strides, dilation, groups, padding.

    Shapes: x (N, T, C) -> y (N, T_out, F); kernel (k, C/g, F); bias (F,).
    padding "valid" | "same" | "causal" | int (rules and T_out in the module docstring).

    Forward (group of output channel f: g_f = f // (F/g)):
        z[n,t,f] = b[f] + sum_{a,c} xp[n, t s + a d, g_f C/g + c] W[a,c,f],  y = act(z)
    Backward (dz = act'(z) * dy):
        dW[a,c,f] = sum_{n,t} xp[n, t s + a d, g_f C/g + c] dz[n,t,f],  db[f] = sum_{n,t} dz[n,t,f]
        dxp[n, t s + a d, g_f C/g + c] += W[a,c,f] dz[n,t,f],  dx = dxp without its padding
    Computed as the 2-D convolution of the one-row image (N, 1, T, C) (module docstring).

    NOTE: torch's ``nn.Conv1d`` takes (N, C, T) and stores ``weight`` (F, C/g, k):
    ``kernel = weight.permute(2, 1, 0)``. torch has no "causal" padding: pad the left by
    (k - 1) d (``F.pad(x, ((k - 1) d, 0))``) before a padding=0 conv; its ``padding='same'``
    refuses stride > 1 and its int padding is symmetric, so TF's "same" with an odd total is an
    explicit ``F.pad(x, (lo, hi))`` too. Keras ``Conv1D`` matches this layer (kernel (k, C/g, F)),
    but refuses strides > 1 with dilation_rate > 1 and has no int padding.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, rng=None, **activation_params):
        super().__init__(name, rng)
        self.kernel_size = positive_int(kernel_size, f"{self.name}: kernel_size")
        self.strides = positive_int(strides, f"{self.name}: strides")
        self.padding = padding_1d(padding, f"{self.name}: padding")
        self.dilation_rate = positive_int(dilation_rate, f"{self.name}: dilation_rate")
        init_filter_fields(self, filters, groups, activation, use_bias, kernel_initializer, bias_initializer,
                           activation_params)

    def _pads(self, t_len):
        return resolve_padding_1d(self.padding, t_len, self.kernel_size, self.strides, self.dilation_rate)

    def compute_output_shape(self, input_shape):
        t_len, c = sequence_shape(self.name, input_shape)
        check_groups_divide(self, c, input_shape)
        return _t_out(self.name, "kernel_size", t_len, self.kernel_size, self.strides, self._pads(t_len),
                      self.dilation_rate), self.filters

    def _build(self, input_shape, rng):
        t_len, c = input_shape
        self._padding = self._pads(t_len)
        shape = (self.kernel_size, c // self.groups, self.filters)
        self.add_param("kernel", self.kernel_initializer(shape, rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.filters,), rng, self.dtype))

    def _forward(self, x, training):
        z, conv_cache = conv1d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides,
                                       self._padding, self.dilation_rate, self.groups, buffer=self._buffer)
        y, act_cache = self.activation.forward(z)
        return y, (conv_cache, act_cache)

    def _backward(self, dy, cache):
        conv_cache, act_cache = cache
        dz = self.activation.backward(dy, act_cache)
        conv_cache[-1].update(dbias=self.grads.get("bias", False), dkernel=None, dx=self._input_grad)
        dx, dkernel, dbias = conv1d_backward(dz, conv_cache)
        self.grads["kernel"][...] = dkernel
        if dbias is not None:
            self.grads["bias"][...] = dbias
        return dx
