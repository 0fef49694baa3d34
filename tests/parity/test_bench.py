"""``python -m parity bench``: the files and their columns, ratios from medians, the memory
counters, the interleaving order, bad input, and the bench catalog. Speed itself is never asserted."""
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from parity.bench import COLUMNS, load_bench_catalog, summarize
from parity.bench.summary import markdown
from parity.bench.timing import interleaved
from parity.cli import main

TINY = {"name": "bench-tiny", "seed": 1, "dtype": "float32", "input_shape": [8, 5],
        "layers": [{"type": "dense", "units": 4, "activation": "relu"}, {"type": "dense", "units": 3}],
        "loss": {"type": "sparse_categorical_crossentropy", "from_logits": True},
        "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 1}


def write(tmp_path, spec, name="tiny.json"):
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


def test_bench_writes_both_files_with_the_columns(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "parity", "bench", str(write(tmp_path, TINY)), "--repeat", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pd.read_csv(out / "benchmarks.csv")
    assert list(df.columns) == COLUMNS
    assert list(df.backend) == ["scratch", "torch", "keras"]
    assert set(df.case) == {"bench-tiny"} and set(df.dtype) == {"float32"} and set(df.threads) == {1}
    torch_median = df.loc[df.backend == "torch", "median_s"].item()
    assert np.allclose(df.ratio_to_torch, df.median_s / torch_median)
    assert (df.q1_s <= df.median_s).all() and (df.median_s <= df.q3_s).all()
    assert (df.ratio_q1 <= df.ratio_q3).all() and (df.loc[df.backend == "torch", ["ratio_q1", "ratio_q3"]] == 1.0).all(axis=None)
    assert df.peak_extra_bytes.notna().all() and (df.peak_extra_bytes >= 0).all()
    assert df.blas.str.len().gt(0).all()
    md = (out / "benchmarks.md").read_text()
    for text in ("bench-tiny", "Threads: **1**", "openblas", "process_time", "tracemalloc", "torch.profiler", "get_memory_info",
                 "--repeat 2"):
        assert text in md, text
    assert "## Notes" not in md  # no note: Keras traced once, the first losses agreed, no loss became nan


def test_summarize_ratios_are_ratios_of_medians():
    times = {"keras": [9.0, 1.0, 3.0, 6.0, 6.0], "torch": [4.0, 2.0, 100.0, 3.0, 1.0], "scratch": [1.5, 0.5, 1.0]}
    rows = summarize("c", "float64", times, {"scratch": 10, "torch": 20}, 1, {"torch": "mkl"})
    assert [r["backend"] for r in rows] == ["scratch", "torch", "keras"]
    assert all(list(r) == COLUMNS for r in rows)
    by = {r["backend"]: r for r in rows}
    assert by["torch"]["median_s"] == 3.0 and by["scratch"]["median_s"] == 1.0 and by["keras"]["median_s"] == 6.0
    assert by["torch"]["ratio_to_torch"] == 1.0
    assert by["scratch"]["ratio_to_torch"] == pytest.approx(1 / 3)
    assert by["keras"]["ratio_to_torch"] == pytest.approx(2.0)
    assert (by["torch"]["q1_s"], by["torch"]["q3_s"]) == (2.0, 4.0)  # numpy's linear quartiles of 1, 2, 3, 4, 100
    # per-round keras / torch: 2.25, 0.5, 0.03, 2, 6 -> quartiles 0.5, 2.25; scratch has fewer rounds: unpaired
    assert (by["keras"]["ratio_q1"], by["keras"]["ratio_median"], by["keras"]["ratio_q3"]) == pytest.approx((0.5, 2.0, 2.25))
    assert math.isnan(by["scratch"]["ratio_q1"]) and (by["torch"]["ratio_q1"], by["torch"]["ratio_q3"]) == (1.0, 1.0)
    assert by["scratch"]["peak_extra_bytes"] == 10 and by["keras"]["peak_extra_bytes"] is None
    assert by["torch"]["blas"] == "mkl" and by["scratch"]["blas"] == ""
    text = markdown(rows, command="python -m parity bench", machine={}, threads=1, repeat=5, warmup=1,
                    blas={"torch": "mkl"}, threadpools=[])
    assert "| c | float64 | 1 s (750 ms – 1.25 s) | 3 s (2 s – 4 s) | 6 s (3 s – 6 s) | 0.33x | 2.00x (0.50 – 2.25) |" in text
    assert "| c | float64 | 10 B | 20 B | - | 0.50x |" in text


def test_summarize_without_torch_gives_nan_ratios():
    rows = summarize("c", "float32", {"scratch": [1.0]}, {}, 2, {})
    assert math.isnan(rows[0]["ratio_to_torch"]) and rows[0]["threads"] == 2


def test_interleaved_runs_round_robin_after_the_warmup():
    import itertools
    import time

    calls = []

    def slow(name):  # 3 ms of CPU time: longer than a sample's minimum, so one call per sample
        calls.append(name)
        t0 = time.process_time()
        while time.process_time() - t0 < 0.003:
            pass
        return 1.0

    steps = {name: (lambda n=name: slow(n)) for name in ("scratch", "torch", "keras")}
    timings = interleaved(steps, repeat=3, warmup=2)
    # 2 warm-up rounds, a warming call and one sized run per framework, then 3 timed rounds, each
    # sample an untimed call (the step before it in its loop) and the timed one
    sizing = ["scratch", "scratch", "torch", "torch", "keras", "keras"]
    assert calls == ["scratch", "torch", "keras"] * 2 + sizing + sizing * 3
    assert timings.loops == {"scratch": 1, "torch": 1, "keras": 1}
    assert {k: len(v) for k, v in timings.times.items()} == {"scratch": 3, "torch": 3, "keras": 3}
    assert all(t >= 0.003 for v in timings.times.values() for t in v)

    calls.clear()
    fast = {name: (lambda n=name: calls.append(n) or 1.0) for name in ("scratch", "torch", "keras")}
    timings = interleaved(fast, repeat=2, warmup=2)
    assert timings.loops["scratch"] > 1  # tiny steps: many per sample, still framework by framework
    timed = calls[len(calls) - 2 * sum(1 + n for n in timings.loops.values()):]
    runs = [(name, len(list(group))) for name, group in itertools.groupby(timed)]
    assert [name for name, _ in runs] == ["scratch", "torch", "keras"] * 2
    assert all(n == 1 + timings.loops[name] for name, n in runs)
    assert all(t >= 0 for v in timings.times.values() for t in v)
    assert timings.first_loss == timings.last_loss == {"scratch": 1.0, "torch": 1.0, "keras": 1.0}


def test_samples_are_warm_consecutive_calls(monkeypatch):
    """A step that is slow only on its first call after another framework's (cold caches) is fast
    in a training loop: its samples must hold enough consecutive calls to last MIN_SAMPLE_S
    (sized on the cold interleaved calls, a sample would be a single cold call), and the cold
    call is not one of them. A virtual clock makes the durations exact: cold calls 4 ms, warm
    ones 0.1 ms."""
    from parity.bench import timing

    now, last = [0.0], [None]
    monkeypatch.setattr(timing, "_clock", lambda: now[0])

    def make(name):
        def step():
            now[0] += 0.004 if last[0] != name else 0.0001
            last[0] = name
            return 1.0
        return step

    timings = interleaved({"scratch": make("scratch"), "torch": make("torch")}, repeat=2, warmup=3)
    ideal = round(timing.MIN_SAMPLE_S / 0.0001)
    for name, loops in timings.loops.items():
        assert ideal <= loops <= 2 * ideal, (name, loops)
        assert timings.times[name] == pytest.approx([0.0001, 0.0001]), name  # warm calls only


def test_numpy_and_torch_peaks_count_a_temporary():
    import torch

    from parity.bench.memory import numpy_peak, torch_peak

    size = 1 << 20
    assert size <= numpy_peak(lambda: float(np.ones(size // 8).sum())) < size + 64 * 1024
    assert size <= torch_peak(lambda: float(torch.ones(size // 4).sum())) < size + 64 * 1024
    kept = []
    assert numpy_peak(lambda: kept.append(np.ones(16)) or 0.0) < 4096  # small steps stay small


@pytest.mark.parametrize("argv, words", [
    (["--threads", "0"], "--threads 0"),
    (["--threads", "two"], "--threads two"),
    (["--repeat", "0"], "--repeat 0"),
    (["no-such-spec.json"], "no-such-spec.json"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    assert main(["bench", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0]
    assert not out.exists()


def test_bad_spec_field_exits_2(tmp_path, capsys):
    bad = dict(TINY, layers=[{"type": "dense", "units": 0}])
    assert main(["bench", str(write(tmp_path, bad)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layers[0].units" in err[0]


def test_the_bench_catalog_parses():
    specs = load_bench_catalog()
    got = {(s.name, s.dtype): s for s in specs}
    assert len(got) == len(specs) == 20
    scaling = [s for s in specs if s.source.rsplit("/", 1)[-1].startswith("scale-")]
    assert len(scaling) == 14  # the scaling points: batch 32-2048, width 128-2048, images 14-56 px
    assert {s.input_shape[0] for s in scaling if len(s.input_shape) == 2} >= {32, 512, 2048}
    assert {s.layers[0].params["units"] for s in scaling if len(s.input_shape) == 2} >= {128, 512, 2048}
    assert {s.input_shape[1] for s in scaling if len(s.input_shape) == 4} == {14, 28, 56}
    assert all(s.steps == 1 for s in specs)
    mlp = [s for s in specs if s.input_shape == (128, 784)]
    assert {s.dtype for s in mlp} == {"float32", "float64"}
    assert [l.params["units"] for l in mlp[0].layers] == [256, 256, 10]
    kinds = {}
    for s in specs:  # the first of each kind, in file-name order
        kinds.setdefault(tuple(l.type for l in s.layers), s)
    cnn = kinds[("conv2d", "max_pool2d", "flatten", "dense")]
    assert cnn.input_shape == (64, 28, 28, 1) and cnn.dtype == "float32" and cnn.layers[0].params["filters"] == 16
    lstm = kinds[("lstm", "dense")]
    assert lstm.input_shape[:2] == (32, 20) and lstm.layers[0].params["units"] == 64
    data = {s.data: s for s in specs if s.data}
    assert data["xor"].dtype == "float64" and data["xor"].loss.type == "sum_squared_error"
    assert data["xor"].optimizer.params["learning_rate"] == 1.0
    assert data["digits"].input_shape == (128, 64) and data["digits"].dtype == "float32"
