"""parity.mappings.recurrent: the canonical <-> torch conversions (round trips on distinct sizes),
the bias reconciliation (frozen bias_hh), torch-less specs rejected, and planted mismatches that
the harness must catch and blame on torch."""
import dataclasses

import numpy as np
import pytest

import parity.mappings
from parity.mappings import BuildContext, layer_mapping
from parity.mappings.base import SAME
from parity.mappings.recurrent import GATES, TORCH_ORDER, block_perm, make_rules
from parity.run import run_case
from parity.spec import LayerSpec, SpecError, parse_spec

N, T, F, U = 3, 5, 4, 6  # distinct on every axis: a wrong transpose or block swap cannot hide
PARAMS = {"simple_rnn": {"units": U, "return_sequences": True, "activation": "tanh"},
          "lstm": {"units": U, "return_sequences": True},
          "gru": {"units": U, "return_sequences": True, "reset_after": True}}


def ctx_for(kind: str, dtype: str = "float64") -> BuildContext:
    return BuildContext(LayerSpec(kind, PARAMS[kind]), (T, F), (T, U), SAME, dtype)


def canonical_weights(kind: str, rng) -> dict[str, np.ndarray]:
    k = GATES[kind]
    return {"kernel": rng.standard_normal((F, k * U)), "recurrent_kernel": rng.standard_normal((U, k * U)),
            "bias": rng.standard_normal((2, k * U) if kind == "gru" else (k * U,))}


def spec(layer: dict, optimizer=None, steps=1, dtype="float64"):
    return parse_spec({"name": f"test-{layer['type']}", "seed": 5, "dtype": dtype, "input_shape": [N, T, F],
                       "layers": [layer, {"type": "dense", "units": 2}], "loss": {"type": "mean_squared_error"},
                       "optimizer": optimizer or {"type": "sgd", "learning_rate": 0.125}, "steps": steps})


def failing(res, quantity=None, tensor=None):
    return [r for r in res.rows if not r["passed"] and (quantity is None or r["quantity"] == quantity)
            and (tensor is None or r["tensor"] == tensor)]


# -- conversions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
def test_round_trip_and_torch_shapes(kind):
    """to_torch then to_canonical is the identity, and to_torch fits the torch module's tensors."""
    ctx = ctx_for(kind)
    module, layout = layer_mapping(kind).torch(ctx)
    assert layout == SAME
    weights = canonical_weights(kind, np.random.default_rng(0))
    for rule in make_rules(ctx):
        values = rule.to_torch(weights[rule.canonical], ctx)
        values = values if isinstance(rule.torch, tuple) else (values,)
        for name, value in zip(rule.torch_names, values, strict=True):
            assert tuple(module.get_parameter(name).shape) == value.shape, name
        back = rule.to_canonical(values if isinstance(rule.torch, tuple) else values[0], ctx)
        np.testing.assert_array_equal(back, weights[rule.canonical])


def test_gru_blocks_swap_r_and_z():
    ctx = ctx_for("gru")
    kernel = np.repeat(np.arange(3.0), U)[None, :].repeat(F, axis=0)  # Keras blocks z=0, r=1, h=2
    w_ih = make_rules(ctx)[0].to_torch(kernel, ctx)  # (3U, F): torch blocks r, z, n
    np.testing.assert_array_equal(w_ih[:, 0], np.repeat([1.0, 0.0, 2.0], U))
    np.testing.assert_array_equal(block_perm(TORCH_ORDER["lstm"], U), np.arange(4 * U))


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm"])
def test_single_bias_split_and_sum(kind):
    """One Keras bias -> (bias_ih = bias, bias_hh = 0); back: values sum, gradients are grad(b_ih)."""
    ctx = ctx_for(kind)
    rule = make_rules(ctx)[-1]
    assert rule.torch == ("rnn.bias_ih_l0", "rnn.bias_hh_l0")
    b = np.random.default_rng(1).integers(-16, 16, GATES[kind] * U) / 8  # dyadic: the split sums exactly
    b_ih, b_hh = rule.to_torch(b, ctx)
    np.testing.assert_array_equal(b_hh, 0)
    np.testing.assert_array_equal(rule.to_canonical((b_ih - 0.25, b_hh + 0.25), ctx), b)  # any split
    np.testing.assert_array_equal(rule.grad_to_canonical((b, b), ctx), b)  # d(b_ih+b_hh) = g, not 2g
    module, _ = layer_mapping(kind).torch(ctx)
    assert not module.rnn.bias_hh_l0.requires_grad and module.rnn.bias_ih_l0.requires_grad


def test_conversion_rejects_wrong_shape():
    ctx = ctx_for("lstm")
    with pytest.raises(AssertionError, match="expected shape"):
        make_rules(ctx)[0].to_torch(np.zeros((U, 4 * U)), ctx)


# -- no torch twin -> SpecError --------------------------------------------------------------------
@pytest.mark.parametrize("layer,field", [({"type": "bidirectional", "layer": {"type": "gru", "units": U, "reset_after": False}},
                                          "layer.reset_after"),
                                         ({"type": "simple_rnn", "units": U, "activation": "sigmoid"}, "activation")])
def test_no_torch_twin_is_a_spec_error(layer, field):
    with pytest.raises(SpecError, match=rf"layers\[0\]: {field}: expected .*torch"):
        run_case(spec(layer))


# -- the harness end to end, and planted mismatches ---------------------------------------------------
def test_all_three_agree_float64():
    s = parse_spec({"name": "stack", "seed": 2, "input_shape": [N, T, F],
                    "layers": [{"type": "simple_rnn", "units": 7, "return_sequences": True},
                               {"type": "lstm", "units": U, "return_sequences": True},
                               {"type": "gru", "units": 5}, {"type": "dense", "units": 2}],
                    "loss": {"type": "mean_squared_error"},
                    "optimizer": {"type": "adam", "learning_rate": 0.0078125, "beta_1": 0.875, "beta_2": 0.9375,
                                  "epsilon": 1e-30}, "steps": 2})
    res = run_case(s)
    assert res.passed, failing(res)[:3]


def test_planted_lstm_gate_swap_blames_torch(monkeypatch):
    """Copying Keras's i and f blocks into torch's f and i: the LSTM output is wrong in torch only."""
    mapping = parity.mappings.REGISTRY["lstm"]
    monkeypatch.setitem(parity.mappings.REGISTRY, "lstm",
                        dataclasses.replace(mapping, rules=lambda ctx: make_rules(ctx, order=(1, 0, 2, 3))))
    res = run_case(spec({"type": "lstm", "units": U, "return_sequences": True}))
    bad = failing(res, "output", "0_lstm")
    assert bad and {r["odd_one_out"] for r in bad} == {"torch"}
    assert {(r["backend_a"], r["backend_b"]) for r in bad} == {("scratch", "torch"), ("torch", "keras")}


def test_planted_unfrozen_bias_hh_fails_the_bias_step(monkeypatch):
    """With bias_hh trainable, both torch biases take the step: the canonical bias (their sum) moves
    twice as far under SGD. Outputs, gradients and the other weights' step still agree."""
    mapping = parity.mappings.REGISTRY["lstm"]

    def unfrozen(ctx):
        module, layout = mapping.torch(ctx)
        module.rnn.bias_hh_l0.requires_grad_(True)
        return module, layout

    monkeypatch.setitem(parity.mappings.REGISTRY, "lstm", dataclasses.replace(mapping, torch=unfrozen))
    res = run_case(spec({"type": "lstm", "units": U}))
    bad = failing(res)
    assert bad and {(r["quantity"], r["tensor"], r["step"]) for r in bad} == {("step", "0_lstm/bias", 1)}
    assert {r["odd_one_out"] for r in bad} == {"torch"}
    b0 = res.case.initial["0_lstm/bias"]
    torch_move = res.results["torch"].steps[0]["0_lstm/bias"] - b0
    keras_move = res.results["keras"].steps[0]["0_lstm/bias"] - b0
    np.testing.assert_allclose(torch_move, 2 * keras_move, rtol=1e-12, atol=1e-15)


def test_atlas_states_the_reconciliations():
    lstm, gru = parity.mappings.REGISTRY["lstm"].atlas, parity.mappings.REGISTRY["gru"].atlas
    assert "FROZEN" in lstm.layout and "bias_ih + bias_hh" in lstm.layout
    assert "r, z, n" in gru.layout and "no nn.GRU twin" in gru.defaults and "GRUResetBefore" in gru.torch


# -- Keras GRU(reset_after=False): torch's side written out (GRUResetBefore) ------------------------
GRU_BEFORE = {"type": "gru", "units": U, "return_sequences": True, "reset_after": False}


def test_gru_reset_before_rules_round_trip_on_its_module():
    ctx = BuildContext(LayerSpec("gru", GRU_BEFORE), (T, F), (T, U), SAME, "float64")
    module, _ = layer_mapping("gru").torch(ctx)
    rng = np.random.default_rng(3)
    shapes = {"kernel": (F, 3 * U), "recurrent_kernel": (U, 3 * U), "bias": (3 * U,)}
    for rule in make_rules(ctx):
        a = rng.standard_normal(shapes[rule.canonical])
        t = rule.to_torch(a, ctx)
        assert tuple(module.get_parameter(rule.torch).shape) == t.shape
        np.testing.assert_array_equal(rule.to_canonical(t, ctx), a)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gru_reset_before_agrees_three_ways(dtype):
    res = run_case(spec(GRU_BEFORE, optimizer={"type": "adam", "learning_rate": 0.0078125, "beta_1": 0.875,
                                               "beta_2": 0.9375, "epsilon": 1e-30}, steps=2, dtype=dtype))
    assert res.passed, failing(res)[:3]
    assert failing(res) == [] and any(r["tensor"] == "0_gru" and r["backend_b"] == "torch" for r in res.rows)


def test_planted_gru_reset_after_in_torch_blames_torch(monkeypatch):
    """torch built as nn.GRU (reset applied after the recurrent matmul, its bias_hh zero and frozen)
    where the spec says reset_after=False: the GRU output differs in torch only."""
    import torch
    import torch.nn as nn

    mapping = parity.mappings.REGISTRY["gru"]

    def after(ctx):
        module, layout = mapping.torch(ctx)
        rnn = nn.GRU(F, U, batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            rnn.bias_hh_l0.zero_()
        rnn.bias_hh_l0.requires_grad_(False)
        module.rnn = rnn
        return module, layout

    monkeypatch.setitem(parity.mappings.REGISTRY, "gru", dataclasses.replace(mapping, torch=after))
    res = run_case(spec(GRU_BEFORE))
    bad = failing(res, "output", "0_gru")
    assert bad and {r["odd_one_out"] for r in bad} == {"torch"}
