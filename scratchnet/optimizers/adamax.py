"""Adamax (Adam with the infinity norm): the class and its update in both conventions."""
from __future__ import annotations

import numpy as np

from scratchnet.optimizers.base import Optimizer, non_negative, unit_interval


def adamax_keras(p, g, m, u, t, learning_rate, beta_1, beta_2, epsilon):
    """Keras Adamax.  m += (g - m)(1 - b1);  u = max(b2 u, |g|);  p - lr m / ((1 - b1^t)(u + eps)).

    Returns (p_new, m, u)."""
    dt = p.dtype.type
    m = m + (g - m) * dt(1 - beta_1)
    u = np.maximum(dt(beta_2) * u, np.abs(g))
    return p - (dt(learning_rate) * m) / ((dt(1) - dt(beta_1) ** dt(t)) * (u + dt(epsilon))), m, u


def adamax_torch(p, g, m, u, t, learning_rate, beta_1, beta_2, epsilon):
    """torch Adamax.  m = lerp(m, g, 1 - b1);  u = max(b2 u, |g| + eps);  p - (lr / (1 - b1^t)) m / u.

    Returns (p_new, m, u)."""
    dt = p.dtype.type
    m = m + dt(1 - beta_1) * (g - m)
    u = np.maximum(u * dt(beta_2), np.abs(g) + dt(epsilon))  # eps INSIDE the max
    clr = dt(learning_rate / (1 - beta_1 ** t))
    return p - clr * (m / u), m, u


class Adamax(Optimizer):
    """Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm.

    keras convention (``keras.optimizers.Adamax(learning_rate, beta_1, beta_2, epsilon,
    weight_decay)``)::

        p <- p - lr * wd * p                         (if weight_decay; decoupled)
        m <- beta_1 m + (1 - beta_1) g
        u <- max(beta_2 u, |g|)
        p <- p - lr m / ((1 - beta_1^t) (u + eps))   (eps added to the norm)

    torch convention (``torch.optim.Adamax(params, lr, betas, eps, weight_decay)``)::

        g <- g + wd * p                              (if weight_decay; coupled L2)
        m <- beta_1 m + (1 - beta_1) g
        u <- max(beta_2 u, |g| + eps)                (eps INSIDE the max)
        p <- p - lr / (1 - beta_1^t) * m / u

    The two differ wherever eps is not negligible against u (3.4e-4 apart at eps 1e-7 on a
    gradient history of size ~1e-3; measured). State: ``m`` (Keras ``momentum``, torch
    ``exp_avg``) and ``u`` (Keras ``norm``, torch ``exp_inf``), zeros. Defaults: Keras lr 1e-3,
    eps 1e-7; torch lr 2e-3, eps 1e-8.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 convention="keras", **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
        self.beta_1 = unit_interval(beta_1, "beta_1")
        self.beta_2 = unit_interval(beta_2, "beta_2")
        self.epsilon = non_negative(epsilon, "epsilon")

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _init_state(self, p):
        return {"m": np.zeros_like(p), "u": np.zeros_like(p)}

    def _update(self, key, p, g, t):
        state = self._state[key]
        p, g = self._decay(key, p, g)
        step = adamax_keras if self.convention == "keras" else adamax_torch
        p_new, state["m"], state["u"] = step(p, g, state["m"], state["u"], t, self._lr, self.beta_1,
                                             self.beta_2, self.epsilon)
        return p_new
