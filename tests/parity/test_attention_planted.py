"""Planted bugs in scratchnet's attention (one line of its source changed) run through the harness on
the causal catalog case: each fails, at the attention layer's output first, and scratchnet is the
odd one out (torch and Keras agree with each other)."""
import dataclasses

import numpy as np
import pytest

from parity.run import run_case
from parity.spec import load_catalog
from scratchnet.layers import attention

SPEC = dataclasses.replace(next(s for s in load_catalog() if s.name == "attention-causal-tokens"),
                           steps=1).with_dtype("float32")  # float32: no finite differences, the bugs are large

def _scratch_attention_tests():
    """tests/scratchnet/test_attention.py, whose planted bugs (one home) this file runs through the harness."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scratchnet" / "test_attention.py"
    spec = importlib.util.spec_from_file_location("scratchnet_attention_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_TESTS = _scratch_attention_tests()
MUTANTS, mutant = _TESTS.MUTANTS, _TESTS.mutant_module


@pytest.mark.parametrize("bug", MUTANTS)
def test_a_planted_bug_fails_at_the_attention_output_and_blames_scratch(bug, monkeypatch):
    planted = mutant(MUTANTS[bug])
    monkeypatch.setattr(attention, "attention_forward", planted["attention_forward"])
    monkeypatch.setattr(attention, "attention_backward", planted["attention_backward"])
    with np.errstate(all="ignore"):  # the flipped mask leaves a row with nothing to attend: nan
        res = run_case(SPEC)
    bad = [r for r in res.rows if not r["passed"]]
    assert bad, bug
    outputs = [r for r in bad if r["quantity"] == "output"]
    assert outputs and outputs[0]["tensor"] == "attn", [(r["quantity"], r["tensor"]) for r in bad[:5]]
    # attn/key/bias's gradient is 0 identically, rounding noise judged against the case's largest
    # gradient, also where the planted bug makes scratchnet's gradients nan (a fully masked row)
    assert {r["odd_one_out"] for r in bad} == {"scratch"}, {r["odd_one_out"] for r in bad}
    assert all("scratch" in (r["backend_a"], r["backend_b"]) for r in bad)
