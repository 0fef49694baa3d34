"""The Python API (FIRM, DESIGN.md "Python API"): parity from a user's own code and test suite.

    import parity
    r = parity.check("my-case.json")          # a path, a spec dict, or a parsed CaseSpec; dtype= overrides
    r.verdict, r.passed, r.odd_one_out, r.rows  # rows: a pandas DataFrame with results.csv's columns
    r.worst                                     # the row that decided the verdict (a pandas Series)
    r.write_report("out/")                      # the same report `parity run --out out/` writes

``parity run`` is a thin layer over ``check`` (one code path): its results.csv holds exactly the
rows of ``check(...).rows``. A bad spec raises ``parity.spec.SpecError`` (the command line turns it
into exit 2 with its one line).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Union

from parity import verdicts
from parity.spec import CaseSpec, SpecError, load_spec, parse_spec

if TYPE_CHECKING:
    import pandas as pd

SpecLike = Union[str, "os.PathLike[str]", dict, CaseSpec]


def as_spec(spec: SpecLike, dtype: str | None = None) -> CaseSpec:
    """A parsed, filled-in ``CaseSpec`` from a path, a dict or a CaseSpec (``dtype`` overrides its own)."""
    if isinstance(spec, CaseSpec):
        parsed = spec
    elif isinstance(spec, dict):
        parsed = parse_spec(_plain(spec))  # a deep copy the parser may keep
    elif isinstance(spec, (str, os.PathLike)):
        parsed = load_spec(Path(spec))
    else:
        raise SpecError("<spec>", "spec", f"expected a path, a dict or a CaseSpec, got {type(spec).__name__}")
    return parsed.with_dtype(dtype) if dtype is not None else parsed


def _plain(value: Any, depth: int = 0) -> Any:
    """A deep copy of a spec dict built in Python, numpy scalars and arrays made Python numbers and
    lists (``{"units": np.int64(3)}``, ``"input_shape": x.shape``), so that the parser reads them as
    their JSON twins. Anything else is kept for the parser to refuse, naming its field (a set, an
    object); below ``MAX_DEPTH`` + 1 levels nothing is copied (a self-containing dict stays finite,
    and the parser refuses the nesting)."""
    import numpy as np

    from parity.spec.parse import MAX_DEPTH

    if depth > MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), depth)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Result:
    """One case checked in every backend (``parity.run.CaseResult`` underneath, as ``case``)."""

    case: Any  # parity.run.CaseResult

    @property
    def spec(self) -> CaseSpec:
        return self.case.spec

    @property
    def rows(self) -> "pd.DataFrame":
        from parity.report import writers

        return writers.results_frame([self.case])

    @property
    def verdict(self) -> str:
        return self.case.verdict

    @property
    def passed(self) -> bool:
        return verdicts.passed(self.verdict)

    @property
    def worst(self) -> "pd.Series | None":
        """The first row whose status is the verdict (None for a case without rows)."""
        rows = self.rows
        hit = rows[rows.status == self.verdict]
        return hit.iloc[0] if len(hit) else None

    @property
    def odd_one_out(self) -> str:
        """The backend the deciding rows blame ("" when every row passed strictly)."""
        worst = self.worst
        return "" if worst is None or self.verdict == "pass" else str(worst["odd_one_out"] or "")

    def excused(self) -> "pd.DataFrame":
        """The rows that passed as something other than ``pass`` (convention, deviation, noise, defect)."""
        rows = self.rows
        return rows[rows.passed & (rows.status != "pass")]

    def diagnose(self, pairs: bool = True):
        """Which known convention switches, flipped on one backend (the odd one out, or a port's
        Keras side), make this failing case pass: a ``parity.diagnose.Diagnosis`` whose ``str``
        and ``sentences()`` say it as a porter can act on it."""
        from parity.diagnose import diagnose

        return diagnose(self, pairs=pairs)

    def write_report(self, out: str | os.PathLike) -> Path:
        """The report of this case in folder ``out`` (as ``parity run --out``)."""
        return write_report([self], out)

    def __repr__(self) -> str:
        return f"Result({self.spec.name!r} [{self.spec.dtype}]: {self.verdict})"


def check(spec: SpecLike, dtype: str | None = None, variants: dict | None = None, data: tuple | None = None,
          initial: dict | None = None) -> Result:
    """Run one case through scratchnet, torch and Keras and judge every tensor. ``variants``:
    backend name -> ``parity.run.Variant``, what that backend runs instead (its own weights or
    layer fields, a planted bug); the others run the spec as given. ``data``: your own ``(x, y)``
    (canonical layout: channels-last images; ``y`` None to draw the targets), ``initial``: your own
    initial weights (canonical, keyed ``<layer>/<param>`` as tensors.npz's ``initial/``); without
    them both are drawn from the spec's seed."""
    from parity.run import run_case

    parsed = as_spec(spec, dtype)
    variants = _variants(variants)
    if initial is not None and not isinstance(initial, Mapping):
        raise ValueError(f"initial: expected a dict of weights keyed <layer>/<param>, got {type(initial).__name__}")
    if data is not None and (not isinstance(data, (tuple, list)) or len(data) != 2):
        raise ValueError(f"data: expected an (x, y) pair (y None to draw the targets), got "
                         f"{type(data).__name__}{f' of {len(data)}' if isinstance(data, (tuple, list)) else ''}")
    if dtype is not None and variants:
        import dataclasses

        variants = {k: dataclasses.replace(v, spec=v.spec.with_dtype(dtype)) if v.spec is not None else v
                    for k, v in variants.items()}
    return Result(run_case(parsed, variants=variants, data=data, initial=initial))


def _variants(variants) -> dict | None:
    """``check``'s ``variants`` checked: a dict of backend name -> ``parity.run.Variant``, whose
    ``spec`` may be given as anything ``check`` takes (a path, a dict, a CaseSpec); ValueError
    naming the entry otherwise."""
    import dataclasses

    from parity.run import Variant

    if variants is None:
        return None
    if not isinstance(variants, Mapping):
        raise ValueError(f"variants: expected a dict of backend name -> parity.run.Variant, got {type(variants).__name__}")
    out = {}
    for name, v in variants.items():
        if not isinstance(v, Variant):
            raise ValueError(f"variants[{name!r}]: expected a parity.run.Variant(spec=, initial=, hooks=), got "
                             f"{type(v).__name__}")
        if v.spec is not None and not isinstance(v.spec, CaseSpec):
            v = dataclasses.replace(v, spec=as_spec(v.spec))
        if v.initial is not None and not isinstance(v.initial, Mapping):
            raise ValueError(f"variants[{name!r}].initial: expected a dict of weights keyed <layer>/<param>, got "
                             f"{type(v.initial).__name__}")
        out[name] = v
    return out


def check_many(specs: Iterable[SpecLike], dtype: str | None = None) -> list[Result]:
    """``check`` for several cases; every spec is parsed before any case runs."""
    if isinstance(specs, (str, os.PathLike, dict, CaseSpec)) or not isinstance(specs, Iterable):
        raise SpecError("<specs>", "specs", f"expected an iterable of specs (paths, dicts or CaseSpecs), got "
                        f"{type(specs).__name__}" + (" (one spec: use check)" if specs is not None else ""))
    parsed = [as_spec(s, dtype) for s in specs]
    return [check(s) for s in parsed]


def write_report(results: list[Result], out: str | os.PathLike, not_run: list | None = None) -> Path:
    """results.csv, tensors.npz, environment.json, report.md and report.html of ``results`` in ``out``."""
    from parity.report import write_report as _write

    return _write([r.case for r in results], Path(out), not_run or [])
