"""Learning-rate schedules, evaluated at every optimizer step, as in Keras.

A schedule is a function of the number of updates already made: the update of optimizer step t
(t = 1, 2, ...) uses ``schedule(t - 1)``, so the first update uses ``schedule(0)`` (Keras's
``optimizer.learning_rate`` reads ``schedule(optimizer.iterations)``). With ``s = t - 1``::

    exponential_decay:        lr(s) = lr0 * rate ** (s / decay_steps)   (staircase: floor(s / decay_steps))
    cosine_decay:             without warmup: s' = min(s, decay_steps)
                                  lr(s) = lr0 * ((1 - alpha) * (1 + cos(pi s' / decay_steps)) / 2 + alpha)
                              with warmup (warmup_target given): s' = min(s, warmup_steps + decay_steps)
                                  s' < warmup_steps:  lr0 + (target - lr0) * s' / warmup_steps
                                  otherwise:          the cosine above from target over s' - warmup_steps
                              (it ends at alpha * target; alpha * lr0 without warmup)
    piecewise_constant_decay: values[0] while s <= boundaries[0]; values[i] while
                              boundaries[i-1] < s <= boundaries[i]; values[-1] after the last

torch schedulers are different objects: they move when ``scheduler.step()`` is called (usually
once per epoch), ``ExponentialLR`` and ``CosineAnnealingLR`` are defined recursively (each step
multiplies the last lr), and ``CosineAnnealingLR`` takes an absolute ``eta_min`` (Keras: a
fraction ``alpha`` of the starting rate) and rises again after ``T_max``. The parity harness's
torch side sets each parameter group's lr to the schedule's value before every ``step()``.

Values are Python floats (the optimizer casts them to each parameter's dtype).
"""
from __future__ import annotations

import math

import numpy as np

from scratchnet.checks import boolean, finite_real, integer


def _positive(value, what):
    x = finite_real(value, what)
    if not x > 0:
        raise ValueError(f"{what}: expected a finite number > 0, got {value!r}")
    return x


def _positive_int(value, what):
    x = integer(value, what)
    if x < 1:
        raise ValueError(f"{what}: expected an int >= 1, got {value!r}")
    return x


class LearningRateSchedule:
    """Base: ``schedule(s)`` is the learning rate after s updates (s = 0 for the first update)."""

    name = ""

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """lr0 * decay_rate ** (s / decay_steps); with ``staircase`` the exponent is floored."""

    name = "exponential_decay"

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive_int(decay_steps, "decay_steps")
        self.decay_rate = _positive(decay_rate, "decay_rate")
        self.staircase = boolean(staircase, "staircase")

    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def float32(self, step) -> float:
        """The value as Keras on TensorFlow computes it: every operand a float32 tensor,
        lr0 * rate ** (float32(s) / float32(decay_steps)) in float32 arithmetic."""
        f = np.float32
        p = f(step) / f(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return float(f(self.initial_learning_rate) * f(self.decay_rate) ** p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the start (or, after a linear warmup, from ``warmup_target``) down to
    ``alpha`` times it over ``decay_steps``, constant afterwards (see the module docstring)."""

    name = "cosine_decay"

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive_int(decay_steps, "decay_steps")
        self.alpha = finite_real(alpha, "alpha")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}")
        self.warmup_target = None if warmup_target is None else _positive(warmup_target, "warmup_target")
        self.warmup_steps = integer(warmup_steps, "warmup_steps")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: expected an int >= 0, got {warmup_steps!r}")

    def _decay(self, s, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * (s / self.decay_steps)))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        s = min(step, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            lr0 = self.initial_learning_rate
            return (self.warmup_target - lr0) * (s / self.warmup_steps) + lr0
        return self._decay(s - self.warmup_steps, self.warmup_target)

    def float32(self, step) -> float:
        """The value as Keras on TensorFlow computes it, in float32 and in its order of operations:
        0.5 (1 + cos(pi s / decay_steps)) times float32(1 - alpha), plus float32(alpha), times the
        start; the warmup (target - lr0) (s / warmup_steps) + lr0."""
        f = np.float32
        lr0, steps, s = f(self.initial_learning_rate), f(self.decay_steps), f(step)

        def decay(s, start):
            cosine = f(0.5) * (f(1.0) + np.cos(f(math.pi) * (s / steps)))
            return start * (f(1 - self.alpha) * cosine + f(self.alpha))

        if self.warmup_target is None:
            return float(decay(min(s, steps), lr0))
        target, warmup = f(self.warmup_target), f(self.warmup_steps)
        s = min(s, steps + warmup)
        if s < warmup:
            return float((target - lr0) * (s / warmup) + lr0)
        return float(decay(s - warmup, target))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] while boundaries[i-1] < s <= boundaries[i] (one more value than boundaries,
    boundaries strictly increasing)."""

    name = "piecewise_constant_decay"

    def __init__(self, boundaries, values):
        if not isinstance(boundaries, (list, tuple)) or not boundaries:
            raise ValueError(f"boundaries: expected a non-empty list of step numbers, got {boundaries!r}")
        if not isinstance(values, (list, tuple)):
            raise ValueError(f"values: expected a list of learning rates, got {values!r}")
        self.boundaries = tuple(integer(b, "boundaries") for b in boundaries)
        self.values = tuple(_positive(v, "values") for v in values)
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"values: expected {len(self.boundaries) + 1} values (one more than the "
                             f"{len(self.boundaries)} boundaries), got {len(self.values)}")
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries: expected strictly increasing step numbers, got {list(boundaries)}")

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class Rounded(LearningRateSchedule):
    """Another schedule in float32, as Keras on TensorFlow computes every schedule
    (``ops.convert_to_tensor`` of the Python floats gives float32 tensors) even for float64
    variables: 0.015625 * 0.5 ** 0.5 becomes 0.011048543267 instead of 0.011048543456. A schedule
    with a ``float32(step)`` method is evaluated in float32 arithmetic in Keras's order of
    operations; one without it (piecewise constant: no arithmetic) has its values rounded."""

    def __init__(self, schedule: LearningRateSchedule):
        if not isinstance(schedule, LearningRateSchedule):
            raise ValueError(f"schedule: expected a LearningRateSchedule, got {schedule!r}")
        self.schedule = schedule
        self.name = schedule.name

    def __call__(self, step):
        in_float32 = getattr(self.schedule, "float32", None)
        return in_float32(step) if in_float32 is not None else float(np.float32(self.schedule(step)))

    def get_config(self):
        return {**self.schedule.get_config(), "rounded_to": "float32"}


SCHEDULES = {cls.name: cls for cls in (ExponentialDecay, CosineDecay, PiecewiseConstantDecay)}


def get(name: str, **kwargs) -> LearningRateSchedule:
    """A schedule by its Keras snake_case name ("exponential_decay", "cosine_decay",
    "piecewise_constant_decay") built with ``kwargs``."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {', '.join(SCHEDULES)}, got {name!r}")
    return SCHEDULES[name](**kwargs)
