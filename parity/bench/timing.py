"""Interleaved timing: every framework's step timed in turn, round after round.

``interleaved(steps, repeat, warmup)`` first runs ``warmup`` untimed rounds (the Keras step is
traced in the first), then ``repeat`` timed rounds; a round calls each step once, in the order
given (scratch, torch, keras). One sample is the mean over ``loops`` consecutive steps of one
framework, ``loops`` chosen per framework from the warm-up so that a sample lasts at least
``MIN_SAMPLE_S`` (as ``timeit`` sizes its loops): for a step of tens of microseconds, one call
alone would mostly measure the cache misses left by the other framework's step just before it and
the timer itself. Interleaving spreads slow drifts of the machine (other processes, clock changes)
over all frameworks alike instead of charging them to whichever ran during the drift. The garbage
collector is off while timing (as in ``timeit``) and runs before.

Each framework trains on as it is timed (the weights change every step), which is what a step
costs in a training loop; ``interleaved`` returns the loss each step returned first and last so
the caller can check that all three started alike and stayed finite.
"""
from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

MIN_SAMPLE_S = 2e-3


@dataclass
class Timings:
    times: dict[str, list[float]] = field(default_factory=dict)  # backend -> seconds per step
    loops: dict[str, int] = field(default_factory=dict)  # backend -> consecutive steps per sample
    first_loss: dict[str, float] = field(default_factory=dict)  # the loss of each backend's first step
    last_loss: dict[str, float] = field(default_factory=dict)  # ... and of its last timed step


def interleaved(steps: Mapping[str, Callable[[], float]], repeat: int, warmup: int) -> Timings:
    out = Timings(times={name: [] for name in steps})
    clock = time.perf_counter
    warm: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(warmup):
        for name, step in steps.items():
            t0 = clock()
            loss = step()
            warm[name].append(clock() - t0)
            if r == 0:
                out.first_loss[name] = loss
    for name, times in warm.items():
        typical = sorted(times[1:] or times)[len(times[1:] or times) // 2] if times else MIN_SAMPLE_S
        out.loops[name] = max(1, math.ceil(MIN_SAMPLE_S / max(typical, 1e-9)))
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            for name, step in steps.items():
                loops = out.loops[name]
                t0 = clock()
                for _ in range(loops):
                    loss = step()
                out.times[name].append((clock() - t0) / loops)
                out.last_loss[name] = loss
    finally:
        if was_enabled:
            gc.enable()
    return out
