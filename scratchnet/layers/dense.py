"""Fully connected layer."""
from __future__ import annotations

import numpy as np

from scratchnet import activations, initializers
from scratchnet.layers.base import Layer, positive_int


def dense_forward(x, kernel, bias=None):
    """y = x W + b over the last axis.  x (..., I), W (I, U), b (U,) -> y (..., U)."""
    y = x @ kernel  # (..., U)
    if bias is not None:
        y = y + bias
    return y, (x, kernel)


def dense_backward(dy, cache):
    """dx = dy W^T, dW = sum over leading axes of x^T dy, db = sum over leading axes of dy."""
    x, kernel = cache
    dx = dy @ kernel.T  # (..., I)
    x2 = x.reshape(-1, x.shape[-1])  # (M, I)
    dy2 = dy.reshape(-1, dy.shape[-1])  # (M, U)
    return dx, x2.T @ dy2, dy2.sum(axis=0)  # (I, U), (U,)


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
        self.use_bias = bool(use_bias)
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
        z, lin_cache = dense_forward(x, self.params["kernel"], self.params.get("bias"))
        y, act_cache = self.activation.forward(z)
        return y, (lin_cache, act_cache)

    def _backward(self, dy, cache):
        lin_cache, act_cache = cache
        dz = self.activation.backward(dy, act_cache)
        dx, dkernel, dbias = dense_backward(dz, lin_cache)
        self.grads["kernel"][...] = dkernel
        if self.use_bias:
            self.grads["bias"][...] = dbias
        return dx
