"""``parity merge DIR ... --out DIR``: the shard outputs of one selection joined into the report
the unsharded run writes.

``parity run --shard I/N --out DIR`` writes, besides the FIRM artifacts (whose results.csv rows
name their case and dtype, so the CSVs alone can be concatenated), ``shard.pickle``: the shard's
place in the selection and its cases' full results, enough to write every artifact again::

    {"format": 1, "shard": [I, N],
     "selection": [[name, dtype], ...],            # the whole selection, in run order
     "cases": [[position, result, error], ...]}    # this shard's cases: parity.run.CaseResult or None

``merge`` checks that the folders are the shards 1/N .. N/N of one selection (each once, the same
N and the same selection), puts the cases back in selection order and writes results.csv,
tensors.npz, environment.json (the merging machine's), report.md and report.html with the writer
``parity run`` uses, published the same way (``parity.report.publish``: staged, swapped in whole).
So the merged folder equals the unsharded run's, byte for byte in results.csv and tensors.npz.

A shard file is a pickle: merge only folders your own runs wrote (unpickling runs code named in
the file). Shards and merge must run the same version of parity (the format number is checked,
the classes are the ones imported here).
"""
from __future__ import annotations

import pickle
from pathlib import Path

from parity.cli_checks import UsageError
from parity.spec.errors import printable

SHARD_FILE = "shard.pickle"
FORMAT = 1


def shard_record(selection, i: int, n: int, positions, outcomes) -> dict:
    """The content of ``shard.pickle`` for shard i/n of ``selection`` (CaseSpecs, run order):
    ``positions[k]`` is the place in ``selection`` of ``outcomes[k]`` (``parity.pool.Outcome``)."""
    return {"format": FORMAT, "shard": [i, n],
            "selection": [[s.name, s.dtype] for s in selection],
            "cases": [[p, o.result, o.error] for p, o in zip(positions, outcomes)]}


def write_shard(record: dict, folder: Path) -> None:
    with open(Path(folder) / SHARD_FILE, "wb") as f:
        pickle.dump(record, f, protocol=pickle.HIGHEST_PROTOCOL)


def read_shard(folder: str) -> dict:
    path = Path(folder) / SHARD_FILE
    shown = printable(str(folder))
    if not Path(folder).is_dir():
        raise UsageError(f"merge: {shown}: {'is not a folder' if Path(folder).exists() else 'no such folder'}")
    if not path.is_file():
        raise UsageError(f"merge: {shown}: no {SHARD_FILE} (not written by parity run --shard I/N)")
    try:
        with open(path, "rb") as f:
            record = pickle.load(f)
    except Exception as exc:  # truncated, another version's classes, not a pickle at all
        raise UsageError(f"merge: {printable(str(path))}: unreadable ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        got = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise UsageError(f"merge: {printable(str(path))}: expected shard format {FORMAT}, got {got!r}")
    problem = _malformed(record)
    if problem:
        raise UsageError(f"merge: {printable(str(path))}: not a shard record ({problem})")
    return record


def _malformed(record: dict) -> str | None:
    """What in a format-1 record does not have the documented form (the module doc), or None."""
    from parity.run import CaseResult

    def whole(v):
        return isinstance(v, int) and not isinstance(v, bool)

    shard, selection, cases = record.get("shard"), record.get("selection"), record.get("cases")
    if not (isinstance(shard, list) and len(shard) == 2 and all(whole(v) for v in shard) and 1 <= shard[0] <= shard[1]):
        return f"shard: expected [I, N] with 1 <= I <= N, got {shard!r}"[:200]
    if not (isinstance(selection, list) and all(isinstance(c, list) and len(c) == 2 and all(isinstance(v, str) for v in c)
                                                for c in selection)):
        return "selection: expected a list of [name, dtype]"
    if not isinstance(cases, list):
        return "cases: expected a list of [position, result, error]"
    for case in cases:
        if not (isinstance(case, list) and len(case) == 3 and whole(case[0]) and 0 <= case[0] < len(selection)
                and (case[1] is None or isinstance(case[1], CaseResult)) and (case[2] is None or isinstance(case[2], str))
                and (case[1] is None) != (case[2] is None)):
            return "cases: expected [position in the selection, a CaseResult or None, an error line or None]"
    return None


def join(folders: list[str]) -> tuple[list, list]:
    """(CaseResults in selection order, [(name, dtype, error)] of the cases that crashed), or
    UsageError naming the folder that does not fit."""
    records = [(f, read_shard(f)) for f in folders]
    first_dir, first = records[0]
    n = first["shard"][1]
    seen: dict[int, str] = {}
    for folder, rec in records:
        shown = printable(str(folder))
        i, m = rec["shard"]
        if m != n:
            raise UsageError(f"merge: {shown}: shard {i}/{m}, but {printable(str(first_dir))} is one of {n} shards")
        if rec["selection"] != first["selection"]:
            raise UsageError(f"merge: {shown}: shard of another selection than {printable(str(first_dir))} "
                             "(other cases or dtypes)")
        if i in seen:
            raise UsageError(f"merge: {shown}: shard {i}/{n} given twice (also {printable(seen[i])})")
        seen[i] = str(folder)
    missing = [f"{i}/{n}" for i in range(1, n + 1) if i not in seen]
    if missing:
        raise UsageError(f"merge: shard {', '.join(missing)} missing (got {len(seen)} of {n})")
    selection = first["selection"]
    by_position: dict[int, tuple] = {}
    for _, rec in records:
        for position, result, error in rec["cases"]:
            by_position[position] = (result, error)
    if sorted(by_position) != list(range(len(selection))):
        raise UsageError(f"merge: the shards hold {len(by_position)} of the selection's {len(selection)} cases")
    results, not_run = [], []
    for position, (name, dtype) in enumerate(selection):
        result, error = by_position[position]
        if result is not None:
            results.append(result)
        else:
            not_run.append((name, dtype, error))
    return results, not_run
