"""Interleaved timing: every framework's step timed in turn, round after round.

``interleaved(steps, repeat, warmup)`` first runs ``warmup`` untimed rounds (the Keras step is
traced in the first), then ``repeat`` timed rounds; a round calls each step once, in the order
given (scratch, torch, keras), timing each call alone with ``time.perf_counter``. One sample is
one step. Interleaving spreads slow drifts of the machine (other processes, clock changes) over
all frameworks alike instead of charging them to whichever ran during the drift. The garbage
collector is off while timing (as in ``timeit``) and runs before.

Each framework trains on as it is timed (the weights change every step), which is what a step
costs in a training loop; ``interleaved`` returns the loss each step returned first and last so
the caller can check that all three started alike and stayed finite.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass
class Timings:
    times: dict[str, list[float]] = field(default_factory=dict)  # backend -> seconds per step
    first_loss: dict[str, float] = field(default_factory=dict)  # the loss of each backend's first step
    last_loss: dict[str, float] = field(default_factory=dict)  # ... and of its last timed step


def interleaved(steps: Mapping[str, Callable[[], float]], repeat: int, warmup: int) -> Timings:
    out = Timings(times={name: [] for name in steps})
    for r in range(warmup):
        for name, step in steps.items():
            loss = step()
            if r == 0:
                out.first_loss[name] = loss
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    clock = time.perf_counter
    try:
        for _ in range(repeat):
            for name, step in steps.items():
                t0 = clock()
                loss = step()
                out.times[name].append(clock() - t0)
                out.last_loss[name] = loss
    finally:
        if was_enabled:
            gc.enable()
    return out
