"""Row statuses and case verdicts (DESIGN.md, FIRM): the one ordered table every reader of results
uses (terminal, JSON lines, JUnit XML, report.md, report.html, the atlas).

A row of ``results.csv`` has a ``status``; a case's verdict is its worst row's status, worst
meaning later in ``ORDER``::

    pass < convention < noise < deviation < defect < diverged < fail < error

``passed`` is true for pass, convention, noise, deviation and defect; the command exits 0 when
every case's verdict is one of those and 1 when any is diverged, fail or error. A status that is
not in the table (a newer writer, an older reader) is treated as a failure, never as a pass.

Colours are the Okabe-Ito palette (distinguishable with every common colour-vision deficiency);
every place that shows a colour also shows the status as text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    colour: str  # background in the HTML report (Okabe-Ito)
    ink: str  # text colour readable on ``colour``
    ansi: str  # terminal colour (SGR parameters)
    meaning: str  # one sentence, for the legend


ORDER: tuple[Verdict, ...] = (
    Verdict("pass", True, "#cde9dc", "#00573a", "32",
            "within the tolerance: max|a - b| <= rtol * max(max|a|, max|b|)"),
    Verdict("convention", True, "#cfe6f5", "#004a7a", "36",
            "torch and Keras define the operation differently; each is checked strictly against a scratchnet "
            "twin in its own convention and the measured difference is shown"),
    Verdict("noise", True, "#e4e4e4", "#333333", "2",
            "free-running trajectories parted by rounding that the run itself amplifies (a chaotic run, or a "
            "noise gradient under Adam): a rerun from weights perturbed by rtol parts at least as far"),
    Verdict("deviation", True, "#fbeec2", "#6b4d00", "33",
            "a framework computes with float32 values in float64 math: the rerun with the float32-exact values "
            "agrees strictly (or, for a layer's constant, within the bound its mapping declares)"),
    Verdict("defect", True, "#f6dbe8", "#7a1f55", "35",
            "a framework's known bug, named, demonstrated by its counterfactual rerun, with a repro script"),
    Verdict("diverged", False, "#f9d9c0", "#7a3300", "33;1",
            "the loss or a weight became non-finite or exploded in every framework alike; later steps not compared"),
    Verdict("fail", False, "#f4c7b8", "#8a1c00", "31;1",
            "a mismatch beyond the tolerance: the report names the tensor, the pair and the odd one out"),
    Verdict("error", False, "#dcc6f0", "#4b1a78", "35;1",
            "the case crashed in a backend; the other cases still ran"),
)

BY_NAME: dict[str, Verdict] = {v.name: v for v in ORDER}
NAMES: tuple[str, ...] = tuple(v.name for v in ORDER)
PASSING: frozenset[str] = frozenset(v.name for v in ORDER if v.passed)
_UNKNOWN_RANK = len(ORDER)  # an unknown status ranks as bad as it gets


def rank(status: str) -> int:
    """Position in ``ORDER`` (higher is worse); an unknown status is worse than any known one."""
    return NAMES.index(status) if status in BY_NAME else _UNKNOWN_RANK


def worst(statuses: Iterable[str]) -> str:
    """The case verdict of these row statuses ("pass" for none)."""
    out = "pass"
    for s in statuses:
        if rank(s) > rank(out):
            out = s
    return out


def passed(status: str) -> bool:
    return status in PASSING


def exit_code(verdicts: Iterable[str]) -> int:
    """0 when every verdict passes, 1 otherwise (exit 2, bad input, is decided before any case runs)."""
    return 0 if all(passed(v) for v in verdicts) else 1


def label(status: str) -> str:
    """How a verdict is written for people: failing ones in capitals (FAIL, ERROR, DIVERGED)."""
    return status if passed(status) else status.upper()


def row_status(row) -> str:
    """A row's status; rows from writers that predate the ``status`` column fall back on ``passed``."""
    status = row.get("status") if hasattr(row, "get") else getattr(row, "status", None)
    if isinstance(status, str) and status:
        return status
    return "pass" if bool(row["passed"]) else "fail"
