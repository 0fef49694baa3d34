"""Activations: finite differences for every activation, hand-derived values, kinks, dtypes."""
import math

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import activations as A
from scratchnet.gradcheck import check_layer

PARAMS = {"leaky_relu": [{"negative_slope": 0.3}], "elu": [{"alpha": 0.7}],
          "gelu": [{"approximate": True}, {"float32_constants": True}, {"approximate": True, "float32_constants": True}],
          "hard_sigmoid": [{"float32_constants": True}],
          "softmax": [{"axis": 1}], "log_softmax": [{"axis": 1}], "celu": [{"alpha": 0.6}, {"alpha": 2.5}, {"alpha": 0.6, "float32_constants": True}]}
CASES = [(n, {}) for n in A.NAMES] + [(n, p) for n, ps in PARAMS.items() for p in ps]


def away_from_kinks(rng, shape):
    """Inputs at least 0.05 away from the kinks at 0, +-1 and +-3 (finite differences straddle
    nothing); relu6's kink at 6 lies outside the drawn range."""
    x = rng.uniform(-4, 4, size=shape)
    for kink in (0.0, 1.0, -1.0, 3.0, -3.0):
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


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("name, params, coef", [("elu", {}, 1.0), ("elu", {"alpha": 0.7}, 0.7),
                                                ("selu", {}, A.SELU_SCALE * A.SELU_ALPHA)])
def test_elu_selu_backward_exact_for_large_negative_inputs(name, params, coef, dtype, rtol):
    # dx = dy * coef * exp(x) for x <= 0; the equal form dy * (y + coef) cancels as y -> -coef
    # (float32 relative error 0.03 at x = -15, 1.0 at x = -20; float64 gradient 0 at x = -40)
    x = np.array([[-15.0, -17.0], [-20.0, -40.0], [-0.5, 2.0]], dtype)
    dy = np.array([[0.5, -2.0], [3.0, 1.25], [1.5, -0.75]], dtype)
    act = A.get(name, **params)
    y, cache = act.forward(x)
    dx = act.backward(dy, cache)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    slope = 1.0 if name == "elu" else A.SELU_SCALE
    exact = dy64 * np.where(x64 > 0, slope, coef * np.exp(np.minimum(x64, 0)))
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, exact, rtol=rtol, atol=0)


@pytest.mark.parametrize("name, params, match", [
    ("gelu", {"approximate": "none"}, r"activation 'gelu': approximate: expected True or False, got 'none'"),
    ("gelu", {"approximate": 1}, r"activation 'gelu': approximate: expected True or False, got 1"),
    ("softmax", {"axis": "x"}, r"activation 'softmax': axis: expected an int, got 'x'"),
    ("log_softmax", {"axis": 1.0}, r"activation 'log_softmax': axis: expected an int, got 1.0"),
    ("softmax", {"axis": True}, r"activation 'softmax': axis: expected an int, got True"),
    ("leaky_relu", {"negative_slope": "a"}, r"leaky_relu': negative_slope: expected a finite real number, got 'a'"),
    ("leaky_relu", {"negative_slope": None}, r"negative_slope: expected a finite real number, got None"),
    ("elu", {"alpha": "1"}, r"activation 'elu': alpha: expected a finite real number, got '1'"),
    ("elu", {"alpha": float("nan")}, r"activation 'elu': alpha: expected a finite real number, got nan"),
])
def test_parameters_of_the_wrong_kind_are_one_line_errors_at_get(name, params, match):
    with pytest.raises(ValueError, match=match) as err:
        A.get(name, **params)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=match):  # the layers go through get() too
        sn.Activation(name, **params)


def test_numpy_bools_ints_and_floats_are_accepted_as_plain_values():
    assert A.get("gelu", approximate=np.True_).params == {"approximate": True, "float32_constants": False}
    assert type(A.get("gelu", approximate=np.False_).params["approximate"]) is bool
    assert A.get("softmax", axis=np.int64(1)).params == {"axis": 1}
    assert A.get("elu", alpha=np.float32(0.5)).params == {"alpha": 0.5}
    assert A.get("leaky_relu", negative_slope=1).params == {"negative_slope": 1.0}
