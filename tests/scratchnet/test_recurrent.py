"""SimpleRNN, LSTM, GRU: finite differences, torch cross-checks (gate order), planted bugs,
bad input, dtype. Sizes are distinct on every axis: N=3, T in (1, 4), F=5, U=6."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchnet.gradcheck import check_layer, rel_error
from scratchnet.layers import GRU, LSTM, SimpleRNN
from scratchnet.layers import recurrent

N, T, F, U = 3, 4, 5, 6
GATES = {SimpleRNN: 1, LSTM: 4, GRU: 3}


def make(cls, seed=0, dtype="float64", t_len=T, **kwargs):
    """A built layer with random (nonzero) biases, and an input x (N, t_len, F)."""
    rng = np.random.default_rng(seed)
    layer = cls(U, rng=rng, **kwargs)
    layer.build((t_len, F), dtype)
    if "bias" in layer.params:
        layer.set_weights({"bias": 0.5 * rng.standard_normal(layer.params["bias"].shape)})
    x = rng.standard_normal((N, t_len, F)).astype(dtype)
    return layer, x


# -- finite differences --------------------------------------------------------------------------
CASES = [(SimpleRNN, {}), (LSTM, {}), (GRU, {"reset_after": True}), (GRU, {"reset_after": False})]


@pytest.mark.parametrize("cls,extra", CASES, ids=["simple_rnn", "lstm", "gru_after", "gru_before"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("t_len", [1, 4])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gradcheck(cls, extra, return_sequences, t_len, use_bias):
    layer, x = make(cls, seed=1, t_len=t_len, return_sequences=return_sequences,
                    use_bias=use_bias, **extra)
    errors = check_layer(layer, x, np.random.default_rng(2))
    expected = {"x", "kernel", "recurrent_kernel"} | ({"bias"} if use_bias else set())
    assert set(errors) == expected
    assert max(errors.values()) < 1e-7, errors


# -- torch cross-check ---------------------------------------------------------------------------
def _blocks(k, order):
    """Column indices taking k blocks of width U in ``order`` (e.g. GRU Keras z,r,h -> torch r,z,n)."""
    return np.concatenate([np.arange(g * U, (g + 1) * U) for g in order]) if k > 1 else np.arange(U)


def to_torch(layer, order=None):
    """Keras layout -> a float64 torch module, weights assigned with shape asserts.
    ``order``: which Keras block goes into each torch block (default: the correct mapping)."""
    k = GATES[type(layer)]
    use_bias = layer.use_bias
    if isinstance(layer, SimpleRNN):
        module = torch.nn.RNN(F, U, batch_first=True, bias=use_bias,
                              nonlinearity=layer.activation.name)
        order = order or [0]
    elif isinstance(layer, LSTM):
        module = torch.nn.LSTM(F, U, batch_first=True, bias=use_bias)
        order = order or [0, 1, 2, 3]  # torch i, f, g, o = Keras i, f, c, o
    else:
        assert layer.reset_after, "Keras reset_after=False has no torch twin"
        module = torch.nn.GRU(F, U, batch_first=True, bias=use_bias)
        order = order or [1, 0, 2]  # torch r, z, n = Keras r (1), z (0), h (2)
    perm = _blocks(k, order)
    p = layer.params
    weights = {"weight_ih_l0": p["kernel"][:, perm].T, "weight_hh_l0": p["recurrent_kernel"][:, perm].T}
    if use_bias:
        if isinstance(layer, GRU):
            weights["bias_ih_l0"], weights["bias_hh_l0"] = p["bias"][0][perm], p["bias"][1][perm]
        else:  # one Keras bias = b_ih + b_hh; put it all in b_ih
            weights["bias_ih_l0"], weights["bias_hh_l0"] = p["bias"][perm], np.zeros(k * U)
    module = module.double()
    with torch.no_grad():
        for name, value in weights.items():
            target = getattr(module, name)
            assert tuple(target.shape) == value.shape, (name, target.shape, value.shape)
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def torch_run(module, x, dy, return_sequences):
    xt = torch.from_numpy(x).requires_grad_()
    out, _ = module(xt)
    y = out if return_sequences else out[:, -1]
    (y * torch.from_numpy(dy)).sum().backward()
    grads = {name: prm.grad.numpy() for name, prm in module.named_parameters()}
    return y.detach().numpy(), xt.grad.numpy(), grads


TORCH_CASES = [(SimpleRNN, {}), (SimpleRNN, {"activation": "relu"}), (LSTM, {}), (GRU, {})]


@pytest.mark.parametrize("cls,extra", TORCH_CASES, ids=["simple_rnn", "simple_rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_matches_torch(cls, extra, return_sequences, use_bias):
    layer, x = make(cls, seed=3, return_sequences=return_sequences, use_bias=use_bias, **extra)
    y = layer.forward(x)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    dx = layer.backward(dy)
    module = to_torch(layer)
    y_t, dx_t, grads_t = torch_run(module, x, dy, return_sequences)
    assert y.shape == y_t.shape and dx.shape == dx_t.shape
    assert rel_error(y, y_t) < 1e-12
    assert rel_error(dx, dx_t) < 1e-12
    # parameter gradients, converted back to the Keras layout
    k = GATES[cls]
    inv = np.argsort(_blocks(k, [1, 0, 2] if cls is GRU else list(range(k))))
    assert rel_error(layer.grads["kernel"], grads_t["weight_ih_l0"].T[:, inv]) < 1e-12
    assert rel_error(layer.grads["recurrent_kernel"], grads_t["weight_hh_l0"].T[:, inv]) < 1e-12
    if use_bias:
        if cls is GRU:
            db_t = np.stack([grads_t["bias_ih_l0"][inv], grads_t["bias_hh_l0"][inv]])
        else:
            db_t = grads_t["bias_ih_l0"][inv]
        assert rel_error(layer.grads["bias"], db_t) < 1e-12


# -- planted bugs: the checks above can fail ------------------------------------------------------
@pytest.mark.parametrize("cls,bad_order", [(LSTM, [1, 0, 2, 3]),  # i and f swapped
                                           (LSTM, [0, 1, 3, 2]),  # c and o swapped
                                           (GRU, [0, 1, 2])])  # Keras z,r copied as torch r,z
def test_planted_wrong_gate_order_is_caught(cls, bad_order):
    layer, x = make(cls, seed=5, return_sequences=True)
    y = layer.forward(x)
    y_bad, _, _ = torch_run(to_torch(layer, order=bad_order), x, np.ones_like(y), True)
    assert rel_error(y, y_bad) > 1e-3


@pytest.mark.parametrize("cls,extra", CASES, ids=["simple_rnn", "lstm", "gru_after", "gru_before"])
def test_planted_dropped_recurrent_path_is_caught(cls, extra, monkeypatch):
    """A backward that sends no gradient from h_t back into h_{t-1} through the recurrent kernel
    (the cache's recurrent_kernel zeroed for the backward only) must fail the gradient check."""
    layer, x = make(cls, seed=6, **extra)
    real_bptt = layer._bptt

    def bptt_without_recurrent_path(dhs, cache, dstate=None):
        cache = list(cache)
        cache[2] = np.zeros_like(cache[2])  # (x, kernel, recurrent_kernel, ...)
        return real_bptt(dhs, tuple(cache), dstate)

    monkeypatch.setattr(layer, "_bptt", bptt_without_recurrent_path)
    errors = check_layer(layer, x, np.random.default_rng(7))
    assert errors["x"] > 1e-3 and errors["kernel"] > 1e-3, errors


# -- shapes, initialisation, semantics -----------------------------------------------------------
@pytest.mark.parametrize("cls,extra,bias_shape", [(SimpleRNN, {}, (U,)), (LSTM, {}, (4 * U,)),
                                                  (GRU, {}, (2, 3 * U)),
                                                  (GRU, {"reset_after": False}, (3 * U,))])
def test_param_shapes_and_output_shapes(cls, extra, bias_shape):
    k = GATES[cls]
    layer = cls(U, **extra).build((T, F))
    assert {n: p.shape for n, p in layer.params.items()} == {
        "kernel": (F, k * U), "recurrent_kernel": (U, k * U), "bias": bias_shape}
    assert layer.output_shape == (U,)
    assert cls(U, return_sequences=True, **extra).compute_output_shape((T, F)) == (T, U)
    assert set(cls(U, use_bias=False, **extra).build((T, F)).params) == {"kernel", "recurrent_kernel"}


def test_initialisers():
    lstm = LSTM(U, rng=np.random.default_rng(8)).build((T, F))
    expected_bias = np.zeros(4 * U)
    expected_bias[U:2 * U] = 1.0  # unit_forget_bias
    np.testing.assert_array_equal(lstm.params["bias"], expected_bias)
    rk = lstm.params["recurrent_kernel"]  # (U, 4U): orthonormal rows
    np.testing.assert_allclose(rk @ rk.T, np.eye(U), atol=1e-12)
    rnn = SimpleRNN(U, rng=np.random.default_rng(9)).build((T, F))
    q = rnn.params["recurrent_kernel"]  # (U, U): orthogonal
    np.testing.assert_allclose(q.T @ q, np.eye(U), atol=1e-12)
    limit = np.sqrt(6 / (F + 3 * U))
    assert np.all(np.abs(GRU(U, rng=np.random.default_rng(10)).build((T, F)).params["kernel"]) <= limit)
    assert not np.any(GRU(U).build((T, F)).params["bias"])
    assert rk.flags.c_contiguous
    a = recurrent.orthogonal((7, 4), np.random.default_rng(11))  # tall: orthonormal columns
    np.testing.assert_allclose(a.T @ a, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_last_state_is_last_of_sequence(cls):
    seq, x = make(cls, seed=12, return_sequences=True)
    last = cls(U, return_sequences=False)
    last.build((T, F))
    last.set_weights(seq.params)
    np.testing.assert_array_equal(last.forward(x), seq.forward(x)[:, -1])


@pytest.mark.parametrize("cls,extra", CASES, ids=["simple_rnn", "lstm", "gru_after", "gru_before"])
def test_float32_stays_float32(cls, extra):
    layer, x = make(cls, seed=13, dtype="float32", return_sequences=True, **extra)
    y = layer.forward(x)
    assert y.dtype == np.float32 and y.shape == (N, T, U)
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    ref, _ = make(cls, seed=13, dtype="float64", return_sequences=True, **extra)
    assert rel_error(y, ref.forward(x.astype(np.float64))) < 1e-5


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_bad_units(cls):
    for units in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match=r"my_rnn: units: expected a positive int"):
            cls(units, name="my_rnn")


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_bad_input_rank(cls):
    layer = cls(U, name="rec")
    with pytest.raises(ValueError, match=r"rec: input: expected rank 3 \(N, T, F\), got rank 2"):
        layer.forward(np.zeros((N, F)))
    with pytest.raises(ValueError, match=r"rec: input_shape: expected \(T, F\).*got \(3, 4, 5\)"):
        layer.compute_output_shape((3, 4, 5))


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_bad_feature_count_and_length(cls):
    layer = cls(U, name="rec").build((T, F))
    with pytest.raises(ValueError, match=r"rec: input features F: expected 5, got 7"):
        layer.forward(np.zeros((N, T, 7)))
    with pytest.raises(ValueError, match=r"rec: input time steps T: expected 4.*got 2"):
        layer.forward(np.zeros((N, 2, F)))
    with pytest.raises(ValueError, match=r"rec: expected float64 input, got float32"):
        layer.forward(np.zeros((N, T, F), np.float32))
