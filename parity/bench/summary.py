"""From timings to rows, and the two files: ``benchmarks.csv`` and ``benchmarks.md``.

One row per case, dtype and backend (``COLUMNS``): the median seconds per step, the quartiles
(q1, q3: the spread is the interquartile range), ``ratio_to_torch`` = this backend's median /
torch's median (a ratio of medians; < 1 is faster than torch), ``ratio_median``, ``ratio_q1`` and
``ratio_q3`` = the median and quartiles of the per-round ratios (round r's sample of this backend / round r's sample of torch:
the samples of one round were taken one after the other, so each ratio is paired in time and the
quartiles are the ratio's spread), the peak extra bytes of one step
(``parity.bench.memory``), the thread count and the backend's math library.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

COLUMNS = ["case", "dtype", "backend", "median_s", "q1_s", "q3_s", "ratio_to_torch", "ratio_median", "ratio_q1", "ratio_q3",
           "peak_extra_bytes", "threads", "blas"]
BACKENDS = ("scratch", "torch", "keras")


def summarize(case: str, dtype: str, times: Mapping[str, Sequence[float]], peaks: Mapping[str, int | None],
              threads: int, blas: Mapping[str, str]) -> list[dict]:
    """Rows (dicts with ``COLUMNS``) for one case: one per backend in ``times``, in BACKENDS order."""
    medians = {b: float(np.median(t)) for b, t in times.items()}
    reference = medians.get("torch")
    rows = []
    for backend in sorted(times, key=lambda b: BACKENDS.index(b) if b in BACKENDS else len(BACKENDS)):
        q1, q3 = (float(v) for v in np.percentile(times[backend], [25, 75]))
        ratio = medians[backend] / reference if reference else math.nan
        paired = len(times[backend]) == len(times.get("torch", ())) and reference
        per_round = np.asarray(times[backend]) / np.asarray(times["torch"]) if paired else None
        r1, rm, r3 = (float(v) for v in np.percentile(per_round, [25, 50, 75])) if paired else (math.nan,) * 3
        rows.append({"case": case, "dtype": dtype, "backend": backend, "median_s": medians[backend], "q1_s": q1,
                     "q3_s": q3, "ratio_to_torch": ratio, "ratio_median": rm, "ratio_q1": r1, "ratio_q3": r3, "peak_extra_bytes": peaks.get(backend),
                     "threads": threads, "blas": blas.get(backend, "")})
    return rows


def frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame(rows, columns=COLUMNS)
    df["peak_extra_bytes"] = df["peak_extra_bytes"].astype("Int64")
    return df


def write_csv(rows: list[dict], path: Path) -> None:
    frame(rows).to_csv(path, index=False)


def _seconds(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _bytes(n) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    n = int(n)
    for unit, size in (("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def _ratio(r: float) -> str:
    return f"{r:.2f}x" if math.isfinite(r) else "-"


def _table(header: list[str], body: list[list[str]], align: str) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def markdown(rows: list[dict], *, command: str, machine: Mapping, threads: int, repeat: int, warmup: int,
             blas: Mapping[str, str], threadpools: list[dict], notes: Sequence[str] = ()) -> str:
    """The human-readable report: times, ratios, memory, and how each was measured."""
    cases: dict[tuple[str, str], dict[str, dict]] = {}
    for r in rows:
        cases.setdefault((r["case"], r["dtype"]), {})[r["backend"]] = r
    time_body, mem_body = [], []
    for (case, dtype), by in cases.items():
        cell = lambda b: (f"{_seconds(by[b]['median_s'])} ({_seconds(by[b]['q1_s'])} – {_seconds(by[b]['q3_s'])})"
                          if b in by else "-")
        ratio = lambda b: (f"{_ratio(by[b]['ratio_median'])} ({by[b]['ratio_q1']:.2f} – {by[b]['ratio_q3']:.2f})"
                           if b in by and math.isfinite(by[b]["ratio_q1"]) else _ratio(by[b]["ratio_to_torch"]) if b in by else "-")
        time_body.append([case, dtype, cell("scratch"), cell("torch"), cell("keras"), ratio("scratch"), ratio("keras")])
        peak = {b: by[b]["peak_extra_bytes"] if b in by else None for b in BACKENDS}
        mem_ratio = (_ratio(peak["scratch"] / peak["torch"]) if peak["scratch"] is not None and peak["torch"] else "-")
        mem_body.append([case, dtype, _bytes(peak["scratch"]), _bytes(peak["torch"]), _bytes(peak["keras"]), mem_ratio])
    pools = [f"- {p.get('internal_api', '?')} {p.get('version') or ''} ({p.get('user_api', '?')}, "
             f"{p.get('num_threads')} thread(s)): `{p.get('filepath', '').rpartition('site-packages/')[2]}`"
             for p in threadpools]
    lines = [
        "# Benchmarks: one training step",
        "",
        "The time of one training step (forward, loss, backward, optimizer update) of the same model, with the same "
        "initial weights and data (`parity.run.prepare`), in scratchnet (numpy), PyTorch (eager) and Keras 3 "
        "(the step inside one `tf.function`, traced once). Generated by `python -m parity bench`; "
        "speed is measured here, never asserted in a test.",
        "",
        f"Reproduce: `{command}`",
        "",
        f"- Machine: {machine.get('cpu')}, {machine.get('logical_cpus')} logical CPUs, {machine.get('platform')}",
        f"- Versions: python {machine.get('python')}, numpy {machine.get('numpy')}, torch {machine.get('torch')}, "
        f"tensorflow {machine.get('tensorflow')}, keras {machine.get('keras')}",
        f"- Threads: **{threads}** in all three: `torch.set_num_threads({threads})` (and inter-op), "
        f"`tf.config.threading` intra- and inter-op {threads} (set before TensorFlow starts), "
        f"`threadpoolctl.threadpool_limits({threads})` for numpy's BLAS and every other loaded pool",
        f"- Math libraries: {'; '.join(blas[b] for b in BACKENDS if b in blas)}",
        f"- Samples: {warmup} untimed warm-up rounds, then {repeat} timed rounds; each round gives one sample of each "
        "framework in turn (scratch, torch, keras): one untimed step (the first after another framework's pays for "
        "its cold caches, which a training loop's steps do not), then the mean of as many consecutive steps as fill "
        "2 ms (one step when a step is longer), the count sized on consecutive steps as `timeit` sizes its loops. "
        "Clock: the process's CPU time "
        "(`time.process_time`, all threads; with one thread per framework, the step's own work, unaffected by other "
        "processes on a shared machine), garbage collector off",
        "",
        "## CPU time per step: median (interquartile range) and ratio to torch (median and quartiles of the per-round ratios)",
        "",
        *_table(["case", "dtype", "scratchnet", "torch", "keras", "scratch / torch", "keras / torch"], time_body, "llrrrrr"),
        "",
        "A ratio is the median of the per-round ratios (this framework's sample over torch's sample of the same round, "
        "taken one after the other), its spread their interquartile range; below 1 is faster than torch "
        "(`benchmarks.csv` also has the ratio of the medians, `ratio_to_torch`). The step is the framework's usual one "
        "(scratchnet's `Sequential.train_step`); none of the three computes dL/dx of the input. "
        "Each framework keeps training while it is timed; the three first-step losses are compared (a disagreement, a retraced Keras step or a loss that stops being finite would be listed under Notes).",
        "",
        "## Peak extra memory of one step",
        "",
        *_table(["case", "dtype", "scratchnet", "torch", "keras", "scratch / torch"], mem_body, "llrrrr"),
        "",
        "Peak extra = the most bytes live during one step minus the bytes live when it began (weights, data and "
        "optimizer state excluded), measured in a separate process on the step after an unmeasured one. "
        "scratchnet: `tracemalloc` (numpy reports its buffers to it); torch: `torch.profiler` with "
        "`profile_memory=True` (the c10 CPU allocator's allocation records, summed in time order); Keras: TensorFlow's "
        "CPU allocator statistics (`tf.config.experimental.get_memory_info('CPU:0')`, which need "
        "`TF_CPU_ALLOCATOR_USE_BFC=true`, hence the separate process). Not seen by any of them: BLAS / oneDNN / MKL "
        "internal work buffers. torch's default `zero_grad(set_to_none=True)` frees the last step's gradients "
        "before the forward pass, which lowers its peak.",
        "",
        "## Thread pools (threadpoolctl, after the limits)",
        "",
        *pools,
    ]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
