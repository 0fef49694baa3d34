"""Image mappings (conv2d, depthwise_conv2d, pooling, flatten, reshape): weight conversions round
trip, torch modules reproduce TensorFlow's padding against scratchnet, and a planted wrong
conversion makes the harness fail and blame torch. Every shape has a distinct size on each axis
(equal sizes hide a wrong transpose)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from parity.mappings import REGISTRY, BuildContext, Layout, layer_mapping  # noqa: E402
from parity.mappings.base import SAME, flat_perm  # noqa: E402
from parity.spec import SpecError, infer_shapes, parse_spec  # noqa: E402
from scratchnet.layers import conv as sn_conv, pooling as sn_pool  # noqa: E402
from scratchnet.layers._windows import resolve_padding  # noqa: E402

CF = Layout("channels_first")


def case_dict(input_shape, layers, **extra):
    return {"name": "t", "input_shape": list(input_shape), "layers": layers,
            "loss": {"type": "mean_squared_error"},
            "optimizer": {"type": "sgd", "learning_rate": 0.125, "momentum": 0.875}, "steps": 1, **extra}


def contexts(input_shape, layers, dtype="float64"):
    """BuildContexts of every layer, with the torch layouts the backend would thread through."""
    spec = parse_spec(case_dict(input_shape, layers, steps=0))  # pooling-only models have nothing to train
    shapes = infer_shapes(spec)
    in_shape, layout, out = tuple(input_shape[1:]), CF if len(input_shape) == 4 else SAME, []
    for lspec, shape in zip(spec.layers, shapes):
        ctx = BuildContext(lspec, in_shape, shape, layout, dtype)
        _, layout = layer_mapping(lspec.type).torch(ctx)
        out.append(ctx)
        in_shape = shape
    return out


def load_torch(ctx, weights):
    """The torch module of ``ctx`` with canonical ``weights`` copied in through the rules."""
    module, layout = layer_mapping(ctx.spec.type).torch(ctx)
    module.to(getattr(torch, ctx.dtype))
    with torch.no_grad():
        for rule in layer_mapping(ctx.spec.type).rules(ctx):
            module.get_parameter(rule.torch).copy_(torch.from_numpy(rule.to_torch(weights[rule.canonical], ctx)))
    return module, layout


def run_torch(module, layout_in, x):
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(layout_in.from_canonical(x)))).numpy()


# ---- weight rules: canonical -> torch -> canonical is the identity ---------------------------------
RULE_CASES = [
    ("conv2d", [2, 7, 9, 4], {"type": "conv2d", "filters": 6, "kernel_size": [3, 2]}),
    ("conv2d grouped", [2, 7, 9, 4], {"type": "conv2d", "filters": 6, "kernel_size": [3, 2], "groups": 2}),
    ("conv2d no bias", [2, 7, 9, 4], {"type": "conv2d", "filters": 5, "kernel_size": [2, 3], "use_bias": False}),
    ("depthwise m=1", [2, 7, 9, 4], {"type": "depthwise_conv2d", "kernel_size": [3, 2]}),
    ("depthwise m=3", [2, 7, 9, 4], {"type": "depthwise_conv2d", "kernel_size": [3, 2], "depth_multiplier": 3}),
]


@pytest.mark.parametrize("label,shape,layer", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_weight_rules_round_trip(label, shape, layer):
    import scratchnet  # noqa: F401  (the canonical shapes come from scratchnet's own build)
    from parity.spec import scratch_layer

    (ctx,) = contexts(shape, [layer])
    sn_layer = scratch_layer(ctx.spec, name="l")
    sn_layer.build(ctx.in_shape, "float64", np.random.default_rng(0))
    module, _ = layer_mapping(ctx.spec.type).torch(ctx)
    rng = np.random.default_rng(1)
    rules = layer_mapping(ctx.spec.type).rules(ctx)
    assert {r.canonical for r in rules} == set(sn_layer.params)
    for rule in rules:
        canonical = rng.standard_normal(sn_layer.params[rule.canonical].shape)
        as_torch = rule.to_torch(canonical, ctx)
        assert as_torch.shape == tuple(module.get_parameter(rule.torch).shape)
        np.testing.assert_array_equal(rule.to_canonical(as_torch, ctx), canonical)
        t = rng.standard_normal(as_torch.shape)
        np.testing.assert_array_equal(rule.to_torch(rule.to_canonical(t, ctx), ctx), t)
        with pytest.raises(AssertionError, match="expected shape"):
            rule.to_torch(canonical[..., None], ctx)  # a wrong shape is refused, not copied


def test_depthwise_rule_matches_documented_formula():
    (ctx,) = contexts([2, 7, 9, 3], [{"type": "depthwise_conv2d", "kernel_size": [3, 2], "depth_multiplier": 2}])
    w = np.random.default_rng(2).standard_normal((6, 1, 3, 2))  # (C*m, 1, kh, kw)
    kernel = layer_mapping("depthwise_conv2d").rules(ctx)[0].to_canonical(w, ctx)
    for c in range(3):
        for k in range(2):
            np.testing.assert_array_equal(kernel[:, :, c, k], w[c * 2 + k, 0])  # output channel c*m + k


# ---- torch modules reproduce TF's padding (checked against scratchnet) ------------------------------
@pytest.mark.parametrize("layer", [
    {"type": "conv2d", "filters": 5, "kernel_size": 3, "strides": 2, "padding": "same"},  # H=8: (0, 1)
    {"type": "conv2d", "filters": 5, "kernel_size": [3, 2], "dilation_rate": [2, 3], "padding": "same"},
    {"type": "conv2d", "filters": 6, "kernel_size": [2, 3], "padding": [1, 2], "groups": 3},
    {"type": "depthwise_conv2d", "kernel_size": [2, 3], "depth_multiplier": 2, "strides": 2, "padding": "same"},
])
def test_torch_conv_same_padding_matches_scratchnet(layer):
    (ctx,) = contexts([2, 8, 9, 3], [layer])
    p = ctx.spec.params
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 9, 3))
    pads = resolve_padding(p["padding"], (8, 9), p["kernel_size"], p["strides"], p["dilation_rate"])
    if ctx.spec.type == "conv2d":
        kernel = rng.standard_normal((*p["kernel_size"], 3 // p["groups"], p["filters"]))
        bias = rng.standard_normal(p["filters"])
        ref, _ = sn_conv.conv2d_forward(x, kernel, bias, p["strides"], pads, p["dilation_rate"], p["groups"])
    else:
        kernel = rng.standard_normal((*p["kernel_size"], 3, p["depth_multiplier"]))
        bias = rng.standard_normal(3 * p["depth_multiplier"])
        ref, _ = sn_conv.depthwise_conv2d_forward(x, kernel, bias, p["strides"], pads, p["dilation_rate"])
    module, layout = load_torch(ctx, {"kernel": kernel, "bias": bias})
    out = layout.to_canonical(run_torch(module, CF, x))
    assert out.shape == ref.shape == (2, *ctx.out_shape)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_symmetric_torch_padding_would_be_wrong():
    """The reason for the explicit pad: torch's symmetric padding=1 shifts every window (H=8, k3 s2)."""
    rng = np.random.default_rng(4)
    x, kernel = rng.standard_normal((1, 8, 9, 2)), rng.standard_normal((3, 3, 2, 4))
    ref, _ = sn_conv.conv2d_forward(x, kernel, None, (2, 2), resolve_padding("same", (8, 9), (3, 3), (2, 2)))
    naive = torch.nn.functional.conv2d(torch.from_numpy(x.transpose(0, 3, 1, 2)),
                                       torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()), stride=2, padding=1)
    assert np.abs(naive.numpy().transpose(0, 2, 3, 1) - ref).max() > 0.1


@pytest.mark.parametrize("layer", [
    {"type": "max_pool2d", "pool_size": 3, "strides": 2, "padding": "same"},  # H=8: (0, 1), W=9: (1, 1)
    {"type": "average_pool2d", "pool_size": [3, 2], "strides": 2, "padding": "same"},  # asymmetric
    {"type": "average_pool2d", "pool_size": 3, "strides": [1, 2], "padding": "same"},  # symmetric
    {"type": "max_pool2d", "pool_size": 3, "strides": 2, "padding": [1, 0]},
    {"type": "average_pool2d", "pool_size": [3, 2], "strides": 1, "padding": [1, 1]},
])
def test_torch_pooling_padding_matches_scratchnet(layer):
    (ctx,) = contexts([2, 8, 9, 3], [layer])
    p = ctx.spec.params
    x = np.random.default_rng(5).standard_normal((2, 8, 9, 3))
    pads = resolve_padding(p["padding"], (8, 9), p["pool_size"], p["strides"])
    fn = sn_pool.max_pool2d_forward if ctx.spec.type == "max_pool2d" else sn_pool.average_pool2d_forward
    ref, _ = fn(x, p["pool_size"], p["strides"], pads)
    module, layout = load_torch(ctx, {})
    out = layout.to_canonical(run_torch(module, CF, x))
    assert out.shape == ref.shape == (2, *ctx.out_shape)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-14)


def test_flatten_layout_and_reshape_module():
    ctxs = contexts([2, 4, 5, 3], [{"type": "flatten"}, {"type": "reshape", "target_shape": [5, 6, 2]},
                                   {"type": "reshape", "target_shape": [-1, 4]}])
    x = np.random.default_rng(6).standard_normal((2, 4, 5, 3))
    flat_module, flat_layout = layer_mapping("flatten").torch(ctxs[0])
    assert flat_layout == Layout("flat", flat_perm((4, 5, 3)))
    h = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    h = flat_module(h)
    np.testing.assert_array_equal(flat_layout.to_canonical(h.numpy()), x.reshape(2, -1))
    img_module, img_layout = layer_mapping("reshape").torch(ctxs[1])
    assert img_layout == CF
    h = img_module(h)
    np.testing.assert_array_equal(img_layout.to_canonical(h.numpy()), x.reshape(2, 5, 6, 2))
    seq_module, seq_layout = layer_mapping("reshape").torch(ctxs[2])
    assert seq_layout == SAME
    np.testing.assert_array_equal(seq_module(h).numpy(), x.reshape(2, 15, 4))


# ---- Keras side: variable names and the explicit-padding wrappers -----------------------------------
def test_keras_variables_are_named_canonically():
    from parity.backends.keras_backend import keras_state

    with keras_state("float64"):
        for layer in ({"type": "depthwise_conv2d", "kernel_size": [3, 2], "depth_multiplier": 2},
                      {"type": "conv2d", "filters": 5, "kernel_size": [3, 2], "padding": [1, 2]}):
            (ctx,) = contexts([2, 7, 9, 4], [layer])
            k = layer_mapping(ctx.spec.type).keras(ctx)
            k.build((None, *ctx.in_shape))
            assert [v.name for v in k.weights] == ["kernel", "bias"]
            assert tuple(k.compute_output_shape((2, *ctx.in_shape))) == (2, *ctx.out_shape)


def test_strides_with_dilation_is_a_spec_error_naming_keras():
    with pytest.raises(SpecError, match="Keras refuses"):
        parse_spec(case_dict([2, 9, 8, 3], [{"type": "conv2d", "filters": 2, "kernel_size": 3, "strides": 2,
                                             "dilation_rate": 2}]))


# ---- a planted wrong conversion makes the harness fail and blame torch -------------------------------
def _blamed(spec_dict, type_name, monkeypatch, **replace):
    from parity.run import run_case

    monkeypatch.setitem(REGISTRY, type_name, dataclasses.replace(REGISTRY[type_name], **replace))
    res = run_case(parse_spec(spec_dict))
    failed = [r for r in res.rows if not r["passed"]]
    assert failed, "the planted bug went unnoticed"
    return failed


def test_planted_kernel_transpose_is_blamed_on_torch(monkeypatch):
    from parity.mappings.base import WeightRule

    good = REGISTRY["conv2d"].rules

    def bad_rules(ctx):  # kernel.permute(3, 2, 1, 0): kh and kw swapped (square kernel: shapes still fit)
        rules = good(ctx)
        wrong = WeightRule("kernel", "conv.weight", lambda k, c: k.transpose(3, 2, 1, 0).copy(),
                           lambda w, c: w.transpose(3, 2, 1, 0).copy())
        return [wrong] + rules[1:]

    spec = case_dict([2, 6, 7, 2], [{"type": "conv2d", "filters": 3, "kernel_size": 3}], dtype="float32")
    failed = _blamed(spec, "conv2d", monkeypatch, rules=bad_rules)
    outputs = [r for r in failed if r["quantity"] == "output"]
    assert outputs and all(r["odd_one_out"] == "torch" for r in outputs)
    assert all("torch" in (r["backend_a"], r["backend_b"]) for r in failed if r["quantity"] != "fd")


def test_planted_missing_flatten_permutation_is_blamed_on_torch(monkeypatch):
    import torch.nn as nn

    spec = case_dict([2, 4, 5, 3], [{"type": "conv2d", "filters": 2, "kernel_size": 2}, {"type": "flatten"},
                                    {"type": "dense", "units": 7}], dtype="float32")
    failed = _blamed(spec, "flatten", monkeypatch, torch=lambda ctx: (nn.Flatten(), SAME))
    dense_out = [r for r in failed if r["quantity"] == "output" and r["tensor"] == "2_dense"]
    assert dense_out and all(r["odd_one_out"] == "torch" for r in dense_out)
    assert all(r["odd_one_out"] == "torch" for r in failed if r["quantity"] in ("output", "grad", "loss"))
