"""What ``parity run`` says about each case: the terminal line, the failing-rows table, the JSON
line (``--json``) and the JUnit XML file (``--junit-xml``), all from a case's rows and the one
ordered table of statuses (``parity.verdicts``).

Terminal lines (stdout; with ``--json`` they go to stderr and stdout holds only JSON)::

    pass  opt-adam [float64]  (convention 1.6e-03 torch~keras: adam: Keras's eps_hat = torch's eps ...)
    FAIL  my-case [float32]: grad 0_dense/kernel (step 0) scratch-torch max_rel 3.1e-02 > 1.0e-05; odd one out: torch
    ERROR broken [float64]: ValueError: ...

The first word says whether the case passed (``pass``) or not (its verdict in capitals); the
parenthesis names every excused difference (convention, noise, deviation, defect) with its largest
measured size, the pair (``a~b``) and the reason. ``-q`` prints only cases that did not pass and
the summary; ``-v`` adds the full reasons and the failing rows of each failing case. The verdict
word is coloured when the stream is a terminal and ``NO_COLOR`` is not set.

JSON line, one object per case (``json_record``)::

    {"name", "dtype", "verdict", "passed", "odd_one_out", "worst": {step, quantity, tensor, backend_a,
     backend_b, max_abs, max_rel, tolerance, status, note}, "counts": {status: rows}, "excused": [...]}

``worst`` is the row that decides the verdict: among the rows of the worst status, the one closest
to (or furthest past) its tolerance. A case that crashed has verdict ``error``, ``worst`` null and
its message in ``error``.
"""
from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterable

from parity import verdicts

EXCUSED = tuple(v.name for v in verdicts.ORDER if v.passed and v.name != "pass")
ROW_FIELDS = ("step", "quantity", "tensor", "backend_a", "backend_b", "max_abs", "max_rel", "tolerance", "status",
              "note")
TABLE_LIMIT = 20


def sig(value, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (``1.23e-05``, ``0.0123``, ``1.23``); ints as they are."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    return f"{v:.{digits - 1}e}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.{digits}g}"


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, status: str, colour: bool) -> str:
    v = verdicts.BY_NAME.get(status)
    if not colour:
        return text
    code = v.ansi if v else "31;1"
    return f"\x1b[{code}m{text}\x1b[0m"


def statuses(rows: Iterable[dict]) -> list[str]:
    return [verdicts.row_status(r) for r in rows]


def case_verdict(rows: list[dict]) -> str:
    return verdicts.worst(statuses(rows))


def _margin(row: dict) -> float:
    tol = float(row.get("tolerance") or 0.0)
    rel = float(row.get("max_rel") or 0.0)
    if tol > 0:
        return rel / tol
    return math.inf if rel > 0 else 0.0


def worst_row(rows: list[dict]) -> dict | None:
    """The row that decides the verdict: the worst status, then the largest max_rel / tolerance."""
    if not rows:
        return None
    return max(rows, key=lambda r: (verdicts.rank(verdicts.row_status(r)), _margin(r)))


def _short(text: str, width: int = 64) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def excused(rows: list[dict]) -> list[dict]:
    """One entry per excused status present: its largest max_rel, the pair, the reason."""
    out = []
    for status in EXCUSED:
        mine = [r for r in rows if verdicts.row_status(r) == status]
        if not mine:
            continue
        top = max(mine, key=lambda r: float(r["max_rel"]))
        out.append({"status": status, "max_rel": float(top["max_rel"]), "pair": f"{top['backend_a']}~{top['backend_b']}",
                    "tensor": top["tensor"], "rows": len(mine), "reason": str(top.get("note") or "")})
    return out


def _excused_text(rows: list[dict], verbose: bool) -> str:
    parts = [f"{e['status']} {e['max_rel']:.1e} {e['pair']}: {e['reason'] if verbose else _short(e['reason'])}"
             for e in excused(rows)]
    return f"  ({'; '.join(parts)})" if parts else ""


def _failure_text(row: dict) -> str:
    return (f": {row['quantity']} {row['tensor']} (step {row['step']}) {row['backend_a']}-{row['backend_b']} "
            f"max_rel {float(row['max_rel']):.2e} > {float(row['tolerance']):.1e}; "
            f"odd one out: {row.get('odd_one_out') or '?'}")


def case_line(name: str, dtype: str, rows: list[dict], colour: bool = False, verbose: bool = False) -> str:
    verdict = case_verdict(rows)
    word = "pass" if verdicts.passed(verdict) else verdicts.label(verdict)
    head = f"{paint(f'{word:4s}', verdict, colour)}  {name} [{dtype}]"
    if verdicts.passed(verdict):
        return head + _excused_text(rows, verbose)
    return head + _failure_text(worst_row(rows))


def error_line(name: str, dtype: str, error: str, colour: bool = False) -> str:
    return f"{paint('ERROR', 'error', colour)} {name} [{dtype}]: {error}"


def failing_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if not verdicts.passed(verdicts.row_status(r))]


TABLE_COLUMNS = ("step", "quantity", "tensor", "backend_a", "backend_b", "max_abs", "max_rel", "tolerance",
                 "worst_index", "odd_one_out")


def failing_table(rows: list[dict], limit: int = TABLE_LIMIT) -> tuple[str, list[list[str]]]:
    """(caption, cells) of the failing rows, worst first, numbers to 3 significant digits; the
    caption says how many are shown ("showing 20 of 433 failing rows")."""
    bad = sorted(failing_rows(rows), key=_margin, reverse=True)
    shown = bad[:limit]
    caption = (f"showing {len(shown)} of {len(bad)} failing rows (worst first)" if len(bad) > len(shown)
               else f"{len(bad)} failing row{'s' if len(bad) != 1 else ''}")
    return caption, [[sig(r.get(c, "")) if c in ("max_abs", "max_rel", "tolerance") else str(r.get(c, ""))
                      for c in TABLE_COLUMNS] for r in shown]


def text_table(header: Iterable[str], cells: list[list[str]], indent: str = "    ") -> str:
    header = list(header)
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(header)]
    fmt = lambda row: indent + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), *(fmt(r) for r in cells)])


def verbose_details(rows: list[dict]) -> str:
    """The failing rows of a failing case as a table, for ``-v``."""
    caption, cells = failing_table(rows)
    if not cells:
        return ""
    return f"    {caption}:\n" + text_table(TABLE_COLUMNS, cells)


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/nan
    return value


def json_record(name: str, dtype: str, rows: list[dict], error: str | None = None) -> dict:
    if error is not None:
        return {"name": name, "dtype": dtype, "verdict": "error", "passed": False, "odd_one_out": "",
                "worst": None, "counts": {}, "excused": [], "error": error}
    verdict = case_verdict(rows)
    worst = worst_row(rows)
    counts: dict[str, int] = {}
    for s in statuses(rows):
        counts[s] = counts.get(s, 0) + 1
    odd = sorted({str(r.get("odd_one_out") or "") for r in failing_rows(rows)} - {""})
    return {"name": name, "dtype": dtype, "verdict": verdict, "passed": verdicts.passed(verdict),
            "odd_one_out": ", ".join(odd),
            "worst": None if worst is None else {k: _plain(worst.get(k)) for k in ROW_FIELDS},
            "counts": {s: counts[s] for s in sorted(counts, key=verdicts.rank)},
            "excused": [{k: _plain(v) for k, v in e.items()} for e in excused(rows)]}


def json_line(record: dict) -> str:
    return json.dumps(record, sort_keys=False, allow_nan=False)


def summary(records: list[dict]) -> str:
    """``150 pass, 4 convention, 1 FAIL; failed: x [float32]`` in the table's order, then the cases
    that failed and those that did not run (at most 10 of each named)."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    text = ", ".join(f"{counts[s]} {verdicts.label(s)}" for s in sorted(counts, key=verdicts.rank)) or "no cases"
    for what, pick in (("failed", lambda r: not r["passed"] and r["verdict"] != "error"),
                       ("did not run", lambda r: r["verdict"] == "error")):
        names = [f"{r['name']} [{r['dtype']}]" for r in records if pick(r)]
        if names:
            text += f"; {what}: {', '.join(names[:10])}" + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return text


def write_junit(records: list[dict], path: Path) -> None:
    """One ``<testcase>`` per case and dtype: ``<failure>`` for fail and diverged, ``<error>`` for a
    crash; excused differences as ``<system-out>`` of the passing case. Written to a temporary
    file beside ``path`` and renamed, so a reader never sees half a file."""
    failures = sum(1 for r in records if not r["passed"] and r["verdict"] != "error")
    errors = sum(1 for r in records if r["verdict"] == "error")
    suite = ET.Element("testsuite", name="parity", tests=str(len(records)), failures=str(failures),
                       errors=str(errors), skipped="0")
    for r in records:
        case = ET.SubElement(suite, "testcase", classname=f"parity.{r['dtype']}", name=f"{r['name']} [{r['dtype']}]")
        ET.SubElement(case, "properties").append(ET.Element("property", name="verdict", value=r["verdict"]))
        if r["verdict"] == "error":
            ET.SubElement(case, "error", message=r.get("error", ""), type="error").text = r.get("error", "")
        elif not r["passed"]:
            w = r["worst"] or {}
            message = (f"{r['verdict']}: {w.get('quantity')} {w.get('tensor')} (step {w.get('step')}) "
                       f"{w.get('backend_a')}-{w.get('backend_b')} max_rel {sig(w.get('max_rel'))} > "
                       f"{sig(w.get('tolerance'))}; odd one out: {r['odd_one_out'] or '?'}")
            ET.SubElement(case, "failure", message=message, type=r["verdict"]).text = json.dumps(w)
        if r["excused"]:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{e['status']} {sig(e['max_rel'])} {e['pair']} ({e['rows']} rows): {e['reason']}" for e in r["excused"])
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
