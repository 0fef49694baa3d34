"""The optimizer base class and the pieces every algorithm shares: argument checks, weight decay
(coupled and decoupled), the ``in_place`` marker and the write-back of an update into the
parameter array.

API (used by ``scratchnet.model.Sequential``):

- ``opt.apply(params, grads)``: ``params`` and ``grads`` are ``{key: ndarray}``; every param is
  updated in place and ``opt.iterations`` grows by one (``t = iterations`` after the increment is
  the step number the bias corrections use, 1 on the first step, as in both frameworks).
- ``opt.state[key]``: ``{name: ndarray}`` with the algorithm box's names, created on the first
  ``apply`` with the parameter's dtype and shape.
- ``opt.learning_rate`` may be reassigned between steps (validated on assignment).

Precision. A float32 parameter stays float32: every hyperparameter is cast once with
``p.dtype.type(value)`` and every temporary is made in the parameter's dtype.
"""
from __future__ import annotations

import numpy as np

from scratchnet.checks import finite_real

CONVENTIONS = ("keras", "torch")


# -- validation (one-line ValueErrors naming the argument; scratchnet.checks underneath) --------
def positive_learning_rate(value, name: str = "learning_rate") -> float:
    x = finite_real(value, name)
    if not x > 0:
        raise ValueError(f"{name}: expected a finite positive number, got {value!r}")
    return x


def unit_interval(value, name: str) -> float:
    """A decay factor in [0, 1): momentum, rho, beta_1, beta_2."""
    x = finite_real(value, name)
    if not 0.0 <= x < 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")
    return x


def non_negative(value, name: str) -> float:
    x = finite_real(value, name)
    if not x >= 0:
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


def in_place(fn):
    """Mark a step function that also runs in place: called with ``out=p`` it writes p_new into
    the parameter array p, updates its state arrays in their own memory and keeps its temporary
    in ``work`` (an array like p). The optimizer calls marked functions that way and any other
    (say, a replacement in a test) functionally, copying what it returns into p."""
    fn.in_place = True
    return fn


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
