"""Graph cases through the harness: the tie convention measured and reported, and planted bugs in
scratchnet's graph (a dropped fan-out gradient, a tie given to the wrong input) failing and
blamed."""
import numpy as np

from parity.run import run_case
from parity.spec import load_catalog
from scratchnet import graph
from scratchnet.layers import merge

CATALOG = {s.name: s for s in load_catalog()}


def failing(res, quantity=None):
    return [r for r in res.rows if not r["passed"] and (quantity is None or r["quantity"] == quantity)]


def test_ties_are_a_measured_convention_and_each_side_matches_its_twin():
    res = run_case(CATALOG["maximum-ties"])
    assert not failing(res)
    rows = {(r["backend_a"], r["backend_b"]): r for r in res.rows if r["quantity"] == "grad" and r["tensor"] == "input"}
    assert rows["torch", "keras"]["status"] == "convention" and rows["torch", "keras"]["max_rel"] > 0.1
    assert "splits it equally" in rows["torch", "keras"]["note"]
    assert rows["scratch", "keras"]["status"] == "pass" and rows["scratch[torch]", "torch"]["status"] == "pass"
    x = res.case.x
    ties = x == 0  # maximum(x, relu(x)) at x = 0: torch gives the input half of what Keras gives
    torch_dx, keras_dx = res.results["torch"].input_grad, res.results["keras"].input_grad
    np.testing.assert_allclose(torch_dx[~ties], keras_dx[~ties], rtol=1e-12, atol=1e-15)
    assert not np.allclose(torch_dx[ties], keras_dx[ties])


def test_planted_tie_to_the_wrong_input_fails_scratch_against_keras(monkeypatch):
    original = merge._Extremum._backward

    def last_wins(self, dy, cache):
        if self.convention != "keras":
            return original(self, dy, cache)
        xs, y = cache
        taken, out = np.zeros(dy.shape, bool), [None] * len(xs)
        for i in range(len(xs) - 1, -1, -1):
            out[i] = dy * ((xs[i] == y) & ~taken)
            taken |= xs[i] == y
        return out

    monkeypatch.setattr(merge._Extremum, "_backward", last_wins)
    res = run_case(CATALOG["maximum-ties"])
    bad = failing(res, "grad")
    assert bad and {(r["backend_a"], r["backend_b"], r["tensor"]) for r in bad} == {
        ("scratch", "keras", "input"), ("torch", "keras", "input")}
    conv = [r for r in bad if (r["backend_a"], r["backend_b"]) == ("torch", "keras")]
    assert all("claimed cause convention did not explain it" in r["note"] for r in conv)
    # blame with twins (parity.run._blame): scratch[torch]-torch passes, scratch-keras fails: the
    # Keras side of the convention is named (the twins cannot tell Keras from scratchnet's Keras rule)
    assert {r["odd_one_out"] for r in bad} == {"keras"}


def test_planted_dropped_fan_out_gradient_fails_and_blames_scratch(monkeypatch):
    def keep_first(grads, name, dx):
        grads.setdefault(name, dx)

    monkeypatch.setattr(graph, "accumulate", keep_first)
    res = run_case(CATALOG["resnet-basic-block"])
    bad = failing(res, "grad")
    assert {r["tensor"] for r in bad} == {"input"}  # the one tensor read twice (c1 and the shortcut)
    assert {r["odd_one_out"] for r in bad} == {"scratch"}
    assert all("scratch" in (r["backend_a"], r["backend_b"]) for r in bad)
