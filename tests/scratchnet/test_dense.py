"""Dense: finite differences, torch cross-check of the layout, planted transposes, bad input."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.gradcheck import check_layer
from scratchnet.layers import dense as dense_mod


@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_finite_differences(shape, use_bias):
    rng = np.random.default_rng(0)
    layer = sn.Dense(6, activation="tanh", use_bias=use_bias)
    errors = check_layer(layer, rng.standard_normal(shape), rng)
    assert max(errors.values()) < 1e-7, errors
    assert set(errors) == ({"x", "kernel", "bias"} if use_bias else {"x", "kernel"})


def test_dense_matches_hand_computation():
    layer = sn.Dense(2)
    layer.build((3,))
    layer.set_weights({"kernel": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "bias": [0.5, -0.5]})
    y = layer.forward(np.array([[1.0, 0.0, -1.0]]))
    assert np.array_equal(y, [[1 - 5 + 0.5, 2 - 6 - 0.5]])


def test_dense_kernel_is_torch_weight_transposed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    layer = sn.Dense(5).build((3,), "float64", rng)
    lin = torch.nn.Linear(3, 5, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(layer.params["kernel"].T))
        lin.bias.copy_(torch.from_numpy(layer.params["bias"]))
    assert np.max(np.abs(layer.forward(x) - lin(torch.from_numpy(x)).detach().numpy())) < 1e-14


def test_planted_bug_backward_without_transpose_is_caught(monkeypatch):
    def wrong_backward(dy, cache, **out):
        x, kernel = cache
        dx = dy @ kernel.T
        x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
        return dx, (dy2.T @ x2).T[::-1].copy(), dy2.sum(0)  # rows reversed: a mislaid layout

    monkeypatch.setattr(dense_mod, "dense_backward", wrong_backward)
    rng = np.random.default_rng(0)
    assert check_layer(sn.Dense(4), rng.standard_normal((5, 3)), rng)["kernel"] > 1e-3


def test_dense_bad_input_messages():
    with pytest.raises(ValueError, match="units: expected a positive int, got 0"):
        sn.Dense(0)
    layer = sn.Dense(3, name="d1").build((4,))
    with pytest.raises(ValueError, match=r"d1: expected input shape \(N, 4\), got \(2, 5\)"):
        layer.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="d1: expected float64 input, got float32"):
        layer.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="activation: unknown name"):
        sn.Dense(3, activation="nope")


def test_float32_end_to_end():
    layer = sn.Dense(3, activation="relu").build((4,), "float32")
    x = np.ones((2, 4), np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["kernel"].dtype == np.float32


@pytest.mark.parametrize("bad", ["no", "False", 0, None])
def test_use_bias_takes_only_a_bool(bad):
    # a truthy "no" used to keep the bias
    with pytest.raises(ValueError, match=rf"^d_bias: use_bias: expected True or False, got {bad!r}$"):
        sn.Dense(3, use_bias=bad, name="d_bias")


def test_use_bias_numpy_bool():
    layer = sn.Dense(3, use_bias=np.False_).build((4,))
    assert layer.use_bias is False and set(layer.params) == {"kernel"}
