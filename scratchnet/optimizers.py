"""Optimizers: SGD (momentum, Nesterov), RMSprop, Adam, AdamW, Adagrad.

Every optimizer follows one of two conventions, chosen by ``convention="keras"|"torch"``, where
Keras 3 and PyTorch write the same algorithm differently (where momentum lives, where epsilon
sits, whether weight decay is coupled). Names and defaults are Keras's; the torch convention
changes the formulas, never the defaults, so a torch-faithful run passes torch's values (for
example ``epsilon=1e-8``) explicitly.

Math lives in pure functions (``sgd_keras(...) -> (p_new, velocity_new)``); the classes only keep
per-parameter state and write the results back IN PLACE, so that layers see their own arrays
change.

API (used by ``scratchnet.model.Sequential``):

- ``opt.apply(params, grads)``: ``params`` and ``grads`` are ``{key: ndarray}``; every param is
  updated in place and ``opt.iterations`` grows by one (``t = iterations`` after the increment is
  the step number the bias corrections use, 1 on the first step, as in both frameworks).
- ``opt.state[key]``: ``{name: ndarray}`` with the algorithm box's names, created on the first
  ``apply`` with the parameter's dtype and shape.
- ``opt.learning_rate`` may be reassigned between steps (validated on assignment).

Precision. A float32 parameter stays float32: every hyperparameter is cast once with
``p.dtype.type(value)`` and every temporary is made in the parameter's dtype.

NOTE (the float32-rounding trap): on the TensorFlow backend Keras casts Python float
hyperparameters (momentum, rho, betas inside beta**t, epsilon, weight_decay, the Adagrad initial
accumulator) through float32 even when the variables are float64, and its learning rate lives in
a floatx variable: 0.9 becomes 0.8999999761581421. scratchnet uses the Python value exactly, so
float64 parity with Keras needs float32-representable hyperparameters (0.5, 0.875, 0.9375, 2**-10,
...); the parity harness and the tests here use such values.
"""
from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from scratchnet.checks import boolean
from scratchnet.constants import scalar

CONVENTIONS = ("keras", "torch")


# -- validation ---------------------------------------------------------------------------------
def _real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    return float(value)


def positive_learning_rate(value, name: str = "learning_rate") -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not (ok and math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name}: expected a finite positive number, got {value!r}")
    return float(value)


def unit_interval(value, name: str) -> float:
    """A decay factor in [0, 1): momentum, rho, beta_1, beta_2."""
    x = _real(value, name)
    if not 0.0 <= x < 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")
    return x


def non_negative(value, name: str) -> float:
    x = _real(value, name)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return x


def optional_weight_decay(value, name: str = "weight_decay") -> float | None:
    return None if value is None else non_negative(value, name)


def convention_name(value) -> str:
    if value not in CONVENTIONS:
        raise ValueError(f"convention: expected one of {CONVENTIONS}, got {value!r}")
    return value


# -- shared pieces of math ----------------------------------------------------------------------
def decoupled_weight_decay(p, learning_rate, weight_decay):
    """p - p * wd * lr  (Keras's ``weight_decay`` on every optimizer; torch ``AdamW``).

    Applied BEFORE the gradient step, with the same (current) learning rate. Keras computes
    ``variable - variable * wd * lr`` in this order; torch AdamW ``p * (1 - lr * wd)``.
    """
    dt = p.dtype.type
    return p - p * dt(weight_decay) * dt(learning_rate)


def coupled_weight_decay(g, p, weight_decay):
    """g + wd * p  (torch's ``weight_decay`` on SGD, RMSprop, Adam, Adagrad: an L2 penalty's gradient)."""
    return g + p.dtype.type(weight_decay) * p


# -- SGD ----------------------------------------------------------------------------------------
def in_place(fn):
    """Mark a step function that also runs in place: called with ``out=p`` it writes p_new into
    the parameter array p, updates its state arrays in their own memory and keeps its temporary
    in ``work`` (an array like p). The optimizer calls marked functions that way and any other
    (say, a replacement in a test) functionally, copying what it returns into p."""
    fn.in_place = True
    return fn


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


class Optimizer:
    """Base class: validation, lazy per-parameter state, the in-place write-back.

    Subclasses implement ``_update(key, p, g, t) -> p_new`` reading and writing ``self.state[key]``;
    a ``p_new`` that is p itself was written in place, anything else is copied into p.
    ``apply`` checks every key and shape before touching anything, so a bad call changes nothing.
    """

    def __init__(self, learning_rate=0.01, weight_decay=None, convention="keras"):
        self.learning_rate = learning_rate
        self.weight_decay = optional_weight_decay(weight_decay)
        self.convention = convention_name(convention)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._work: dict[str, np.ndarray] = {}  # one temporary per parameter, for in-place steps
        self._checked: tuple | None = None  # the (key, param, grad) triples the last apply validated

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._learning_rate = positive_learning_rate(value)

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def get_config(self) -> dict:
        """Every hyperparameter by its Keras name, plus the convention."""
        return {"learning_rate": self.learning_rate, **self._config(), "weight_decay": self.weight_decay,
                "convention": self.convention}

    def _config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def apply(self, params, grads) -> None:
        """Update every array in ``params`` in place from ``grads`` (same keys); one step.

        A call with the very same arrays as the last one (a training loop) skips re-validating
        them: they were checked then, and arrays keep their shape and dtype."""
        steps = self._checked_steps(params, grads)
        self.iterations += 1
        t = self.iterations
        for key, p, g in steps:
            if key not in self.state:
                self.state[key] = self._init_state(p)
            p_new = self._update(key, p, g, t)
            if p_new is not p:
                p[...] = p_new

    def _checked_steps(self, params, grads) -> list[tuple]:
        last = self._checked
        if last is not None and len(last) == len(params):
            for k, p, g in last:
                if params.get(k) is not p or grads.get(k) is not g:
                    break
            else:
                return last
        missing, steps = [], []
        for key, p in params.items():  # check everything before touching anything
            if key not in grads:
                missing.append(key)
                continue
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise ValueError(f"{self.name}: parameter {key!r} must be a floating numpy array, "
                                 f"got {type(p).__name__} {getattr(p, 'dtype', '')}")
            g = grads[key]
            if type(g) is not np.ndarray or g.dtype != p.dtype:
                g = np.asarray(g, dtype=p.dtype)  # like Keras: the gradient in the variable's dtype
            if g.shape != p.shape:
                raise ValueError(f"{self.name}: gradient for {key!r} has shape {g.shape}, "
                                 f"parameter has {p.shape}")
            state = self.state.get(key)
            if state:
                for name, s in state.items():
                    if s is not None and (s.shape != p.shape or s.dtype != p.dtype):
                        raise ValueError(f"{self.name}: state {name!r} for {key!r} is {s.dtype}{s.shape}, "
                                         f"parameter is {p.dtype}{p.shape}")
            steps.append((key, p, g))
        if missing:
            raise ValueError(f"{self.name}: no gradient for parameter(s) {missing}")
        for key, p, _ in steps:
            work = self._work.get(key)
            if work is not None and (work.shape != p.shape or work.dtype != p.dtype):
                del self._work[key]
        self._checked = steps if all(grads[k] is g for k, _, g in steps) else None
        return steps

    def _work_for(self, key, p) -> np.ndarray:
        """The temporary for ``key``'s in-place step: an uninitialised array like p, kept
        (``_checked_steps`` drops one that no longer fits its key's parameter)."""
        work = self._work.get(key)
        if work is None:
            work = self._work[key] = np.empty_like(p)
        return work

    def _init_state(self, p) -> dict:
        return {}

    def _update(self, key, p, g, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def _decay(self, p, g):
        """Weight decay by convention: Keras decoupled (returns the decayed p), torch coupled
        (returns the L2-augmented g). Returns (p, g)."""
        if not self.weight_decay:
            return p, g
        if self.convention == "keras":
            return decoupled_weight_decay(p, self.learning_rate, self.weight_decay), g
        return p, coupled_weight_decay(g, p, self.weight_decay)


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

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, convention="keras"):
        super().__init__(learning_rate, weight_decay, convention)
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
        state = self.state[key]
        p, g = self._decay(param, g) if self.weight_decay else (param, g)  # p: param or its decayed copy
        if self.convention == "keras":
            name, step = "velocity", sgd_keras
        else:
            name, step = "momentum_buffer", sgd_torch
        if getattr(step, "in_place", False):  # see ``in_place``
            p_new, buf = step(p, g, state.get(name), self._learning_rate, self.momentum, self.nesterov,
                              out=param, work=self._work_for(key, param))
        else:
            p_new, buf = step(p, g, state.get(name), self._learning_rate, self.momentum, self.nesterov)
        if buf is not None:
            state[name] = buf
        return p_new


# -- RMSprop ------------------------------------------------------------------------------------
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
                 weight_decay=None, convention="keras"):
        super().__init__(learning_rate, weight_decay, convention)
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
        state = self.state[key]
        p, g = self._decay(p, g)
        mom_name = "momentum" if self.convention == "keras" else "momentum_buffer"
        step = rmsprop_keras if self.convention == "keras" else rmsprop_torch
        p_new, v, mg, mom = step(p, g, state["v"], state.get("mg"), state.get(mom_name), self.learning_rate,
                                 self.rho, self.momentum, self.epsilon)
        state["v"] = v
        if mg is not None:
            state["mg"] = mg
        if mom is not None:
            state[mom_name] = mom
        return p_new


# -- Adam / AdamW -------------------------------------------------------------------------------
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


class AdamW(Adam):
    """Adam with decoupled weight decay, in BOTH conventions.

    Each step::

        p <- p - lr * wd * p          (decoupled, before the Adam step; torch writes p * (1 - lr * wd))
        then the Adam step of the chosen convention (see ``Adam``), with g left untouched

    keras convention: ``keras.optimizers.AdamW(learning_rate, weight_decay, beta_1, beta_2,
    epsilon, amsgrad)`` (= ``keras.optimizers.Adam(..., weight_decay=wd)``).
    torch convention: ``torch.optim.AdamW(params, lr, betas=(beta_1, beta_2), eps=epsilon,
    weight_decay, amsgrad)``. The conventions differ only in Adam's eps placement (see ``Adam``).
    Default weight_decay: 0.004 (Keras) vs 0.01 (torch); eps 1e-7 vs 1e-8.

    Float32 trap: as ``Adam``; Keras also casts ``weight_decay`` through float32 (0.004 becomes
    0.004000000189989805), so parity cases use float32-representable values such as 0.0625.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, convention="keras"):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, convention)

    def _decay(self, p, g):
        if not self.weight_decay:
            return p, g
        return decoupled_weight_decay(p, self.learning_rate, self.weight_decay), g


# -- Adagrad ------------------------------------------------------------------------------------
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
                 convention="keras"):
        super().__init__(learning_rate, weight_decay, convention)
        self.initial_accumulator_value = non_negative(initial_accumulator_value, "initial_accumulator_value")
        self.epsilon = non_negative(epsilon, "epsilon")

    def _config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}

    def _init_state(self, p):
        return {"accumulator": np.full_like(p, self.initial_accumulator_value)}

    def _update(self, key, p, g, t):
        state = self.state[key]
        p, g = self._decay(p, g)
        step = adagrad_keras if self.convention == "keras" else adagrad_torch
        p_new, state["accumulator"] = step(p, g, state["accumulator"], self.learning_rate, self.epsilon)
        return p_new


# -- lookup -------------------------------------------------------------------------------------
OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad}


def get(name_or_optimizer, **kwargs) -> Optimizer:
    """An ``Optimizer`` instance (returned as is) or a name ("sgd", "rmsprop", "adam", "adamw",
    "adagrad"; case-insensitive) built with ``kwargs`` (an unknown keyword raises, listing the
    accepted ones)."""
    if isinstance(name_or_optimizer, Optimizer):
        if kwargs:
            raise ValueError(f"optimizer: keyword arguments {sorted(kwargs)} given with an Optimizer instance")
        return name_or_optimizer
    if isinstance(name_or_optimizer, str) and name_or_optimizer.lower() in OPTIMIZERS:
        cls = OPTIMIZERS[name_or_optimizer.lower()]
        accepted = inspect.signature(cls).parameters
        unknown = set(kwargs) - set(accepted)
        if unknown:
            raise ValueError(f"optimizer {name_or_optimizer!r}: unknown parameter(s) {sorted(unknown)}; "
                             f"accepts {sorted(accepted)}")
        return cls(**kwargs)
    raise ValueError(f"optimizer: expected one of {', '.join(map(repr, OPTIMIZERS))} or an Optimizer, "
                     f"got {name_or_optimizer!r}")
