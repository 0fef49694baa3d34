"""RMSprop: the class and its update in both conventions (epsilon inside or outside the root)."""
from __future__ import annotations

import numpy as np

from scratchnet.checks import boolean
from scratchnet.optimizers.base import Optimizer, non_negative, unit_interval


def rmsprop_keras(p, g, v, mg, momentum_state, learning_rate, rho, momentum, epsilon):
    """Keras RMSprop.  v = rho v + (1-rho) g^2;  [mg = rho mg + (1-rho) g];
    increment = lr g / sqrt(v [- mg^2] + eps);  momentum = mu momentum + increment;  p - momentum.

    ``mg`` is None unless centered, ``momentum_state`` None unless momentum > 0.
    Returns (p_new, v, mg, momentum_state).
    """
    dt = p.dtype.type
    lr, r, r1, mu, eps = dt(learning_rate), dt(rho), dt(1 - rho), dt(momentum), dt(epsilon)
    v = r * v + r1 * np.square(g)
    if mg is not None:
        mg = r * mg + r1 * g
        denominator = v - np.square(mg) + eps
    else:
        denominator = v + eps
    increment = lr * g / np.sqrt(denominator)  # eps INSIDE the root
    if momentum_state is not None:
        momentum_state = mu * momentum_state + increment  # update units
        return p - momentum_state, v, mg, momentum_state
    return p - increment, v, mg, momentum_state


def rmsprop_torch(p, g, v, mg, momentum_buffer, learning_rate, rho, momentum, epsilon):
    """torch RMSprop.  v = alpha v + (1-alpha) g^2;  [mg = alpha mg + (1-alpha) g];
    avg = sqrt(v [- mg^2]) + eps;  b = mu b + g / avg;  p - lr b  (no momentum: p - lr g / avg).

    Returns (p_new, v, mg, momentum_buffer).
    """
    dt = p.dtype.type
    lr, r, r1, mu, eps = dt(learning_rate), dt(rho), dt(1 - rho), dt(momentum), dt(epsilon)
    v = r * v + r1 * np.square(g)
    if mg is not None:
        mg = mg + r1 * (g - mg)  # torch's lerp
        avg = np.sqrt(v - np.square(mg)) + eps
    else:
        avg = np.sqrt(v) + eps  # eps OUTSIDE the root
    if momentum_buffer is not None:
        momentum_buffer = mu * momentum_buffer + g / avg  # gradient units
        return p - lr * momentum_buffer, v, mg, momentum_buffer
    return p - lr * (g / avg), v, mg, momentum_buffer


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square.

    keras convention (``keras.optimizers.RMSprop(learning_rate, rho, momentum, epsilon, centered,
    weight_decay)``)::

        p <- p - lr * wd * p                                (if weight_decay; decoupled)
        v <- rho * v + (1 - rho) * g^2
        mg <- rho * mg + (1 - rho) * g                      (centered only)
        increment = lr * g / sqrt(v - mg^2 + eps)           (eps INSIDE the root; no mg^2 unless centered)
        momentum <- mu * momentum + increment;  p <- p - momentum   (without momentum: p - increment)

    torch convention (``torch.optim.RMSprop(params, lr, alpha=rho, eps=epsilon, weight_decay,
    momentum, centered)``)::

        g <- g + wd * p                                     (if weight_decay; coupled L2)
        v <- rho * v + (1 - rho) * g^2;  mg <- rho * mg + (1 - rho) * g  (centered)
        avg = sqrt(v - mg^2) + eps                          (eps OUTSIDE the root)
        momentum_buffer <- mu * momentum_buffer + g / avg;  p <- p - lr * momentum_buffer
                                                            (without momentum: p - lr * g / avg)

    State: ``v``; ``mg`` if centered; ``momentum`` (keras, update units) or ``momentum_buffer``
    (torch, gradient units) if momentum > 0. All start at 0.

    epsilon = 0 makes the two agree (with a constant lr). Defaults: Keras lr 1e-3, rho 0.9, eps
    1e-7; torch lr 1e-2, alpha 0.99, eps 1e-8.

    Float32 trap: Keras casts ``epsilon`` and ``weight_decay`` through float32 even for float64
    variables (1e-7 becomes 1.0000000116860974e-07); the parity harness uses float32-representable
    values.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, convention="keras", **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
        self.rho = unit_interval(rho, "rho")
        self.momentum = unit_interval(momentum, "momentum")
        self.epsilon = non_negative(epsilon, "epsilon")
        self.centered = boolean(centered, "centered")

    def _config(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}

    def _init_state(self, p):
        state = {"v": np.zeros_like(p)}
        if self.centered:
            state["mg"] = np.zeros_like(p)
        if self.momentum > 0:
            state["momentum" if self.convention == "keras" else "momentum_buffer"] = np.zeros_like(p)
        return state

    def _update(self, key, p, g, t):
        state = self._state[key]
        p, g = self._decay(key, p, g)
        mom_name = "momentum" if self.convention == "keras" else "momentum_buffer"
        step = rmsprop_keras if self.convention == "keras" else rmsprop_torch
        p_new, v, mg, mom = step(p, g, state["v"], state.get("mg"), state.get(mom_name), self._lr,
                                 self.rho, self.momentum, self.epsilon)
        state["v"] = v
        if mg is not None:
            state["mg"] = mg
        if mom is not None:
            state[mom_name] = mom
        return p_new


