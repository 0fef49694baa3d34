"""parity mappings for batch_normalization, layer_normalization, dropout and embedding: every
WeightRule round-trips (distinct sizes on every axis), the torch/Keras objects carry the
translated hyperparameters, and planted mismatches fail the right quantity and blame the right
backend."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from parity import mappings
from parity.mappings import regularization
from parity.mappings.base import SAME, BuildContext, Layout, flat_perm
from parity.run import run_case
from parity.spec import LayerSpec, parse_spec

RNG = np.random.default_rng(0)
OPT = {"type": "sgd", "learning_rate": 0.125, "momentum": 0.875}


def ctx_for(type_name: str, params: dict, in_shape, layout: Layout = SAME, dtype: str = "float64") -> BuildContext:
    return BuildContext(LayerSpec(type_name, params), tuple(in_shape), tuple(in_shape), layout, dtype)


def round_trip(ctx: BuildContext, shapes: dict[str, tuple[int, ...]]) -> None:
    """Every rule: canonical -> torch -> canonical is the identity, torch shape matches the module."""
    mapping = mappings.REGISTRY[ctx.spec.type]
    module, _ = mapping.torch(ctx)
    rules = mapping.rules(ctx)
    assert {r.canonical for r in rules} == set(shapes)
    for rule in rules:
        a = RNG.standard_normal(shapes[rule.canonical])
        t = rule.to_torch(a, ctx)
        try:
            target = module.get_parameter(rule.torch)
        except AttributeError:
            target = module.get_buffer(rule.torch)
        assert tuple(target.shape) == t.shape, rule
        np.testing.assert_array_equal(rule.to_canonical(t, ctx), a)
        with pytest.raises(AssertionError):  # shape-asserted before converting
            rule.to_torch(np.zeros((*shapes[rule.canonical], 2)), ctx)


BN = {"momentum": 0.875, "epsilon": 0.0009765625}
BN_NAMES = ("gamma", "beta", "moving_mean", "moving_variance")


@pytest.mark.parametrize("in_shape, layout", [
    ((5,), SAME), ((7, 5), SAME), ((6, 4, 3), Layout("channels_first")),
    ((6 * 4 * 3,), Layout("flat", flat_perm((6, 4, 3)))),
])
def test_batch_norm_rules_round_trip(in_shape, layout):
    c = in_shape[-1]
    round_trip(ctx_for("batch_normalization", BN, in_shape, layout), {n: (c,) for n in BN_NAMES})


def test_batch_norm_flat_layout_permutes_like_the_features():
    perm = flat_perm((3, 2, 4))
    ctx = ctx_for("batch_normalization", BN, (24,), Layout("flat", perm))
    gamma = np.arange(24.0)
    rule = mappings.REGISTRY["batch_normalization"].rules(ctx)[0]
    # canonical feature i sits at torch index perm[i]
    np.testing.assert_array_equal(rule.to_torch(gamma, ctx)[np.asarray(perm)], gamma)


def test_batch_norm_torch_hyperparameters_and_wrapping():
    import torch.nn as nn

    m = mappings.REGISTRY["batch_normalization"]
    seq, _ = m.torch(ctx_for("batch_normalization", BN, (7, 5)))
    assert isinstance(seq.inner, nn.BatchNorm1d)  # channels-last sequence: wrapped
    assert seq.inner.momentum == 0.125 and seq.inner.eps == BN["epsilon"]  # torch = 1 - keras
    img, layout = m.torch(ctx_for("batch_normalization", BN, (6, 4, 3), Layout("channels_first")))
    assert isinstance(img, nn.BatchNorm2d) and layout.kind == "channels_first"
    k = m.keras(ctx_for("batch_normalization", BN, (7, 5)))
    assert (k.momentum, k.epsilon) == (0.875, BN["epsilon"])


@pytest.mark.parametrize("axis, in_shape, layout", [
    (-1, (7, 5), SAME), ((-2, -1), (7, 5), SAME), ((-2, -1), (6, 4, 3), Layout("channels_first")),
    ((-3, -2, -1), (6, 4, 3), Layout("channels_first")), (-1, (24,), Layout("flat", flat_perm((3, 2, 4)))),
])
def test_layer_norm_rules_round_trip(axis, in_shape, layout):
    ctx = ctx_for("layer_normalization", {"epsilon": 0.0009765625, "axis": axis}, in_shape, layout)
    k = len(axis) if isinstance(axis, tuple) else 1
    shape = tuple(in_shape[-k:])
    round_trip(ctx, {"gamma": shape, "beta": shape})


@pytest.mark.parametrize("axis, in_shape, layout", [
    ((1,), (7, 5), SAME), (2, (3, 4, 7), Layout("channels_first")), ((1, 3), (3, 4, 7), Layout("channels_first")),
    ((1, 2), (3, 4, 7), Layout("channels_first")), ((-3, -1), (6, 2, 5), SAME),
])
def test_layer_norm_non_trailing_axes_normalise_those_axes_in_torch(axis, in_shape, layout):
    """Keras normalises any axes; torch's side moves them last around nn.LayerNorm. Checked against
    the formula y = gamma * (x - mean_R x) / sqrt(var_R x + eps) + beta, R = the spec's axes, with
    gamma and beta shaped like R's dims in sorted order (Keras's layout)."""
    import torch

    m = mappings.REGISTRY["layer_normalization"]
    ctx = ctx_for("layer_normalization", {"epsilon": 0.0009765625, "axis": axis}, in_shape, layout)
    assert m.torch_only_if(ctx) is None
    rank = len(in_shape) + 1
    axes = tuple(sorted(a % rank for a in (axis if isinstance(axis, tuple) else (axis,))))
    shape = tuple(in_shape[a - 1] for a in axes)
    round_trip(ctx, {"gamma": shape, "beta": shape})
    module, out_layout = m.torch(ctx)
    assert out_layout == layout
    x = RNG.standard_normal((2, *in_shape))  # canonical, distinct sizes on every axis
    gamma, beta = RNG.standard_normal(shape), RNG.standard_normal(shape)
    for rule, value in zip(m.rules(ctx), (gamma, beta)):
        module.get_parameter(rule.torch).data = torch.from_numpy(rule.to_torch(value, ctx))
    got = layout.to_canonical(module(torch.from_numpy(layout.from_canonical(x))).detach().numpy())
    bshape = [in_shape[a - 1] if a in axes else 1 for a in range(1, rank)]
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    want = gamma.reshape(bshape) * (x - mean) / np.sqrt(var + 0.0009765625) + beta.reshape(bshape)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # the trailing-axes case of the same shape normalises different values: the check can fail
    assert not np.allclose(got, x - x.mean(axis=-1, keepdims=True))


def test_layer_norm_still_refuses_several_axes_after_a_flattened_image():
    ctx = ctx_for("layer_normalization", {"epsilon": 0.001, "axis": (-2, -1)}, (24,), Layout("flat", flat_perm((3, 2, 4))))
    assert "flattened" in mappings.REGISTRY["layer_normalization"].torch_only_if(ctx)


LN_MIDDLE_CASE = {"name": "ln-middle-axis", "input_shape": [3, 4, 5, 2],
                  "layers": [{"type": "conv2d", "filters": 6, "kernel_size": 2},
                             {"type": "layer_normalization", "axis": 2},
                             {"type": "flatten"}, {"type": "dense", "units": 3}],
                  "loss": {"type": "mean_squared_error"}, "optimizer": OPT, "steps": 1}


def test_layer_norm_middle_axis_case_passes_three_ways():
    res = run_case(parse_spec(LN_MIDDLE_CASE))
    assert res.passed, [r for r in res.rows if not r["passed"]][:3]
    assert any(r["tensor"] == "1_layer_normalization" and r["backend_b"] == "torch" for r in res.rows)


def test_layer_norm_torch_on_the_wrong_axis_fails_and_blames_torch(monkeypatch):
    """Planted: torch normalises W where the spec says H. H_out == W_out (4) here on purpose, so
    the planted module takes the same gamma; N, C and the other sizes stay distinct."""
    ln = mappings.REGISTRY["layer_normalization"]

    def torch_build(ctx):
        return ln.torch(dataclasses.replace(ctx, spec=LayerSpec("layer_normalization", {**ctx.spec.params, "axis": 2})))

    monkeypatch.setitem(mappings.REGISTRY, "layer_normalization", dataclasses.replace(ln, torch=torch_build))
    case = {**LN_MIDDLE_CASE, "input_shape": [3, 5, 5, 2],
            "layers": [{"type": "conv2d", "filters": 6, "kernel_size": 2}, {"type": "layer_normalization", "axis": 1},
                       {"type": "flatten"}, {"type": "dense", "units": 7}]}
    res = run_case(parse_spec(case))
    bad = [r for r in failing(res, "output") if r["tensor"] == "1_layer_normalization"]
    assert bad and {r["odd_one_out"] for r in bad} == {"torch"}


def test_embedding_rule_round_trip_and_keras_name():
    ctx = ctx_for("embedding", {"input_dim": 9, "output_dim": 4}, (5,))
    round_trip(ctx, {"embeddings": (9, 4)})
    layer = mappings.REGISTRY["embedding"].keras(ctx)
    layer.build((None, 5))
    assert [v.name for v in layer.weights] == ["embeddings"]


def test_masked_dropout_matches_the_formula_in_both_frameworks():
    import torch

    x = RNG.standard_normal((4, 3, 5))
    mask = RNG.random(x.shape) >= 0.25
    expected = x * mask * np.float64(1 / 0.75)
    t = regularization.torch_class()(0.25)
    t.set_mask(torch.from_numpy(mask))
    np.testing.assert_array_equal(t(torch.from_numpy(x)).numpy(), expected)
    t.eval()
    np.testing.assert_array_equal(t(torch.from_numpy(x)).numpy(), x)
    k = regularization.keras_class()(0.25, dtype="float64")
    k.set_mask(mask)
    np.testing.assert_array_equal(np.asarray(k(x, training=True)), expected)
    np.testing.assert_array_equal(np.asarray(k(x, training=False)), x)
    with pytest.raises(RuntimeError, match="without an injected mask"):
        regularization.torch_class()(0.25)(torch.from_numpy(x))


def test_every_type_has_a_full_atlas_entry():
    for name in ("batch_normalization", "layer_normalization", "dropout", "embedding"):
        a = mappings.REGISTRY[name].atlas
        assert "forward" in a.math and "backward" in a.math
        assert a.scratch and a.torch and a.keras and a.layout and a.defaults


# -- planted mismatches -----------------------------------------------------------------------
BN_CASE = {"name": "planted-bn", "seed": 3, "input_shape": [6, 5],
           "layers": [{"type": "dense", "units": 4, "activation": "tanh"},
                      {"type": "batch_normalization", **BN}, {"type": "dense", "units": 3}],
           "loss": {"type": "mean_squared_error"}, "optimizer": OPT, "steps": 2}
DROPOUT_CASE = {"name": "planted-dropout", "seed": 4, "input_shape": [6, 5],
                "layers": [{"type": "dense", "units": 7, "activation": "tanh"}, {"type": "dropout", "rate": 0.25},
                           {"type": "dense", "units": 3}],
                "loss": {"type": "mean_squared_error"}, "optimizer": OPT, "steps": 1}


def failing(res, quantity):
    return [r for r in res.rows if not r["passed"] and r["quantity"] == quantity]


def test_unplanted_bn_case_passes_with_the_variance_convention_marked():
    res = run_case(parse_spec(BN_CASE))
    assert res.passed
    conv = [r for r in res.rows if r["status"] == "convention"]
    assert conv and {(r["backend_a"], r["backend_b"]) for r in conv} == {("torch", "keras")}
    var = [r for r in conv if r["tensor"].endswith("moving_variance")]
    assert min(r["max_rel"] for r in var) > 1e-3  # the unbiased/biased difference is real and visible
    twin = [r for r in res.rows if r["backend_a"] == "scratch[torch]" and r["quantity"] == "state"]
    assert twin and all(r["status"] == "pass" for r in twin)


def test_untranslated_bn_momentum_fails_state_and_blames_torch(monkeypatch):
    bn = mappings.REGISTRY["batch_normalization"]

    def torch_build(ctx):
        module, layout = bn.torch(ctx)
        getattr(module, "inner", module).momentum = ctx.spec.params["momentum"]  # planted: Keras's number as is
        return module, layout

    monkeypatch.setitem(mappings.REGISTRY, "batch_normalization", dataclasses.replace(bn, torch=torch_build))
    res = run_case(parse_spec(BN_CASE))
    bad = failing(res, "state")
    assert bad and all(r["odd_one_out"] and "torch" in r["odd_one_out"].split("|") for r in bad)
    assert all("torch" in (r["backend_a"], r["backend_b"]) for r in bad)
    assert not failing(res, "output") and not failing(res, "grad")  # the first forward is unaffected


@pytest.mark.parametrize("plant", ["ignores_mask", "scales_by_1_over_p"])
def test_wrong_torch_dropout_fails_output_and_blames_torch(monkeypatch, plant):
    import torch.nn as nn

    drop = mappings.REGISTRY["dropout"]

    class Wrong(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p, self.mask = p, None

        def set_mask(self, mask):
            self.mask = mask

        def forward(self, x):
            if plant == "ignores_mask":
                return nn.functional.dropout(x, self.p, self.training)  # torch's own mask
            return x * self.mask.to(x.dtype) * (1.0 / self.p)

    monkeypatch.setitem(mappings.REGISTRY, "dropout",
                        dataclasses.replace(drop, torch=lambda ctx: (Wrong(ctx.spec.params["rate"]), ctx.in_layout)))
    res = run_case(parse_spec(DROPOUT_CASE))
    bad = [r for r in failing(res, "output") if r["tensor"] == "1_dropout"]
    assert bad and {r["odd_one_out"] for r in bad} == {"torch"}
    assert {(r["backend_a"], r["backend_b"]) for r in bad} == {("scratch", "torch"), ("torch", "keras")}
