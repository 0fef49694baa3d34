"""Losses: finite differences, hand-derived values, saturation, target validation."""
import math

import numpy as np
import pytest

from scratchnet import losses as L
from scratchnet.gradcheck import check_loss


def targets(name, rng, shape):
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, shape[-1], size=shape[:-1])
    if name == "categorical_crossentropy":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    if name == "binary_crossentropy":
        return rng.uniform(0, 1, size=shape)
    return rng.standard_normal(shape)


CASES = [("sum_squared_error", {}), ("mean_squared_error", {}), ("huber", {"delta": 0.7}),
         *[(n, {"from_logits": f}) for n in ("binary_crossentropy", "categorical_crossentropy",
                                             "sparse_categorical_crossentropy") for f in (True, False)]]


@pytest.mark.parametrize("name,params", CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_loss_gradient_finite_differences(name, params):
    rng = np.random.default_rng(4)
    shape = (5, 3, 4)
    y_true = targets(name, rng, shape)
    y_pred = rng.standard_normal(shape)
    if not params.get("from_logits", True):
        y_pred = rng.uniform(0.05, 0.95, size=shape)
    assert check_loss(L.get(name, **params), y_true, y_pred) < 1e-7


def test_values_by_hand():
    t, p = np.array([[1.0, 0.0]]), np.array([[0.75, 0.5]])
    assert L.sum_squared_error(t, p)[0] == 0.0625 + 0.25
    assert L.mean_squared_error(t, p)[0] == (0.0625 + 0.25) / 2
    assert L.huber(t, np.array([[3.0, 0.5]]), delta=1.0)[0] == pytest.approx((1 * (2 - 0.5) + 0.125) / 2)
    bce = -(math.log(0.75) + math.log(0.5)) / 2
    assert L.binary_crossentropy(t, p)[0] == pytest.approx(bce, abs=1e-15)
    z = np.array([[2.0, -1.0, 0.5]])
    lse = math.log(math.exp(2) + math.exp(-1) + math.exp(0.5))
    assert L.sparse_categorical_crossentropy(np.array([1]), z, from_logits=True)[0] == pytest.approx(lse + 1, abs=1e-14)


def test_logits_saturated_stay_finite():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    for name in ("binary_crossentropy", "categorical_crossentropy"):
        t = np.array([[1.0, 0.0], [1.0, 0.0]])
        value, grad = L.get(name, from_logits=True).fn(t, z, from_logits=True)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert L.categorical_crossentropy(np.array([[1.0, 0.0]]), np.array([[-1000.0, 1000.0]]), from_logits=True)[0] == 2000.0


def test_probabilities_are_renormalised_and_clipped_like_keras():
    t = np.array([[0.0, 1.0]])
    value, grad = L.categorical_crossentropy(t, np.array([[1.0, 0.0]]))
    assert value == pytest.approx(-math.log(1e-7)) and np.all(np.isfinite(grad))
    assert L.categorical_crossentropy(t, np.array([[0.5, 1.5]]))[0] == pytest.approx(-math.log(0.75))


def test_targets_that_do_not_fit_are_clear_errors():
    with pytest.raises(ValueError, match=r"mean_squared_error: y_true shape \(2,\) does not match y_pred shape \(2, 1\)"):
        L.mean_squared_error(np.zeros(2), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\)"):
        L.sparse_categorical_crossentropy(np.array([0, 3]), np.zeros((2, 3)), from_logits=True)
    with pytest.raises(ValueError, match="y_true must lie in"):
        L.binary_crossentropy(np.array([[2.0]]), np.array([[0.5]]))
    with pytest.raises(ValueError, match="loss: unknown name"):
        L.get("dice")  # a Keras loss scratchnet does not have


def test_planted_bug_missing_factor_two_is_caught(monkeypatch):
    monkeypatch.setitem(L._LOSSES, "mean_squared_error",
                        (lambda t, p: (np.mean((p - t) ** 2), (p - t) / p.size), {}))
    rng = np.random.default_rng(0)
    assert check_loss(L.get("mean_squared_error"), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))) > 0.4


def test_float32_in_float32_out():
    p = np.full((2, 3), 0.25, np.float32)
    for name, params in CASES:
        t = targets(name, np.random.default_rng(0), (2, 3))
        value, grad = L.get(name, **params).fn(t, p, **params)
        assert value.dtype == np.float32 and grad.dtype == np.float32, name


def test_sum_of_squares_keeps_pairwise_precision_on_large_float32_arrays():
    """The BLAS dot is only for small arrays: on a million float32 elements it drifts ~100x further
    from the exact sum than numpy's pairwise sum does (planted: the dot at every size)."""
    from scratchnet.losses import _DOT_MAX, sum_of_squares

    rng = np.random.default_rng(7)
    for n in (3, _DOT_MAX, 1_000_003):
        e = rng.standard_normal(n).astype(np.float32)
        exact = float(np.dot(e.astype(np.float64), e.astype(np.float64)))
        got = sum_of_squares(e)
        assert got.dtype == np.float32
        assert abs(float(got) - exact) <= 2e-7 * exact, n
    e = rng.standard_normal(1_000_003).astype(np.float32)
    exact = float(np.dot(e.astype(np.float64), e.astype(np.float64)))
    assert abs(float(np.vdot(e, e)) - exact) > 2e-7 * exact  # what the threshold avoids


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("bad", ["false", "no", 0, 1, None])
def test_from_logits_takes_only_a_bool(name, bad):
    # a truthy "false" used to treat probabilities as logits
    with pytest.raises(ValueError, match=rf"loss '{name}': from_logits: expected True or False, got {bad!r}") as err:
        L.get(name, from_logits=bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", ["1", None, 0, -1.0, float("inf"), float("nan"), True])
def test_huber_delta_must_be_a_finite_positive_number(bad):
    with pytest.raises(ValueError, match=r"loss 'huber': delta: expected a finite number > 0, got") as err:
        L.get("huber", delta=bad)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"^huber: delta: expected a finite number > 0, got"):
        L.huber(np.zeros((2, 3)), np.ones((2, 3)), delta=bad)


def test_numpy_bools_and_floats_are_accepted_as_plain_values():
    loss = L.get("binary_crossentropy", from_logits=np.True_)
    assert loss.params["from_logits"] is True
    huber = L.get("huber", delta=np.float32(0.5)).params["delta"]
    assert huber == 0.5 and type(huber) is float
    z, t = np.array([[0.5, -1.0, 2.0]]), np.array([[1.0, 0.0, 1.0]])
    value, grad = L.get("binary_crossentropy", from_logits=np.True_)(t, z)
    want = L.binary_crossentropy(t, z, True)
    assert value == want[0] and np.array_equal(grad, want[1])
