"""Adadelta: the class and its update in both conventions (the same formula; torch's order)."""
from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, non_negative, unit_interval


def adadelta_keras(p, g, accumulated_grad, accumulated_delta, learning_rate, rho, epsilon):
    """Keras Adadelta.  E[g^2] = rho E[g^2] + (1 - rho) g^2;
    delta = -sqrt(E[dx^2] + eps) g / sqrt(E[g^2] + eps);  E[dx^2] = rho E[dx^2] + (1 - rho) delta^2;
    p + lr delta.  Returns (p_new, accumulated_grad, accumulated_delta)."""
    dt = p.dtype.type
    rho_, rho1, eps = dt(rho), dt(1 - rho), dt(epsilon)
    accumulated_grad = rho_ * accumulated_grad + rho1 * np.square(g)
    delta = -((np.sqrt(accumulated_delta + eps) * g) / np.sqrt(accumulated_grad + eps))
    accumulated_delta = rho_ * accumulated_delta + rho1 * np.square(delta)
    return p + dt(learning_rate) * delta, accumulated_grad, accumulated_delta


def adadelta_torch(p, g, accumulated_grad, accumulated_delta, learning_rate, rho, epsilon):
    """torch Adadelta (torch's order: delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g;
    p - lr delta). Returns (p_new, accumulated_grad, accumulated_delta)."""
    dt = p.dtype.type
    rho_, rho1, eps = dt(rho), dt(1 - rho), dt(epsilon)
    accumulated_grad = accumulated_grad * rho_ + rho1 * (g * g)
    std = np.sqrt(accumulated_grad + eps)
    delta = np.sqrt(accumulated_delta + eps) / std * g
    accumulated_delta = accumulated_delta * rho_ + rho1 * (delta * delta)
    return p - dt(learning_rate) * delta, accumulated_grad, accumulated_delta


class Adadelta(Optimizer):
    """Adadelta: steps sized by the ratio of running RMS of updates and of gradients.

    Both conventions (``keras.optimizers.Adadelta(learning_rate, rho, epsilon, weight_decay)``;
    ``torch.optim.Adadelta(params, lr, rho, eps, weight_decay)``)::

        E[g^2] <- rho E[g^2] + (1 - rho) g^2
        delta = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g
        E[dx^2] <- rho E[dx^2] + (1 - rho) delta^2
        p <- p - lr delta

    The formula is the same in both frameworks; the conventions differ in the order of operations
    and in weight decay: keras decoupled (p -= lr wd p first), torch coupled (g += wd p).
    State: ``accumulated_grad`` (torch ``square_avg``) and ``accumulated_delta`` (Keras
    ``accumulated_delta_var``, torch ``acc_delta``), zeros. Defaults: Keras lr 1e-3, rho 0.95,
    eps 1e-7; torch lr 1.0, rho 0.9, eps 1e-6.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, convention="keras",
                 **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
        self.rho = unit_interval(rho, "rho")
        self.epsilon = non_negative(epsilon, "epsilon")

    def _config(self):
        return {"rho": self.rho, "epsilon": self.epsilon}

    def _init_state(self, p):
        return {"accumulated_grad": np.zeros_like(p), "accumulated_delta": np.zeros_like(p)}

    def _update(self, key, p, g, t):
        state = self._state[key]
        p, g = self._decay(key, p, g)
        step = adadelta_keras if self.convention == "keras" else adadelta_torch
        p_new, state["accumulated_grad"], state["accumulated_delta"] = step(
            p, g, state["accumulated_grad"], state["accumulated_delta"], self._lr, self.rho, self.epsilon)
        return p_new
