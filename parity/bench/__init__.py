"""``python -m parity bench``: the time and peak extra memory of one training step, side by side.

Each spec (default: the bench catalog, ``parity/bench_catalog``) is built three times from the
harness's own backends with ``prepare(spec)``'s weights and data; one training step (forward,
loss, backward, optimizer update) is timed in scratchnet, torch (eager) and Keras (the step in one
``tf.function``), interleaved after a warm-up, with the same thread count everywhere; the memory of
one step is taken in a separate process. Results go to ``benchmarks.csv`` and ``benchmarks.md``.

Modules: ``steps`` (one step per framework), ``timing`` (interleaved rounds), ``memory`` (peak
extra bytes per step and how each framework counts them), ``threads`` (thread counts, BLAS,
machine), ``summary`` (rows, ratios, the two files), ``command`` (the subcommand).

Speed is measured, never asserted in a test.
"""
from parity.bench.command import add_arguments, bench_catalog_dir, cmd_bench, load_bench_catalog
from parity.bench.summary import COLUMNS, summarize

__all__ = ["add_arguments", "bench_catalog_dir", "cmd_bench", "load_bench_catalog", "COLUMNS", "summarize"]
