"""Cases run in worker processes (``parity run -j N``) and split into shards (``--shard I/N``).

``outcomes(specs, jobs)`` yields one ``Outcome`` per spec, in the order of ``specs``, whatever
order the workers finish in:

- ``jobs == 1``: every case in this process, one after the other (``parity.api.check``).
- ``jobs > 1``: a ``concurrent.futures.ProcessPoolExecutor`` of ``workers(jobs, len(specs))``
  processes (``jobs``, but no more than the cases nor than ``max(2, the CPUs this process may
  use)``: each worker imports torch and TensorFlow, ~1 GB, so ``-j 100000`` must not start
  thousands of them; the results do not depend on the count) started with
  the ``spawn`` method, so each worker is a fresh interpreter with its own torch, TensorFlow and
  Keras state (no fork of a process whose framework thread pools are already running). A worker
  runs ``parity.api.check`` on the pickled ``CaseSpec`` and sends the pickled
  ``parity.run.CaseResult`` back; the parent writes the report from the results in the order of
  ``specs``, so results.csv, tensors.npz and the report are the same bytes as with ``-j 1`` (each
  case's numbers depend on its spec alone: every draw comes from the case's own seed). Workers
  keep the frameworks' default thread counts, as ``-j 1`` does (a different count could change
  the rounding of a reduction). Workers ignore SIGINT: Ctrl-C reaches the parent, which cancels
  what has not started and ends its workers.

``--scheduler tcp://HOST:PORT`` (the optional ``[cluster]`` extra, ``dask.distributed``): the same
cases as tasks of an existing dask cluster, each worker process with its own framework state;
the report is written here from the gathered results in the order of ``specs``, so it is the same
bytes as ``-j 1`` too.

A case that raises is an ``Outcome`` with ``error`` (``<ExceptionType>: <first line>``), in a
worker as in this process; a worker that dies (killed, out of memory) fails the cases it and the
pool still held, each with an error naming it, and the other cases keep their results.

Shards: ``shard(specs, i, n)`` is every n-th spec of the selection starting at the i-th
(1-based), in the selection's own order (the stable catalog order: float64 then float32, names
sorted), so shards 1/n .. n/n cover the selection exactly once.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import re
import signal
from dataclasses import dataclass
from typing import Iterator, Sequence


@dataclass
class Outcome:
    spec: object  # parity.spec.CaseSpec
    result: object | None  # parity.run.CaseResult, None when the case crashed
    error: str | None = None


def one_line(exc: BaseException) -> str:
    """``<ExceptionType>: <first line of the message>``."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def run_one(spec) -> tuple[object | None, str | None]:
    """(CaseResult, None) or (None, error line): one case, any exception but Ctrl-C caught."""
    from parity import api

    try:
        return api.check(spec).case, None
    except Exception as exc:  # one crashing case must not lose the others
        return None, one_line(exc)


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def connect(address: str):
    """A ``dask.distributed.Client`` of the scheduler at ``address`` (the ``[cluster]`` extra);
    ValueError naming what is wrong (dask missing, nothing listening there)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("needs dask.distributed: pip install 'scratchnet-parity[cluster]'") from None
    try:
        return Client(address, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot reach a dask scheduler there ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _dask_outcomes(specs: Sequence, client) -> Iterator[Outcome]:
    """The cases as dask tasks, one per spec (``run_one``, the same function a local worker runs),
    gathered in the order of ``specs``. Start the workers with one thread each
    (``dask worker tcp://HOST:PORT --nthreads 1``): each worker process then runs one case at a
    time with its own framework state, as a ``-j`` worker does."""
    futures = client.map(run_one, list(specs), pure=False)
    try:
        for spec, future in zip(specs, futures):
            try:
                result, error = future.result()
            except Exception as exc:  # the worker died or the task was lost
                result, error = None, f"{type(exc).__name__}: the dask task failed ({one_line(exc)})"
            yield Outcome(spec, result, error)
    except BaseException:
        client.cancel(futures)
        raise


def workers(jobs: int, cases: int) -> int:
    """How many worker processes ``-j jobs`` starts for ``cases`` cases (the module doc)."""
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(jobs, cases, max(2, cpus)))


def outcomes(specs: Sequence, jobs: int = 1, client=None) -> Iterator[Outcome]:
    """One Outcome per spec, in order: in this process, in ``jobs`` local workers, or (``client``,
    from ``connect``) as tasks of a dask cluster."""
    if client is not None:
        yield from _dask_outcomes(specs, client)
        return
    if jobs <= 1 or len(specs) <= 1:
        for spec in specs:
            result, error = run_one(spec)
            yield Outcome(spec, result, error)
        return
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers(jobs, len(specs)), mp_context=ctx, initializer=_worker_init)
    try:
        futures = [pool.submit(run_one, spec) for spec in specs]
        for spec, future in zip(specs, futures):
            try:
                result, error = future.result()
            except cf.process.BrokenProcessPool as exc:
                result, error = None, f"BrokenProcessPool: a worker process died ({exc})"
            yield Outcome(spec, result, error)
    except BaseException:  # Ctrl-C, or the consumer stopped early: nothing left running
        _terminate(pool)
        raise
    else:
        pool.shutdown(wait=True)


def _terminate(pool: cf.ProcessPoolExecutor) -> None:
    """End the workers now (their running cases too) and cancel what has not started; without it
    the interpreter's exit would wait for every running case to finish."""
    if hasattr(pool, "terminate_workers"):  # Python >= 3.14
        pool.terminate_workers()
        return
    processes = list((pool._processes or {}).values())  # the executor's own table of its workers
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join()


_SHARD = re.compile(r"^([0-9]+)/([0-9]+)$")


def parse_shard(value: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 1 <= I <= N; ValueError with the reason otherwise."""
    m = _SHARD.match(value.strip())
    if not m:
        raise ValueError(f"expected I/N (e.g. 2/4), got {value!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"expected 1 <= I <= N, got {value!r}")
    return i, n


def shard(specs: Sequence, i: int, n: int) -> list:
    """Every n-th spec from the i-th (1-based) on."""
    return list(specs[i - 1::n])
