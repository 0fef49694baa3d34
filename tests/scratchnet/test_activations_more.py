"""relu6, hard_silu, softsign, log_sigmoid, celu, hard_tanh, mish: values derived by hand, the
kink rule, extreme inputs, and planted bugs the finite-difference check catches (the finite
differences over all activations are in test_activations.py)."""
import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import activations as A
from scratchnet.gradcheck import check_layer

NEW = ("relu6", "hard_silu", "softsign", "log_sigmoid", "celu", "hard_tanh", "mish")


def test_registered():
    assert set(NEW) <= set(A.NAMES)


def test_values_derived_by_hand():
    x = np.array([-4.0, -2.0, 0.5, 2.0, 7.0])
    np.testing.assert_array_equal(A.relu6(x), [0, 0, 0.5, 2, 6])
    # hard_silu: 0 below -3, x (x + 3) / 6 inside, x above 3
    np.testing.assert_allclose(A.hard_silu(x), [0, -2 / 6, 0.5 * 3.5 / 6, 2 * 5 / 6, 7], rtol=1e-15)
    np.testing.assert_allclose(A.softsign(x), [-0.8, -2 / 3, 1 / 3, 2 / 3, 7 / 8], rtol=1e-15)
    np.testing.assert_allclose(A.log_sigmoid(x), [-math.log1p(math.exp(-v)) for v in x], rtol=1e-14)
    np.testing.assert_allclose(A.celu(x, 2.0), [2 * (math.exp(-2) - 1), 2 * (math.exp(-1) - 1), 0.5, 2, 7],
                               rtol=1e-15)
    np.testing.assert_array_equal(A.hard_tanh(x), [-1, -1, 0.5, 1, 1])
    np.testing.assert_allclose(A.mish(x), [v * math.tanh(math.log1p(math.exp(v))) for v in x], rtol=1e-14)


def test_derivatives_derived_by_hand():
    x, one = np.array([-4.0, -2.0, 0.5, 2.0, 7.0]), np.ones(5)
    np.testing.assert_array_equal(A.relu6_backward(one, x, None), [0, 0, 1, 1, 0])
    np.testing.assert_allclose(A.hard_silu_backward(one, x, None), [0, -1 / 6, 4 / 6, 7 / 6, 1], rtol=1e-15)
    np.testing.assert_allclose(A.softsign_backward(one, x, None), 1 / (1 + np.abs(x)) ** 2, rtol=1e-15)
    np.testing.assert_allclose(A.log_sigmoid_backward(one, x, None), 1 / (1 + np.exp(x)), rtol=1e-14)
    np.testing.assert_allclose(A.celu_backward(one, x, None, 2.0), [math.exp(-2), math.exp(-1), 1, 1, 1],
                               rtol=1e-15)
    np.testing.assert_array_equal(A.hard_tanh_backward(one, x, None), [0, 0, 1, 0, 0])


def test_kinks_take_the_flat_side():
    one = np.ones(1)
    for name, kinks in (("relu6", (0.0, 6.0)), ("hard_tanh", (-1.0, 1.0))):
        _, bwd, _ = A._FUNCTIONS[name]
        for k in kinks:
            assert bwd(one, np.array([k]), None)[0] == 0.0, (name, k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_sigmoid_and_mish_finite_far_out(dtype):
    x = np.array([-1000.0, -50.0, 50.0, 1000.0], dtype)
    np.testing.assert_allclose(A.log_sigmoid(x), [-1000, -50, 0, 0], atol=1e-20)
    np.testing.assert_allclose(A.mish(x), [0, 0, 50, 1000], atol=1e-18)
    for name in NEW:
        act = A.get(name)
        y, cache = act.forward(x)
        dx = act.backward(np.ones_like(y), cache)
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx)) and dx.dtype == dtype, name


def test_celu_alpha_must_be_positive():
    with pytest.raises(ValueError, match=r"activation 'celu': alpha: expected a number > 0"):
        A.get("celu", alpha=0.0)
    with pytest.raises(ValueError, match=r"activation 'celu': alpha: expected a number > 0"):
        sn.Activation("celu", alpha=-1.0)


@pytest.mark.parametrize("name, wrong", [
    ("hard_silu", lambda dy, x, y: dy * A.hard_sigmoid(x)),  # the product rule's x h'(x) term forgotten
    ("mish", lambda dy, x, y: dy * np.tanh(A.softplus(x))),  # likewise
    ("celu", lambda dy, x, y, alpha=1.0, float32_constants=False: np.where(x > 0, dy, dy * np.exp(x))),  # exp(x), not exp(x / alpha)
    ("softsign", lambda dy, x, y: dy / (1 + np.abs(x))),  # not squared
])
def test_planted_backward_bugs_are_caught(monkeypatch, name, wrong):
    rng = np.random.default_rng(3)
    fwd, _, defaults = A._FUNCTIONS[name]
    params = {"alpha": 2.5} if name == "celu" else {}
    x = rng.uniform(-2.5, 2.5, (3, 4, 5))
    assert check_layer(sn.Activation(name, **params), x, rng)["x"] < 1e-7
    monkeypatch.setitem(A._FUNCTIONS, name, (fwd, wrong, defaults))
    assert check_layer(sn.Activation(name, **params), x, rng)["x"] > 1e-2
