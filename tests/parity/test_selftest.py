"""``parity selftest`` on a representative subset: each planted mutant changes its backend's math,
is caught, and is blamed on the backend it was planted in; a mutant that does not change the math
is reported as such (and not caught)."""
from pathlib import Path

import numpy as np
import pytest

from parity import mutations, selftest
from parity.backends.common import BackendResult
from parity.cli import main
from parity.spec import load_spec

CATALOG = Path(__file__).resolve().parents[2] / "parity" / "catalog"


def _mutant(switch, case, backend, direction=0):
    spec = load_spec(CATALOG / f"{case}.json")
    planned = [m for m in selftest.plan_mutants(lambda sw: [spec], [switch], (backend,)) if m[1] == direction]
    assert len(planned) == 1
    sw, d, transform, spec, target, b = planned[0]
    return selftest.run_mutant(sw, d, transform, spec, target, b, {})


SUBSET = [("flatten_order", "cnn-flatten-dense", "keras"),
          ("gru_gates_swapped", "gru-reset-after", "torch"),
          ("dropped_fanout_gradient", "unet-skip", "scratch"),
          ("loss_reduction", "loss-mse", "torch"),
          ("bn_momentum_meaning", "norm-bn-dense-train", "keras"),
          ("schedule_off_by_one", "opt-schedule-exponential", "torch"),
          ("coupled_decay", "opt-adamw", "keras"),
          ("same_padding_side", "conv-same-stride2", "scratch")]


@pytest.mark.parametrize("switch,case,backend", SUBSET)
def test_a_planted_mutant_is_caught_and_blamed_on_its_backend(switch, case, backend):
    o = _mutant(switch, case, backend)
    assert not o.error, o.error
    assert o.changes_math, o
    assert o.caught and o.verdict == "fail", o
    assert o.blamed == backend, o


def test_a_mutant_that_does_not_change_the_math_is_reported_so():
    # momentum in torch's units is Keras's update while the learning rate is constant
    o = _mutant("momentum_units", "opt-sgd-momentum", "torch")
    assert not o.error and not o.changes_math and o.changed == ""
    assert not o.caught and not o.false_alarm and not o.survivor
    # the same mutant under a schedule changes the math and is caught
    o = _mutant("momentum_units", "opt-schedule-cosine-warmup", "keras")
    assert o.changes_math and o.caught and o.blamed == "keras"


def _result(weights):
    return BackendResult("x", outputs={"a": np.zeros((2, 3))}, loss=1.0, grads={"a/kernel": weights},
                         input_grad=None)


def test_math_change_is_measured_at_the_strict_tolerance():
    w = np.linspace(-1.0, 2.0, 12).reshape(3, 4)  # scale 2
    moved = w.copy()
    moved[1, 2] += 3e-12  # 1.5e-12 of the scale: beyond float64's 1e-12
    assert selftest.math_change(_result(w), _result(moved), "float64").startswith("grad a/kernel step 0")
    within = w.copy()
    within[1, 2] += 1e-12  # 5e-13 of the scale
    assert selftest.math_change(_result(w), _result(within), "float64") == ""


def test_the_command_prints_the_table_and_writes_it(tmp_path, capsys):
    out = tmp_path / "st"
    code = main(["selftest", "--mutation", "loss_reduction", "--backend", "keras", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "| loss_reduction | keras | loss-mse | loss | yes: " in text
    assert "1 mutants: 1 change the math, caught 1/1 (100%), blamed right 1/1 (100%)" in text
    assert (out / "selftest.md").read_text().count("loss_reduction") == 1
    assert "blamed_right" in (out / "selftest.csv").read_text().splitlines()[0]


def test_the_command_refuses_an_unknown_mutation(capsys):
    assert main(["selftest", "--mutation", "flaten_order"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --mutation flaten_order: expected one of") and "\n" not in err


def test_every_switch_applies_to_one_of_its_representative_cases():
    for sw in mutations.SWITCHES:
        specs = [load_spec(CATALOG / f"{c}.json") for c in sw.cases]
        assert selftest.plan_mutants(lambda s: specs, [sw.name]), sw.name


def test_free_running_weights_are_measured_at_the_trajectory_tolerance():
    w = np.linspace(-1.0, 2.0, 12).reshape(3, 4)  # scale 2
    moved = w.copy()
    moved[0, 1] += 6e-12  # 3e-12 of the scale: beyond rtol * sqrt(4) = 2e-12 after step 4 ...
    base, mutant = _result(w), _result(w)
    base.steps = [{"a/kernel": w}] * 4
    mutant.steps = [{"a/kernel": w}] * 3 + [{"a/kernel": moved}]
    assert selftest.math_change(base, mutant, "float64", steps="trajectory") == "trajectory a/kernel step 4: 3e-12"
    mutant.steps[3] = {"a/kernel": w + (moved - w) / 2}  # ... 1.5e-12 is within it, not within a step's 1e-12
    assert selftest.math_change(base, mutant, "float64", steps="trajectory") == ""
    assert selftest.math_change(base, mutant, "float64").startswith("step a/kernel step 4")
