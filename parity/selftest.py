"""``parity selftest``: the harness checked on bugs planted on purpose.

Every switch of ``parity.mutations`` (a known kind of bug: a transposed kernel, swapped gate
blocks, the other BN momentum meaning, a dropped fan-out gradient, ...) is planted in each backend
in turn (``parity.run.Variant``: only that backend runs the mutant; never by editing files), on a
representative catalog case it applies to. For each mutant:

- **changes the math**: the mutant backend's own tensors (every layer output, the loss, every
  parameter and input gradient, the weights after every step) against the same backend's
  unmutated run, at the strict tolerance of each quantity (``compare.tolerance``: max|a - b| >
  rtol * max(max|a|, max|b|) somewhere): each step from the unmutated run's weights (what one step
  of the mutant changes, at rtol), and free-running (what the steps add up to, at rtol * sqrt(t),
  the trajectory's). Measured directly, not judged by the harness under test.
- **caught**: the harness's verdict on the case with the mutant planted is not a passing one.
- **blamed right**: the verdict's deciding row (``parity.api.Result.odd_one_out``) names the
  mutated backend.

A survivor is a mutant that changes the math and is not caught: the exit status is 1 then (and
for a mutant that crashed the harness); 0 otherwise. A mutant that does not change the math is
reported as such (and must not be caught: that would be a false alarm, also exit 1).
"""
from __future__ import annotations

import csv
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from parity import compare, mutations, verdicts
from parity.mutations import Planted

BACKENDS = ("scratch", "torch", "keras")


@dataclass
class Outcome:
    switch: str
    direction: int  # 0: the mistake as planted; 1: its undoing (backward)
    backend: str
    case: str
    dtype: str
    target: str
    changes_math: bool = False
    changed: str = ""  # the first tensor the mutant moved beyond strict, and by how much
    verdict: str = ""
    caught: bool = False
    blamed: str = ""
    blamed_right: bool = False
    error: str = ""

    @property
    def survivor(self) -> bool:
        return self.changes_math and not self.caught

    @property
    def false_alarm(self) -> bool:
        return not self.changes_math and self.caught and not self.error


def _tensors(result, steps: str) -> list[tuple[str, int, str, np.ndarray]]:
    """(quantity, step, key, array) of every tensor one backend run produced; its weights after
    each step as quantity ``steps`` (``step`` for a synced run, ``trajectory`` for a free one)."""
    out = [("output", 0, k, v) for k, v in result.outputs.items()]
    out.append(("loss", 0, "loss", np.asarray(result.loss)))
    out += [("grad", 0, k, v) for k, v in result.grads.items()]
    if result.input_grad is not None:
        out.append(("grad", 0, "input", result.input_grad))
    out += [(steps, t + 1, k, v) for t, weights in enumerate(result.steps) for k, v in weights.items()]
    return out


def math_change(base, mutant, dtype: str, steps: str = "step") -> str:
    """The first tensor in which ``mutant`` differs from ``base`` beyond the strict tolerance of
    its quantity (``compare.tolerance``: rtol of max(max|a|, max|b|); a free-running trajectory's
    weights after step t at rtol * sqrt(t), as the harness compares them), as
    ``"<quantity> <key> step <t>: <max_rel>"``, or "" when none does."""
    base_t = {(q, t, k): v for q, t, k, v in _tensors(base, steps)}
    for q, t, k, v in _tensors(mutant, steps):
        b = base_t.get((q, t, k))
        if b is None or np.shape(b) != np.shape(v):
            return f"{q} {k} step {t}: missing or reshaped"
        with np.errstate(all="ignore"):
            m = compare.metrics(b, v, dtype)
            if not compare.passes(m, compare.tolerance(dtype, q, t)):
                return f"{q} {k} step {t}: {m.max_rel:.2g}"
    return ""


def backend_math_change(variants: dict, backend: str, case, cache: dict) -> str:
    """What the mutant ``variants[backend]`` changes in its backend's own tensors (``math_change``):
    synced (each step from the unmutated run's weights: what one step of the mutant changes) and
    free-running (what the steps add up to), each against the unmutated run of the same backend."""
    from parity.run import backend_run

    key = ("base", case.spec.name, case.spec.dtype, backend)
    if key not in cache:
        cache[key] = backend_run({}, backend, case)
    base = cache[key]
    with np.errstate(all="ignore"):
        synced = math_change(base, backend_run(variants, backend, case, sync=base.steps), case.spec.dtype)
        if synced or case.spec.steps < 2:
            return synced
        return math_change(base, backend_run(variants, backend, case), case.spec.dtype, steps="trajectory")


def plan_mutants(specs, names: list[str] | None = None, backends=BACKENDS):
    """(switch, direction, transform, spec, target, backend) for every mutant to run: each switch
    (``names``: only those) on each spec it has a target in (its first target), in each backend;
    the forward direction (the mistake), and the backward one where it applies to the spec."""
    from parity.spec import plan_of

    chosen = [mutations.switch(n) for n in names] if names else list(mutations.SWITCHES)
    out = []
    for sw in chosen:
        for spec in specs(sw):
            plan = plan_of(spec)
            for i, d in enumerate(sw.directions):
                targets = d.targets(spec, plan)
                if targets:
                    out += [(sw, i, d, spec, targets[0], b) for b in backends]
    return out


def run_mutant(sw, direction: int, transform, spec, target: str, backend: str, cache: dict) -> Outcome:
    from parity.api import Result
    from parity.run import prepare, run_case

    o = Outcome(sw.name, direction, backend, spec.name, spec.dtype, target)
    try:
        case = cache.setdefault(("case", spec.name, spec.dtype), None) or prepare(spec)
        cache[("case", spec.name, spec.dtype)] = case
        planted = transform.plant(Planted(spec, case.initial), target)
        variants = {backend: planted.variant()}
        o.changed = backend_math_change(variants, backend, case, cache)
        o.changes_math = bool(o.changed)
        res = Result(run_case(spec, variants))
        o.verdict = res.verdict
        o.caught = not verdicts.passed(res.verdict)
        o.blamed = res.odd_one_out if o.caught else ""
        o.blamed_right = o.blamed == backend
    except Exception as exc:  # a mutant that crashes the harness is a finding, not a stop
        o.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return o


def rates(outcomes: list[Outcome]) -> dict:
    math = [o for o in outcomes if o.changes_math and not o.error]
    return {"mutants": len(outcomes), "math_changing": len(math),
            "caught": sum(o.caught for o in math), "blamed_right": sum(o.blamed_right for o in math),
            "not_math_changing": sum(not o.changes_math and not o.error for o in outcomes),
            "false_alarms": sum(o.false_alarm for o in outcomes), "errors": sum(bool(o.error) for o in outcomes),
            "survivors": [f"{o.switch}/{o.backend}/{o.case}" for o in math if not o.caught],
            "blamed_wrong": [f"{o.switch}/{o.backend}/{o.case} (blamed: {o.blamed or 'nobody'})"
                             for o in math if o.caught and not o.blamed_right]}


def table(outcomes: list[Outcome]) -> str:
    """The mutation x backend x case table, as Markdown."""
    lines = ["| mutation | backend | case | target | changes math | caught (verdict) | blamed | right |",
             "|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        name = o.switch if o.direction == 0 else f"{o.switch} (undone)"
        if o.error:
            lines.append(f"| {name} | {o.backend} | {o.case} | {o.target} | ERROR | {o.error} | | |")
            continue
        lines.append(f"| {name} | {o.backend} | {o.case} | {o.target} | "
                     f"{'yes: ' + o.changed if o.changes_math else 'no'} | "
                     f"{'yes' if o.caught else 'no'} ({o.verdict}) | {o.blamed or '-'} | "
                     f"{('yes' if o.blamed_right else 'NO') if o.caught else '-'} |")
    return "\n".join(lines)


def summary(r: dict) -> str:
    m = r["math_changing"]
    pct = lambda k: f"{r[k]}/{m} ({100 * r[k] / m:.0f}%)" if m else "0/0"  # noqa: E731
    text = (f"{r['mutants']} mutants: {m} change the math, caught {pct('caught')}, blamed right "
            f"{pct('blamed_right')}; {r['not_math_changing']} do not change the math "
            f"({r['false_alarms']} of them caught: false alarms); {r['errors']} errors")
    if r["survivors"]:
        text += "; SURVIVORS: " + ", ".join(r["survivors"])
    if r["blamed_wrong"]:
        text += "; caught but not blamed on the mutated backend: " + ", ".join(r["blamed_wrong"])
    return text


def exit_code(outcomes: list[Outcome]) -> int:
    return 1 if any(o.survivor or o.false_alarm or o.error for o in outcomes) else 0


# -- the command ----------------------------------------------------------------------------------
def add_arguments(p) -> None:
    p.add_argument("--cases", nargs="+", metavar="CASE",
                   help="catalog case names or spec files to plant every applicable mutation in "
                        "(default: each mutation's representative cases)")
    p.add_argument("--mutation", action="append", metavar="NAME", dest="mutations",
                   help=f"only this mutation (repeatable): {', '.join(mutations.BY_NAME)}")
    p.add_argument("--backend", action="append", choices=BACKENDS, dest="backends",
                   help="only plant in this backend (repeatable; default: all three)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="override the cases' dtype")
    p.add_argument("--out", help="also write selftest.md and selftest.csv to this folder")


def cmd_selftest(args) -> int:
    from parity.cli_checks import UsageError, check_out, locked_out
    from parity.selection import SelectionError, resolve

    for n in args.mutations or ():
        if n not in mutations.BY_NAME:
            raise UsageError(f"--mutation {n}: expected one of {', '.join(mutations.BY_NAME)}")
    out = check_out(args.out) if args.out else None
    try:
        given = resolve(args.cases, None, args.dtype) if args.cases else None
        chosen = [mutations.switch(n) for n in args.mutations] if args.mutations else list(mutations.SWITCHES)
        own = {sw.name: resolve(list(sw.cases), None, args.dtype) for sw in chosen} if given is None else {}
    except SelectionError as exc:
        raise UsageError(str(exc)) from None
    planned = plan_mutants((lambda sw: given) if given is not None else (lambda sw: own[sw.name]),
                           args.mutations, tuple(args.backends or BACKENDS))
    if not planned:
        raise UsageError("--cases: no selected mutation applies to these cases")
    cache: dict = {}
    outcomes = []
    for i, (sw, d, transform, spec, target, backend) in enumerate(planned, 1):
        print(f"[{i}/{len(planned)}] {sw.name} in {backend} on {spec.name}", file=sys.stderr, flush=True)
        outcomes.append(run_mutant(sw, d, transform, spec, target, backend, cache))
    text, r = table(outcomes), rates(outcomes)
    print(text)
    print(summary(r))
    if out is not None:
        with locked_out(out, args.out) as folder:
            folder.publish(lambda stage: _write(stage, outcomes, text, r))
    return exit_code(outcomes)


def _write(folder: Path, outcomes: list[Outcome], text: str, r: dict) -> None:
    (folder / "selftest.md").write_text(f"# parity selftest\n\n{text}\n\n{summary(r)}\n")
    with open(folder / "selftest.csv", "w", newline="") as f:
        fields = list(asdict(outcomes[0]))
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for o in outcomes:
            w.writerow(asdict(o))
