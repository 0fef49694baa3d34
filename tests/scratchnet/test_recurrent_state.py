"""Recurrent initial_state / return_state (finite differences through h_0, c_0 and the returned
states), the plain LSTM reference against the fused fast path, and Bidirectional (finite
differences, torch's bidirectional nn.LSTM / nn.GRU / nn.RNN, the planted un-re-reversed
backward direction). Sizes differ on every axis: N 3, T 5, F 4, U 2."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.gradcheck import numerical_gradient, rel_error
from scratchnet.layers import bidirectional, recurrent

N, T, F, U = 3, 5, 4, 2
CLASSES = {"simple_rnn": sn.SimpleRNN, "lstm": sn.LSTM, "gru": sn.GRU}


def states_for(kind, rng):
    return [rng.standard_normal((N, U)) for _ in range(2 if kind == "lstm" else 1)]


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", CLASSES)
def test_initial_and_returned_state_gradcheck(kind, return_sequences):
    """L = <y, r> + sum_k <state_T_k, q_k>: finite differences for x, every parameter and every
    entry of the initial state."""
    rng = np.random.default_rng(1)
    layer = CLASSES[kind](U, return_sequences=return_sequences, return_state=True, rng=rng)
    layer.build((T, F), "float64", rng)
    layer.set_weights({"bias": rng.standard_normal(layer.params["bias"].shape)})
    x = rng.standard_normal((N, T, F))
    init = states_for(kind, rng)
    out = layer(x, initial_state=init)
    r = [rng.standard_normal(o.shape) for o in out]

    def loss():
        return float(sum(np.sum(o * w) for o, w in zip(layer(x, initial_state=init), r)))

    loss()
    dx = layer.backward(r).copy()
    grads = {k: g.copy() for k, g in layer.grads.items()}
    dstate = [d.copy() for d in layer.initial_state_grads]
    assert rel_error(dx, numerical_gradient(loss, x)) < 1e-7
    for k, p in layer.params.items():
        assert rel_error(grads[k], numerical_gradient(loss, p)) < 1e-7, k
    assert len(dstate) == len(init)
    for k, s in enumerate(init):
        assert rel_error(dstate[k], numerical_gradient(loss, s)) < 1e-7, k


@pytest.mark.parametrize("kind", CLASSES)
def test_zero_initial_state_is_the_default(kind):
    rng = np.random.default_rng(2)
    layer = CLASSES[kind](U, return_sequences=True, rng=rng)
    x = rng.standard_normal((N, T, F))
    y0 = layer(x).copy()
    np.testing.assert_array_equal(layer(x, initial_state=[np.zeros((N, U))] * len(states_for(kind, rng))), y0)


@pytest.mark.parametrize("kind", CLASSES)
def test_initial_state_matches_torch(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer = CLASSES[kind](U, return_sequences=True, return_state=True, rng=rng)
    layer.build((T, F), "float64", rng)
    x, init = rng.standard_normal((N, T, F)), states_for(kind, rng)
    y, *final = layer(x, initial_state=init)
    p = layer.params
    order = {"simple_rnn": [0], "lstm": [0, 1, 2, 3], "gru": [1, 0, 2]}[kind]
    perm = np.concatenate([np.arange(g * U, (g + 1) * U) for g in order])
    module = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        F, U, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(p["kernel"][:, perm].T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(p["recurrent_kernel"][:, perm].T.copy()))
        bias = p["bias"] if kind != "gru" else p["bias"][0]
        module.bias_ih_l0.copy_(torch.from_numpy(bias[perm].copy()))
        module.bias_hh_l0.copy_(torch.zeros(module.bias_hh_l0.shape) if kind != "gru"
                                else torch.from_numpy(p["bias"][1][perm].copy()))
    ts = [torch.from_numpy(s[None].copy()) for s in init]  # (1, N, U)
    out, hn = module(torch.from_numpy(x), tuple(ts) if kind == "lstm" else ts[0])
    hn = list(hn) if kind == "lstm" else [hn]
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=0, atol=1e-14)
    for mine, theirs in zip(final, hn):
        np.testing.assert_allclose(mine, theirs.detach().numpy()[0], rtol=0, atol=1e-14)


def test_bad_initial_state_is_a_clear_error():
    layer = sn.LSTM(U)
    x = np.zeros((N, T, F))
    with pytest.raises(ValueError, match=r"initial_state: expected a list \[h, c\] of 2"):
        layer(x, initial_state=[np.zeros((N, U))])
    with pytest.raises(ValueError, match=r"initial_state\[1\]: expected shape \(3, 2\) float64, got \(3, 3\)"):
        layer(x, initial_state=[np.zeros((N, U)), np.zeros((N, 3))])


# -- the plain LSTM reference against the fused fast path -----------------------------------------------
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_lstm_fast_path_equals_the_reference(dtype, tol):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((F, 4 * U)).astype(dtype)
    u = rng.standard_normal((U, 4 * U)).astype(dtype)
    b = rng.standard_normal(4 * U).astype(dtype)
    x = rng.standard_normal((N, T, F)).astype(dtype)
    h0, c0 = (rng.standard_normal((N, U)).astype(dtype) for _ in range(2))
    dhs, dh_last, dc_last = (rng.standard_normal(s).astype(dtype) for s in ((N, T, U), (N, U), (N, U)))
    hs, cache = recurrent.lstm_forward(x, w, u, b, h0=h0, c0=c0)
    c_t = cache[4][-1].copy()
    dhs_fast = dhs.copy()
    dhs_fast[:, -1] += dh_last
    fast = recurrent.lstm_backward(dhs_fast, cache, dc_last)
    ref = recurrent.lstm_reference(x, w, u, b, h0, c0, dhs, dh_last, dc_last)
    pairs = [(hs, ref[0]), (hs[:, -1], ref[1]), (c_t, ref[2]), (fast[0], ref[3]), (fast[1], ref[4]),
             (fast[2], ref[5]), (fast[3], ref[6]), (fast[4][0], ref[7]), (fast[4][1], ref[8])]
    for k, (a, b_) in enumerate(pairs):
        assert rel_error(a, b_) < tol, k


def test_planted_bug_in_the_reference_is_seen_by_the_comparison(monkeypatch):
    """The comparison can fail: a reference with c_t = f c_{t-1} + g (the input gate dropped)."""
    rng = np.random.default_rng(5)
    w, u = rng.standard_normal((F, 4 * U)), rng.standard_normal((U, 4 * U))
    x = rng.standard_normal((N, T, F))
    real = recurrent.lstm_step_reference

    def no_input_gate(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias=None):
        h, c, cache = real(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias)
        _, _, _, i, f, g, o, _ = cache
        c = f * c_prev + g
        return o * np.tanh(c), c, cache

    monkeypatch.setattr(recurrent, "lstm_step_reference", no_input_gate)
    z = np.zeros((N, U))
    ref = recurrent.lstm_reference(x, w, u, None, z, z, np.zeros((N, T, U)), z, z)
    hs, _ = recurrent.lstm_forward(x, w, u)
    assert rel_error(hs, ref[0]) > 1e-2


# -- Bidirectional ------------------------------------------------------------------------------------
def make_bidirectional(kind, merge_mode, return_sequences, rng):
    layer = sn.Bidirectional(CLASSES[kind](U, return_sequences=return_sequences), merge_mode=merge_mode)
    layer.build((T, F), "float64", rng)
    for k, v in layer.params.items():
        if k.endswith("bias"):
            layer.set_weights({k: rng.standard_normal(v.shape)})
    return layer


@pytest.mark.parametrize("merge_mode", bidirectional.MERGE_MODES)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", CLASSES)
def test_bidirectional_gradcheck(kind, return_sequences, merge_mode):
    from scratchnet.gradcheck import check_layer

    rng = np.random.default_rng(6)
    layer = make_bidirectional(kind, merge_mode, return_sequences, rng)
    errors = check_layer(layer, rng.standard_normal((N, T, F)), rng)
    assert len(errors) == 7 and max(errors.values()) < 1e-7, errors


def torch_bidirectional(layer, kind, torch):
    order = {"simple_rnn": [0], "lstm": [0, 1, 2, 3], "gru": [1, 0, 2]}[kind]
    perm = np.concatenate([np.arange(g * U, (g + 1) * U) for g in order])
    module = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        F, U, batch_first=True, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for direction, suffix in (("forward", ""), ("backward", "_reverse")):
            p = {k.split("/")[1]: v for k, v in layer.params.items() if k.startswith(direction)}
            getattr(module, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(p["kernel"][:, perm].T.copy()))
            getattr(module, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(p["recurrent_kernel"][:, perm].T.copy()))
            b_ih, b_hh = (p["bias"][0], p["bias"][1]) if kind == "gru" else (p["bias"], np.zeros(len(perm)))
            getattr(module, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(b_ih[perm].copy()))
            getattr(module, f"bias_hh_l0{suffix}").copy_(torch.from_numpy(b_hh[perm].copy()))
    return module


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", CLASSES)
def test_bidirectional_concat_matches_torch(kind, return_sequences):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    layer = make_bidirectional(kind, "concat", return_sequences, rng)
    x = rng.standard_normal((N, T, F))
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    module = torch_bidirectional(layer, kind, torch)
    xt = torch.tensor(x, requires_grad=True)
    out, hn = module(xt)
    hn = hn[0] if kind == "lstm" else hn
    yt = out if return_sequences else torch.cat([hn[0], hn[1]], dim=-1)  # NOT out[:, -1]
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-14)
    if not return_sequences:  # the trap: out[:, -1] is the reverse direction after ONE step
        assert np.abs(out[:, -1].detach().numpy() - y).max() > 1e-3
        np.testing.assert_allclose(out[:, 0, U:].detach().numpy(), y[:, U:], rtol=0, atol=1e-14)


def test_planted_backward_direction_not_re_reversed_is_caught(monkeypatch):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    layer = make_bidirectional("lstm", "concat", True, rng)
    x = rng.standard_normal((N, T, F))
    out, _ = torch_bidirectional(layer, "lstm", torch)(torch.from_numpy(x))
    assert np.abs(layer(x) - out.detach().numpy()).max() < 1e-14
    real = layer._forward

    def not_re_reversed(x, training):
        y, cache = real(x, training)
        y_f, y_b = cache
        return np.concatenate([y_f, y_b[:, ::-1]], axis=-1), cache  # undo the re-reversal

    monkeypatch.setattr(layer, "_forward", not_re_reversed)
    assert np.abs(layer(x) - out.detach().numpy()).max() > 1e-2


def test_bidirectional_bad_input():
    with pytest.raises(ValueError, match=r"layer: expected a SimpleRNN, LSTM or GRU, got Dense"):
        sn.Bidirectional(sn.Dense(2))
    with pytest.raises(ValueError, match=r"merge_mode: expected one of concat, sum, mul, ave, got 'max'"):
        sn.Bidirectional(sn.LSTM(2), merge_mode="max")


def test_bidirectional_in_a_sequential_trains():
    rng = np.random.default_rng(9)
    model = sn.Sequential([sn.Bidirectional(sn.GRU(U, return_sequences=True)), sn.Dense(3)])
    model.build((T, F), "float64", rng)
    keys = set(model.parameters())
    assert {"bidirectional/forward/kernel", "bidirectional/backward/recurrent_kernel"} <= keys
