"""SGD with optional (Nesterov) momentum: the class and its update in both conventions."""
from __future__ import annotations

import numpy as np

from scratchnet.checks import boolean
from scratchnet.constants import scalar
from scratchnet.optimizers.base import Optimizer, in_place, unit_interval


@in_place
def sgd_keras(p, g, velocity, learning_rate, momentum, nesterov, out=None, work=None):
    """Keras SGD.  velocity = mu velocity - lr g;  p + velocity  (Nesterov: p + mu velocity - lr g).

    ``velocity`` is None when momentum is 0 (plain p - lr g). Returns (p_new, velocity_new);
    in place with ``out`` / ``work`` (see ``in_place``), with the same operations and rounding.
    """
    step = np.multiply(g, scalar(learning_rate, p.dtype), work)  # lr g  (ufuncs: out positional)
    if velocity is None:
        return np.subtract(p, step, out), None
    mu = scalar(momentum, p.dtype)
    velocity = np.multiply(velocity, mu, velocity if out is not None else None)
    np.subtract(velocity, step, velocity)  # in update units: it already holds the learning rate
    if nesterov:
        return np.add(p, np.subtract(velocity * mu, step, step), out), velocity
    return np.add(p, velocity, out), velocity


@in_place
def sgd_torch(p, g, momentum_buffer, learning_rate, momentum, nesterov, out=None, work=None):
    """torch SGD (dampening 0).  b = mu b + g (b = g on the first step);  p - lr b
    (Nesterov: p - lr (g + mu b)).

    ``momentum_buffer`` is None on the first step or when momentum is 0. Returns (p_new, b_new);
    in place with ``out`` / ``work`` (see ``in_place``).
    """
    lr, mu = scalar(learning_rate, p.dtype), scalar(momentum, p.dtype)
    if momentum == 0:
        return np.subtract(p, np.multiply(g, lr, work), out), None  # p - lr g  (ufuncs: out positional)
    if momentum_buffer is None:
        b = g.copy()
    else:  # in gradient units
        b = np.multiply(momentum_buffer, mu, momentum_buffer if out is not None else None)
        np.add(b, g, b)
    step = g + mu * b if nesterov else b
    return np.subtract(p, np.multiply(step, lr, work), out), b


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    keras convention (``keras.optimizers.SGD(learning_rate, momentum, nesterov, weight_decay)``)::

        p <- p - lr * wd * p                          (if weight_decay; decoupled, before the step)
        velocity <- mu * velocity - lr * g            (update units; velocity_0 = 0)
        p <- p + velocity                             (nesterov: p <- p + mu * velocity - lr * g)

    torch convention (``torch.optim.SGD(params, lr, momentum, dampening=0, nesterov,
    weight_decay)``)::

        g <- g + wd * p                               (if weight_decay; coupled L2)
        b <- mu * b + g                               (gradient units; b_1 = g)
        p <- p - lr * b                               (nesterov: p <- p - lr * (g + mu * b))

    State: ``velocity`` (keras) or ``momentum_buffer`` (torch), only when momentum > 0.

    The two agree while the learning rate is constant and without weight decay (velocity =
    -lr * b). They part when lr changes between steps (Keras's velocity remembers the old lr,
    torch's buffer does not) and with momentum plus weight decay (decoupled vs coupled).
    Defaults: Keras lr 0.01; torch lr 1e-3. torch refuses ``nesterov=True`` with momentum 0; here
    it is plain SGD, as in Keras.

    Float32 trap: Keras casts ``momentum`` and ``weight_decay`` through float32 even for float64
    variables; the parity harness uses float32-representable values (0.5, 0.875, ...).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, convention="keras", **options):
        super().__init__(learning_rate, weight_decay, convention, **options)
        self.momentum = unit_interval(momentum, "momentum")
        self.nesterov = boolean(nesterov, "nesterov")

    def _config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _init_state(self, p):
        if self.momentum == 0:
            return {}
        if self.convention == "keras":
            return {"velocity": np.zeros_like(p)}
        return {"momentum_buffer": None}  # torch: b_1 = g, set on the first step

    def _update(self, key, param, g, t):
        state = self._state[key]
        p, g = self._decay(key, param, g) if self.weight_decay else (param, g)  # p: param or its decayed copy
        if self.convention == "keras":
            name, step = "velocity", sgd_keras
        else:
            name, step = "momentum_buffer", sgd_torch
        if getattr(step, "in_place", False):  # see ``in_place``
            p_new, buf = step(p, g, state.get(name), self._lr, self.momentum, self.nesterov,
                              out=param, work=self._work_for(key, param))
        else:
            p_new, buf = step(p, g, state.get(name), self._lr, self.momentum, self.nesterov)
        if buf is not None:
            state[name] = buf
        return p_new


