"""``python -m parity run | list | explain``.

Exit codes: 0 everything within tolerance; 1 a mismatch (the report names the tensor, the pair,
the size and the odd one out) or a case that raised (an ``ERROR`` line; the other cases still run
and are reported); 2 bad input, usage errors included (one line naming the file or argument, the
field and what is wrong; no traceback; nothing written to --out); 130 interrupted (Ctrl-C, at
any moment, the imports included: the line ``interrupted``, no traceback; --out keeps its previous
report or holds the new one complete, ``parity.report.publish``). Arguments are checked before any
case runs (``parity.cli_checks``).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from parity.cli_checks import UsageError, check_out, locked_out
from parity.spec.errors import printable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors become a UsageError (one line, exit 2) instead of the usage
    block; ``--help`` still prints the full help. Subcommand parsers inherit the class."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m parity", description="one spec, three frameworks, every tensor compared")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run specs (default: the built-in catalog) through scratchnet, torch and keras")
    run.add_argument("specs", nargs="*", metavar="SPEC", help="spec files (.json or .toml); none: the whole catalog")
    run.add_argument("--dtype", choices=["float32", "float64"], help="override the specs' dtype")
    run.add_argument("--out", default="parity-out", help="output folder (default: parity-out)")
    sub.add_parser("list", help="print the built-in catalog")
    explain = sub.add_parser("explain", help="print the atlas entry of a layer, activation, loss or optimizer type")
    explain.add_argument("type")
    schema = sub.add_parser("schema", help="print the spec format reference (docs/spec.md); --json: its JSON Schema")
    schema.add_argument("--json", action="store_true", help="print the JSON Schema of a spec file instead")
    from parity.bench.command import add_arguments as bench_arguments

    bench_arguments(sub.add_parser("bench", help="time one training step in scratchnet, torch and keras (default: the bench catalog)"))
    return parser


def _load(args):
    from parity.spec import load_catalog, load_spec

    if args.specs:
        specs = [load_spec(path) for path in args.specs]
        specs = [s.with_dtype(args.dtype) if args.dtype else s for s in specs]
        seen: dict[tuple[str, str], str] = {}
        for s in specs:  # results and tensors are keyed by name and dtype
            key = (s.name, s.dtype)
            if key in seen:
                raise UsageError(f"{s.source}: name: {s.name!r} in {s.dtype} is already run from {seen[key]}")
            seen[key] = s.source
        return specs
    catalog = load_catalog()
    dtypes = [args.dtype] if args.dtype else ["float64", "float32"]
    return [s.with_dtype(d) for d in dtypes for s in catalog]


def _check_out(out) -> Path:
    return check_out(str(out))


def cmd_run(args) -> int:
    out = check_out(args.out)
    specs = _load(args)
    from parity.run import check_supported

    for spec in specs:  # every spec torch can twin, before any case runs (exit 2 otherwise)
        check_supported(spec)
    with locked_out(out, args.out) as folder:  # --out's lock, held until its report is in place
        return _run_and_report(args, specs, folder)


def _run_and_report(args, specs, folder) -> int:
    from tqdm import tqdm

    from parity import api
    from parity.report import write_artifacts

    results, errors = [], []
    bar = tqdm(specs, desc="cases", unit="case", file=sys.stderr, disable=None)
    for spec in bar:
        bar.set_postfix_str(f"{spec.name} {spec.dtype}")
        try:
            res = api.check(spec).case
        except Exception as exc:  # one crashing case must not lose the others (Ctrl-C still stops)
            error = _one_line(exc)
            errors.append((spec, error))
            tqdm.write(f"ERROR {spec.name} [{spec.dtype}]: {error}", file=sys.stdout)
            continue
        results.append(res)
        verdict = res.verdict if res.passed or res.verdict == "diverged" else "FAIL"
        tqdm.write(f"{verdict:4s}  {spec.name} [{spec.dtype}]" + _first_failure(res), file=sys.stdout)
    failed = [r for r in results if not r.passed]
    summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
    if errors:
        summary += f", {len(errors)} did not run ({', '.join(f'{s.name} [{s.dtype}]' for s, _ in errors)})"
    if not results:  # nothing to report: leave --out as it was
        print(f"{summary}; no report written")
        return 1
    not_run = [(s.name, s.dtype, e) for s, e in errors]
    folder.publish(lambda staging: write_artifacts(results, staging, not_run))
    print(f"{summary}; report in {printable(args.out)}/report.md")
    return 1 if failed or errors else 0


def _one_line(exc: BaseException) -> str:
    """``<ExceptionType>: <first line of the message>``."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _first_failure(res) -> str:
    bad = [r for r in res.rows if not r["passed"]]
    if not bad:
        return ""
    if res.verdict == "diverged":
        return ": " + next(r["note"] for r in bad if r["status"] == "diverged")
    r = bad[0]
    return (f": {r['quantity']} {r['tensor']} (step {r['step']}) {r['backend_a']}-{r['backend_b']} max_rel {r['max_rel']:.2e}"
            f" > {r['tolerance']:.1e}; odd one out: {r['odd_one_out'] or '?'}")


def cmd_list(args) -> int:
    from parity.spec import load_catalog

    for spec in load_catalog():
        kinds = ", ".join(l.type for l in spec.layers)
        print(f"{spec.name:32s} {spec.dtype:8s} {spec.loss.type:32s} {spec.optimizer.type:8s} steps={spec.steps:<5d} [{kinds}]")
    return 0


def cmd_explain(args) -> int:
    from parity.atlas import entry_text, known_types, load_results

    if args.type not in known_types():
        raise UsageError(f"explain: unknown type {args.type!r}; expected one of {', '.join(sorted(known_types()))}")
    print(entry_text(args.type, load_results()))
    return 0


def cmd_schema(args) -> int:
    from parity.spec import reference

    sys.stdout.write(reference.json_text() if args.json else reference.markdown())
    return 0


def cmd_bench(args) -> int:
    from parity.bench import cmd_bench as bench

    return bench(args)


def main(argv=None) -> int:
    from parity.spec import SpecError

    try:
        args = _parser().parse_args(argv)
        return {"run": cmd_run, "list": cmd_list, "explain": cmd_explain, "bench": cmd_bench,
                "schema": cmd_schema}[args.command](args)
    except (SpecError, UsageError) as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {printable(exc.filename or '')}: {printable(exc.strerror or exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
