"""pytest helpers: parity checks in a user's own test suite.

    # tests/test_parity.py: three lines
    import parity.testing as pt

    @pt.parametrize_specs("specs")          # one test per spec file in the folder (JSON or TOML)
    def test_parity(spec):
        pt.assert_parity(spec)

``assert_parity`` raises an ``AssertionError`` whose message reads like ``torch.testing``'s: the
tensor, the pair, the largest absolute and relative difference with its index, the tolerance and
the rule that set it, the odd one out, and the excused differences that were accepted.
"""
from __future__ import annotations

import os
from pathlib import Path

from parity.api import Result, SpecLike, check


def _g(x) -> str:
    return f"{float(x):.3g}"


def failure_message(result: Result, limit: int = 5) -> str:
    """The AssertionError text for a result that did not pass."""
    spec = result.spec
    rows = result.rows
    bad = rows[~rows.passed]
    lines = [f"Parity check failed for case {spec.name!r} [{spec.dtype}]: verdict {result.verdict}, "
             f"{len(bad)} of {len(rows)} compared tensors mismatched."]
    for _, r in bad.head(limit).iterrows():
        lines += [f"  {r.quantity} {r.tensor!r} at step {r.step}: {r.backend_a} vs {r.backend_b}",
                  f"    greatest absolute difference: {_g(r.max_abs)} at index {r.worst_index}",
                  f"    greatest relative difference: {_g(r.max_rel)} (allowed {_g(r.tolerance)}, rule {r.rule})",
                  f"    odd one out: {r.odd_one_out or 'undecided'}"]
        if r.note:
            lines.append(f"    why: {r.note}")
    if len(bad) > limit:
        lines.append(f"  ... showing {limit} of {len(bad)} mismatched tensors (see Result.rows)")
    excused = result.excused()
    if len(excused):
        lines.append("Accepted excused differences:")
        for (status, a, b), group in excused.groupby(["status", "backend_a", "backend_b"], sort=True):
            lines.append(f"  {status} {a}~{b}: up to {_g(group.max_rel.max())} relative ({group.note.iloc[0]})")
    return "\n".join(lines)


def assert_parity(spec: SpecLike, dtype: str | None = None) -> Result:
    """Check ``spec`` (a path, dict or CaseSpec) and raise AssertionError unless its verdict passes
    (pass, convention, deviation, noise, defect). Returns the Result."""
    result = check(spec, dtype)
    if not result.passed:
        raise AssertionError(failure_message(result))
    return result


def spec_files(folder: str | os.PathLike) -> list[Path]:
    """The spec files (``*.json``, ``*.toml``) in ``folder``, sorted."""
    root = Path(folder)
    return sorted(p for p in root.iterdir() if p.suffix in (".json", ".toml") and p.is_file())


def parametrize_specs(folder: str | os.PathLike, argname: str = "spec"):
    """``pytest.mark.parametrize`` over the spec files of ``folder`` (relative paths are taken from
    the calling test file's folder), with the file names as test ids."""
    import inspect

    import pytest

    root = Path(folder)
    if not root.is_absolute():
        caller = Path(inspect.stack()[1].filename).parent
        root = caller / root
    files = spec_files(root)
    return pytest.mark.parametrize(argname, files, ids=[p.stem for p in files])
