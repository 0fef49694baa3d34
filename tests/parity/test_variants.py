"""Per-backend variants (``parity.run.Variant``): one backend runs other weights or other layer
fields than the case, in every run the harness makes of it (synced, free, excuse reruns). Each
planted difference must be caught and blamed on the backend that ran the variant; a variant equal
to the case must change nothing."""
import dataclasses

import numpy as np
import pytest

import parity
from parity.run import Variant, prepare
from parity.spec import parse_spec

SPEC = {"name": "variant-mlp", "input_shape": [5, 4], "seed": 3,
        "layers": [{"type": "dense", "units": 3, "activation": "tanh"},
                   {"type": "layer_normalization"},
                   {"type": "dense", "units": 2}],
        "loss": {"type": "mean_squared_error"},
        "optimizer": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.5}, "steps": 3}


def _initial():
    return prepare(parse_spec(dict(SPEC))).initial


def test_a_variant_equal_to_the_case_changes_no_row():
    plain = parity.check(SPEC)
    same = parity.check(SPEC, variants={"keras": Variant(spec=parse_spec(dict(SPEC)), initial=_initial()),
                                        "torch": Variant(initial=_initial())})
    assert plain.verdict == same.verdict == "pass"
    cols = ["step", "quantity", "tensor", "backend_a", "backend_b", "max_abs", "status"]
    assert plain.rows[cols].equals(same.rows[cols])


@pytest.mark.parametrize("backend", ["torch", "keras", "scratch"])
def test_other_weights_in_one_backend_are_caught_and_blamed_on_it(backend):
    w = _initial()
    w["2_dense/kernel"] = w["2_dense/kernel"].copy()
    w["2_dense/kernel"][1, 0] += 0.01  # one element of the last layer's (3, 2) kernel
    r = parity.check(SPEC, variants={backend: Variant(initial=w)})
    assert not r.passed
    failed = r.rows[~r.rows.passed]
    assert set(failed.odd_one_out) == {backend}
    first = failed[failed.quantity == "output"]
    assert set(first.tensor) == {"2_dense"}  # the layers before it agree
    assert set(r.rows[(r.rows.quantity == "output") & (r.rows.tensor == "0_dense")].status) == {"pass"}


def test_other_layer_fields_in_one_backend_are_caught_and_blamed_on_it():
    fields = dict(SPEC, layers=[SPEC["layers"][0], {"type": "layer_normalization", "epsilon": 0.5}, SPEC["layers"][2]])
    r = parity.check(SPEC, variants={"torch": Variant(spec=parse_spec(fields))})
    assert not r.passed and r.odd_one_out == "torch"
    outputs = r.rows[r.rows.quantity == "output"]
    assert set(outputs[~outputs.passed].tensor) == {"1_layer_normalization", "2_dense"}


def test_a_variant_reaches_the_free_running_trajectory():
    """Only the learning rate differs: step 1's rows and every later step of the free run see it."""
    spec = dict(SPEC, optimizer=dict(SPEC["optimizer"], learning_rate=0.1001))
    r = parity.check(SPEC, variants={"keras": Variant(spec=parse_spec(spec))})
    assert not r.passed and r.odd_one_out == "keras"
    failed = r.rows[~r.rows.passed]
    assert {"step", "trajectory"} <= set(failed.quantity)
    assert set(failed.odd_one_out) == {"keras"}
    assert (failed.backend_a == "keras").any() or (failed.backend_b == "keras").all()


def test_a_variant_of_another_graph_is_refused_before_anything_runs():
    other = dict(SPEC, layers=[SPEC["layers"][0], {"type": "dense", "units": 2}])
    with pytest.raises(ValueError, match="same graph"):
        parity.check(SPEC, variants={"keras": Variant(spec=parse_spec(other))})
    w = _initial()
    w["0_dense/kernel"] = np.zeros((4, 4))
    with pytest.raises(ValueError, match="keys and shapes"):
        parity.check(SPEC, variants={"keras": Variant(initial=w)})
    with pytest.raises(ValueError, match="unknown backends"):
        parity.check(SPEC, variants={"jax": Variant()})


def test_dtype_override_reaches_the_variant_spec():
    r = parity.check(SPEC, dtype="float32", variants={"keras": Variant(spec=parse_spec(dict(SPEC)))})
    assert r.spec.dtype == "float32" and r.case.variants["keras"].spec.dtype == "float32"
    assert r.passed
    assert dataclasses.is_dataclass(r.case.variants["keras"])


# Followed constants (rule declared-deviation, demonstrated by a rerun): TF keeps a leaky_relu slope
# of 0.1 as float32 in float64 math; scratchnet rerun with float32(0.1) must agree with Keras strictly.
LEAKY = {"name": "leaky-followed", "seed": 13, "input_shape": [4, 6],
         "layers": [{"type": "dense", "units": 5}, {"type": "leaky_relu", "negative_slope": 0.1},
                    {"type": "dense", "units": 3}],
         "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "adam", "learning_rate": 0.125}, "steps": 3}


def test_a_float32_constant_is_demonstrated_by_the_rerun_that_follows_it():
    """With Adam the slope meets TF's float32 betas in the step rows: both causes are removed in one
    rerun. Every excused row names its demonstration; none is excused by a bound."""
    r = parity.check(LEAKY)
    assert r.passed and r.verdict == "deviation"
    dev = r.rows[r.rows.status == "deviation"]
    assert {"output", "grad", "step"} <= set(dev.quantity)
    followed = dev[dev.rule == "declared-deviation"]
    assert len(followed) and followed.note.str.contains("following keras's constants").all()
    assert not followed.note.str.contains("declared rtol").any()
    assert set(r.rows[r.rows.backend_a.eq("scratch") & r.rows.backend_b.eq("torch")].status) == {"pass"}


def test_a_wrong_followed_constant_does_not_excuse_the_difference(monkeypatch):
    from parity import run as run_module

    real = run_module.deviations

    def wrong(case):
        return [dataclasses.replace(d, follow={"negative_slope": 0.2}) if d.follow else d for d in real(case)]

    monkeypatch.setattr(run_module, "deviations", wrong)
    r = parity.check(LEAKY)
    assert not r.passed and r.odd_one_out == "keras"
    failed = r.rows[~r.rows.passed & (r.rows.quantity == "output")]
    assert len(failed) and failed.note.str.contains("do not explain it").all()


def test_a_real_difference_beside_a_declared_constant_is_still_caught_and_blamed():
    other = dict(LEAKY, layers=[LEAKY["layers"][0], {"type": "leaky_relu", "negative_slope": 0.1001},
                                LEAKY["layers"][2]])
    r = parity.check(LEAKY, variants={"keras": Variant(spec=parse_spec(other))})
    assert not r.passed and r.odd_one_out == "keras"
    outputs = r.rows[r.rows.quantity == "output"]
    assert set(outputs[~outputs.passed].tensor) == {"1_leaky_relu", "2_dense"}


def test_two_deviating_layers_are_followed_in_one_rerun():
    """Two attention layers with key_dim 3 (TF's float32 1/sqrt(3) in each): every row of either
    layer is explained by scratchnet following both constants."""
    from pathlib import Path

    r = parity.check(Path(__file__).parent / "data" / "two-attention-deviations.json")
    assert r.passed and r.verdict == "deviation", r.worst
    assert (r.rows[r.rows.status == "deviation"].rule == "declared-deviation").any()


def test_a_defect_and_tf_rounding_in_one_row_are_removed_in_one_rerun():
    """Adam's betas (float32 in TF) meet Keras's sparse duplicate-id defect in the embedding's step
    rows: the defect's rerun also takes the float32-exact betas, and agrees strictly."""
    from pathlib import Path

    r = parity.check(Path(__file__).parent / "data" / "embedding-adam-defect-rounding.json")
    assert r.passed and r.verdict == "defect", r.worst
    defect = r.rows[r.rows.status == "defect"]
    assert len(defect) and defect.note.str.contains("removed in the same rerun").all()


def test_your_own_data_and_initial_weights_are_what_every_backend_runs():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    w = {k: rng.normal(size=v.shape) for k, v in _initial().items()}
    r = parity.check(SPEC, data=(x, y), initial=w)
    assert r.verdict == "pass"
    assert np.array_equal(r.case.case.x, x) and np.array_equal(r.case.case.y, y)
    assert all(np.array_equal(r.case.case.initial[k], w[k]) for k in w)
    plain = parity.check(SPEC)
    assert not np.isclose(r.case.results["torch"].loss, plain.case.results["torch"].loss)
    with pytest.raises(ValueError, match="data: x has shape"):
        parity.check(SPEC, data=(x[:3], None))
    with pytest.raises(ValueError, match="data: y has shape"):
        parity.check(SPEC, data=(x, y[:, :1]))
    with pytest.raises(ValueError, match="initial: expected the model's keys"):
        parity.check(SPEC, initial={k: v for k, v in w.items() if k != "0_dense/bias"})
