"""``python -m parity bench [SPEC ...] [--threads N] [--repeat R] [--out DIR]``.

No SPEC: the bench catalog (``parity/bench_catalog/*.json``, in file-name order). Each spec's own
dtype is used; its ``steps`` field is ignored (the bench times steps itself). Bad input (a spec
that does not load, ``--threads`` or ``--repeat`` not a positive int, an unusable ``--out``) exits
2 with one line before anything is imported or timed. Writes ``DIR/benchmarks.csv`` and
``DIR/benchmarks.md`` (both replaced) once every case has been measured.
"""
from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path

WARMUP_ROUNDS = 10
DEFAULT_REPEAT = 100


def bench_catalog_dir() -> Path:
    """The bench catalog folder (package data: ``parity/bench_catalog``)."""
    return Path(__file__).resolve().parent.parent / "bench_catalog"


def bench_catalog_files() -> list[Path]:
    folder = bench_catalog_dir()
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".toml"))


def load_bench_catalog() -> list:
    from parity.spec import load_spec

    return [load_spec(p) for p in bench_catalog_files()]


def add_arguments(parser) -> None:
    """The bench subcommand's arguments (ints are parsed by ``cmd_bench``, for one-line errors)."""
    parser.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (.json or .toml); none: the bench catalog")
    parser.add_argument("--threads", default="1", metavar="N", help="threads for every framework (default: 1)")
    parser.add_argument("--repeat", default=str(DEFAULT_REPEAT), metavar="R",
                        help=f"timed rounds per case (default: {DEFAULT_REPEAT})")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_OUT}; `make bench` writes the committed reports/)")


def _positive_int(flag: str, text: str) -> int:
    from parity.cli_checks import UsageError

    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{flag} {text}: expected a positive int") from None
    if value < 1:
        raise UsageError(f"{flag} {text}: expected a positive int, got {value}")
    return value


def _load(paths: list[str]) -> list:
    from parity.cli_checks import UsageError
    from parity.run import check_supported
    from parity.spec import load_spec

    specs = [load_spec(p) for p in paths] if paths else load_bench_catalog()
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        key = (spec.name, spec.dtype)
        if key in seen:
            raise UsageError(f"{spec.source}: name: case {spec.name!r} in {spec.dtype} is also in {seen[key]}")
        seen[key] = spec.source
        check_supported(spec)
    return specs


DEFAULT_OUT = "parity-bench"  # its own folder, like run's parity-out: never the committed reports/ by default


def _command(args, threads: int, repeat: int) -> str:
    parts = ["python", "-m", "parity", "bench", *args.specs, "--threads", str(threads), "--repeat", str(repeat)]
    parts += ["--out", args.out]
    return shlex.join(parts)


def _loss_notes(spec, first: dict, last: dict) -> list[str]:
    notes = []
    tol = 1e-4 if spec.dtype == "float32" else 1e-10
    ref = first.get("torch")
    for backend, value in first.items():
        if ref is not None and abs(value - ref) > tol * max(1.0, abs(ref)):
            notes.append(f"{spec.name} [{spec.dtype}]: the first step's loss differs: {backend} {value:.8g}, torch {ref:.8g}")
    for backend, value in last.items():
        if not math.isfinite(value):
            notes.append(f"{spec.name} [{spec.dtype}]: {backend}'s loss became {value} while timing")
    return notes


def cmd_bench(args) -> int:
    from tqdm import tqdm

    from parity.cli_checks import check_out

    threads = _positive_int("--threads", args.threads)
    repeat = _positive_int("--repeat", args.repeat)
    out = check_out(str(args.out))
    specs = _load(args.specs)

    from parity.bench import memory, summary
    from parity.bench import threads as threads_mod
    from parity.bench.steps import BUILDERS, frameworks
    from parity.bench.timing import interleaved
    from parity.run import prepare

    # Memory first, in its own process, while this one imports the frameworks; timing starts
    # only once that process has finished (it would compete for the CPUs).
    mem = memory.MemoryProcess(specs, threads)
    try:
        limiter = threads_mod.set_threads(threads)  # before TensorFlow's runtime starts in this process
        peaks = list(tqdm(mem.results(), total=len(specs), desc="memory (own process)", unit="case",
                          file=sys.stderr, disable=None))
    finally:
        mem.close()
    try:
        blas = threads_mod.blas_by_backend()
        measured, notes = [], []
        bar = tqdm(specs, desc="timing", unit="case", file=sys.stderr, disable=None)
        for spec in bar:
            bar.set_postfix_str(f"{spec.name} {spec.dtype}")
            case = prepare(spec)
            with frameworks(spec.dtype):
                steps = {backend: build(case) for backend, build in BUILDERS.items()}
                timings = interleaved(steps, repeat, WARMUP_ROUNDS)
                traced = steps["keras"].tracing_count
            if traced != 1:
                notes.append(f"{spec.name} [{spec.dtype}]: the Keras tf.function was traced {traced} times")
            notes += _loss_notes(spec, timings.first_loss, timings.last_loss)
            measured.append((spec, timings))
            del steps
        rows = []
        for (spec, timings), peak in zip(measured, peaks):
            rows += summary.summarize(spec.name, spec.dtype, timings.times, peak, threads, blas)
        text = summary.markdown(rows, command=_command(args, threads, repeat), machine=threads_mod.machine(),
                                threads=threads, repeat=repeat, warmup=WARMUP_ROUNDS, blas=blas,
                                threadpools=threads_mod.threadpools(), notes=notes)
    finally:
        limiter.restore_original_limits()
    _write_both(out, lambda path: summary.write_csv(rows, path), lambda path: path.write_text(text, encoding="utf-8"))
    for r in rows:
        print(f"{r['case']:32s} {r['dtype']:8s} {r['backend']:8s} median {r['median_s'] * 1e3:9.4f} ms  "
              f"ratio to torch {r['ratio_to_torch']:5.2f}  peak extra {r['peak_extra_bytes']} B")
    for n in notes:
        print(f"note: {n}")
    print(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.csv'}")
    return 0


def _write_both(out: Path, write_csv, write_md) -> None:
    """benchmarks.csv and benchmarks.md into ``out`` (made if absent; other files in it are left
    alone): each written to a temporary file beside it, and both renamed in only once both are
    complete, so a failed or interrupted write leaves the previous pair, never half a file or a
    csv from one run beside the md of another."""
    import os

    out.mkdir(exist_ok=True)
    pending = []
    try:
        for name, write in (("benchmarks.csv", write_csv), ("benchmarks.md", write_md)):
            tmp = out / f".{name}.parity-tmp-{os.getpid()}"
            pending.append((tmp, out / name))
            write(tmp)
        for tmp, final in pending:
            os.replace(tmp, final)
    finally:
        for tmp, _ in pending:
            if tmp.exists():
                tmp.unlink()
