"""Mappings of issue 15's layers (conv1d, conv2d_transpose, up_sampling2d, zero_padding2d, the 1-D
and global max poolings, bidirectional): weight conversions round trip and assert shapes; torch
modules reproduce scratchnet (TensorFlow's rules) over a grid; the measured failures of the naive
torch spellings; planted bugs fail and blame torch; the nested layer's errors; the atlas answer.
Sizes differ on every axis."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from parity import mappings  # noqa: E402
from parity.mappings import BuildContext, Layout, layer_mapping  # noqa: E402
from parity.mappings.base import SAME  # noqa: E402
from parity.run import run_case  # noqa: E402
from parity.spec import SpecError, infer_shapes, parse_spec, scratch_layer  # noqa: E402

CF = Layout("channels_first")


def case_dict(input_shape, layers, steps=1, **extra):
    return {"name": "t", "seed": 3, "input_shape": list(input_shape), "layers": layers,
            "loss": {"type": "mean_squared_error"},
            "optimizer": {"type": "sgd", "learning_rate": 0.125, "momentum": 0.875}, "steps": steps, **extra}


def one_layer(input_shape, layer, dtype="float64"):
    """(ctx, scratchnet layer built with random weights incl. biases, x) for a single layer."""
    spec = parse_spec(case_dict(input_shape, [layer], steps=0))
    shape = infer_shapes(spec)[0]
    layout = CF if len(input_shape) == 4 else SAME
    ctx = BuildContext(spec.layers[0], tuple(input_shape[1:]), shape, layout, dtype)
    rng = np.random.default_rng(0)
    sn_layer = scratch_layer(spec.layers[0], name="x").build(tuple(input_shape[1:]), dtype, rng)
    for k, v in sn_layer.params.items():
        sn_layer.set_weights({k: rng.standard_normal(v.shape)})
    return ctx, sn_layer, rng.standard_normal(input_shape)


def torch_module(ctx, weights):
    mapping = layer_mapping(ctx.spec.type)
    module, layout = mapping.torch(ctx)
    module.to(getattr(torch, ctx.dtype))
    with torch.no_grad():
        for rule in mapping.rules(ctx):
            values = rule.to_torch(weights[rule.canonical], ctx)
            values = values if isinstance(rule.torch, tuple) else (values,)
            for name, value in zip(rule.torch_names, values):
                module.get_parameter(name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module, layout


def torch_forward(ctx, sn_layer, x):
    module, layout = torch_module(ctx, sn_layer.params)
    with torch.no_grad():
        y = module(torch.from_numpy(np.ascontiguousarray(ctx.in_layout.from_canonical(x))))
    return layout.to_canonical(y.numpy())


# ---- weight rules round trip and assert shapes ------------------------------------------------------
RULES = [
    ([2, 9, 4], {"type": "conv1d", "filters": 6, "kernel_size": 3, "groups": 2}),
    ([2, 4, 3, 5], {"type": "conv2d_transpose", "filters": 2, "kernel_size": [3, 2], "strides": 2}),
    ([2, 6, 4], {"type": "bidirectional", "layer": {"type": "lstm", "units": 3}}),
    ([2, 6, 4], {"type": "bidirectional", "layer": {"type": "gru", "units": 3}}),
    ([2, 6, 4], {"type": "bidirectional", "layer": {"type": "simple_rnn", "units": 3}}),
]


@pytest.mark.parametrize("input_shape, layer", RULES, ids=lambda v: json.dumps(v) if isinstance(v, dict) else "")
def test_rules_round_trip_and_assert_shapes(input_shape, layer):
    ctx, sn_layer, _ = one_layer(input_shape, layer)
    rules = layer_mapping(ctx.spec.type).rules(ctx)
    assert {r.canonical for r in rules} == set(sn_layer.params)
    for rule in rules:
        value = sn_layer.params[rule.canonical]
        back = rule.to_canonical(rule.to_torch(value, ctx), ctx)  # (an LSTM bias comes back as bias_ih + 0)
        np.testing.assert_array_equal(back, value)
        with pytest.raises(AssertionError, match="expected shape"):
            rule.to_torch(np.zeros(value.shape + (1,)), ctx)


def test_bidirectional_rules_name_the_reverse_tensors():
    ctx, _, _ = one_layer([2, 6, 4], {"type": "bidirectional", "layer": {"type": "lstm", "units": 3}})
    names = {r.canonical: r.torch for r in layer_mapping("bidirectional").rules(ctx)}
    assert names["forward/kernel"] == "rnn.weight_ih_l0"
    assert names["backward/recurrent_kernel"] == "rnn.weight_hh_l0_reverse"
    assert names["backward/bias"] == ("rnn.bias_ih_l0_reverse", "rnn.bias_hh_l0_reverse")


# ---- torch modules reproduce scratchnet -------------------------------------------------------------
TRANSPOSED = [(k, s, pad, op) for k, s in [(3, 2), (4, 2), (5, 2), (3, 3), (2, 2)] for pad in ("same", "valid")
              for op in (None, 1)]


@pytest.mark.parametrize("k, s, padding, op", TRANSPOSED, ids=str)
def test_conv2d_transpose_torch_twin_is_exact(k, s, padding, op):
    layer = {"type": "conv2d_transpose", "filters": 3, "kernel_size": [k, k + 1], "strides": [s, s + 1],
             "padding": padding, "output_padding": None if op is None else [op, op]}
    try:
        ctx, sn_layer, x = one_layer([2, 4, 3, 5], layer)
    except SpecError:
        assert padding == "same" and op is not None  # TF refuses some same + output_padding combinations
        return
    np.testing.assert_allclose(torch_forward(ctx, sn_layer, x), sn_layer(x), rtol=0, atol=1e-13)


@pytest.mark.parametrize("k, s, agrees", [(3, 2, False), (4, 2, True), (5, 2, False), (3, 3, False), (2, 2, True)])
def test_the_naive_torch_padding_gives_the_shape_but_not_the_values(k, s, agrees):
    """The usual recipe p = (k - 1) // 2 with the output_padding that then gives TF's "same" shape:
    right shape, wrong values wherever TF's crop is not symmetric (the measurement in the atlas)."""
    ctx, sn_layer, x = one_layer([2, 5, 5, 4], {"type": "conv2d_transpose", "filters": 3, "kernel_size": k,
                                                "strides": s, "padding": "same", "use_bias": False})
    y = sn_layer(x)
    p = (k - 1) // 2
    op = y.shape[1] - ((5 - 1) * s - 2 * p + k)
    assert 0 <= op < s
    w = torch.from_numpy(sn_layer.params["kernel"].transpose(3, 2, 0, 1).copy())
    yt = torch.nn.functional.conv_transpose2d(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), w, stride=s,
                                              padding=p, output_padding=op).numpy().transpose(0, 2, 3, 1)
    assert yt.shape == y.shape
    diff = np.abs(yt - y).max()
    assert (diff < 1e-13) == agrees, diff
    if not agrees:
        assert diff > 1.0, diff


SEQUENCE_AND_IMAGE = [
    ([2, 9, 4], {"type": "conv1d", "filters": 6, "kernel_size": 3, "strides": 2, "padding": "same"}),
    ([2, 9, 4], {"type": "conv1d", "filters": 6, "kernel_size": 3, "dilation_rate": 2, "padding": "causal", "groups": 2}),
    ([2, 9, 4], {"type": "conv1d", "filters": 5, "kernel_size": 2, "padding": 2}),
    ([2, 8, 3], {"type": "max_pool1d", "pool_size": 3, "strides": 2, "padding": "same"}),
    ([2, 7, 3], {"type": "max_pool1d", "pool_size": 3, "strides": 2, "padding": "same"}),
    ([2, 8, 3], {"type": "average_pool1d", "pool_size": 3, "strides": 2, "padding": "same"}),
    ([2, 7, 3], {"type": "average_pool1d", "pool_size": 3, "strides": 2, "padding": "same"}),
    ([2, 7, 3], {"type": "global_max_pool1d"}),
    ([2, 7, 3], {"type": "global_average_pool1d"}),
    ([2, 3, 4, 5], {"type": "global_max_pool2d"}),
    ([2, 3, 4, 5], {"type": "up_sampling2d", "size": [2, 3], "interpolation": "bilinear"}),
    ([2, 3, 4, 5], {"type": "up_sampling2d", "size": [3, 2]}),
    ([2, 3, 4, 5], {"type": "zero_padding2d", "padding": [[0, 2], [3, 1]]}),
]


@pytest.mark.parametrize("input_shape, layer", SEQUENCE_AND_IMAGE, ids=lambda v: json.dumps(v) if isinstance(v, dict) else "")
def test_torch_twin_matches_scratchnet(input_shape, layer):
    ctx, sn_layer, x = one_layer(input_shape, layer)
    np.testing.assert_allclose(torch_forward(ctx, sn_layer, x), sn_layer(x), rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_torch_twin_matches_scratchnet(kind, return_sequences, merge_mode):
    layer = {"type": "bidirectional", "layer": {"type": kind, "units": 3, "return_sequences": return_sequences},
             "merge_mode": merge_mode}
    ctx, sn_layer, x = one_layer([2, 6, 4], layer)
    np.testing.assert_allclose(torch_forward(ctx, sn_layer, x), sn_layer(x), rtol=0, atol=1e-13)


def test_torch_out_last_step_is_not_the_backward_direction_s_last_state():
    """Without return_sequences, out[:, -1] (the naive twin) differs from Keras's output; h_n agrees."""
    ctx, sn_layer, x = one_layer([2, 6, 4], {"type": "bidirectional", "layer": {"type": "lstm", "units": 3}})
    module, _ = torch_module(ctx, sn_layer.params)
    with torch.no_grad():
        out, _ = module.rnn(torch.from_numpy(x))
    y = sn_layer(x)
    assert np.abs(out[:, -1].numpy() - y).max() > 1e-2
    np.testing.assert_allclose(out[:, 0, 3:].numpy(), y[:, 3:], rtol=0, atol=1e-14)


# ---- planted bugs fail and blame torch ------------------------------------------------------------
def blamed(res, quantity="output"):
    bad = [r for r in res.rows if not r["passed"] and r["quantity"] == quantity]
    return bad, {r["odd_one_out"] for r in bad}


def test_planted_flipped_transposed_kernel_blames_torch(monkeypatch):
    m = mappings.REGISTRY["conv2d_transpose"]

    def rules(ctx):
        good = m.rules(ctx)
        flip = dataclasses.replace(good[0], to_torch=lambda k, c: good[0].to_torch(k, c)[:, :, ::-1, ::-1].copy(),
                                   to_canonical=lambda w, c: good[0].to_canonical(w[:, :, ::-1, ::-1].copy(), c))
        return [flip, *good[1:]]

    spec = parse_spec(case_dict([2, 3, 4, 2], [{"type": "conv2d_transpose", "filters": 2, "kernel_size": 3,
                                                 "strides": 2, "padding": "same"}, {"type": "flatten"}]))
    assert not blamed(run_case(spec))[0]
    monkeypatch.setitem(mappings.REGISTRY, "conv2d_transpose", dataclasses.replace(m, rules=rules))
    bad, who = blamed(run_case(spec))
    assert bad and who == {"torch"}


def test_planted_torch_padding_instead_of_the_crop_blames_torch(monkeypatch):
    from parity.mappings import conv_transpose

    def naive(ctx):
        import torch.nn as nn

        p = ctx.spec.params
        (ho, _, _), (wo, _, _) = conv_transpose.geometry(ctx)
        pads = [(k - 1) // 2 for k in p["kernel_size"]]
        ops = [o - ((n - 1) * s - 2 * q + k) for o, n, s, q, k in zip((ho, wo), ctx.in_shape, p["strides"], pads,
                                                                        p["kernel_size"])]
        conv = nn.ConvTranspose2d(ctx.in_shape[-1], p["filters"], tuple(p["kernel_size"]), stride=tuple(p["strides"]),
                                  padding=tuple(pads), output_padding=tuple(ops), bias=p["use_bias"])
        from collections import OrderedDict

        return nn.Sequential(OrderedDict(conv=conv)), mappings.Layout("channels_first")

    spec = parse_spec(case_dict([2, 4, 3, 2], [{"type": "conv2d_transpose", "filters": 2, "kernel_size": 3,
                                                 "strides": 2, "padding": "same"}, {"type": "flatten"}]))
    m = mappings.REGISTRY["conv2d_transpose"]
    monkeypatch.setitem(mappings.REGISTRY, "conv2d_transpose", dataclasses.replace(m, torch=naive))
    bad, who = blamed(run_case(spec))
    assert bad and who == {"torch"}


def test_planted_corner_aligned_bilinear_blames_torch(monkeypatch):
    from parity.mappings import resize

    def corners(ctx):
        import torch.nn as nn

        return nn.Upsample(scale_factor=tuple(float(s) for s in ctx.spec.params["size"]), mode="bilinear",
                           align_corners=True), mappings.Layout("channels_first")

    spec = parse_spec(case_dict([2, 3, 4, 2], [{"type": "conv2d", "filters": 2, "kernel_size": 1},
                                               {"type": "up_sampling2d", "size": 2, "interpolation": "bilinear"},
                                               {"type": "flatten"}]))
    assert not blamed(run_case(spec))[0]
    m = mappings.REGISTRY["up_sampling2d"]
    monkeypatch.setitem(mappings.REGISTRY, "up_sampling2d", dataclasses.replace(m, torch=corners))
    bad, who = blamed(run_case(spec))
    assert bad and who == {"torch"} and bad[0]["tensor"] == "1_up_sampling2d"
    assert resize is not None


def test_planted_backward_direction_not_re_reversed_blames_torch(monkeypatch):
    from parity.mappings import bidirectional

    real = bidirectional._torch_modules()["BidirectionalSequence"]

    class NotReReversed(real):
        def forward(self, x):
            out, _ = self.rnn(x)
            u = self.rnn.hidden_size
            return torch.cat([out[..., :u], out[..., u:].flip(1)], dim=-1)

    monkeypatch.setitem(bidirectional._torch_modules(), "BidirectionalSequence", NotReReversed)
    spec = parse_spec(case_dict([2, 5, 3], [{"type": "bidirectional",
                                             "layer": {"type": "gru", "units": 2, "return_sequences": True}},
                                            {"type": "dense", "units": 2}]))
    bad, who = blamed(run_case(spec))
    assert bad and who == {"torch"}


def test_planted_zero_pad_in_keras_order_blames_torch(monkeypatch):
    from parity.mappings import resize

    monkeypatch.setattr(resize, "torch_zero_pad_order", lambda p: (p[0][0], p[0][1], p[1][0], p[1][1]))
    spec = parse_spec(case_dict([2, 4, 5, 2], [{"type": "zero_padding2d", "padding": [[1, 2], [2, 1]]},
                                               {"type": "conv2d", "filters": 2, "kernel_size": 2}, {"type": "flatten"}]))
    bad, who = blamed(run_case(spec))
    assert bad and who == {"torch"}


# ---- deviations, errors, the atlas ------------------------------------------------------------------
def test_bilinear_deviation_only_in_float64():
    m = layer_mapping("up_sampling2d")
    for interpolation, dtype, n in (("bilinear", "float64", 1), ("bilinear", "float32", 0), ("nearest", "float64", 0)):
        ctx, _, _ = one_layer([2, 3, 4, 2], {"type": "up_sampling2d", "interpolation": interpolation}, dtype)
        devs = m.deviations(ctx)
        assert len(devs) == n and all(d.backend == "keras" for d in devs)


def run_cli(tmp_path, spec):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec))
    return subprocess.run([sys.executable, "-m", "parity", "run", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("inner, field", [({"type": "lstm"}, "layers[0].layer.units"),
                                          ({"type": "lstm", "units": 2, "unitz": 3}, "layers[0].layer.unitz"),
                                          ({"type": "dense", "units": 2}, "layers[0].layer.type"),
                                          ({"type": "gru", "units": 2, "return_sequences": "yes"},
                                           "layers[0].layer.return_sequences")])
def test_nested_layer_errors_name_the_field(tmp_path, inner, field):
    proc = run_cli(tmp_path, case_dict([2, 5, 3], [{"type": "bidirectional", "layer": inner}, {"type": "dense", "units": 2}]))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("layer, field", [
    ({"type": "conv2d_transpose", "filters": 2, "kernel_size": 3, "dilation_rate": 2}, "dilation_rate"),
    ({"type": "conv2d_transpose", "filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2}, "output_padding"),
    ({"type": "conv2d_transpose", "filters": 2, "kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 0},
     "layers[0]"),
    ({"type": "up_sampling2d", "interpolation": "bicubic"}, "interpolation"),
    ({"type": "zero_padding2d", "padding": [[1], [2, 3]]}, "padding"),
])
def test_refused_image_layers(layer, field):
    with pytest.raises(SpecError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_spec(case_dict([2, 4, 5, 2], [layer, {"type": "flatten"}], steps=0))


def test_explain_conv2d_transpose_answers_the_padding_question():
    proc = subprocess.run([sys.executable, "-m", "parity", "explain", "conv2d_transpose"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for needle in ("torch H_out = (H - 1) s - 2 padding + (k - 1) + output_padding + 1",
                   "Keras valid: H_out = H s + max(k - s, 0)", "Keras same: H_out = H s",
                   "top = total // 2", "cropped [top:top + H_out]"):
        assert needle in text, needle


def test_bilinear_deviation_is_tensorflows_float32_resize():
    """The counterfactual behind the float64 deviation: tf.image.resize given float64 returns
    float32 (bilinear), while nearest (what Keras's UpSampling2D does with ops.repeat) and torch's
    interpolate keep float64; Keras's float64 bilinear output sits within float32 resolution of
    the float64 math and no closer."""
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(11).standard_normal((2, 3, 4, 5))
    assert tf.image.resize(x, (6, 12), method="bilinear").dtype == tf.float32
    from parity.backends.keras_backend import keras_state

    with keras_state("float64") as keras:
        y_k = np.array(keras.layers.UpSampling2D((2, 3), interpolation="bilinear")(x))
        y_n = np.array(keras.layers.UpSampling2D((2, 3), interpolation="nearest")(x))
    ctx, sn_layer, _ = one_layer([2, 3, 4, 5], {"type": "up_sampling2d", "size": [2, 3], "interpolation": "bilinear"})
    y = sn_layer(x)
    rel = np.abs(y_k - y).max() / np.abs(y).max()
    assert 1e-9 < rel < 1e-6, rel  # float32 rounding: well above float64's, within the declared rtol
    np.testing.assert_array_equal(y_n, x.repeat(2, 1).repeat(3, 2))
