"""``python -m parity run | merge | fuzz | list | explain | schema | bench | selftest | diagnose | import``.

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

from parity import verdicts  # noqa: E402  (the status table: no framework imports)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors become a UsageError (one line, exit 2) instead of the usage
    block; ``--help`` still prints the full help. Subcommand parsers inherit the class."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m parity", description="one spec, three frameworks, every tensor compared")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run specs (default: the built-in catalog) through scratchnet, torch and keras")
    run.add_argument("specs", nargs="*", metavar="SPEC",
                     help="spec files (.json or .toml) or catalog case names; none: the whole catalog")
    run.add_argument("-k", dest="patterns", action="append", metavar="PATTERN",
                     help="only cases whose name matches this glob (repeatable), e.g. -k 'opt-*'")
    loud = run.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="print only the cases that did not pass, and the summary")
    loud.add_argument("-v", "--verbose", action="store_true", help="full reasons, and the failing rows of failing cases")
    run.add_argument("--json", action="store_true",
                     help="one JSON object per case on stdout (name, dtype, verdict, worst row, odd one out); "
                          "everything else on stderr")
    run.add_argument("--junit-xml", metavar="FILE", help="write a JUnit XML file: one testcase per case and dtype")
    run.add_argument("--dtype", choices=["float32", "float64"], help="override the specs' dtype")
    run.add_argument("--out", default="parity-out", help="output folder (default: parity-out)")
    run.add_argument("-j", "--jobs", default="1", metavar="N",
                     help="run the cases in N worker processes, at most one per case and max(2, CPUs) (results "
                          "identical to -j 1; default 1)")
    run.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     help="hand the cases to this dask.distributed scheduler (the [cluster] extra; workers "
                          "started with --nthreads 1); results identical to -j 1")
    run.add_argument("--shard", metavar="I/N",
                     help="run every N-th case of the selection, from the I-th on (1-based); the folder "
                          "also gets shard.pickle, for parity merge")
    merge = sub.add_parser("merge", help="join the outputs of parity run --shard 1/N .. N/N into one report")
    merge.add_argument("dirs", nargs="+", metavar="DIR", help="folders written by parity run --shard I/N")
    merge.add_argument("--out", required=True, help="the merged report's folder")
    merge.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    fuzz = sub.add_parser("fuzz", help="generated cases through the three backends; each disagreement shrunk to a "
                                       "minimal spec in --out")
    fuzz.add_argument("--n", default="100", metavar="N", help="generated cases (default 100)")
    fuzz.add_argument("--seed", default="0", metavar="S", help="hypothesis's seed (default 0): the same N and S, the same cases")
    fuzz.add_argument("--out", default="fuzz-out", help="output folder (default: fuzz-out)")
    fuzz.add_argument("--shrink-runs", default="60", metavar="K",
                      help="at most K reruns to shrink each finding (default 60; 0: keep the specs as generated)")
    fuzz.add_argument("-q", "--quiet", action="store_true", help="print only the cases that did not pass, and the summary")
    sub.add_parser("list", help="print the built-in catalog")
    explain = sub.add_parser("explain", help="print the atlas entry of a layer, activation, loss or optimizer type")
    explain.add_argument("type", help="a spec type or a framework class name (lstm, LSTM, nn.LSTM, keras.layers.LSTM)")
    schema = sub.add_parser("schema", help="print the spec format reference (docs/spec.md); --json: its JSON Schema")
    schema.add_argument("--json", action="store_true", help="print the JSON Schema of a spec file instead")
    from parity.bench.command import add_arguments as bench_arguments

    bench_arguments(sub.add_parser("bench", help="time one training step in scratchnet, torch and keras (default: the bench catalog)"))
    from parity.selftest import add_arguments as selftest_arguments

    selftest_arguments(sub.add_parser("selftest", help="plant each known bug in each backend: is it caught and blamed right?"))
    from parity.diagnose import add_arguments as diagnose_arguments

    diagnose_arguments(sub.add_parser("diagnose", help="name the known convention switch that makes a failing comparison agree"))
    from parity.importers.command import add_arguments as import_arguments

    import_arguments(sub.add_parser("import", help="write the spec (and --weights) of an existing torch or Keras model"))
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"parity {version('scratchnet-parity')}"
    except PackageNotFoundError:
        return "parity (not installed: version unknown)"


def _load(args):
    from parity.selection import SelectionError, resolve

    try:
        specs = resolve(args.specs, args.patterns, args.dtype)
    except SelectionError as exc:
        raise UsageError(str(exc)) from None
    if args.specs:
        seen: dict[tuple[str, str], str] = {}
        for s in specs:  # results and tensors are keyed by name and dtype
            key = (s.name, s.dtype)
            if key in seen:
                raise UsageError(f"{s.source}: name: {s.name!r} in {s.dtype} is already run from {seen[key]}")
            seen[key] = s.source
    return specs


def _check_out(out) -> Path:
    return check_out(str(out))


def _jobs(value: str) -> int:
    """``-j N``: a whole number of worker processes, at least 1."""
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1 or str(jobs) != value.strip():
        raise UsageError(f"-j {printable(value)}: expected a whole number of worker processes >= 1")
    return jobs


def _shard(args, specs):
    """(specs of the shard, their places in the selection, (I, N)) for ``--shard I/N``; all specs otherwise."""
    if not args.shard:
        return specs, list(range(len(specs))), None
    from parity.pool import parse_shard, shard

    try:
        i, n = parse_shard(args.shard)
    except ValueError as exc:
        raise UsageError(f"--shard: {exc}") from None
    if i > len(specs):
        raise UsageError(f"--shard {i}/{n}: selects no case (the selection has {len(specs)})")
    return shard(specs, i, n), list(range(len(specs)))[i - 1::n], (i, n)


def cmd_run(args) -> int:
    jobs = _jobs(args.jobs)
    out = check_out(args.out)
    if args.junit_xml is not None:
        _check_file_target(args.junit_xml, "--junit-xml")
    selection = _load(args)
    specs, positions, part = _shard(args, selection)
    from parity.run import check_supported

    for spec in specs:  # every spec torch can twin, before any case runs (exit 2 otherwise)
        check_supported(spec)
    client = None
    if args.scheduler:
        if jobs > 1:
            raise UsageError("--scheduler: the cluster's workers run the cases; give it without -j")
        from parity.pool import connect

        try:
            client = connect(args.scheduler)
        except ValueError as exc:
            raise UsageError(f"--scheduler {printable(args.scheduler)}: {exc}") from None
    try:
        with locked_out(out, args.out) as folder:  # --out's lock, held until its report is in place
            return _run_and_report(args, specs, folder, jobs, (selection, positions, part), client)
    finally:
        if client is not None:
            client.close()


def _run_and_report(args, specs, folder, jobs: int = 1, sharding=None, client=None) -> int:
    from tqdm import tqdm

    from parity import pool, terminal
    from parity.report import write_artifacts

    results, errors, records, done = [], [], [], []
    say = sys.stderr if args.json else sys.stdout  # with --json, stdout holds only JSON lines
    colour = terminal.use_colour(say)
    bar = tqdm(total=len(specs), desc="cases", unit="case", file=sys.stderr, disable=None)
    bar.set_postfix_str(f"{specs[0].name} {specs[0].dtype}" if specs else "")
    for k, outcome in enumerate(pool.outcomes(specs, jobs, client)):
        spec = outcome.spec
        done.append(outcome)
        bar.update(1)
        if k + 1 < len(specs):
            bar.set_postfix_str(f"{specs[k + 1].name} {specs[k + 1].dtype}")
        if outcome.error is not None:
            error = outcome.error
            errors.append((spec, error))
            records.append(terminal.json_record(spec.name, spec.dtype, [], error=error))
            tqdm.write(terminal.error_line(spec.name, spec.dtype, error, colour), file=say)
        else:
            res = outcome.result
            results.append(res)
            records.append(terminal.json_record(spec.name, spec.dtype, res.rows))
            if not (args.quiet and records[-1]["passed"]):
                line = terminal.case_line(spec.name, spec.dtype, res.rows, colour, verbose=args.verbose)
                if args.verbose and not records[-1]["passed"]:
                    line += "\n" + terminal.verbose_details(res.rows)
                tqdm.write(line, file=say)
        if args.json:
            sys.stdout.write(terminal.json_line(records[-1]) + "\n")
            sys.stdout.flush()
    summary = terminal.summary(records)
    code = verdicts.exit_code(r["verdict"] for r in records)
    if args.junit_xml:
        terminal.write_junit(records, Path(args.junit_xml))
    if not results:  # nothing to report: leave --out as it was
        print(f"{summary}; no report written", file=say)
        return 1
    bar.close()
    not_run = [(s.name, s.dtype, e) for s, e in errors]

    def write(staging):
        write_artifacts(results, staging, not_run)
        if sharding is not None and sharding[2] is not None:
            from parity import merge

            selection, positions, (i, n) = sharding
            merge.write_shard(merge.shard_record(selection, i, n, positions, done), staging)

    folder.publish(write)
    print(f"{summary}; report in {printable(args.out)}/report.html and report.md", file=say)
    return code


def cmd_merge(args) -> int:
    """``parity merge DIR ... --out DIR`` (``parity.merge``): exit 0/1 as the merged run's cases."""
    from parity import merge, terminal
    from parity.report import write_artifacts

    out = check_out(args.out)
    results, not_run = merge.join(args.dirs)
    records = [terminal.json_record(r.spec.name, r.spec.dtype, r.rows) for r in results]
    records += [terminal.json_record(name, dtype, [], error=error) for name, dtype, error in not_run]
    if not args.quiet:
        for r in results:
            print(terminal.case_line(r.spec.name, r.spec.dtype, r.rows))
        for name, dtype, error in not_run:
            print(terminal.error_line(name, dtype, error))
    summary = terminal.summary(records)
    if not results:
        print(f"{summary}; no report written")
        return 1
    with locked_out(out, args.out) as folder:
        folder.publish(lambda staging: write_artifacts(results, staging, not_run))
    print(f"{summary}; merged {len(args.dirs)} shards; report in {printable(args.out)}/report.html and report.md")
    return verdicts.exit_code(r["verdict"] for r in records)


def _check_file_target(value: str | Path, option: str) -> None:
    """``--junit-xml FILE``: a file parity may (re)write. A file already there is replaced only
    when it is empty or a JUnit XML file (a ``<testsuite``/``<testsuites`` in its first KiB): a typo
    naming the user's spec or notes must not overwrite them."""
    if not str(value).strip():
        raise UsageError(f"{option}: expected a file path, got an empty string")
    path = Path(value)
    parent = path.resolve().parent
    if path.is_dir():
        raise UsageError(f"{option} {printable(str(path))}: is a folder")
    if os.path.lexists(path):
        if not path.is_file():
            raise UsageError(f"{option} {printable(str(path))}: exists and is not a regular file")
        try:
            with open(path, "rb") as f:
                head = f.read(1024)
        except OSError:  # unreadable: not known to be ours
            head = b"?"
        if head.strip() and b"<testsuite" not in head:
            raise UsageError(f"{option} {printable(str(path))}: exists and is not a JUnit XML file (not "
                             "overwritten: remove it or name another file)")
    if not parent.is_dir():
        raise UsageError(f"{option} {printable(str(path))}: parent folder {printable(str(parent))} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {printable(str(path))}: not writable")


def _count(value: str, flag: str, least: int) -> int:
    try:
        n = int(value)
    except ValueError:
        n = least - 1
    if n < least or str(n) != value.strip():
        raise UsageError(f"{flag} {printable(value)}: expected a whole number >= {least}")
    return n


def cmd_fuzz(args) -> int:
    """``parity fuzz`` (``parity.fuzz.campaign``): exit 0 when every generated case passed, 1 otherwise."""
    n, seed = _count(args.n, "--n", 1), _count(args.seed, "--seed", 0)
    shrink_runs = _count(args.shrink_runs, "--shrink-runs", 0)
    out = check_out(args.out)
    try:
        import hypothesis  # noqa: F401  (a runtime dependency: pyproject.toml)
    except ImportError:
        raise UsageError("fuzz: needs hypothesis (pip install hypothesis)") from None
    from parity.fuzz.campaign import run_campaign, write_campaign

    def say(line: str) -> None:
        if not args.quiet or not line.startswith("pass "):
            print(line, flush=True)

    import signal

    from parity.fuzz.campaign import Campaign

    def stop(signum, frame):
        raise KeyboardInterrupt
    campaign = Campaign(n, seed)
    with locked_out(out, args.out) as folder:
        previous = signal.signal(signal.SIGTERM, stop)  # a killed campaign keeps the cases it ran
        try:
            run_campaign(n, seed, shrink_runs=shrink_runs, say=say, campaign=campaign)
        except KeyboardInterrupt:
            campaign.interrupted = True
        finally:
            signal.signal(signal.SIGTERM, previous)
        if campaign.cases:
            folder.publish(lambda staging: write_campaign(campaign, staging))
    if campaign.interrupted:
        print(f"interrupted after {len(campaign.cases)} cases; " + (f"they are in {printable(args.out)}/summary.md"
              if campaign.cases else "nothing written"), file=sys.stderr)
        return 130
    groups = sorted({f.outcome.signature or "?" for f in campaign.findings})
    print(f"{len(campaign.cases)} generated cases: {campaign.passed} passed, {len(campaign.findings)} findings"
          + (f" ({', '.join(groups)})" if groups else "") + f"; in {printable(args.out)}/summary.md")
    return 1 if campaign.findings else 0


def cmd_list(args) -> int:
    from parity.spec import load_catalog

    for spec in load_catalog():
        kinds = ", ".join(l.type for l in spec.layers)
        print(f"{spec.name:32s} {spec.dtype:8s} {spec.loss.type:32s} {spec.optimizer.type:8s} steps={spec.steps:<5d} [{kinds}]")
    return 0


def cmd_explain(args) -> int:
    from parity.atlas import entry_text, load_results, resolve

    try:
        type_name = resolve(args.type)
    except KeyError as exc:
        raise UsageError(f"explain: {exc.args[0]}") from None
    print(entry_text(type_name, load_results()))
    return 0


def cmd_schema(args) -> int:
    from parity.spec import reference

    sys.stdout.write(reference.json_text() if args.json else reference.markdown())
    return 0


def cmd_diagnose(args) -> int:
    from parity.diagnose import cmd_diagnose as diagnose

    return diagnose(args)


def cmd_selftest(args) -> int:
    from parity.selftest import cmd_selftest as selftest

    return selftest(args)


def cmd_import(args) -> int:
    from parity.importers.command import cmd_import as run_import

    return run_import(args)


def cmd_bench(args) -> int:
    from parity.bench import cmd_bench as bench

    return bench(args)


def main(argv=None) -> int:
    from parity.spec import SpecError

    try:
        args = _parser().parse_args(argv)
        return {"run": cmd_run, "merge": cmd_merge, "fuzz": cmd_fuzz, "list": cmd_list, "explain": cmd_explain, "bench": cmd_bench,
                "schema": cmd_schema, "selftest": cmd_selftest,
                "diagnose": cmd_diagnose, "import": cmd_import}[args.command](args)
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
