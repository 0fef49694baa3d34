"""The optimizer base class and the pieces every algorithm shares: argument checks, weight decay
(coupled and decoupled), the ``in_place`` marker and the write-back of an update into the
parameter array.

API (used by ``scratchnet.model.Sequential``):

- ``opt.apply(params, grads)``: ``params`` and ``grads`` are ``{key: ndarray}``; every param is
  updated in place and ``opt.iterations`` grows by one (``t = iterations`` after the increment is
  the step number the bias corrections use, 1 on the first step, as in both frameworks).
- per-parameter state by the algorithm box's names: ``opt.state_names()``, ``opt.get_state(key)``,
  ``opt.set_state(key, {...})`` (unknown or missing names refused) and the read-only ``opt.state``;
  created on the first ``apply`` with the parameter's dtype and shape.
- ``opt.learning_rate`` may be reassigned between steps (validated on assignment), or be a
  schedule (``scratchnet.optimizers.schedules``) evaluated before every update.
- ``clipnorm`` / ``clipvalue`` / ``global_clipnorm`` and ``exclude_from_weight_decay`` on every
  optimizer (``Optimizer``).

Precision. A float32 parameter stays float32: every hyperparameter is cast once with
``p.dtype.type(value)`` and every temporary is made in the parameter's dtype.
"""
from __future__ import annotations

import re
from types import MappingProxyType

import numpy as np

from scratchnet.checks import finite_real
from scratchnet.optimizers.clipping import check_clipping, clip
from scratchnet.optimizers.schedules import LearningRateSchedule

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
    """Base class: validation, lazy per-parameter state, clipping, schedules, the in-place write-back.

    Options every optimizer takes (Keras's meanings, both conventions):

    - ``learning_rate``: a positive number or a ``schedules.LearningRateSchedule``; the update of
      step t uses ``schedule(t - 1)`` (Keras's counting; ``learning_rate`` reads the value the next
      update will use). A schedule's optimizer refuses a plain number assigned later, as Keras does.
    - ``clipnorm`` / ``clipvalue`` / ``global_clipnorm`` (at most one; see ``clipping``): applied to
      the step's gradients before weight decay and the update.
    - ``exclude_from_weight_decay``: strings; a parameter whose name (the last ``/``-separated part
      of its key, Keras's ``variable.name``: ``kernel``, ``bias``, ``recurrent_kernel``) contains a
      match of one of them (``re.search`` of their ``|``-join, Keras's rule: "kernel" also excludes
      "recurrent_kernel") gets no weight decay, coupled or decoupled.

    Order inside one ``apply``: gradients clipped, then per parameter weight decay (Keras: decoupled,
    on p; torch: coupled, into g), then the algorithm's update, all with the same learning rate.

    State API (per parameter, by the algorithm box's names):

    - ``opt.state_names()``: the names this optimizer keeps per parameter, e.g. ``("m", "v")``;
    - ``opt.get_state(key)`` / ``opt.get_state(key, name)``: copies of a parameter's state arrays;
    - ``opt.set_state(key, {name: array, ...})``: replaces it, every name required and no other;
    - ``opt.state``: a read-only view ``{key: {name: array}}``.
    An unknown key or name, or a missing name, raises a ValueError naming it.

    Subclasses implement ``_update(key, p, g, t) -> p_new`` reading and writing ``self._state[key]``
    with the step's learning rate ``self._lr``; a ``p_new`` that is p itself was written in place,
    anything else is copied into p. ``apply`` checks every key and shape before touching anything,
    so a bad call changes nothing.
    """

    def __init__(self, learning_rate=0.01, weight_decay=None, convention="keras", clipnorm=None, clipvalue=None,
                 global_clipnorm=None, exclude_from_weight_decay=None):
        self.learning_rate = learning_rate
        self.weight_decay = optional_weight_decay(weight_decay)
        self.convention = convention_name(convention)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self._clipping = check_clipping(clipnorm, clipvalue, global_clipnorm)
        self.exclude_from_weight_decay = _exclusions(exclude_from_weight_decay)
        self._exclude = re.compile("|".join(self.exclude_from_weight_decay)) if self.exclude_from_weight_decay else None
        self.iterations = 0
        self._lr = None  # the learning rate of the update being made
        self._state: dict[str, dict[str, np.ndarray]] = {}
        self._work: dict[str, np.ndarray] = {}  # one temporary per parameter, for in-place steps
        self._checked: tuple | None = None  # the (key, param, grad) triples the last apply validated

    @property
    def learning_rate(self) -> float:
        """The learning rate the next update uses (a schedule's value after ``iterations`` updates)."""
        if self.schedule is not None:
            return self.schedule(self.iterations)
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, LearningRateSchedule):
            self.schedule, self._learning_rate = value, None
            return
        if getattr(self, "schedule", None) is not None:
            raise ValueError(f"learning_rate: this optimizer follows {self.schedule!r}; a number cannot "
                             "replace it (as in Keras); assign another schedule or make a new optimizer")
        self.schedule, self._learning_rate = None, positive_learning_rate(value)

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def get_config(self) -> dict:
        """Every hyperparameter by its Keras name, plus the convention."""
        lr = self.schedule.get_config() | {"schedule": self.schedule.name} if self.schedule else self._learning_rate
        return {"learning_rate": lr, **self._config(), "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "exclude_from_weight_decay": list(self.exclude_from_weight_decay) or None,
                "convention": self.convention}

    def _config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # -- state ------------------------------------------------------------------------------------
    @property
    def state(self):
        """Read-only ``{key: {name: array}}`` (the arrays are the live ones: copy before keeping)."""
        return MappingProxyType({k: MappingProxyType(v) for k, v in self._state.items()})

    def state_names(self) -> tuple[str, ...]:
        """The algorithm-box names of the state kept per parameter (its configuration decides)."""
        return tuple(self._init_state(np.zeros(1)))

    def get_state(self, key, name=None):
        """A copy of parameter ``key``'s state: ``{name: array}``, or the one array ``name``."""
        if key not in self._state:
            known = sorted(self._state)
            raise ValueError(f"{self.name}: no state for parameter {key!r} (state is created by the first apply; "
                             f"parameters with state: {known})")
        state = self._state[key]
        if name is None:
            return {k: (None if v is None else v.copy()) for k, v in state.items()}
        if name not in self.state_names():
            raise ValueError(f"{self.name}: no state {name!r}; its state per parameter is {self.state_names()}")
        value = state.get(name)
        return None if value is None else value.copy()

    def set_state(self, key, values: dict) -> None:
        """Replace parameter ``key``'s state with copies of ``values``: exactly the names
        ``state_names()`` gives (an unknown or a missing one is refused, naming it). Shapes and
        dtypes are checked against the parameter at the next ``apply``."""
        names = self.state_names()
        if not isinstance(values, dict):
            raise ValueError(f"{self.name}: set_state({key!r}, ...): expected a dict {{name: array}} of {names}")
        unknown = [k for k in values if k not in names]
        missing = [k for k in names if k not in values]
        if unknown or missing:
            parts = ([f"unknown {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])
            raise ValueError(f"{self.name}: set_state({key!r}, ...): {'; '.join(parts)}; expected exactly {names}")
        arrays = {}
        for k in names:
            a = np.array(values[k], copy=True)
            if a.dtype.kind != "f":
                raise ValueError(f"{self.name}: set_state({key!r}, ...): {k!r} must be a floating array, got {a.dtype}")
            arrays[k] = a
        self._state[key] = arrays
        self._checked = None  # shapes checked against the parameter again at the next apply

    # -- one step ---------------------------------------------------------------------------------
    def apply(self, params, grads) -> None:
        """Update every array in ``params`` in place from ``grads`` (same keys); one step.

        A call with the very same arrays as the last one (a training loop) skips re-validating
        them: they were checked then, and arrays keep their shape and dtype."""
        steps = self._checked_steps(params, grads)
        self._lr = self.learning_rate  # schedule(iterations): Keras's counting
        if self._clipping is not None:
            mode, value = self._clipping
            clipped = clip([g for _, _, g in steps], mode, value, self.convention)
            steps = [(k, p, g) for (k, p, _), g in zip(steps, clipped)]
        self.iterations += 1
        t = self.iterations
        for key, p, g in steps:
            if key not in self._state:
                self._state[key] = self._init_state(p)
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
            state = self._state.get(key)
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
            if work is not None and (work.dtype != p.dtype or work.shape[work.ndim - p.ndim:] != p.shape):
                del self._work[key]
        self._checked = steps if all(grads[k] is g for k, _, g in steps) else None
        return steps

    def _work_for(self, key, p, count: int = 1) -> np.ndarray:
        """The temporary for ``key``'s in-place step: an uninitialised array like p (``count`` > 1:
        stacked, shape (count, *p.shape)), kept (``_checked_steps`` drops one that no longer fits
        its key's parameter)."""
        work = self._work.get(key)
        shape = p.shape if count == 1 else (count, *p.shape)
        if work is None or work.shape != shape:
            work = self._work[key] = np.empty(shape, p.dtype)
        return work

    def _init_state(self, p) -> dict:
        return {}

    def _update(self, key, p, g, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def decays(self, key) -> bool:
        """Whether parameter ``key`` gets weight decay (a weight decay is set and no
        ``exclude_from_weight_decay`` pattern is found in its name)."""
        if not self.weight_decay:
            return False
        return self._exclude is None or self._exclude.search(str(key).rsplit("/", 1)[-1]) is None

    def _decay(self, key, p, g):
        """Weight decay by convention: Keras decoupled (returns the decayed p), torch coupled
        (returns the L2-augmented g). Returns (p, g)."""
        if not self.decays(key):
            return p, g
        if self.convention == "keras":
            return decoupled_weight_decay(p, self._lr, self.weight_decay), g
        return p, coupled_weight_decay(g, p, self.weight_decay)


def _exclusions(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or \
            not all(isinstance(s, str) and s for s in value):
        raise ValueError(f"exclude_from_weight_decay: expected a list of non-empty strings, got {value!r}")
    for s in value:
        try:
            re.compile(s)
        except re.error as exc:
            raise ValueError(f"exclude_from_weight_decay: {s!r} is not a regular expression ({exc})") from None
    return tuple(value)
