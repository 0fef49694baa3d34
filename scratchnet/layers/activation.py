"""Activation as a layer of its own (``{"type": "relu"}`` or ``{"type": "activation", ...}``)."""
from __future__ import annotations

from scratchnet import activations
from scratchnet.layers.base import Layer


class Activation(Layer):
    """y = f(x), elementwise (or along ``axis`` for softmax / log_softmax); no parameters.

    Forward and backward are the pure functions of ``scratchnet.activations`` (their docstrings
    hold the formulas); shapes are unchanged: x (N, ...) -> y (N, ...).
    """

    def __init__(self, activation, name=None, rng=None, **params):
        super().__init__(name, rng)
        self.activation = activations.get(activation, **params)

    def _forward(self, x, training):
        return self.activation.forward(x)

    def _backward(self, dy, cache):
        return self.activation.backward(dy, cache)
