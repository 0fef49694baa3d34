"""Fully connected layer."""
from __future__ import annotations

import numpy as np

from scratchnet import activations, checks, initializers
from scratchnet.layers._bias import add_bias
from scratchnet.layers.base import Layer, positive_int


def dense_forward(x, kernel, bias=None, out=None):
    """y = x W + b over the last axis.  x (..., I), W (I, U), b (U,) -> y (..., U).

    ``out``: a C-contiguous (..., U) array of the kernel's dtype to write y into (integer x is
    cast to that dtype first). Returns ``(y, (x, kernel))``. 2-D products go through ``np.dot``:
    the same BLAS GEMM as ``matmul``, with ~0.35 us less overhead per call (tiny layers)."""
    if out is not None and x.dtype != kernel.dtype:
        x = x.astype(kernel.dtype)
    if x.ndim == 2:
        y = np.dot(x, kernel, out)  # (N, U)
    else:
        out2 = None if out is None else out.reshape(-1, kernel.shape[1])
        y = np.dot(x.reshape(-1, x.shape[-1]), kernel, out2)  # (M, U): leading axes flattened
        y = y.reshape(*x.shape[:-1], kernel.shape[1])  # (..., U)
    if bias is not None:
        add_bias(y, bias)  # y += b over wide rows (layers._bias)
    return y, (x, kernel)


def dense_backward(dy, cache, dkernel=None, dbias=None, dx=None, ones=None):
    """dx = dy W^T, dW = sum over leading axes of x^T dy, db = sum over leading axes of dy.

    ``cache`` is the forward's ``(x, kernel)``. ``dkernel``, ``dbias``, ``dx``: arrays to write
    the results into (None: allocate; ``False`` for dbias or dx: skip it, None in its place).
    ``ones`` (M,) turns db into a BLAS product ones^T dy (numpy's axis-0 sum of a tall array is
    several times slower). Returns ``(dx, dkernel, dbias)``."""
    x, kernel = cache
    if x.ndim == 2:
        x2, dy2 = x, dy  # (M, I), (M, U)
    else:  # leading axes flattened
        x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    dkernel = np.dot(x2.T, dy2, dkernel)  # (I, U)
    if dbias is False:
        dbias = None
    else:
        dbias = dy2.sum(axis=0) if ones is None else np.dot(ones, dy2, dbias)  # (U,)
    if dx is False:
        dx = None
    elif x.ndim == 2:
        dx = np.dot(dy2, kernel.T, dx)  # (M, I)
    else:
        dx = np.dot(dy2, kernel.T, None if dx is None else dx.reshape(x2.shape)).reshape(x.shape)  # (..., I)
    return dx, dkernel, dbias


class Dense(Layer):
    """y = act(x W + b)

    Shapes: x (N, ..., I) -> y (N, ..., U); kernel W (I, U); bias b (U,).

    Forward:  z = x W + b,  y = act(z)
    Backward: dz = act'(z) * dy (or act's vector-Jacobian product),
              dx = dz W^T,  dW = x^T dz,  db = sum_n dz   (leading axes flattened into n)

    NOTE: torch's ``nn.Linear`` stores ``weight`` as (U, I) and computes ``x weight^T + bias``, so
    ``kernel = weight.T``; Keras's ``Dense`` stores ``kernel`` (I, U) exactly as here.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, rng=None, **activation_params):
        super().__init__(name, rng)
        self.units = positive_int(units, f"{self.name}: units")
        self.activation = activations.get(activation, **activation_params)
        self.use_bias = checks.boolean(use_bias, f"{self.name}: use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self.name}: expected input with a feature axis, got shape {tuple(input_shape)}")
        return (*input_shape[:-1], self.units)

    def _build(self, input_shape, rng):
        shape = (input_shape[-1], self.units)
        self.add_param("kernel", self.kernel_initializer(shape, rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.bias_initializer((self.units,), rng, self.dtype))

    def _forward(self, x, training):
        shape = (x.shape[0], self.units) if x.ndim == 2 else (*x.shape[:-1], self.units)
        z, lin_cache = dense_forward(x, self.params["kernel"], self.params.get("bias"),
                                     out=self._buffer("z", shape))
        # y over z when the activation allows it (its backward reads only y); else a fresh y
        y, act_cache = self.activation.forward(z, out=z if self.activation.in_place else None)
        return y, (lin_cache, act_cache)

    def _backward(self, dy, cache):
        lin_cache, act_cache = cache
        dz = self.activation.backward(dy, act_cache, out=self._dz_out(self.activation, dy))
        grads, bias = self.grads, self.use_bias
        dx, dkernel, dbias = dense_backward(
            dz, lin_cache, dkernel=grads["kernel"], dbias=grads["bias"] if bias else False,
            dx=self._buffer("dx", lin_cache[0].shape) if self._input_grad else False,
            ones=self._buffer("ones", (dz.size // self.units,), fill=1) if bias else None)
        _store(grads, "kernel", dkernel)
        if bias:
            _store(grads, "bias", dbias)
        return dx


def _store(grads, name, value):
    """grads[name][...] = value unless the backward already wrote into grads[name] itself."""
    if value is not grads[name]:
        grads[name][...] = value
