"""Nadam (Adam with Nesterov momentum and Dozat's momentum schedule): the class and its update in
both conventions."""
from __future__ import annotations

import numpy as np

from scratchnet.checks import boolean
from scratchnet.optimizers.base import Optimizer, decoupled_weight_decay, non_negative, unit_interval


def momentum_schedule(beta_1, t, momentum_decay):
    """mu_t = beta_1 (1 - 0.5 * 0.96 ** (t * momentum_decay))  (Keras: momentum_decay 1; torch 0.004)."""
    return beta_1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


TF_DECAY = float(np.float32(0.96))  # what Keras's ``ops.cast(0.96, float64)`` gives on TensorFlow


def nadam_keras(p, g, m, v, u_product, t, learning_rate, beta_1, beta_2, epsilon, momentum_decay=1.0,
                decay=0.96):
    """Keras Nadam, in Keras's order.  ``u_product`` = prod_{i<=t} u_i (already including u_t);
    ``decay`` is the 0.96 of u_t and u_t1 (``TF_DECAY``: as TensorFlow rounds it).

        u_t = mu_t, u_t1 = mu_{t+1};  m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
        (b1, b2 cast to the variable's dtype first, every 1 - b computed in it, as Keras does: in
        float32 1 - float32(0.999) is 1.3e-5 off 0.001, the same factor in v and in 1 - b2^t)
        m_hat = u_t1 m / (1 - u_product u_t1) + (1 - u_t) g / (1 - u_product)
        v_hat = v / (1 - b2^t);  p - (m_hat lr) / (sqrt(v_hat) + eps)

    Returns (p_new, m, v).
    """
    dt = p.dtype.type
    u_t = dt(beta_1 * (1.0 - 0.5 * decay ** (t * momentum_decay)))
    u_t1 = dt(beta_1 * (1.0 - 0.5 * decay ** ((t + 1) * momentum_decay)))
    u_prod, u_prod_1 = dt(u_product), dt(u_product) * u_t1
    m = m + (g - m) * (dt(1) - dt(beta_1))  # Keras: (1 - beta_1) of the cast beta_1, in the variable's dtype
    v = v + (np.square(g) - v) * (dt(1) - dt(beta_2))  # float32: 1 - float32(0.999), as in 1 - beta_2^t below
    m_hat = (u_t1 * m) / (dt(1) - u_prod_1) + ((dt(1) - u_t) * g) / (dt(1) - u_prod)
    v_hat = v / (dt(1) - dt(beta_2) ** dt(t))
    return p - (m_hat * dt(learning_rate)) / (np.sqrt(v_hat) + dt(epsilon)), m, v


def nadam_torch(p, g, m, v, mu_product, t, learning_rate, beta_1, beta_2, epsilon, momentum_decay=1.0):
    """torch NAdam, in torch's order (``mu_product`` including mu_t, as torch keeps it per parameter).

        m = lerp(m, g, 1 - b1);  v = b2 v + (1 - b2) g^2;  denom = sqrt(v / (1 - b2^t)) + eps
        p - lr (1 - mu_t) / (1 - mu_product) g / denom - lr mu_{t+1} / (1 - mu_product mu_{t+1}) m / denom

    Returns (p_new, m, v).
    """
    dt = p.dtype.type
    mu = momentum_schedule(beta_1, t, momentum_decay)
    mu_next = momentum_schedule(beta_1, t + 1, momentum_decay)
    lr = learning_rate
    m = m + dt(1 - beta_1) * (g - m)
    v = dt(beta_2) * v + dt(1 - beta_2) * np.square(g)
    denom = np.sqrt(v / dt(1 - beta_2 ** t)) + dt(epsilon)
    p = p + dt(-lr * (1 - mu) / (1 - mu_product)) * (g / denom)
    return p + dt(-lr * mu_next / (1 - mu_product * mu_next)) * (m / denom), m, v


class Nadam(Optimizer):
    """Nadam: Adam whose first moment looks one step ahead, with a momentum schedule.

    Both conventions (``keras.optimizers.Nadam(learning_rate, beta_1, beta_2, epsilon,
    weight_decay)``; ``torch.optim.NAdam(params, lr, betas, eps, weight_decay, momentum_decay,
    decoupled_weight_decay)``)::

        mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * momentum_decay));   mu_prod_t = mu_1 ... mu_t
        m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2
        m_hat = mu_{t+1} m / (1 - mu_prod_t mu_{t+1}) + (1 - mu_t) g / (1 - mu_prod_t)
        v_hat = v / (1 - beta_2^t)
        p <- p - lr m_hat / (sqrt(v_hat) + eps)

    Keras's schedule is ``0.96 ** t`` (momentum_decay = 1, fixed); torch's default
    ``momentum_decay`` is 0.004 (``0.96 ** (0.004 t)``): with defaults the two frameworks are
    9.3e-4 apart after one step, and the same math with torch's ``momentum_decay=1``. The
    conventions differ in the order of operations (torch's two ``addcdiv``) and in weight decay:
    keras decoupled (p -= lr wd p first); torch coupled (g += wd p), or with torch's
    ``decoupled_weight_decay=True`` the Keras form (p -= lr wd p first).

    State: ``m``, ``v`` per parameter (Keras ``momentum``/``velocity``, torch ``exp_avg``/
    ``exp_avg_sq``); ``u_product`` (mu_prod_t) once per optimizer, as Keras keeps it
    (torch keeps a copy per parameter: the same value).

    Float32 trap: Keras casts beta_1 and beta_2 through float32 even for float64 variables, and
    on TensorFlow its ``ops.cast(0.96, dtype)`` makes the 0.96 of u_t and u_{t+1} float32's
    0.9599999785 while its u_product update keeps 0.96 (measured: 1.7e-9 after one float64 step
    at lr 0.125; 0 with this rounding). ``tf_float32_decay=True`` (keras convention) follows TF.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 momentum_decay=1.0, tf_float32_decay=False, decoupled_weight_decay=False, convention="keras",
                 **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
        self.decoupled_weight_decay = boolean(decoupled_weight_decay, "decoupled_weight_decay")
        self.tf_float32_decay = boolean(tf_float32_decay, "tf_float32_decay")
        self.beta_1 = unit_interval(beta_1, "beta_1")
        self.beta_2 = unit_interval(beta_2, "beta_2")
        self.epsilon = non_negative(epsilon, "epsilon")
        self.momentum_decay = non_negative(momentum_decay, "momentum_decay")
        self.u_product = 1.0
        self._u_product_step = 0

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "momentum_decay": self.momentum_decay, "tf_float32_decay": self.tf_float32_decay,
                "decoupled_weight_decay": self.decoupled_weight_decay}

    def _init_state(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def _decay(self, key, p, g):
        """As every optimizer (keras decoupled, torch coupled), and torch's
        ``decoupled_weight_decay=True``: p - p * wd * lr in the torch convention too."""
        if self.convention == "torch" and self.decoupled_weight_decay and self.decays(key):
            return decoupled_weight_decay(p, self._lr, self.weight_decay), g
        return super()._decay(key, p, g)

    def _u_product_at(self, t):
        """mu_prod_t, advanced once per step (Keras updates it before the per-variable updates)."""
        if self._u_product_step != t:
            self.u_product *= momentum_schedule(self.beta_1, t, self.momentum_decay)
            self._u_product_step = t
        return self.u_product

    def _update(self, key, p, g, t):
        state = self._state[key]
        p, g = self._decay(key, p, g)
        args = (p, g, state["m"], state["v"], self._u_product_at(t), t, self._lr, self.beta_1, self.beta_2,
                self.epsilon, self.momentum_decay)
        if self.convention == "keras":
            p_new, state["m"], state["v"] = nadam_keras(*args, decay=TF_DECAY if self.tf_float32_decay else 0.96)
        else:
            p_new, state["m"], state["v"] = nadam_torch(*args)
        return p_new
