"""Lion (evolved sign momentum; Chen et al. 2023, "Symbolic Discovery of Optimization
Algorithms", Program 1): the class and its update in both conventions."""
from __future__ import annotations

import numpy as np

from scratchnet.checks import finite_real
from scratchnet.optimizers.base import Optimizer, decoupled_weight_decay, unit_interval


def lion_keras(p, g, m, learning_rate, beta_1, beta_2):
    """Keras Lion.  p - lr sign(m b1 + g (1 - b1));  m = m b2 + g (1 - b2).  Returns (p_new, m)."""
    dt = p.dtype.type
    c = m * dt(beta_1) + g * (dt(1.0) - dt(beta_1))  # Keras: 1 - beta of the cast beta, in the variable's dtype
    p = p - dt(learning_rate) * np.sign(c)
    return p, m * dt(beta_2) + g * (dt(1.0) - dt(beta_2))


def lion_paper(p, g, m, learning_rate, beta_1, beta_2, weight_decay=0.0):
    """The paper's Program 1:  update = sign(b1 m + (1 - b1) g) + wd p;  p - lr update;
    m = b2 m + (1 - b2) g.  Returns (p_new, m)."""
    dt = p.dtype.type
    update = np.sign(dt(beta_1) * m + dt(1.0 - beta_1) * g) + dt(weight_decay) * p
    return p - dt(learning_rate) * update, dt(beta_2) * m + dt(1.0 - beta_2) * g


class Lion(Optimizer):
    """Lion: the sign of an interpolated momentum, with a second, slower momentum kept.

    Both conventions (``keras.optimizers.Lion(learning_rate, beta_1, beta_2, weight_decay)``;
    torch has no Lion: the torch convention is the paper's Program 1, which the parity harness's
    torch side also follows)::

        c = beta_1 m + (1 - beta_1) g
        p <- p - lr (sign(c) + wd p)          (Keras: p -= lr wd p first, then p -= lr sign(c): the same)
        m <- beta_2 m + (1 - beta_2) g

    The conventions differ only in the order of operations (sign(0) = 0 in both). State: ``m``
    (Keras ``momentum``), zeros. Keras defaults: lr 1e-3, beta_1 0.9, beta_2 0.99; Keras refuses
    beta_1 outside (0, 1] (beta_1 = 0 is signSGD).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, convention="keras",
                 **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
        b1 = finite_real(beta_1, "beta_1")
        if not 0 < b1 <= 1:
            raise ValueError(f"beta_1: expected a number in (0, 1] (0 makes Lion signSGD), got {beta_1!r}")
        self.beta_1 = b1
        self.beta_2 = unit_interval(beta_2, "beta_2")

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}

    def _init_state(self, p):
        return {"m": np.zeros_like(p)}

    def _update(self, key, p, g, t):
        state = self._state[key]
        if self.convention == "torch":
            wd = self.weight_decay if self.decays(key) else 0.0
            p_new, state["m"] = lion_paper(p, g, state["m"], self._lr, self.beta_1, self.beta_2, wd)
            return p_new
        if self.decays(key):
            p = decoupled_weight_decay(p, self._lr, self.weight_decay)
        p_new, state["m"] = lion_keras(p, g, state["m"], self._lr, self.beta_1, self.beta_2)
        return p_new
