"""multi_head_attention's mapping: the weight conversions (torch's packed in_proj_weight, the separate
q/k/v weights, the functional build's Keras layout) round trip and assert shapes both ways; torch
and Keras reproduce scratchnet's forward and gradients; the three causal-mask polarities (torch's
module, SDPA, Keras) agree with each other and a flipped one is caught; TF's float32-rounded scale
measured in float64 and followed by scratchnet; the spec's refusals exit 2 with one line. Sizes
differ on every axis (E_q != E_k != E_v, T_q != T_k)."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from parity.backends.keras_backend import keras_state  # noqa: E402
from parity.cli import main  # noqa: E402
from parity.mappings import BuildContext, layer_mapping  # noqa: E402
from parity.mappings import attention as mapping_module  # noqa: E402
from parity.spec import SpecError, parse_spec, scratch_layer  # noqa: E402

N = 2


def spec_dict(attention, eq=6, ek=5, ev=4, tq=3, tk=5, count=3, dtype="float64"):
    """A graph whose layer "attn" reads a query (N, tq, eq) made by a valid conv1d of the input,
    the input (N, tk, ev) as value and a dense's (N, tk, ek) as key (as many as ``count``)."""
    layers = [{"type": "conv1d", "name": "q", "filters": eq, "kernel_size": tk - tq + 1, "inputs": ["input"]}]
    names = ["q"]
    if count >= 3:
        layers.append({"type": "dense", "name": "k", "units": ek, "inputs": ["input"]})
    if count >= 2:
        names.append("input")
    if count >= 3:
        names.append("k")
    layers.append({"type": "multi_head_attention", "name": "attn", "inputs": names, **attention})
    return {"name": "t", "seed": 3, "dtype": dtype, "input_shape": [N, tk, ev], "layers": layers,
            "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}, "steps": 1}


def context(attention, dtype="float64", **shape):
    spec = parse_spec(spec_dict(attention, dtype=dtype, **shape))
    return BuildContext.of(spec.plan.layer("attn"), dtype)


def weights_and_inputs(ctx, seed=0, **keywords):
    """A built scratchnet layer with random weights (biases too), and random inputs."""
    rng = np.random.default_rng(seed)
    layer = scratch_layer(ctx.spec, name="attn")
    for keyword, value in keywords.items():  # a scratchnet-only keyword (score_scale_dtype), read by build
        setattr(layer, keyword, value)
    layer.build(list(ctx.in_shapes), ctx.dtype, rng)
    for value in layer.params.values():
        value[...] = rng.normal(0, 0.5, value.shape)
    xs = [rng.standard_normal((N, *s)).astype(ctx.dtype) for s in ctx.in_shapes]
    return layer, xs


def torch_module(ctx, weights):
    module, _ = layer_mapping("multi_head_attention").torch(ctx)
    module.to(getattr(torch, ctx.dtype))
    with torch.no_grad():
        for rule in layer_mapping("multi_head_attention").rules(ctx):
            given = tuple(weights[n] for n in rule.canonical_names)
            values = rule.to_torch(given if isinstance(rule.canonical, tuple) else given[0], ctx)
            for name, value in zip(rule.torch_names, values if isinstance(rule.torch, tuple) else (values,)):
                module.get_parameter(name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def torch_run(ctx, weights, xs, dy):
    """torch's output, input gradients and canonical parameter gradients for upstream gradient dy."""
    module = torch_module(ctx, weights)
    ts = [torch.from_numpy(x).requires_grad_(True) for x in xs]
    y = module(*ts)
    y.backward(torch.from_numpy(dy))
    grads = {}
    for rule in layer_mapping("multi_head_attention").rules(ctx):
        gs = tuple(module.get_parameter(n).grad.numpy() for n in rule.torch_names)
        got = (rule.grad_to_canonical or rule.to_canonical)(gs if isinstance(rule.torch, tuple) else gs[0], ctx)
        grads.update(zip(rule.canonical_names, got if isinstance(rule.canonical, tuple) else (got,)))
    return y.detach().numpy(), [t.grad.numpy() for t in ts], grads, module


def keras_run(ctx, weights, xs, dy):
    import tensorflow as tf

    with keras_state(ctx.dtype):
        layer = layer_mapping("multi_head_attention").keras(ctx)
        layer.build([(None, *s) for s in ctx.in_shapes])
        for var in layer.weights:
            var.assign(weights[var.name])
        ts = [tf.constant(x) for x in xs]
        with tf.GradientTape() as tape:
            tape.watch(ts)
            y = layer(ts)
            loss = tf.reduce_sum(y * tf.constant(dy))
        gs = tape.gradient(loss, [*ts, *layer.trainable_weights])
        names = [v.name for v in layer.trainable_weights]
        return y.numpy(), [g.numpy() for g in gs[:len(ts)]], dict(zip(names, [g.numpy() for g in gs[len(ts):]]))


def scratch_run(layer, xs, dy):
    y = layer.forward(xs).copy()
    dxs = [d.copy() for d in layer.backward(dy)]
    return y, dxs, {k: g.copy() for k, g in layer.grads.items()}


def assert_same(a, b, rtol, what):
    ya, dxa, ga = a
    yb, dxb, gb = b
    scale = np.abs(ya).max()
    np.testing.assert_allclose(yb, ya, rtol=0, atol=rtol * scale, err_msg=f"{what}: output")
    for i, (p, q) in enumerate(zip(dxa, dxb)):
        np.testing.assert_allclose(q, p, rtol=0, atol=rtol * np.abs(p).max(), err_msg=f"{what}: input {i}")
    assert set(ga) == set(gb), (sorted(ga), sorted(gb))
    floor = max(np.abs(g).max() for g in ga.values())
    for k in ga:
        if k == "key/bias":  # 0 identically: both sides rounding noise, judged against the largest gradient
            assert max(np.abs(ga[k]).max(), np.abs(gb[k]).max()) <= rtol * floor, (what, k)
            continue
        np.testing.assert_allclose(gb[k], ga[k], rtol=0, atol=rtol * np.abs(ga[k]).max(), err_msg=f"{what}: {k}")


CONFIGS = {  # name: (attention fields, shape keywords, torch build)
    "twin-packed-self": ({"num_heads": 2, "key_dim": 4}, {"eq": 8, "tq": 5, "tk": 5, "ev": 8, "count": 1},
                         "TwinAttention", ),
    "twin-packed-self-causal": ({"num_heads": 2, "key_dim": 4, "causal": True},
                                {"eq": 8, "tq": 5, "tk": 5, "ev": 8, "count": 1}, "TwinAttention"),
    "twin-separate-cross": ({"num_heads": 2, "key_dim": 4}, {"eq": 8, "ek": 5, "ev": 3}, "TwinAttention"),
    "twin-query-value": ({"num_heads": 2, "key_dim": 4}, {"eq": 8, "ev": 3, "count": 2}, "TwinAttention"),
    "functional-key-dim": ({"num_heads": 2, "key_dim": 4}, {"eq": 6}, "FunctionalAttention"),
    "functional-value-dim-output": ({"num_heads": 3, "key_dim": 4, "value_dim": 5, "output_shape": 7},
                                    {"eq": 6}, "FunctionalAttention"),
    "functional-no-bias-causal": ({"num_heads": 2, "key_dim": 4, "use_bias": False, "causal": True},
                                  {"eq": 5, "tq": 5, "tk": 5}, "FunctionalAttention"),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_rules_round_trip_and_assert_shapes(config):
    attention, shape, _ = CONFIGS[config]
    ctx = context(attention, **shape)
    layer, _ = weights_and_inputs(ctx)
    rules = layer_mapping("multi_head_attention").rules(ctx)
    assert sorted(n for r in rules for n in r.canonical_names) == sorted(layer.params)
    for rule in rules:
        given = tuple(layer.params[n] for n in rule.canonical_names)
        packed = isinstance(rule.canonical, tuple)
        there = rule.to_torch(given if packed else given[0], ctx)
        back = rule.to_canonical(there, ctx)
        for a, b in zip(given, back if packed else (back,)):
            np.testing.assert_array_equal(a, b)
        wrong = tuple(np.zeros((*g.shape, 2)) for g in given)
        with pytest.raises(AssertionError, match="expected shape"):
            rule.to_torch(wrong if packed else wrong[0], ctx)
        with pytest.raises(AssertionError, match="expected shape"):
            rule.to_canonical(np.zeros((*np.shape(there), 2)), ctx)


@pytest.mark.parametrize("config", CONFIGS)
def test_torch_and_keras_reproduce_scratchnet(config):
    attention, shape, build = CONFIGS[config]
    ctx = context(attention, **shape)
    layer, xs = weights_and_inputs(ctx, seed=1)
    dy = np.random.default_rng(2).standard_normal((N, *ctx.out_shape))
    ours = scratch_run(layer, xs, dy)
    *theirs, module = torch_run(ctx, layer.params, xs, dy)
    assert type(module).__name__ == build
    assert_same(ours, theirs, 1e-12, f"torch {build}")
    assert_same(ours, keras_run(ctx, layer.params, xs, dy), 1e-12, "keras")  # key_dim 4: TF's scale exact


def test_packed_weights_are_split_in_q_k_v_order():
    ctx = context(CONFIGS["twin-packed-self"][0], **CONFIGS["twin-packed-self"][1])
    layer, xs = weights_and_inputs(ctx)
    module = torch_module(ctx, layer.params)
    w = module.mha.in_proj_weight.detach().numpy()
    e = 8
    for i, name in enumerate(("query", "key", "value")):
        np.testing.assert_array_equal(w[i * e:(i + 1) * e], layer.params[f"{name}/kernel"].reshape(e, e).T)
    separate = torch_module(context(CONFIGS["twin-separate-cross"][0], **CONFIGS["twin-separate-cross"][1]), weights_and_inputs(
        context(CONFIGS["twin-separate-cross"][0], **CONFIGS["twin-separate-cross"][1]))[0].params)
    assert separate.mha.in_proj_weight is None and separate.mha.k_proj_weight.shape == (8, 5)


def test_a_planted_q_k_swap_in_the_packing_is_caught(monkeypatch):
    ctx = context(CONFIGS["twin-packed-self"][0], **CONFIGS["twin-packed-self"][1])
    layer, xs = weights_and_inputs(ctx, seed=4)
    dy = np.random.default_rng(5).standard_normal((N, *ctx.out_shape))
    good = mapping_module._packed_kernels

    def swapped(shapes):
        rule = good(shapes)
        names = (rule.canonical[1], rule.canonical[0], rule.canonical[2])
        return type(rule)(names, rule.torch, rule.to_torch, rule.to_canonical)

    monkeypatch.setattr(mapping_module, "_packed_kernels", swapped)
    *theirs, _ = torch_run(ctx, layer.params, xs, dy)
    with pytest.raises(AssertionError, match="output"):
        assert_same(scratch_run(layer, xs, dy), theirs, 1e-12, "torch")


# -- causal masks, each framework's polarity ------------------------------------------------------
def _projected(seed=6, t=5, h=2, d=4):
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(rng.standard_normal((N, h, t, d))) for _ in range(3)]


def test_the_three_mask_polarities_agree_and_match_scratchnet():
    import tensorflow as tf

    from scratchnet.layers.attention import causal_mask

    t, e, h, d = 5, 8, 2, 4
    ctx = context({"num_heads": h, "key_dim": d, "causal": True}, eq=e, ev=e, tq=t, tk=t, count=1)
    layer, xs = weights_and_inputs(ctx, seed=7)
    expected = layer.forward(xs)
    module = torch_module(ctx, layer.params).mha  # nn.MultiheadAttention itself
    x = torch.from_numpy(xs[0])
    blocked = torch.from_numpy(~causal_mask(t, t))  # torch's module: True = may NOT attend
    y_module, _ = module(x, x, x, attn_mask=blocked, need_weights=False)
    np.testing.assert_allclose(y_module.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    flipped, _ = module(x, x, x, attn_mask=~blocked, need_weights=False)  # SDPA's polarity given to the module
    assert not np.allclose(flipped.detach().numpy(), expected, atol=1e-3)

    q, k, v = _projected()
    allowed = torch.from_numpy(causal_mask(t, t))  # SDPA: True = may attend
    sdpa = torch.nn.functional.scaled_dot_product_attention
    by_mask, by_flag = sdpa(q, k, v, attn_mask=allowed), sdpa(q, k, v, is_causal=True)
    np.testing.assert_allclose(by_mask.numpy(), by_flag.numpy(), rtol=1e-13, atol=1e-14)
    assert not np.allclose(sdpa(q, k, v, attn_mask=~allowed[:, :]).numpy()[:, :, :-1], by_flag.numpy()[:, :, :-1],
                           atol=1e-3)  # the module's polarity given to SDPA (its last row, all blocked, is nan)

    with keras_state("float64"):
        import keras

        ref = keras.layers.MultiHeadAttention(num_heads=h, key_dim=d)
        ref.build((None, t, e), (None, t, e))
        mine = layer_mapping("multi_head_attention").keras(ctx)
        mine.build([(None, t, e)])
        for a, b in zip(ref.weights, mine.weights):  # the same order: query, key, value, attention_output
            a.assign(layer.params[b.name])
            b.assign(layer.params[b.name])
        x_tf = tf.constant(xs[0])
        by_flag = ref(x_tf, x_tf, use_causal_mask=True).numpy()
        by_mask = ref(x_tf, x_tf, attention_mask=tf.constant(causal_mask(t, t)[None])).numpy()  # 1 = attend
        np.testing.assert_allclose(by_flag, expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(by_mask, expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(mine([x_tf]).numpy(), expected, rtol=1e-12, atol=1e-12)


# -- TF's float32-rounded 1/sqrt(key_dim) in float64 ----------------------------------------------
def test_tf_scale_deviation_measured_and_followed():
    ctx = context({"num_heads": 2, "key_dim": 3}, eq=6, ek=5, ev=4)
    plain, xs = weights_and_inputs(ctx, seed=8)
    follower, _ = weights_and_inputs(ctx, seed=8, score_scale_dtype="float32")
    dy = np.random.default_rng(9).standard_normal((N, *ctx.out_shape))
    keras_side = keras_run(ctx, plain.params, xs, dy)
    assert_same(scratch_run(follower, xs, dy), keras_side, 1e-13, "keras vs scratchnet following float32")
    y_plain = scratch_run(plain, xs, dy)[0]
    measured = np.abs(keras_side[0] - y_plain).max() / np.abs(y_plain).max()
    assert 1e-10 < measured < mapping_module.SCALE_DEVIATION_RTOL, measured
    assert mapping_module.scale_rounding(3) == pytest.approx(1.79e-8, rel=0.01)
    (dev,) = layer_mapping("multi_head_attention").deviations(ctx)
    assert dev.backend == "keras" and "key_dim 3" in dev.reason and dev.follow == {"score_scale_dtype": "float32"}
    assert not layer_mapping("multi_head_attention").deviations(context({"num_heads": 2, "key_dim": 4}))
    assert not layer_mapping("multi_head_attention").deviations(context({"num_heads": 2, "key_dim": 3},
                                                                        dtype="float32"))


# -- refusals -------------------------------------------------------------------------------------
REFUSALS = {
    "non-sequence": ({"name": "t", "input_shape": [2, 6], "layers": [
        {"type": "multi_head_attention", "num_heads": 2, "key_dim": 3}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}},
        r"layers\[0\]\.inputs: .*expected the query to be a sequence \(N, T, E\), got \(N, 6\)"),
    "four inputs": ({"name": "t", "input_shape": [2, 5, 4], "layers": [
        {"type": "multi_head_attention", "num_heads": 2, "key_dim": 3, "inputs": ["input"] * 4}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}},
        r"layers\[0\]\.inputs: expected 1 to 3 inputs for multi_head_attention, got 4"),
    "value and key lengths": ({"name": "t", "input_shape": [2, 5, 4], "layers": [
        {"type": "conv1d", "name": "short", "filters": 3, "kernel_size": 2},
        {"type": "multi_head_attention", "num_heads": 2, "key_dim": 3, "inputs": ["input", "input", "short"]}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}},
        r"layers\[1\]\.inputs: .*expected value and key of one length"),
    "causal cross of unequal lengths": ({"name": "t", "input_shape": [2, 5, 4], "layers": [
        {"type": "conv1d", "name": "short", "filters": 3, "kernel_size": 2},
        {"type": "multi_head_attention", "num_heads": 2, "key_dim": 3, "causal": True, "inputs": ["short", "input"]}],
        "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd"}},
        r"layers\[1\]\.causal: expected false, or query and key of one length .*got "
        r"\{\"query length\": 4, \"key length\": 5\}"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_specs_are_refused_with_one_line(case, tmp_path, capsys):
    import json
    import re

    spec, pattern = REFUSALS[case]
    with pytest.raises(SpecError, match=pattern):
        parse_spec(spec)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(pattern, err) and "bad.json" in err, err
    assert not (tmp_path / "out").exists()


def test_explain_finds_the_entry_by_framework_names(capsys):
    for name in ("multi_head_attention", "nn.MultiheadAttention", "keras.layers.MultiHeadAttention"):
        assert main(["explain", name]) == 0
        out = capsys.readouterr().out
        assert "in_proj_weight" in out and "True = may NOT attend" in out



@pytest.mark.parametrize("causal", [False, True])
def test_a_users_keras_attention_imports_with_its_causal_call(causal):
    import keras

    from parity.importers import from_keras

    with keras_state("float64"):
        x = keras.Input((5, 8))
        k = keras.layers.Dense(3)(x)
        y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3)(x, x, k, use_causal_mask=causal)
        model = keras.Model(x, y)
    spec, weights = from_keras(model, (2, 5, 8))  # check=True: the harness's build reproduces the model
    (attn,) = [layer for layer in spec["layers"] if layer["type"] == "multi_head_attention"]
    assert attn["causal"] is causal and attn["value_dim"] == 3 and len(attn["inputs"]) == 3
    assert {k.split("/", 1)[1] for k in weights if k.startswith(attn["name"] + "/")} == {
        f"{n}/{p}" for n in ("query", "key", "value", "attention_output") for p in ("kernel", "bias")}
