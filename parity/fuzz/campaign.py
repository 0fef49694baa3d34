"""``parity fuzz --n N --seed S --out DIR``: N generated cases through the three backends; each
one that does not pass (a crash included) shrunk to a minimal spec and written to DIR, grouped by
its first failing quantity.

Generation: case k is drawn by hypothesis from the strategy (``parity.fuzz.strategy``) seeded
with (S, k) (``draw``; no example database), again with (S, k, r) while its ``structure`` repeats
an earlier case's; it runs once (``parity.pool.run_one``: ``parity.api.check``), named
``fuzz-<S>-<k>``. The same S draws the same cases, and --n 500 starts with --n 100's.

A finding's signature is what ``shrink`` keeps while it simplifies: ``error <ExceptionType>`` for
a crash, otherwise ``<verdict> <quantity>`` of the first row that did not pass (``fail grad``,
``fail step``, ``diverged loss``). Shrinking (``shrink``: a reducer of our own over layers, steps,
fields and sizes, each candidate checked by the parser and rerun, kept when the signature is
unchanged, until no candidate is kept or the run budget is spent) is greedy in this order:
drop a layer (its readers read what it read; a merge becomes its first input; layers no longer
read are dropped too), fewer steps, a field back to its default, the loss to mean_squared_error,
the optimizer to sgd, a size halved or decreased by one (sizes on the input's axes kept
distinct), the seed to 0.

DIR (published whole, as ``parity run --out``: ``parity.report.publish``)::

    summary.md                        the counts and one line per finding
    cases.csv                         one row per generated case: its verdict, signature, seconds
    specs.jsonl                       every generated spec, one JSON object a line
    findings/<verdict>-<quantity>/    one folder per signature (error-<ExceptionType> for crashes)
        <case>.json                   the minimal spec (``parity run`` it to see the finding)
        <case>.original.json          the spec as generated
        <case>.txt                    the minimal spec's result: verdict line and failing rows
"""
from __future__ import annotations

import copy
import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from parity import verdicts


@dataclass
class Outcome:
    """One run of one spec: its signature (None: passed) and its result line and rows."""

    signature: str | None
    verdict: str
    text: str  # the terminal line, and the failing rows or the error
    seconds: float


@dataclass
class Finding:
    name: str
    original: dict
    minimal: dict
    outcome: Outcome  # of the minimal spec
    runs: int  # reruns the shrinking took


@dataclass
class Campaign:
    n: int
    seed: int
    cases: list[tuple[dict, Outcome]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, o in self.cases:
            out[o.verdict] = out.get(o.verdict, 0) + 1
        return out

    @property
    def passed(self) -> int:
        return sum(1 for _, o in self.cases if o.signature is None)


def evaluate(spec: dict) -> Outcome:
    """Run ``spec`` through the three backends; its signature and what to show."""
    from parity import terminal
    from parity.pool import run_one

    start = time.perf_counter()
    result, error = run_one(spec)
    seconds = time.perf_counter() - start
    name = spec.get("name", "?")
    if error is not None:
        kind = error.split(":", 1)[0]
        return Outcome(f"error {kind}", "error", terminal.error_line(name, spec.get("dtype", "float64"), error), seconds)
    rows = result.rows
    verdict = result.verdict
    line = terminal.case_line(result.spec.name, result.spec.dtype, rows)
    if verdicts.passed(verdict):
        return Outcome(None, verdict, line, seconds)
    first = next(r for r in rows if not verdicts.passed(verdicts.row_status(r)))
    details = terminal.verbose_details(rows)
    return Outcome(f"{verdicts.row_status(first)} {first['quantity']}", verdict, line + "\n" + details, seconds)


# --- shrinking -----------------------------------------------------------------------------------

def _valid(spec: dict) -> bool:
    from parity.fuzz.strategy import valid

    return valid(spec)


def _drop_unread(layers: list[dict]) -> list[dict]:
    """Remove layers (never the last) whose output no later layer reads, until none is left."""
    layers = list(layers)
    while True:
        read = set()
        for i, layer in enumerate(layers):
            read.update(layer.get("inputs", [layers[i - 1].get("name")] if i else []))
        dead = [i for i, l in enumerate(layers[:-1]) if l.get("name") not in read]
        if not dead:
            return layers
        del layers[dead[0]]


def _without_layer(layers: list[dict], i: int) -> list[dict] | None:
    layer = layers[i]
    name = layer.get("name")
    source = (layer.get("inputs") or [layers[i - 1].get("name") if i else "input"])[0]
    if i == len(layers) - 1 and i == 0:
        return None
    out = []
    for j, other in enumerate(layers):
        if j == i:
            continue
        other = copy.deepcopy(other)
        ins = other.get("inputs")
        if ins is not None:
            other["inputs"] = [source if x == name else x for x in ins]
        elif j == i + 1 and source != (layers[i - 1].get("name") if i else "input"):
            other["inputs"] = [source]
        out.append(other)
    for j, other in enumerate(out):  # a first layer reading "input" explicitly needs no inputs key
        if j == 0 and other.get("inputs") == ["input"]:
            del other["inputs"]
    return _drop_unread(out)


def _smaller(value) -> list:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return sorted({v for v in (1, value // 2, value - 1) if 1 <= v < value}, reverse=False)
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        out = []
        for k, v in enumerate(value):
            for w in _smaller(v):
                out.append(value[:k] + [w] + value[k + 1:])
        return out
    return []


def candidates(spec: dict):
    """Simpler specs than ``spec``, most simplifying first (the module doc's order)."""
    layers = spec["layers"]
    for i in range(len(layers)):
        smaller = _without_layer(layers, i)
        if smaller:
            yield dict(spec, layers=smaller)
    if spec.get("steps", 1) > 0:
        for steps in (0, 1, spec.get("steps", 1) - 1):
            if steps < spec.get("steps", 1):
                yield dict(spec, steps=steps)
    for i, layer in enumerate(layers):
        for key in layer:
            if key not in ("type", "name", "inputs"):
                trimmed = {k: v for k, v in layer.items() if k != key}
                yield dict(spec, layers=layers[:i] + [trimmed] + layers[i + 1:])
    for part in ("loss", "optimizer"):
        for key in spec[part]:
            if key != "type":
                yield dict(spec, **{part: {k: v for k, v in spec[part].items() if k != key}})
    if spec["loss"] != {"type": "mean_squared_error"}:
        yield dict(spec, loss={"type": "mean_squared_error"})
    if spec["optimizer"]["type"] != "sgd":
        yield dict(spec, optimizer={"type": "sgd"})
    for key in ("input", "training"):
        if key in spec:
            yield {k: v for k, v in spec.items() if k != key}
    for i, layer in enumerate(layers):
        for key, value in layer.items():
            for smaller in _smaller(value) if key not in ("type", "name", "inputs") else []:
                yield dict(spec, layers=layers[:i] + [dict(layer, **{key: smaller})] + layers[i + 1:])
    shape = spec.get("input_shape")
    if shape:
        for smaller in _smaller(shape):
            if len(set(smaller)) == len(smaller):  # distinct sizes on every axis
                yield dict(spec, input_shape=smaller)
    if spec.get("seed", 0):
        yield dict(spec, seed=0)


def shrink(spec: dict, signature: str, evaluate: Callable[[dict], Outcome] = evaluate,
           max_runs: int = 60) -> tuple[dict, Outcome | None, int]:
    """The simplest spec found whose outcome keeps ``signature``, its outcome (None when no
    simpler spec kept it) and the reruns spent."""
    best, best_outcome, runs = spec, None, 0
    improved = True
    while improved and runs < max_runs:
        improved = False
        for candidate in candidates(best):
            if runs >= max_runs:
                break
            if not _valid(candidate):
                continue
            runs += 1
            outcome = evaluate(candidate)
            if outcome.signature == signature:
                best, best_outcome, improved = candidate, outcome, True
                break
    return best, best_outcome, runs


# --- the campaign --------------------------------------------------------------------------------

def structure(spec: dict) -> str:
    """What makes two generated specs different cases: the dtype, mode, whether it steps, the
    input's rank, the layer types in order, the loss and the optimizer (hypothesis's own loop
    mutates an example into near-copies that differ in a float; they are not run twice)."""
    return json.dumps([spec.get("dtype"), spec.get("training", True), spec.get("steps", 1) > 0,
                       len(spec.get("input_shape", [])), spec.get("data"), [l["type"] for l in spec["layers"]],
                       spec["loss"]["type"], spec["optimizer"]["type"]])


def draw(key) -> dict:
    """One spec drawn by hypothesis seeded with ``key``: the second example of a two-example
    ``@given`` run (hypothesis's first is the simplest one the strategy can give, the same for
    every seed; its second is a fresh random draw)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from parity.fuzz.strategy import case_specs

    drawn: list[dict] = []

    @hypothesis_seed(key)
    @settings(max_examples=2, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case_specs())
    def body(spec):
        drawn.append(spec)

    body()
    return drawn[-1]


def generate(n: int, seed: int, on_spec: Callable[[int, dict], bool], tries: int = 8) -> None:
    """``on_spec(k, spec)`` for k = 0..n-1: case k drawn with the key "<seed>-<k>-<r>", r the first
    try whose spec's ``structure`` is new to the campaign (after ``tries`` tries, a repeat)."""
    seen: set[str] = set()
    for k in range(n):
        for r in range(tries):
            spec = draw(f"{seed}-{k}-{r}")
            if structure(spec) not in seen:
                break
        seen.add(structure(spec))
        on_spec(k, spec)


def run_campaign(n: int, seed: int, shrink_runs: int = 60, say: Callable[[str], None] = print,
                 campaign: Campaign | None = None) -> Campaign:
    """The campaign, filled in as it runs (pass ``campaign`` to keep what it holds when it is
    interrupted: ``parity fuzz`` publishes that part)."""
    campaign = campaign if campaign is not None else Campaign(n, seed)

    def on_spec(k: int, spec: dict) -> bool:
        spec = dict(spec, name=f"fuzz-{seed}-{k:04d}")
        outcome = evaluate(spec)
        campaign.cases.append((spec, outcome))
        say(outcome.text.splitlines()[0] + f"  ({outcome.seconds:.1f} s)")
        return True

    generate(n, seed, on_spec)
    for spec, outcome in campaign.cases:
        if outcome.signature is None:
            continue
        say(f"shrinking {spec['name']} ({outcome.signature}) ...")
        minimal, shrunk, runs = shrink(spec, outcome.signature, max_runs=shrink_runs)
        campaign.findings.append(Finding(spec["name"], spec, minimal, shrunk or outcome, runs))
        say(f"  {len(spec['layers'])} -> {len(minimal['layers'])} layers in {runs} reruns")
    return campaign


def group_of(signature: str) -> str:
    return signature.replace(" ", "-")


def write_campaign(campaign: Campaign, folder: Path) -> None:
    folder = Path(folder)
    with open(folder / "specs.jsonl", "w") as f:
        for spec, _ in campaign.cases:
            f.write(json.dumps(spec) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["case", "dtype", "layers", "loss", "optimizer", "steps", "training", "verdict", "signature",
                "seconds"])
    for spec, o in campaign.cases:
        w.writerow([spec["name"], spec.get("dtype", "float64"), " ".join(l["type"] for l in spec["layers"]),
                    spec["loss"]["type"], spec["optimizer"]["type"], spec.get("steps", 1), spec.get("training", True),
                    o.verdict, o.signature or "", f"{o.seconds:.2f}"])
    (folder / "cases.csv").write_text(buf.getvalue())
    for finding in campaign.findings:
        group = folder / "findings" / group_of(finding.outcome.signature or "?")
        group.mkdir(parents=True, exist_ok=True)
        (group / f"{finding.name}.json").write_text(json.dumps(finding.minimal, indent=1) + "\n")
        (group / f"{finding.name}.original.json").write_text(json.dumps(finding.original, indent=1) + "\n")
        (group / f"{finding.name}.txt").write_text(finding.outcome.text + "\n")
    (folder / "summary.md").write_text(summary(campaign))


def summary(campaign: Campaign) -> str:
    counts = campaign.counts()
    total = len(campaign.cases)
    lines = [f"# parity fuzz --n {campaign.n} --seed {campaign.seed}", "",
             *([f"Interrupted after {total} of {campaign.n} cases (findings not shrunk past that point).", ""]
               if campaign.interrupted else []),
             f"{total} generated cases: {campaign.passed} passed, {len(campaign.findings)} findings.", "",
             "| verdict | cases |", "|---|---|"]
    lines += [f"| {v} | {counts[v]} |" for v in (*verdicts.NAMES, *sorted(set(counts) - set(verdicts.NAMES)))
              if v in counts]
    groups: dict[str, list[Finding]] = {}
    for f in campaign.findings:
        groups.setdefault(group_of(f.outcome.signature or "?"), []).append(f)
    if groups:
        lines += ["", "## Findings, by first failing quantity", ""]
        for g in sorted(groups):
            lines += [f"### {g} ({len(groups[g])})", ""]
            for f in groups[g]:
                kinds = " ".join(l["type"] for l in f.minimal["layers"])
                lines.append(f"- `findings/{g}/{f.name}.json` ({kinds}; {f.minimal['loss']['type']}, "
                             f"{f.minimal['optimizer']['type']}, steps {f.minimal.get('steps', 1)}, "
                             f"{f.minimal.get('dtype', 'float64')}): {f.outcome.text.splitlines()[0].strip()}")
            lines.append("")
    seconds = sum(o.seconds for _, o in campaign.cases)
    lines += ["", f"Time: {seconds:.0f} s for the generated cases ({seconds / max(total, 1):.1f} s a case)."]
    return "\n".join(lines) + "\n"
