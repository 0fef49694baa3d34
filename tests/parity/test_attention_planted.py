"""Planted bugs in scratchnet's attention (one line of its source changed) run through the harness on
the causal catalog case: each fails, at the attention layer's output first, and scratchnet is the
odd one out (torch and Keras agree with each other)."""
import dataclasses
import inspect

import numpy as np
import pytest

from parity.run import run_case
from parity.spec import load_catalog
from scratchnet.layers import attention

SPEC = dataclasses.replace(next(s for s in load_catalog() if s.name == "attention-causal-tokens"),
                           steps=1).with_dtype("float32")  # float32: no finite differences, the bugs are large

MUTANTS = {
    "q and k swapped": ('np.einsum("nihd,njhd->nhij", q, k, optimize=True)',
                        'np.einsum("nihd,njhd->nhij", k, q, optimize=True)'),
    "missing 1/sqrt(key_dim) in both passes": ("    scores *= scale\n", "    scores *= 1\n",
                                               "    ds *= scale\n", "    ds *= 1\n"),
    "causal mask off by one": ("np.tril(np.ones((t_q, t_k), dtype=bool))",
                               "np.tril(np.ones((t_q, t_k), dtype=bool), 1)"),
    "mask polarity flipped": ("np.where(causal_mask(scores.shape[-2], scores.shape[-1]), scores, -np.inf)",
                              "np.where(causal_mask(scores.shape[-2], scores.shape[-1]), -np.inf, scores)"),
    "heads split in the wrong order": (
        'q = np.einsum("nte,ehd->nthd", xq, params["query/kernel"], optimize=True)\n',
        'q = np.einsum("nte,ehd->nthd", xq, params["query/kernel"], optimize=True)\n'
        '    q = q.reshape(*q.shape[:2], q.shape[3], q.shape[2]).swapaxes(2, 3)\n'),
}


def mutant(edits):
    source = inspect.getsource(attention)
    for old, new in zip(edits[::2], edits[1::2]):
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    namespace = {"__name__": "attention_mutant"}
    exec(compile(source, "<attention mutant>", "exec"), namespace)
    return namespace


def test_the_unplanted_case_passes():
    res = run_case(SPEC)
    assert not [r for r in res.rows if not r["passed"]]


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
    # gradient; where the planted bug makes scratchnet's gradients nan (a fully masked row), torch vs
    # Keras on that noise is judged without a floor and fails too (the harness's noise rule, not attention)
    judged = [r for r in bad if not (bug == "mask polarity flipped" and r["tensor"] == "attn/key/bias")]
    assert {r["odd_one_out"] for r in judged} == {"scratch"}, {r["odd_one_out"] for r in judged}
    assert all("scratch" in (r["backend_a"], r["backend_b"]) for r in judged)
