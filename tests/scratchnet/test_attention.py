"""MultiHeadAttention: the einsum forward against a plain per-batch, per-head reference written from
the formulas, float64 finite differences for query, key, value and every kernel and bias (distinct
sizes on every axis: E_q != E_k != E_v, T_q != T_k, H != Dk != Dv), the causal mask by hand, the
TF-rounded scale, graph wiring, and planted bugs (q and k swapped, the 1/sqrt(key_dim) missing, the
causal mask off by one, its polarity flipped, heads split in the wrong order) each caught."""
import inspect
import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import losses
from scratchnet.gradcheck import check_model, numerical_gradient, rel_error
from scratchnet.layers import attention

N, TQ, TK, EQ, EV, EK, HEADS, DK, DV, EOUT = 2, 3, 4, 5, 7, 6, 2, 3, 4, 8


def reference(xq, xv, xk, p, scale, causal=False):
    """y from the module docstring's formulas, one batch element and one head at a time, with plain
    matrix products (no einsum, no shared code with the layer)."""
    n, tq, tk = xq.shape[0], xq.shape[1], xk.shape[1]
    e_out = p["attention_output/kernel"].shape[-1]
    y = np.zeros((n, tq, e_out))
    for b in range(n):
        for h in range(p["query/kernel"].shape[1]):
            q = xq[b] @ p["query/kernel"][:, h, :] + (p["query/bias"][h] if "query/bias" in p else 0.0)
            k = xk[b] @ p["key/kernel"][:, h, :] + (p["key/bias"][h] if "key/bias" in p else 0.0)
            v = xv[b] @ p["value/kernel"][:, h, :] + (p["value/bias"][h] if "value/bias" in p else 0.0)
            s = (q @ k.T) * scale  # (T_q, T_k)
            if causal:
                for i in range(tq):
                    for j in range(tk):
                        if j > i:
                            s[i, j] = -np.inf
            a = np.exp(s - s.max(axis=1, keepdims=True))
            a /= a.sum(axis=1, keepdims=True)
            y[b] += (a @ v) @ p["attention_output/kernel"][h]
    return y + p.get("attention_output/bias", 0.0)


def randomized(layer, rng):
    """Random non-zero biases (zeros would hide a bias wired to the wrong place)."""
    for name, value in layer.params.items():
        value[...] = rng.normal(0, 0.5, value.shape)
    return layer


def inputs(rng, count=3, tq=TQ, tk=TK):
    xs = [rng.standard_normal((N, tq, EQ)), rng.standard_normal((N, tk, EV)), rng.standard_normal((N, tk, EK))]
    return xs[:count]


def make(rng, xs, **kw):
    kw = {"num_heads": HEADS, "key_dim": DK, "value_dim": DV, "output_shape": EOUT, **kw}
    layer = sn.MultiHeadAttention(**kw)
    layer.build([x.shape[1:] for x in xs], "float64", rng)
    return randomized(layer, rng)


def expanded(xs):
    """(query, value, key) from the list a layer was given."""
    q = xs[0]
    v = xs[1] if len(xs) > 1 else q
    return q, v, xs[2] if len(xs) > 2 else v


def fd_errors(layer, xs, rng):
    """Relative errors of dL/d(every input) and dL/d(every parameter) against central differences,
    L = sum(y * r). The key bias's gradient is 0 identically (b_k adds q_i . b_k to every score of
    row i, which the softmax ignores): its error is the largest |gradient| of either side, relative
    to the query bias's scale, both being rounding noise."""
    xs = [np.array(x) for x in xs]
    r = rng.standard_normal(layer.forward(xs).shape)

    def loss():
        return float(np.sum(layer.forward(xs) * r))

    loss()
    dxs = [np.array(dx) for dx in layer.backward(r)]
    errors = {f"input{i}": rel_error(dx, numerical_gradient(loss, x)) for i, (dx, x) in enumerate(zip(dxs, xs))}
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    numeric = {k: numerical_gradient(loss, p) for k, p in layer.params.items()}
    errors.update({k: rel_error(analytic[k], numeric[k]) for k in layer.params if k != "key/bias"})
    if "key/bias" in layer.params:
        scale = np.abs(numeric["query/bias"]).max()
        errors["key/bias"] = max(np.abs(analytic["key/bias"]).max(), np.abs(numeric["key/bias"]).max()) / scale
    return errors


CASES = {  # name: (inputs given, layer keywords, T_q, T_k)
    "cross-query-value-key": (3, {}, TQ, TK),
    "cross-query-value": (2, {}, TQ, TK),
    "self": (1, {}, TK, TK),
    "self-causal": (1, {"causal": True}, TK, TK),
    "cross-causal-equal-lengths": (3, {"causal": True}, TK, TK),
    "no-bias-default-output": (3, {"use_bias": False, "output_shape": None}, TQ, TK),
    "value-dim-default": (3, {"value_dim": None}, TQ, TK),
}


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_the_per_head_reference(case):
    count, kw, tq, tk = CASES[case]
    rng = np.random.default_rng(0)
    xs = inputs(rng, count, tq, tk)
    layer = make(rng, xs, **kw)
    y = layer.forward(xs)
    expected = reference(*expanded(xs), layer.params, 1 / math.sqrt(DK), kw.get("causal", False))
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_every_input_kernel_and_bias_passes_finite_differences(case):
    count, kw, tq, tk = CASES[case]
    rng = np.random.default_rng(1)
    xs = inputs(rng, count, tq, tk)
    layer = make(rng, xs, **kw)
    errors = fd_errors(layer, xs, rng)
    names = {"query", "key", "value", "attention_output"}
    expected = {f"{n}/kernel" for n in names} | ({f"{n}/bias" for n in names} if kw.get("use_bias", True) else set())
    assert set(errors) == {f"input{i}" for i in range(count)} | expected
    assert max(errors.values()) < 1e-8, errors


def test_backward_without_the_input_gradient_fills_the_same_grads():
    rng = np.random.default_rng(6)
    xs = inputs(rng)
    layer = make(rng, xs)
    dy = rng.standard_normal((N, TQ, EOUT))
    layer.forward(xs)
    assert len(layer.backward(dy)) == 3
    full = {k: g.copy() for k, g in layer.grads.items()}
    assert layer.backward(dy, input_grad=False) is None
    for k, g in layer.grads.items():
        np.testing.assert_array_equal(g, full[k])


def test_kernel_shapes_are_keras_layout():
    rng = np.random.default_rng(2)
    layer = make(rng, inputs(rng))
    shapes = {k: v.shape for k, v in layer.params.items()}
    assert shapes == {"query/kernel": (EQ, HEADS, DK), "query/bias": (HEADS, DK),
                      "key/kernel": (EK, HEADS, DK), "key/bias": (HEADS, DK),
                      "value/kernel": (EV, HEADS, DV), "value/bias": (HEADS, DV),
                      "attention_output/kernel": (HEADS, DV, EOUT), "attention_output/bias": (EOUT,)}
    assert layer.output_shape == (TQ, EOUT)


def test_causal_mask_by_hand():
    # one head, key_dim 1, identity projections: scores s * q_i k_j; values 1, 10, 100 per position
    layer = sn.MultiHeadAttention(1, 1, use_bias=False, causal=True)
    layer.build([(3, 1)], "float64")
    for name in ("query", "key", "value"):
        layer.params[f"{name}/kernel"][...] = 1.0
    layer.params["attention_output/kernel"][...] = 1.0
    x = np.array([[[1.0], [10.0], [100.0]]])
    y = layer.forward([x])[0, :, 0]
    # position 0 sees only itself; position 1 sees {1, 10} with weights softmax(10*1, 10*10) ~ (0, 1)
    assert y[0] == 1.0
    w = np.exp([10.0, 100.0] - np.float64(100.0))
    assert y[1] == pytest.approx((1.0 * w[0] + 10.0 * w[1]) / w.sum(), rel=1e-14)
    assert y[2] == pytest.approx(100.0, rel=1e-14)
    np.testing.assert_array_equal(attention.causal_mask(2, 3), [[True, False, False], [True, True, False]])


@pytest.mark.parametrize("key_dim, exact", [(1, True), (4, True), (16, True), (64, True), (3, False), (8, False)])
def test_score_scale_follows_tensorflows_float32_constant(key_dim, exact):
    plain = attention.score_scale(key_dim, np.float64)
    rounded = attention.score_scale(key_dim, np.float64, "float32")
    assert plain == 1 / math.sqrt(key_dim)
    assert rounded == float(np.float32(1 / math.sqrt(key_dim)))
    assert (plain == rounded) == exact
    if not exact:
        assert 1e-10 < abs(rounded / plain - 1) < 6e-8  # float32's half ulp is 2^-24 ~ 6e-8
    assert attention.score_scale(key_dim, np.float32).dtype == np.float32


def test_float32_stays_float32_and_is_close_to_float64():
    rng = np.random.default_rng(3)
    xs = inputs(rng)
    layer64 = make(rng, xs)
    layer32 = sn.MultiHeadAttention(HEADS, DK, DV, output_shape=EOUT)
    layer32.build([x.shape[1:] for x in xs], "float32")
    layer32.set_weights({k: v.astype(np.float32) for k, v in layer64.params.items()})
    y64, y32 = layer64.forward(xs), layer32.forward([x.astype(np.float32) for x in xs])
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y64.shape)
    d64, d32 = layer64.backward(dy), layer32.backward(dy.astype(np.float32))
    assert all(d.dtype == np.float32 for d in d32) and all(g.dtype == np.float32 for g in layer32.grads.values())
    for a, b in zip(d32, d64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="expected float32 inputs"):
        layer32.forward(xs)


def test_graph_wires_self_and_cross_attention_and_sums_fan_out():
    rng = np.random.default_rng(4)
    model = sn.Model([
        (sn.Conv1D(5, 3, name="shorter", rng=rng), ["input"]),  # T 6 -> 4: query shorter than key/value
        (sn.Dense(3, name="keys", rng=rng), ["input"]),
        (sn.MultiHeadAttention(2, 3, value_dim=4, output_shape=5, name="cross", rng=rng), ["shorter", "input", "keys"]),
        (sn.MultiHeadAttention(3, 2, name="self", causal=True, rng=rng), ["cross"]),
        (sn.Add(name="residual"), ["self", "cross"]),
        sn.Dense(2, rng=rng),
    ])
    x = rng.standard_normal((N, 6, 7))
    model.build(x.shape[1:], "float64", rng)
    for layer in model.layers:
        randomized(layer, rng)
    y = rng.standard_normal((N, 4, 2))
    errors = check_model(model, x, y, losses.get("mean_squared_error"))
    assert set(errors) == {"x", *model.parameters()} and "cross/attention_output/kernel" in errors
    # identically 0 (fd_errors): both sides rounding noise; the keys' Dense bias, too, shifts every
    # key by the same vector, so every score of a row by the same amount
    zero = {"cross/key/bias", "self/key/bias", "keys/bias"}
    assert max(v for k, v in errors.items() if k not in zero) < 1e-7, {k: v for k, v in errors.items() if v > 1e-7}
    for key in zero:
        assert np.abs(model.parameters()[key][1]).max() < 1e-14


def test_refusals_name_the_layer_and_the_problem():
    layer = sn.MultiHeadAttention(2, 3, name="mha")
    with pytest.raises(ValueError, match=r"mha: expected the value to be a sequence \(N, T, E\), got \(N, 4\)"):
        layer.compute_output_shape([(3, 5), (4,)])
    with pytest.raises(ValueError, match="mha: expected value and key of one length"):
        layer.compute_output_shape([(3, 5), (4, 6), (5, 6)])
    with pytest.raises(ValueError, match="mha: expected 1 to 3 inputs"):
        layer.compute_output_shape([(3, 5)] * 4)
    assert layer.compute_output_shape((3, 5)) == layer.compute_output_shape([(3, 5)]) == (3, 5)  # one shape: self
    with pytest.raises(ValueError, match="score_scale_dtype"):
        sn.MultiHeadAttention(2, 3, score_scale_dtype="float16")
    with pytest.raises(ValueError, match="inputs: expected 1 to 3, got 4"):
        sn.Model([sn.Dense(2, name="d"), (sn.MultiHeadAttention(2, 3), ["d", "d", "d", "d"])])


# -- planted bugs: one line of the layer's source changed, each caught by the checks above --------
MUTANTS = {
    "q and k swapped": ('np.einsum("nihd,njhd->nhij", q, k, optimize=True)',
                        'np.einsum("nihd,njhd->nhij", k, q, optimize=True)'),
    "missing 1/sqrt(key_dim)": ("    scores *= scale\n", "    scores *= 1\n"),
    "missing 1/sqrt(key_dim) in both passes": ("    scores *= scale\n", "    scores *= 1\n",
                                               "    ds *= scale\n", "    ds *= 1\n"),
    "causal mask off by one": ("np.tril(np.ones((t_q, t_k), dtype=bool))",
                               "np.tril(np.ones((t_q, t_k), dtype=bool), 1)"),
    "mask polarity flipped": ("np.where(causal_mask(scores.shape[-2], scores.shape[-1]), scores, -np.inf)",
                              "np.where(~causal_mask(scores.shape[-2], scores.shape[-1]), scores, -np.inf)"),
    "heads split in the wrong order": (
        'q = np.einsum("nte,ehd->nthd", xq, params["query/kernel"], optimize=True)\n',
        'q = np.einsum("nte,ehd->nthd", xq, params["query/kernel"], optimize=True)\n'
        '    q = q.reshape(*q.shape[:2], q.shape[3], q.shape[2]).swapaxes(2, 3)\n'),
}


def mutant_module(edits):
    source = inspect.getsource(attention)
    for old, new in zip(edits[::2], edits[1::2]):
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    namespace = {"__name__": "attention_mutant"}
    exec(compile(source, "<attention mutant>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("bug", MUTANTS)
def test_a_planted_bug_is_caught(bug, monkeypatch):
    mutant = mutant_module(MUTANTS[bug])
    # self-attention with distinct query and key kernels (q/k swapped is shape-legal there), causal
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((N, TK, EQ))]
    layer = make(rng, xs, causal=True, output_shape=None)
    monkeypatch.setattr(attention, "attention_forward", mutant["attention_forward"])
    monkeypatch.setattr(attention, "attention_backward", mutant["attention_backward"])
    with np.errstate(all="ignore"):  # a fully masked row gives nan: caught all the same
        y = layer.forward(xs)
        forward_ok = np.allclose(y, reference(xs[0], xs[0], xs[0], layer.params, 1 / math.sqrt(DK), True),
                                 rtol=1e-12, atol=1e-12)
        errors = fd_errors(layer, xs, rng)
    backward_ok = max(errors.values()) < 1e-8  # nan compares False: not ok
    assert not (forward_ok and backward_ok), bug
    if bug == "missing 1/sqrt(key_dim) in both passes":  # a consistent bug: finite differences agree,
        assert backward_ok and not forward_ok            # only the reference catches it
