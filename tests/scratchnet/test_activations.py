"""Activations: finite differences for every activation, hand-derived values, kinks, dtypes."""
import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import activations as A
from scratchnet.gradcheck import check_layer

PARAMS = {"leaky_relu": [{"negative_slope": 0.3}], "elu": [{"alpha": 0.7}], "gelu": [{"approximate": True}],
          "softmax": [{"axis": 1}], "log_softmax": [{"axis": 1}]}
CASES = [(n, {}) for n in A.NAMES] + [(n, p) for n, ps in PARAMS.items() for p in ps]


def away_from_kinks(rng, shape):
    """Inputs at least 0.05 away from the kinks at 0 and +-3 (finite differences straddle nothing)."""
    x = rng.uniform(-4, 4, size=shape)
    for kink in (0.0, 3.0, -3.0):
        near = np.abs(x - kink) < 0.05
        x[near] = kink + 0.1
    return x


@pytest.mark.parametrize("name,params", CASES, ids=[f"{n}{p or ''}" for n, p in CASES])
def test_activation_layer_passes_finite_differences(name, params):
    rng = np.random.default_rng(1)
    layer = sn.Activation(name, **params)
    errors = check_layer(layer, away_from_kinks(rng, (3, 4, 5)), rng)
    assert errors["x"] < 1e-7, errors


def test_values_derived_by_hand():
    x = np.array([[-2.0, 0.0, 1.5]])
    assert np.allclose(A.sigmoid(x), [[1 / (1 + math.e ** 2), 0.5, 1 / (1 + math.exp(-1.5))]], rtol=0, atol=1e-15)
    assert np.array_equal(A.relu(x), [[0.0, 0.0, 1.5]])
    assert np.allclose(A.leaky_relu(x, 0.25), [[-0.5, 0.0, 1.5]])
    assert np.allclose(A.elu(x, 2.0), [[2 * (math.exp(-2) - 1), 0.0, 1.5]])
    assert np.allclose(A.hard_sigmoid(x), [[1 / 6, 0.5, 0.75]])
    assert np.allclose(A.softplus(x), [[math.log1p(math.exp(-2)), math.log(2), math.log1p(math.exp(1.5))]])
    assert np.allclose(A.gelu(x), [[-2 * 0.5 * (1 + math.erf(-2 / math.sqrt(2))), 0.0,
                                    1.5 * 0.5 * (1 + math.erf(1.5 / math.sqrt(2)))]], atol=1e-15)
    e = np.exp([-2.0, 0.0, 1.5])
    assert np.allclose(A.softmax(x), e / e.sum(), atol=1e-15)
    assert np.allclose(A.log_softmax(x), np.log(e / e.sum()), atol=1e-15)


def test_kink_rule_left_branch_at_zero():
    zero, one = np.zeros(1), np.ones(1)
    assert A.relu_backward(one, zero, zero)[0] == 0.0
    assert A.leaky_relu_backward(one, zero, zero, 0.25)[0] == 0.25
    assert A.elu_backward(one, zero, zero, 0.7)[0] == pytest.approx(0.7)
    assert A.hard_sigmoid_backward(one, np.array([3.0]), None)[0] == 0.0
    assert A.hard_sigmoid_backward(one, np.array([-3.0]), None)[0] == 0.0


def test_saturated_inputs_stay_finite():
    x = np.array([[-1000.0, 0.0, 1000.0]])
    for name in A.NAMES:
        y = A.get(name)(x)
        assert np.all(np.isfinite(y)), name


@pytest.mark.parametrize("name", A.NAMES)
def test_float32_stays_float32(name):
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    act = A.get(name)
    y, cache = act.forward(x)
    assert y.dtype == np.float32 and act.backward(np.ones_like(y), cache).dtype == np.float32


def test_planted_bug_softmax_backward_without_the_jacobian_is_caught(monkeypatch):
    rng = np.random.default_rng(2)
    monkeypatch.setitem(A._FUNCTIONS, "softmax", (A.softmax, lambda dy, x, y, axis=-1: dy * y * (1 - y), {"axis": -1}))
    assert check_layer(sn.Activation("softmax"), rng.standard_normal((3, 5)), rng)["x"] > 1e-3


def test_unknown_name_and_parameter_are_clear_errors():
    with pytest.raises(ValueError, match="activation: unknown name 'swishy'"):
        A.get("swishy")
    with pytest.raises(ValueError, match="activation 'relu': unknown parameter"):
        A.get("relu", alpha=1.0)
