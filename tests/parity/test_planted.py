"""Planted mismatches: a deliberately wrong conversion or formula must fail and blame the right
backend, for each kind of quantity (a layer output, a parameter gradient, the input gradient,
an optimizer step, the loss)."""
import dataclasses

import numpy as np
import pytest

from parity import mappings
from parity.mappings.base import WeightRule
from parity.run import run_case
from parity.spec import parse_spec

MLP = {"name": "planted-mlp", "seed": 5, "input_shape": [4, 6],
       "layers": [{"type": "dense", "units": 5, "activation": "tanh"}, {"type": "dense", "units": 3}],
       "loss": {"type": "mean_squared_error"},
       "optimizer": {"type": "sgd", "learning_rate": 0.125, "momentum": 0.875}, "steps": 2}


def failing(res, quantity=None):
    return [r for r in res.rows if not r["passed"] and (quantity is None or r["quantity"] == quantity)]


def test_the_unplanted_case_passes():
    assert not failing(run_case(parse_spec(MLP)))


def test_untransposed_torch_kernel_fails_outputs_and_blames_torch(monkeypatch):
    dense = mappings.REGISTRY["dense"]

    def rules(ctx):
        good = dense.rules(ctx)
        units, fan_in = ctx.spec.params["units"], ctx.in_shape[-1]
        # planted: the kernel reshaped to torch's shape instead of transposed
        bad = WeightRule("kernel", good[0].torch, lambda k, c: k.reshape(units, fan_in).copy(),
                         lambda w, c: w.reshape(fan_in, units).copy())
        return [bad, *good[1:]]

    monkeypatch.setitem(mappings.REGISTRY, "dense", dataclasses.replace(dense, rules=rules))
    res = run_case(parse_spec(MLP))
    bad = failing(res, "output")
    assert bad and all(r["odd_one_out"] == "torch" for r in bad)
    assert {r["backend_a"] for r in bad} | {r["backend_b"] for r in bad} >= {"torch"}


def test_wrong_gradient_layout_fails_param_grads_and_blames_torch(monkeypatch):
    dense = mappings.REGISTRY["dense"]

    def rules(ctx):
        good = dense.rules(ctx)
        # planted: gradients/weights read back from torch without the row permutation undo
        bad = dataclasses.replace(good[0], to_canonical=lambda w, c: w.T[::-1].copy())
        return [bad, *good[1:]]

    monkeypatch.setitem(mappings.REGISTRY, "dense", dataclasses.replace(dense, rules=rules))
    res = run_case(parse_spec(MLP))
    grads = [r for r in failing(res, "grad") if r["tensor"].endswith("kernel")]
    assert grads and {r["odd_one_out"] for r in grads} == {"torch"}
    assert not [r for r in failing(res, "grad") if r["tensor"] == "input"]


def test_wrong_activation_fails_input_gradient_and_blames_keras(monkeypatch):
    from parity.mappings import activations as act

    real = act.keras_function
    monkeypatch.setattr(act, "keras_function", lambda name, params: "sigmoid" if name == "tanh" else real(name, params))
    res = run_case(parse_spec(MLP))
    dx = [r for r in failing(res, "grad") if r["tensor"] == "input"]
    assert dx and {r["odd_one_out"] for r in dx} == {"keras"}


def test_wrong_momentum_units_fail_the_step_and_blame_torch(monkeypatch):
    sgd = mappings.OPTIMIZERS["sgd"]

    def torch_opt(params, p):
        import torch
        # planted: Keras's momentum number given to torch with dampening (buffer not in gradient units)
        return torch.optim.SGD(params, lr=p["learning_rate"], momentum=p["momentum"], dampening=p["momentum"])

    monkeypatch.setitem(mappings.OPTIMIZERS, "sgd", dataclasses.replace(sgd, torch=torch_opt))
    res = run_case(parse_spec(MLP))
    assert not failing(res, "output") and not failing(res, "grad")
    steps = failing(res, "step")
    assert steps and {r["odd_one_out"] for r in steps} == {"torch"}
    assert min(r["step"] for r in steps) == 2  # dampening only bites once the buffer exists


def test_wrong_reduction_fails_the_loss_and_blames_keras(monkeypatch):
    mse = mappings.LOSSES["mean_squared_error"]

    def keras_loss(p, dtype):
        import keras
        return keras.losses.MeanSquaredError(reduction="sum", dtype=dtype)

    monkeypatch.setitem(mappings.LOSSES, "mean_squared_error", dataclasses.replace(mse, keras=keras_loss))
    res = run_case(parse_spec(MLP))
    loss = failing(res, "loss")
    assert loss and {r["odd_one_out"] for r in loss} == {"keras"}


SOFTMAX_LOGITS = {"name": "planted-softmax-logits", "seed": 3, "input_shape": [4, 5],
                  "layers": [{"type": "dense", "units": 3, "activation": "softmax"}],
                  "loss": {"type": "categorical_crossentropy", "from_logits": True},
                  "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 1}


def test_keras_loss_of_the_output_after_a_softmax_passes():
    """from_logits=True after a softmax: the loss of the output softmax(z) in all three (Keras
    would use z itself, its softmax's input, without the harness's identity)."""
    for dtype in ("float64", "float32"):
        assert not failing(run_case(parse_spec(SOFTMAX_LOGITS).with_dtype(dtype)))


@pytest.mark.filterwarnings("ignore:.*does not represent logits")  # the shortcut this plant provokes
def test_keras_loss_fed_the_softmax_logits_fails_the_loss_and_blames_keras(monkeypatch):
    from parity.mappings import losses

    # planted: the Keras loss gets the marked softmax output, so Keras computes CE(z), not CE(softmax(z))
    monkeypatch.setattr(losses, "_without_keras_logits", lambda y_pred: y_pred)
    res = run_case(parse_spec(SOFTMAX_LOGITS))
    loss = failing(res, "loss")
    assert loss and {r["odd_one_out"] for r in loss} == {"keras"}
    assert {r["odd_one_out"] for r in failing(res, "grad")} == {"keras"}
    assert not failing(res, "output")  # the model agrees; only the loss was fed the wrong tensor


def test_scratchnet_backward_bug_is_caught_by_finite_differences(monkeypatch):
    from scratchnet.layers import dense as dense_layer

    real = dense_layer.dense_backward
    monkeypatch.setattr(dense_layer, "dense_backward", lambda dy, cache, **out: (lambda r: (r[0], 2 * r[1], r[2]))(real(dy, cache)))
    res = run_case(parse_spec(MLP))
    fd = failing(res, "fd")
    assert fd and all(r["backend_a"] == "scratch" for r in fd)
    assert {r["odd_one_out"] for r in failing(res, "grad")} == {"scratch"}


def test_convention_difference_is_reported_not_failed():
    spec = dict(MLP, name="planted-adam", optimizer={"type": "adam", "learning_rate": 0.0078125, "beta_1": 0.875,
                                                      "beta_2": 0.9375, "epsilon": 0.0009765625})
    res = run_case(parse_spec(spec))
    assert res.passed and res.convention and "eps" in res.convention
    conv = [r for r in res.rows if r["status"] == "convention"]
    assert conv and all((r["backend_a"], r["backend_b"]) == ("torch", "keras") for r in conv)
    assert max(r["max_rel"] for r in conv) > 1e-6  # the difference is real and measured
    strict = [r for r in res.rows if r["quantity"] == "step" and r["status"] != "convention"]
    assert {(r["backend_a"], r["backend_b"]) for r in strict} == {("scratch", "keras"), ("scratch[torch]", "torch")}


def test_float32_after_float64_gives_the_same_answers_as_alone():
    import json
    import subprocess
    import sys

    spec = parse_spec(MLP)
    code = ("import json, sys; from parity.run import run_case; from parity.spec import parse_spec; "
            "r = run_case(parse_spec(json.loads(sys.argv[1])).with_dtype('float32')); "
            "print(json.dumps([row['max_abs'] for row in r.rows]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(MLP)], capture_output=True, text=True, check=True)
    alone = json.loads(out.stdout.strip().splitlines()[-1])
    run_case(spec)  # float64 first: its floatx, dtype policy and torch default dtype must not leak
    after = run_case(spec.with_dtype("float32"))
    assert [r["max_abs"] for r in after.rows] == alone


# Finite differences that scale: a kernel above gradcheck.ELEMENT_CAP (20 x 30 = 600) is checked on
# sampled elements plus random directions; its bias (30) and the input (4 x 20) element by element.
WIDE = {"name": "planted-wide", "seed": 7, "input_shape": [4, 20],
        "layers": [{"type": "dense", "units": 30, "activation": "tanh"}, {"type": "dense", "units": 3}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.125}, "steps": 1}


def plant_dense(monkeypatch, shape, change):
    """scratchnet's Dense backward with ``change`` applied to the kernel or bias gradient of ``shape``."""
    from scratchnet.layers import dense as dense_layer

    real = dense_layer.dense_backward

    def backward(dy, cache, **out):
        dx, dk, db = real(dy, cache, **out)
        if dk.shape == shape:
            dk = change(dk.copy())
        if db is not None and db.shape == shape:
            db = change(db.copy())
        return dx, dk, db

    monkeypatch.setattr(dense_layer, "dense_backward", backward)


def fd_failures(res) -> set[str]:
    return {r["tensor"] for r in failing(res, "fd")}


def test_fd_rows_say_what_they_checked():
    from scratchnet.gradcheck import DIRECTIONS, SAMPLED_ELEMENTS

    res = run_case(parse_spec(WIDE))
    assert not failing(res)
    notes = {r["tensor"]: r["note"] for r in res.rows if r["quantity"] == "fd"}
    assert notes["0_dense/kernel"] == f"{DIRECTIONS} directions + {SAMPLED_ELEMENTS} sampled elements of 600"
    assert notes["0_dense/bias"] == "all 30 elements" and notes["1_dense/kernel"] == "all 90 elements"
    assert notes["input"] == "all 80 elements"


def test_a_wrong_element_of_a_small_tensor_is_caught(monkeypatch):
    def wrong(db):
        db[7] += 0.25 * abs(db).max()
        return db

    plant_dense(monkeypatch, (30,), wrong)
    res = run_case(parse_spec(WIDE))
    assert fd_failures(res) == {"0_dense/bias"}
    row = next(r for r in failing(res, "fd"))
    assert row["worst_index"] == "(7,)"


def test_a_transposed_block_of_a_sampled_tensor_is_caught(monkeypatch):
    def transposed(dk):
        dk[:6, :6] = dk[:6, :6].T.copy()
        return dk

    plant_dense(monkeypatch, (20, 30), transposed)
    res = run_case(parse_spec(WIDE))
    assert fd_failures(res) == {"0_dense/kernel"}


def test_a_missing_factor_on_a_sampled_tensor_is_caught(monkeypatch):
    plant_dense(monkeypatch, (20, 30), lambda dk: dk / 4)  # e.g. the 1/N of a mean applied twice
    res = run_case(parse_spec(WIDE))
    assert fd_failures(res) == {"0_dense/kernel"}


def test_a_wrong_element_outside_every_sampled_element_is_caught_by_the_directions(monkeypatch):
    clean = run_case(parse_spec(WIDE))
    fd = clean.fd["0_dense/kernel"]
    assert not fd.exhaustive
    g = clean.results["scratch"].grads["0_dense/kernel"]
    outside = np.setdiff1d(np.arange(g.size), fd.indices)
    i = outside[np.argsort(np.abs(g.reshape(-1)[outside]))[outside.size // 2]]  # a median-sized element
    where = np.unravel_index(i, g.shape)

    def wrong(dk):
        dk[where] *= 1.5
        return dk

    plant_dense(monkeypatch, (20, 30), wrong)
    res = run_case(parse_spec(WIDE))
    assert np.array_equal(res.fd["0_dense/kernel"].indices, fd.indices)  # the same sample: the element is not in it
    assert fd_failures(res) == {"0_dense/kernel"}
    row = next(r for r in failing(res, "fd"))
    assert row["worst_index"].startswith("direction")
    assert {r["odd_one_out"] for r in failing(res, "grad")} == {"scratch"}
