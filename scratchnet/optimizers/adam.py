"""Adam: the class and its update in both conventions (Keras's epsilon-hat, torch's bias-corrected moments)."""
from __future__ import annotations

import numpy as np

from scratchnet.checks import boolean
from scratchnet.optimizers.base import Optimizer, in_place, non_negative, unit_interval


def adam_keras_reference(p, g, m, v, v_max, t, learning_rate, beta_1, beta_2, epsilon):
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


def adam_torch_reference(p, g, m, v, v_max, t, learning_rate, beta_1, beta_2, epsilon):
    """torch Adam.  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  [v_max = max(v_max, v)];
    m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t) (v_max's);  p - lr m_hat / (sqrt(v_hat) + eps).

    Written in torch's own order (``torch.optim.adam._single_tensor_adam``): the bias corrections
    are Python floats (1 - b1^t, 1 - b2^t from ``step.item()``), so they stay exact in a float32
    model (1 - float32(0.999) is 1.3e-5 off 0.001), and the update is
    p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps). Returns (p_new, m, v, v_max).
    """
    dt = p.dtype.type
    b2, eps = dt(beta_2), dt(epsilon)
    m = m + dt(1 - beta_1) * (g - m)  # torch's lerp
    v = b2 * v + dt(1 - beta_2) * np.square(g)
    if v_max is not None:
        v_max = np.maximum(v_max, v)
    bias_correction1, bias_correction2 = 1 - beta_1 ** float(t), 1 - beta_2 ** float(t)
    step_size = float(learning_rate) / bias_correction1
    denom = np.sqrt(v if v_max is None else v_max) / dt(bias_correction2 ** 0.5) + eps
    return p - dt(step_size) * m / denom, m, v, v_max


# -- the fast steps: the same operations in the same order as the references, written into the
# parameter, the state arrays and two work arrays (no allocation per step); tested bit for bit
# against the references (tests/scratchnet/test_optimizers.py).
def _scalars(p, t, learning_rate, beta_1, beta_2, epsilon):
    dt = p.dtype.type
    return dt, dt(learning_rate), dt(beta_1), dt(beta_2), dt(epsilon), dt(t)


def _moments(g, m, v, v_max, c1, c2, w, torch_order, b2=None):
    """m <- m + (g - m) c1;  v <- v + (g^2 - v) c2 (torch: b2 v + c2 g^2);  v_max <- max(v_max, v)."""
    np.subtract(g, m, w)
    np.multiply(w, c1, w)
    np.add(m, w, m)
    np.multiply(g, g, w)
    if torch_order:
        np.multiply(v, b2, v)
        np.multiply(w, c2, w)
    else:
        np.subtract(w, v, w)
        np.multiply(w, c2, w)
    np.add(v, w, v)
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
        return v_max
    return v


@in_place
def adam_keras(p, g, m, v, v_max, t, learning_rate, beta_1, beta_2, epsilon, out=None, work=None):
    """``adam_keras_reference`` in place: with ``out=p`` and ``work`` (an array (2, *p.shape)) it
    writes p_new into p and m, v, v_max into their own arrays. Without ``out`` it copies the state
    first and allocates its temporaries. Returns (p_new, m, v, v_max)."""
    if out is None:
        m, v, v_max, work = m.copy(), v.copy(), None if v_max is None else v_max.copy(), np.empty((2, *p.shape), p.dtype)
    dt, lr, b1, b2, eps, step = _scalars(p, t, learning_rate, beta_1, beta_2, epsilon)
    alpha = lr * np.sqrt(dt(1) - b2 ** step) / (dt(1) - b1 ** step)
    w1, w2 = work[0, ...], work[1, ...]
    vv = _moments(g, m, v, v_max, dt(1 - beta_1), dt(1 - beta_2), w1, torch_order=False)
    np.sqrt(vv, w1)
    np.add(w1, eps, w1)  # sqrt(v) + eps
    np.multiply(m, alpha, w2)
    np.divide(w2, w1, w2)  # (m alpha) / (sqrt(v) + eps)
    return np.subtract(p, w2, out), m, v, v_max


@in_place
def adam_torch(p, g, m, v, v_max, t, learning_rate, beta_1, beta_2, epsilon, out=None, work=None):
    """``adam_torch_reference`` in place (see ``adam_keras``). Returns (p_new, m, v, v_max)."""
    if out is None:
        m, v, v_max, work = m.copy(), v.copy(), None if v_max is None else v_max.copy(), np.empty((2, *p.shape), p.dtype)
    dt, lr, b1, b2, eps, step = _scalars(p, t, learning_rate, beta_1, beta_2, epsilon)
    w1, w2 = work[0, ...], work[1, ...]
    vv = _moments(g, m, v, v_max, dt(1 - beta_1), dt(1 - beta_2), w1, torch_order=True, b2=b2)
    bias_correction1, bias_correction2 = 1 - beta_1 ** float(t), 1 - beta_2 ** float(t)  # Python floats
    np.sqrt(vv, w1)
    np.divide(w1, dt(bias_correction2 ** 0.5), w1)
    np.add(w1, eps, w1)  # sqrt(v) / sqrt(1 - b2^t) + eps
    np.multiply(m, dt(float(learning_rate) / bias_correction1), w2)  # (lr / (1 - b1^t)) m
    np.divide(w2, w1, w2)
    return np.subtract(p, w2, out), m, v, v_max


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
                 weight_decay=None, convention="keras", **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
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

    decoupled = False  # Adam's torch convention couples the decay (torch.optim.Adam); AdamW's does not

    def _update(self, key, param, g, t):
        state = self._state[key]
        step = adam_keras if self.convention == "keras" else adam_torch
        args = (t, self._lr, self.beta_1, self.beta_2, self.epsilon)
        if not getattr(step, "in_place", False):  # a replacement step (a test): functional
            p, g = self._decay(key, param, g)
            p_new, state["m"], state["v"], v_max = step(p, g, state["m"], state["v"], state.get("v_max"), *args)
            if v_max is not None:
                state["v_max"] = v_max
            return p_new
        work = self._work_for(key, param, 2)
        if self.decays(key):
            dt = param.dtype.type
            if self.convention == "keras" or self.decoupled:  # p <- p - p wd lr, in place
                np.multiply(param, dt(self.weight_decay), work[0, ...])
                np.multiply(work[0, ...], dt(self._lr), work[0, ...])
                np.subtract(param, work[0, ...], param)
            else:  # g + wd p into work[1] (free until the last division)
                np.multiply(param, dt(self.weight_decay), work[1, ...])
                g = np.add(g, work[1, ...], work[1, ...])
        return step(param, g, state["m"], state["v"], state.get("v_max"), *args, out=param, work=work)[0]
