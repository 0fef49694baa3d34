"""Interleaved timing: every framework's step timed in turn, round after round.

``interleaved(steps, repeat, warmup)`` first runs ``warmup`` untimed rounds (the Keras step is
traced in the first), then sizes each framework's samples, then runs ``repeat`` timed rounds; a
round calls each step ``1 + loops`` times in a row, framework by framework, in the order given
(scratch, torch, keras), and times the last ``loops`` of them. One sample is the mean over those
``loops`` consecutive steps.

What a sample measures is a step of a training loop, which runs one framework's steps back to back.
The first call after another framework's step is not one: it pays for the cache lines that step
evicted and, after TensorFlow, for its threads going back to sleep. Measured on the 56 px two-conv
CNN (40 ms steps, 1 thread, 30 calls each): scratchnet 32.9 ms after its own step against 37.0 ms
after Keras's and 44.8 ms after torch's, torch 36.2 ms after its own against 43.4 ms after Keras's
and 42.9 ms after scratchnet's; with the order fixed, those penalties would be charged by
whichever framework happens to follow which. So every sample starts with one untimed call (the
"previous step" of its loop), and ``loops`` is sized on consecutive calls, as ``timeit.autorange``
does: the smallest count whose run lasts at least ``MIN_SAMPLE_S`` (sized on cold single calls,
a 20 us step got samples of a dozen calls and the cold start charged it about a fifth of its
time). Interleaving the samples spreads slow drifts of the machine (other processes, clock
changes) over all frameworks alike instead of charging them to whichever ran during the drift. The
garbage collector is off while timing (as in ``timeit``) and runs before.

The clock is the process's CPU time (``time.process_time``: user + system time of all its threads),
not wall time: on a shared machine another process's work delays a step's wall time but not its
CPU time. With every framework pinned to one thread (``parity.bench.threads``) the process's CPU
time is the step's work; a framework that still wakes helper threads is charged for them.

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
_clock = time.process_time  # CPU seconds of this process (all threads), see above


@dataclass
class Timings:
    times: dict[str, list[float]] = field(default_factory=dict)  # backend -> seconds per step
    loops: dict[str, int] = field(default_factory=dict)  # backend -> consecutive steps per sample
    first_loss: dict[str, float] = field(default_factory=dict)  # the loss of each backend's first step
    last_loss: dict[str, float] = field(default_factory=dict)  # ... and of its last timed step


def _run(step: Callable[[], float], loops: int) -> tuple[float, float]:
    """(seconds for ``loops`` consecutive calls, the last call's loss)."""
    t0 = _clock()
    for _ in range(loops):
        loss = step()
    return _clock() - t0, loss


def sample_loops(step: Callable[[], float], min_seconds: float = MIN_SAMPLE_S) -> int:
    """The number of consecutive calls of ``step`` whose run lasts at least ``min_seconds``: after
    one call that warms the caches up, runs of 1 call, then of the count the last run's per-call
    time predicts (at least double), until one run is long enough. Its calls are untimed training
    steps."""
    step()
    loops = 1
    while True:
        elapsed, _ = _run(step, loops)
        if elapsed >= min_seconds:
            return loops
        per_call = max(elapsed / loops, 1e-9)
        loops = max(2 * loops, math.ceil(min_seconds / per_call))


def interleaved(steps: Mapping[str, Callable[[], float]], repeat: int, warmup: int) -> Timings:
    out = Timings(times={name: [] for name in steps})
    for r in range(warmup):
        for name, step in steps.items():
            loss = step()
            if r == 0:
                out.first_loss[name] = loss
    out.loops = {name: sample_loops(step) for name, step in steps.items()}
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            for name, step in steps.items():
                loops = out.loops[name]
                step()  # the step before the sample in its training loop: warms the caches, untimed
                elapsed, loss = _run(step, loops)
                out.times[name].append(elapsed / loops)
                out.last_loss[name] = loss
    finally:
        if was_enabled:
            gc.enable()
    return out
