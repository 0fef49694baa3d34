"""``parity diagnose SPEC|RESULT_DIR`` and ``Result.diagnose()``: which known convention switch
explains a failing comparison.

For a case that does not pass, every switch of ``parity.mutations`` that applies (both its
directions, every target: a layer, the optimizer, the loss, a fan-out edge) is flipped on one
backend, the case is rerun through the whole harness, and the switches whose flip makes the case
pass are reported, each as a sentence a porter can act on ("your Keras model agrees with torch
when its Dense kernel 2_dense after Flatten is permuted from C,H,W to H,W,C order"). The search
stops at the first stage that explains the failure, so the answer names exactly the switches that
explain it, not every candidate:

1. each known switch alone (among those that move the backend's own tensors at all);
2. where the backend runs its own fields or weights (a port), each field and each weight tensor in
   which it differs from the case's, set to the case's value (the sentence quotes the mapping's
   layout rule for a tensor: "bias_ih_l0 and bias_hh_l0 ... only ever appear as a sum");
3. the known switches in pairs.

Which backend is flipped: for a port (``parity.compare_models``, whose Keras side runs the user's
own weights and fields as a ``parity.run.Variant``) the backend carrying the variant; otherwise the
odd one out of the failing rows, or each of the three when none is named.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from parity import mutations, verdicts
from parity.mutations import Planted

BACKENDS = ("scratch", "torch", "keras")
LABEL = {"scratch": "scratchnet", "torch": "torch", "keras": "Keras"}
OTHERS = {"scratch": "torch and Keras", "torch": "Keras", "keras": "torch"}


@dataclass(frozen=True)
class Flip:
    switch: str
    direction: int  # 0: the switch's forward transform, 1: its backward one
    target: str
    backend: str
    what: str  # the transform's sentence, completed with the target

    def __str__(self) -> str:
        return self.what


@dataclass
class Diagnosis:
    """What explains one failing case: ``explained`` holds each set of flips (one switch, or a pair)
    that makes it pass; ``tried`` how many reruns were made."""

    case: str
    dtype: str
    verdict: str
    backends: tuple[str, ...] = ()
    explained: list[tuple[Flip, ...]] = field(default_factory=list)
    tried: int = 0
    candidates: int = 0  # applicable flips that move the backend's tensors

    @property
    def passed(self) -> bool:
        return verdicts.passed(self.verdict)

    def sentences(self) -> list[str]:
        return [f"your {LABEL[flips[0].backend]} model agrees with {OTHERS[flips[0].backend]} when "
                + " and ".join(f.what for f in flips) for flips in self.explained]

    def __str__(self) -> str:
        head = f"{self.case} [{self.dtype}]: {self.verdict}"
        if self.passed:
            return f"{head}: nothing to diagnose"
        if not self.explained:
            return (f"{head}: no known switch (alone or in a pair, {self.candidates} applicable on "
                    f"{', '.join(self.backends)}) makes the frameworks agree")
        return "\n".join([f"{head}; {len(self.explained)} explanation(s) found in {self.tried} reruns:",
                          *(f"  - {s}" for s in self.sentences())])


def _base(res, backend: str) -> Planted:
    """What ``backend`` ran in ``res``: its variant (a port's own weights and fields) or the case."""
    v = getattr(res, "variants", {}).get(backend)
    spec = v.spec if v is not None and v.spec is not None else res.spec
    initial = v.initial if v is not None and v.initial is not None else res.case.initial
    hooks = dict(v.hooks or {}) if v is not None else {}
    return Planted(spec, dict(initial), hooks)


def _backends(res, result) -> tuple[str, ...]:
    """The odd one out when the failing rows name one; else the backends that run a variant of
    their own (a port: each backend may carry one, Keras's its own weights); else all three."""
    odd = result.odd_one_out
    if odd in BACKENDS:
        return (odd,)
    variants = getattr(res, "variants", {}) or {}
    own = [b for b in BACKENDS if b in variants]
    return tuple(own) if own else BACKENDS


REFERENCE = {"keras": "torch", "torch": "keras", "scratch": "torch"}  # whose values a flipped backend is compared with


def candidates(base: Planted, backend: str) -> list[tuple[Flip, object]]:
    """Every applicable (flip, transform) of the diagnosable switches on ``base``'s spec."""
    from parity.spec import plan_of

    plan = plan_of(base.spec)
    out = []
    for sw in mutations.SWITCHES:
        if not sw.diagnose:
            continue
        made = []  # one flip per distinct result: a square kernel's two directions are one transpose
        for i, d in enumerate(sw.directions):
            for target in d.targets(base.spec, plan):
                planted = d.plant(base, target)
                if any(t == target and _same(planted, p) for t, p in made):
                    continue
                made.append((target, planted))
                out.append((Flip(sw.name, i, target, backend, d.describe(base, target)), d))
    return out


def _same(a: Planted, b: Planted) -> bool:
    return (a.spec == b.spec and set(a.hooks) == set(b.hooks) == set()
            and all(np.array_equal(a.initial[k], b.initial[k]) for k in a.initial))


def _plant(base: Planted, chosen) -> Planted | None:
    """``base`` with every (flip, transform) of ``chosen`` applied, field and weight switches before
    code paths (a hook's optimizer reads the fields); None when they cannot be combined."""
    planted = base
    kind = {sw.name: sw.kind for sw in mutations.SWITCHES}
    for flip, d in sorted(chosen, key=lambda c: kind.get(c[0].switch) == "hook"):
        try:
            planted = d.plant(planted, flip.target)
        except ValueError:
            return None
    return planted


def diagnose(result, pairs: bool = True) -> Diagnosis:
    """The flips that make ``result`` (a ``parity.api.Result``) pass."""
    from parity.run import backend_run, run_case
    from parity.selftest import math_change

    res = result.case
    spec = res.spec
    out = Diagnosis(spec.name, spec.dtype, result.verdict)
    if result.passed:
        return out
    variants = dict(getattr(res, "variants", {}) or {})
    out.backends = _backends(res, result)
    for backend in out.backends:
        base = _base(res, backend)
        with np.errstate(all="ignore"):
            before = backend_run({**variants, backend: base.variant()}, backend, res.case)
            moving = []
            for flip, d in candidates(base, backend):
                planted = _plant(base, [(flip, d)])
                if planted is None:
                    continue
                try:
                    after = backend_run({**variants, backend: planted.variant()}, backend, res.case)
                except Exception:  # a flip this backend cannot build is no explanation
                    continue
                if math_change(before, after, spec.dtype):
                    moving.append((flip, d))
        out.candidates += len(moving)
        groups = [[c] for c in moving]
        found = _explaining(spec, variants, base, backend, groups, out, res.case)
        if not found:
            found = _explaining(spec, variants, base, backend, [[c] for c in reference_values(res, base, backend)], out,
                                res.case)
        if not found and pairs:
            groups = [list(p) for p in itertools.combinations(moving, 2)
                      if (p[0][0].switch, p[0][0].target) != (p[1][0].switch, p[1][0].target)]
            found = _explaining(spec, variants, base, backend, groups, out, res.case)
        out.explained += found
    return out


def _rule(layout: str, key: str) -> str:
    """The sentence of a mapping's layout text that names the tensor (its first sentence if none)."""
    import re

    name = key.rsplit("/", 1)[-1]
    sentences = [t.strip() for t in re.split(r"(?<=[.;])\s+", layout) if t.strip()]
    hit = [t for t in sentences if re.search(rf"\b{re.escape(name)}", t)]
    return (hit or sentences or [layout])[0].rstrip(".;")


def reference_values(res, base: Planted, backend: str) -> list[tuple[Flip, object]]:
    """Where a backend runs its own fields or weights (a port): each field and each weight tensor in
    which it differs from the reference backend's (``REFERENCE``: torch for Keras), set to the
    reference's value (for a port, torch's, converted by the mappings: the sentence quotes the
    mapping's layout rule)."""
    from parity.mappings import layer_mapping
    from parity.mutations import Transform, _with_layer_params, _with_section, _with_weights
    from parity.spec import plan_of

    reference = _base(res, REFERENCE[backend])  # torch's own spec and weights in a port
    spec = reference.spec
    out = []
    ref = "torch's" if REFERENCE[backend] == "torch" else "Keras's"
    for node, mine in zip(plan_of(spec), plan_of(base.spec)):
        for name, value in node.spec.params.items():
            if mine.spec.params.get(name) != value:
                what = (f"its {node.type} {node.name} {name} is {value!r} as {ref} (it is "
                        f"{mine.spec.params.get(name)!r})")
                plant = lambda p, t, n=node.name, f=name, v=value: _with_layer_params(p, n, **{f: v})  # noqa: E731
                out.append((Flip("reference_field", 0, f"{node.name}.{name}", backend, what), Transform(None, plant, what)))
    for section in ("optimizer", "loss"):
        for name, value in getattr(spec, section).params.items():
            if getattr(base.spec, section).params.get(name) != value:
                what = f"its {section} {name} is {value!r} as {ref} (it is {getattr(base.spec, section).params.get(name)!r})"
                plant = lambda p, t, s=section, f=name, v=value: _with_section(p, s, **{f: v})  # noqa: E731
                out.append((Flip("reference_field", 0, f"{section}.{name}", backend, what), Transform(None, plant, what)))
    for key, value in reference.initial.items():
        value, mine = np.asarray(value), np.asarray(base.initial[key])
        if mine.shape != value.shape or not np.array_equal(mine, value):
            node = plan_of(spec).owner(key)
            what = f"its {key} is {ref} converted value ({_rule(layer_mapping(node.type).atlas.layout, key)})"
            plant = lambda p, t, k=key, v=value: _with_weights(p, {k: v})  # noqa: E731
            out.append((Flip("reference_weight", 0, key, backend, what), Transform(None, plant, what)))
    return out


def _explaining(spec, variants, base, backend, groups, out: Diagnosis, case=None) -> list[tuple[Flip, ...]]:
    """The groups of flips whose rerun passes; ``case``: the prepared case whose data and initial
    weights every rerun keeps (a port's own input, torch's weights)."""
    from parity.run import run_case

    same = {} if case is None else {"data": (case.x, case.y), "initial": case.initial}
    found = []
    for group in groups:
        planted = _plant(base, group)
        if planted is None:
            continue
        out.tried += 1
        try:
            rerun = run_case(spec, {**variants, backend: planted.variant()}, **same)
        except Exception:
            continue
        if verdicts.passed(rerun.verdict):
            found.append(tuple(f for f, _ in group))
    return found


# -- the command ----------------------------------------------------------------------------------
def add_arguments(p) -> None:
    p.add_argument("target", metavar="SPEC|RESULT_DIR",
                   help="a spec file or catalog case name, or a `parity run --out` folder (its failing cases)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="override the spec's dtype")
    p.add_argument("--no-pairs", action="store_true", help="flip single switches only")


def _from_results(folder, dtype):
    """(spec, dtype) of every case that did not pass in a results folder; catalog cases only (the
    report keeps no spec file)."""
    import csv
    from pathlib import Path

    from parity.cli_checks import UsageError
    from parity.spec import load_catalog
    from parity.spec.errors import printable

    path = Path(folder) / "results.csv"
    if not path.is_file():
        raise UsageError(f"{folder}: expected a spec file, a catalog case name or a folder with results.csv")
    failing = {}
    shown = printable(str(path))
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("case", "dtype", "passed") if c not in (reader.fieldnames or [])]
            if missing:
                raise UsageError(f"{shown}: expected the columns of parity run's results.csv, got none named "
                                 f"{', '.join(missing)}")
            for row in reader:
                if (row.get("passed") or "").lower() not in ("true", "1"):
                    if row["dtype"] not in ("float32", "float64"):
                        raise UsageError(f"{shown}: line {reader.line_num}: dtype: expected float32 or float64, "
                                         f"got {printable(str(row['dtype']))[:60]!r}")
                    failing.setdefault((row["case"], row["dtype"]), None)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{shown}: expected UTF-8 text, got {exc.reason} at byte {exc.start}") from None
    except csv.Error as exc:
        raise UsageError(f"{shown}: expected CSV, got {exc}") from None
    catalog = {s.name: s for s in load_catalog()}
    specs = []
    for name, d in failing:
        if name not in catalog:
            raise UsageError(f"{shown}: case {printable(str(name))[:130]!r} is not a catalog case: run parity "
                             "diagnose on its spec file")
        specs.append(catalog[name].with_dtype(dtype or d))
    return specs


def cmd_diagnose(args) -> int:
    from pathlib import Path

    from parity import api
    from parity.cli_checks import UsageError
    from parity.selection import SelectionError, resolve

    if Path(args.target).is_dir():
        specs = _from_results(args.target, args.dtype)
        if not specs:
            print(f"{args.target}: every case passed: nothing to diagnose")
            return 0
    else:
        try:
            specs = resolve([args.target], None, args.dtype)
        except SelectionError as exc:
            raise UsageError(str(exc)) from None
    code = 0
    for spec in specs:
        d = api.check(spec).diagnose(pairs=not args.no_pairs)
        print(d)
        if not d.passed and not d.explained:
            code = 1
    return code
