"""Adam: the class and its update in both conventions (Keras's epsilon-hat, torch's bias-corrected moments)."""
from __future__ import annotations

import numpy as np

from scratchnet.checks import boolean
from scratchnet.optimizers.base import Optimizer, non_negative, unit_interval


def adam_keras(p, g, m, v, v_max, t, learning_rate, beta_1, beta_2, epsilon):
    """Keras Adam.  alpha = lr sqrt(1 - b2^t) / (1 - b1^t);  m = b1 m + (1-b1) g;
    v = b2 v + (1-b2) g^2;  [v_max = max(v_max, v), used in place of v];  p - alpha m / (sqrt(v) + eps).

    Written in Keras's own order (m += (g - m)(1 - b1), ...). Returns (p_new, m, v, v_max).
    """
    dt = p.dtype.type
    lr, b1, b2, eps, step = dt(learning_rate), dt(beta_1), dt(beta_2), dt(epsilon), dt(t)
    alpha = lr * np.sqrt(dt(1) - b2 ** step) / (dt(1) - b1 ** step)
    m = m + (g - m) * dt(1 - beta_1)
    v = v + (np.square(g) - v) * dt(1 - beta_2)
    denom_v = v
    if v_max is not None:
        v_max = np.maximum(v_max, v)
        denom_v = v_max
    return p - (m * alpha) / (np.sqrt(denom_v) + eps), m, v, v_max


def adam_torch(p, g, m, v, v_max, t, learning_rate, beta_1, beta_2, epsilon):
    """torch Adam.  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  [v_max = max(v_max, v)];
    m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t) (v_max's);  p - lr m_hat / (sqrt(v_hat) + eps).

    Returns (p_new, m, v, v_max).
    """
    dt = p.dtype.type
    lr, b1, b2, eps, step = dt(learning_rate), dt(beta_1), dt(beta_2), dt(epsilon), dt(t)
    m = m + dt(1 - beta_1) * (g - m)  # torch's lerp
    v = b2 * v + dt(1 - beta_2) * np.square(g)
    if v_max is not None:
        v_max = np.maximum(v_max, v)
    m_hat = m / (dt(1) - b1 ** step)
    v_hat = (v if v_max is None else v_max) / (dt(1) - b2 ** step)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, v_max


class Adam(Optimizer):
    """Adam: bias-corrected running means of the gradient and its square.

    keras convention (``keras.optimizers.Adam(learning_rate, beta_1, beta_2, epsilon, amsgrad,
    weight_decay)``)::

        p <- p - lr * wd * p                        (if weight_decay; decoupled, so = Keras AdamW)
        alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g^2
        v_max <- max(v_max, v);  v <- v_max         (amsgrad only)
        p <- p - alpha * m / (sqrt(v) + eps)

    torch convention (``torch.optim.Adam(params, lr, betas=(beta_1, beta_2), eps=epsilon,
    weight_decay, amsgrad)``)::

        g <- g + wd * p                             (if weight_decay; coupled L2, unlike AdamW)
        m, v (and v_max) as above
        m_hat = m / (1 - beta_1^t);  v_hat = v / (1 - beta_2^t)   (v_max in place of v if amsgrad)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    State: ``m``, ``v`` (zeros); ``v_max`` if amsgrad (Keras ``velocity_hat``, torch
    ``max_exp_avg_sq``). ``t`` is ``iterations`` after the increment (1 on the first step).

    Keras's eps is torch's eps times sqrt(1 - beta_2^t): it changes every step, so no constant
    setting reconciles them unless eps is negligible (1e-30 in both agrees to ~1e-16; eps = 0 gives
    NaN where a gradient and its history are exactly 0). Defaults: eps 1e-7 (Keras) vs 1e-8 (torch).

    Float32 trap: Keras casts ``beta_1``, ``beta_2`` (inside beta**t), ``epsilon`` and
    ``weight_decay`` through float32 even for float64 variables; the parity harness uses
    float32-representable values (beta_1 0.875, beta_2 0.9375, eps 2**-10, ...).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, convention="keras"):
        super().__init__(learning_rate, weight_decay, convention)
        self.beta_1 = unit_interval(beta_1, "beta_1")
        self.beta_2 = unit_interval(beta_2, "beta_2")
        self.epsilon = non_negative(epsilon, "epsilon")
        self.amsgrad = boolean(amsgrad, "amsgrad")

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}

    def _init_state(self, p):
        state = {"m": np.zeros_like(p), "v": np.zeros_like(p)}
        if self.amsgrad:
            state["v_max"] = np.zeros_like(p)
        return state

    def _update(self, key, p, g, t):
        state = self.state[key]
        p, g = self._decay(p, g)
        step = adam_keras if self.convention == "keras" else adam_torch
        p_new, state["m"], state["v"], v_max = step(p, g, state["m"], state["v"], state.get("v_max"), t,
                                                     self.learning_rate, self.beta_1, self.beta_2, self.epsilon)
        if v_max is not None:
            state["v_max"] = v_max
        return p_new


