"""Adagrad: the class and its update in both conventions (epsilon inside or outside the root)."""
from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, non_negative


def adagrad_keras(p, g, accumulator, learning_rate, epsilon):
    """Keras Adagrad.  accumulator += g^2;  p - lr g / sqrt(accumulator + eps).  Returns (p_new, accumulator)."""
    dt = p.dtype.type
    accumulator = accumulator + np.square(g)
    return p - dt(learning_rate) * g / np.sqrt(accumulator + dt(epsilon)), accumulator


def adagrad_torch(p, g, accumulator, learning_rate, epsilon):
    """torch Adagrad (lr_decay 0).  accumulator += g^2;  p - lr g / (sqrt(accumulator) + eps)."""
    dt = p.dtype.type
    accumulator = accumulator + np.square(g)
    return p - dt(learning_rate) * (g / (np.sqrt(accumulator) + dt(epsilon))), accumulator


class Adagrad(Optimizer):
    """Adagrad: divide by the root of the sum of all squared gradients so far.

    keras convention (``keras.optimizers.Adagrad(learning_rate, initial_accumulator_value,
    epsilon, weight_decay)``)::

        p <- p - lr * wd * p                                  (if weight_decay; decoupled)
        accumulator <- accumulator + g^2                      (accumulator_0 = initial_accumulator_value)
        p <- p - lr * g / sqrt(accumulator + eps)             (eps INSIDE the root)

    torch convention (``torch.optim.Adagrad(params, lr, lr_decay=0, weight_decay,
    initial_accumulator_value, eps=epsilon)``)::

        g <- g + wd * p                                       (if weight_decay; coupled L2)
        accumulator <- accumulator + g^2
        p <- p - lr * g / (sqrt(accumulator) + eps)           (eps OUTSIDE the root)

    State: ``accumulator`` (Keras ``accumulator``, torch ``sum``). Defaults: Keras lr 1e-3,
    initial accumulator 0.1, eps 1e-7; torch lr 1e-2, initial accumulator 0, eps 1e-10. The
    defaults here are Keras's whatever the convention: a torch-faithful run passes
    ``initial_accumulator_value=0.0, epsilon=1e-10`` explicitly.

    Float32 trap: Keras builds the accumulator with a Constant initializer and adds ``epsilon``
    as Python floats, both cast through float32 even for float64 variables (0.1 becomes
    0.10000000149011612); the parity harness uses float32-representable values (0.125, 2**-10).
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 convention="keras", **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
        self.initial_accumulator_value = non_negative(initial_accumulator_value, "initial_accumulator_value")
        self.epsilon = non_negative(epsilon, "epsilon")

    def _config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}

    def _init_state(self, p):
        return {"accumulator": np.full_like(p, self.initial_accumulator_value)}

    def _update(self, key, p, g, t):
        state = self._state[key]
        p, g = self._decay(key, p, g)
        step = adagrad_keras if self.convention == "keras" else adagrad_torch
        p_new, state["accumulator"] = step(p, g, state["accumulator"], self._lr, self.epsilon)
        return p_new


