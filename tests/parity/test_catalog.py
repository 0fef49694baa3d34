"""The parity suite: every catalog case, in float64 and float32, through all three frameworks.

A failure message names the tensor, the pair, the size and the odd one out, as the report does.
"""
import json
from pathlib import Path

import pytest

from parity.spec import load_catalog

CATALOG = load_catalog()
CASES = [(spec, dtype) for spec in CATALOG for dtype in ("float64", "float32")]
# The rows (quantity, tensor, step, backend pair) every case had on main before the case plan;
# written by data/make_catalog_rows.py from main's code, never from the change under test.
ROWS_ON_MAIN = json.loads((Path(__file__).parent / "data" / "catalog_rows.json").read_text())


def row_keys(rows) -> list[list]:
    return [[r["quantity"], r["tensor"], int(r["step"]), r["backend_a"], r["backend_b"]] for r in rows]


def rows_changed(case: str, rows) -> str:
    """"" when ``case``'s rows are those recorded on main (or the case is new), else the first
    difference."""
    expected = ROWS_ON_MAIN.get(case)
    if expected is None:
        return ""
    got = row_keys(rows)
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            return f"{case}: row {i} is {g}, on main {e}"
    if len(expected) != len(got):
        return f"{case}: {len(got)} rows, on main {len(expected)}"
    return ""


def describe(rows) -> str:
    return "\n".join(f"step {r['step']} {r['quantity']} {r['tensor']} {r['backend_a']}-{r['backend_b']}: "
                     f"max_rel {r['max_rel']:.3g} > {r['tolerance']:.3g} (odd one out: {r['odd_one_out'] or '?'})"
                     for r in rows[:10])


@pytest.mark.parametrize("spec,dtype", CASES, ids=[f"{s.name}-{d}" for s, d in CASES])
def test_catalog_case_agrees_across_frameworks(spec, dtype):
    from parity.run import run_case

    res = run_case(spec.with_dtype(dtype))
    failing = [r for r in res.rows if not r["passed"]]
    assert not failing, describe(failing)
    changed = rows_changed(f"{spec.name}@{dtype}", res.rows)
    assert not changed, changed
    quantities = {r["quantity"] for r in res.rows}
    assert {"output", "loss", "grad"} <= quantities
    if spec.steps:
        assert "step" in quantities
    if dtype == "float64":
        assert "fd" in quantities


def test_rows_fixture_catches_a_dropped_renamed_or_moved_row():
    case = "mlp-tanh-mse@float64"
    rows = [dict(zip(("quantity", "tensor", "step", "backend_a", "backend_b"), r)) for r in ROWS_ON_MAIN[case]]
    assert rows_changed(case, rows) == ""
    assert "rows" in rows_changed(case, rows[:-1])
    renamed = [dict(r, tensor="0_dense_x/kernel") if r["tensor"] == "0_dense/kernel" else r for r in rows]
    assert "0_dense_x/kernel" in rows_changed(case, renamed)
    assert "row 0" in rows_changed(case, rows[1:2] + rows[:1] + rows[2:])
    assert rows_changed("a-new-case@float64", rows[:1]) == ""
    assert len(ROWS_ON_MAIN) >= 2 * 78


def test_catalog_covers_the_vocabulary():
    from parity.mappings import LOSSES, OPTIMIZERS, REGISTRY

    layer_types = {l.type for s in CATALOG for l in s.layers}
    fused = {l.params.get("activation") for s in CATALOG for l in s.layers} - {None, "linear"}
    assert set(REGISTRY) - layer_types - fused == set(), "layer or activation types without a catalog case"
    assert set(LOSSES) <= {s.loss.type for s in CATALOG}
    assert set(OPTIMIZERS) <= {s.optimizer.type for s in CATALOG}
    assert any("tutorial" in s.name and s.data == "xor" and s.steps == 1500 for s in CATALOG)
    assert any(s.data == "digits" for s in CATALOG)
