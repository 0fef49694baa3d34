"""Peak extra memory of one training step, counted by each framework's own allocator bookkeeping.

"Peak extra" = the most bytes live at any moment during one step minus the bytes live when the
step began (the model, its data and optimizer state are not counted; gradients a framework keeps
between steps are counted at the step's peak only if they are alive at that moment). Measured on
the step *after* an unmeasured step, inside the same recording, so that blocks the measured step
frees were allocated while the recording saw them (a free of a block allocated before recording
started is invisible to all three methods and would inflate the peak).

- scratchnet (numpy): ``tracemalloc``. numpy reports its data buffers to tracemalloc
  (``PyTraceMalloc_Track``), so ``get_traced_memory`` after ``reset_peak`` gives the peak of numpy
  arrays plus Python objects allocated during the step. scratchnet's layers keep their work arrays
  between steps (the buffer-ownership rule in ``scratchnet/layers/base.py``) where torch and Keras
  free their temporaries, so those kept arrays (``step.kept_bytes()``) are added to its peak: they
  are memory the step needs, allocated once instead of every time.
- torch: ``torch.profiler.profile(profile_memory=True)``: its raw ``[memory]`` records (one per
  allocation / free by the c10 CPU allocator, with a timestamp and a signed size) are summed in
  time order; the measured step is marked with ``record_function``. (``tracemalloc`` does not see
  torch's allocator.)
- Keras: TensorFlow counts CPU allocations only with its BFC allocator on the CPU
  (``TF_CPU_ALLOCATOR_USE_BFC=true``, read when TF starts); then
  ``tf.config.experimental.reset_memory_stats('CPU:0')`` / ``get_memory_info('CPU:0')`` give
  current and peak bytes in use. Since that switches TF's CPU allocator, every memory number is
  taken in a separate process (``MemoryProcess``), never in the process that is timed.

Limits (all three): only memory that goes through the counted allocator is seen: BLAS / oneDNN /
MKL internal work buffers and thread stacks are not; sizes are as the allocator books them (the
BFC allocator rounds to 256-byte multiples and bins); one step of a deterministic program, so the
number is exact for that step, not a distribution. Resident memory (RSS) was not used: freed
blocks stay in the C allocator's cache, so RSS after a warm-up barely moves while the step still
churns through the same temporaries.

Run as ``python -m parity.bench.memory`` (what ``MemoryProcess`` does): reads
``{"threads": N, "specs": [spec dicts]}`` as JSON on stdin, writes one JSON line per spec,
``{"scratch": bytes, "torch": bytes, "keras": bytes}``, on stdout.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tracemalloc
from typing import Callable, Iterator

MARK = "parity.bench.measured_step"
WARMUP_STEPS = 2


def numpy_peak(step: Callable[[], float]) -> int:
    """Peak extra bytes of one step as ``tracemalloc`` sees them (numpy arrays + Python objects)."""
    gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        step()  # recorded, not measured: the measured step frees what this one allocated
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        step()
        _, peak = tracemalloc.get_traced_memory()
        peak += getattr(step, "kept_bytes", lambda: 0)()
    finally:
        if started:
            tracemalloc.stop()
    return max(0, peak - base)


def torch_peak(step: Callable[[], float]) -> int:
    """Peak extra bytes of one step from torch.profiler's allocation records (c10 CPU allocator)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, record_function

    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
        with record_function(MARK):
            step()
    events = list(prof.profiler.kineto_results.events())
    mark = next(e for e in events if e.name() == MARK)
    start, end = mark.start_ns(), mark.end_ns()
    records = sorted((e.start_ns(), e.nbytes()) for e in events
                     if e.name() == "[memory]" and e.device_type() == DeviceType.CPU)
    base = sum(n for t, n in records if t < start)
    live, peak = base, base
    for t, n in records:
        if start <= t <= end:
            live += n
            peak = max(peak, live)
    return max(0, peak - base)


def keras_peak(step: Callable[[], float]) -> int:
    """Peak extra bytes of one step from TensorFlow's CPU BFC allocator statistics. Needs
    ``TF_CPU_ALLOCATOR_USE_BFC=true`` in the environment before TensorFlow started."""
    import tensorflow as tf

    if os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() not in ("1", "true"):
        raise RuntimeError("keras_peak needs TF_CPU_ALLOCATOR_USE_BFC=true before TensorFlow starts")
    gc.collect()
    step()
    tf.config.experimental.reset_memory_stats("CPU:0")
    base = tf.config.experimental.get_memory_info("CPU:0")["current"]
    step()
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    return max(0, peak - base)


PEAKS = {"scratch": numpy_peak, "torch": torch_peak, "keras": keras_peak}


def measure(specs, threads: int) -> Iterator[dict[str, int]]:
    """Peak extra bytes per backend for each spec, in this process (see the module doc)."""
    from parity.bench.steps import BUILDERS, frameworks
    from parity.bench.threads import set_threads
    from parity.run import prepare

    limiter = set_threads(threads)
    try:
        for spec in specs:
            case = prepare(spec)
            with frameworks(spec.dtype):
                out = {}
                for backend, build in BUILDERS.items():
                    step = build(case)
                    for _ in range(WARMUP_STEPS):
                        step()
                    out[backend] = int(PEAKS[backend](step))
                    del step
                    gc.collect()
            yield out
    finally:
        limiter.restore_original_limits()


class MemoryProcess:
    """``measure`` in a fresh Python process with TF's BFC CPU allocator, started at once (so it
    can work while the caller imports the frameworks); ``results()`` yields as each case is done.
    Wait for it to finish before timing anything: it competes for the CPUs while it runs."""

    def __init__(self, specs, threads: int):
        self.count = len(specs)
        payload = json.dumps({"threads": threads, "specs": [dict(s.to_dict(), source=s.source) for s in specs]})
        env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true", TF_CPP_MIN_LOG_LEVEL="3", TORCH_CPP_LOG_LEVEL="ERROR")
        self._proc = subprocess.Popen([sys.executable, "-m", "parity.bench.memory"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdin is not None
        self._proc.stdin.write(payload)
        self._proc.stdin.close()

    def results(self) -> Iterator[dict[str, int]]:
        proc, count = self._proc, 0
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            if line.startswith("{"):
                count += 1
                yield json.loads(line)
        stderr = proc.stderr.read()
        if proc.wait() != 0 or count != self.count:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"the memory process failed (exit {proc.returncode}, {count} of {self.count} cases):\n{tail}")

    def close(self) -> None:
        """Stop the process if it still runs (e.g. the caller failed first)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


def measure_in_subprocess(specs, threads: int) -> list[dict[str, int]]:
    """``measure`` in a separate process (see ``MemoryProcess``): one dict per spec."""
    process = MemoryProcess(specs, threads)
    try:
        return list(process.results())
    finally:
        process.close()


def _main() -> int:
    from parity.spec import parse_spec

    request = json.loads(sys.stdin.read())
    specs = []
    for raw in request["specs"]:
        raw = dict(raw)
        source = raw.pop("source", "<bench>")
        specs.append(parse_spec(raw, source))
    for result in measure(specs, int(request["threads"])):
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
