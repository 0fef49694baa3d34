"""The parity suite: every catalog case, in float64 and float32, through all three frameworks.

A failure message names the tensor, the pair, the size and the odd one out, as the report does.
"""
import pytest

from parity.spec import load_catalog

CATALOG = load_catalog()
CASES = [(spec, dtype) for spec in CATALOG for dtype in ("float64", "float32")]


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
    quantities = {r["quantity"] for r in res.rows}
    assert {"output", "loss", "grad"} <= quantities
    if spec.steps:
        assert "step" in quantities
    if dtype == "float64":
        assert "fd" in quantities


def test_catalog_covers_the_vocabulary():
    from parity.mappings import LOSSES, OPTIMIZERS, REGISTRY

    layer_types = {l.type for s in CATALOG for l in s.layers}
    fused = {l.params.get("activation") for s in CATALOG for l in s.layers} - {None, "linear"}
    assert set(REGISTRY) - layer_types - fused == set(), "layer or activation types without a catalog case"
    assert set(LOSSES) <= {s.loss.type for s in CATALOG}
    assert set(OPTIMIZERS) <= {s.optimizer.type for s in CATALOG}
    assert any("tutorial" in s.name and s.data == "xor" and s.steps == 1500 for s in CATALOG)
    assert any(s.data == "digits" for s in CATALOG)
