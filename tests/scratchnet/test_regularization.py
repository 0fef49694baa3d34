"""Dropout: inverted scaling, injected and drawn masks, gradients, errors."""
import numpy as np
import pytest

from scratchnet.gradcheck import check_layer
from scratchnet.layers import Dropout, regularization

N, T, C = 5, 4, 3


def test_gradcheck_with_injected_mask():
    rng = np.random.default_rng(0)
    layer = Dropout(0.4)
    layer.set_mask(rng.random((N, T, C)) >= 0.4)  # fixed, so finite differences see the same mask
    errors = check_layer(layer, rng.standard_normal((N, T, C)), rng, training=True)
    assert errors["x"] < 1e-7


def test_gradcheck_catches_backward_without_scale(monkeypatch):
    monkeypatch.setattr(regularization, "dropout_backward", lambda dy, cache: dy * cache[0])
    rng = np.random.default_rng(1)
    layer = Dropout(0.4)
    layer.set_mask(rng.random((N, T, C)) >= 0.4)
    assert check_layer(layer, rng.standard_normal((N, T, C)), rng, training=True)["x"] > 1e-3


def test_injected_mask_values_by_hand():
    layer = Dropout(0.5)
    x = np.array([[1.0, -2.0, 3.0], [0.5, 7.0, -1.5]])
    layer.mask = np.array([[1, 0, 1], [0, 0, 1]])  # 0/1 ints are accepted
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, [[2.0, 0.0, 6.0], [0.0, 0.0, -3.0]])  # kept units * 1/(1-0.5)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx, [[2.0, 0.0, 2.0], [0.0, 0.0, 2.0]])
    assert layer.mask.dtype == np.bool_
    np.testing.assert_array_equal(layer.last_mask, layer.mask)


def test_mask_persists_until_cleared_then_drawn():
    rng = np.random.default_rng(2)
    layer = Dropout(0.25, rng=np.random.default_rng(3))
    mask = rng.random((N, C)) >= 0.25
    layer.set_mask(mask)
    x = rng.standard_normal((N, C))
    first = layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.forward(x, training=True), first)
    layer.clear_mask()
    assert layer.mask is None
    layer.forward(x, training=True)
    # the drawn mask is rng.random(shape) >= rate from the layer's own Generator
    np.testing.assert_array_equal(layer.last_mask, np.random.default_rng(3).random((N, C)) >= 0.25)


def test_drawn_masks_are_seeded_and_fresh_each_call():
    x = np.ones((50, 40))
    a, b = Dropout(0.3, seed=7), Dropout(0.3, seed=7)
    ya1, yb1 = a.forward(x, training=True), b.forward(x, training=True)
    np.testing.assert_array_equal(ya1, yb1)
    assert not np.array_equal(a.forward(x, training=True), ya1)
    keep = (ya1 != 0).mean()
    assert abs(keep - 0.7) < 0.05
    np.testing.assert_array_equal(ya1[ya1 != 0], x[ya1 != 0] * (1 / 0.7))


def test_unseeded_dropouts_of_one_model_draw_their_own_masks_reproducibly():
    import scratchnet as sn

    def masks():
        model = sn.Sequential([Dropout(0.5), Dropout(0.5)]).build((40,), "float64", np.random.default_rng(3))
        model.forward(np.ones((30, 40)), training=True)
        return [layer.last_mask for layer in model.layers]

    first, second = masks(), masks()
    assert not np.array_equal(first[0], first[1])  # not one shared stream
    np.testing.assert_array_equal(first[0], second[0])  # but seeded by the build Generator
    np.testing.assert_array_equal(first[1], second[1])


def test_inference_is_identity_even_with_a_mask():
    rng = np.random.default_rng(4)
    layer = Dropout(0.6)
    layer.set_mask(np.zeros((N, C), bool))
    x, dy = rng.standard_normal((N, C)), rng.standard_normal((N, C))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_rate_zero_is_identity_in_training():
    x = np.random.default_rng(5).standard_normal((N, C))
    np.testing.assert_array_equal(Dropout(0.0).forward(x, training=True), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_reciprocal_scaling(dtype):
    rng = np.random.default_rng(6)
    rate = 0.3
    x = rng.standard_normal((N, T, C)).astype(dtype)
    mask = rng.random(x.shape) >= rate
    layer = Dropout(rate)
    layer.set_mask(mask)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(x))
    assert y.dtype == dtype and dx.dtype == dtype
    # x * (1/(1-p)) with the reciprocal computed in float64 and cast once (bit-for-bit with
    # torch and Keras per CONVENTIONS.md)
    np.testing.assert_array_equal(y, np.where(mask, x * dtype(1 / (1 - rate)), 0))


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, True, "0.5", None])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match=r"drop_bad: rate: expected a float in \[0, 1\), got"):
        Dropout(rate, name="drop_bad")


def test_bad_mask():
    layer = Dropout(0.5, name="drop_mask")
    with pytest.raises(ValueError, match="drop_mask: mask: expected a boolean or 0/1 array"):
        layer.set_mask(np.full((N, C), 2))
    layer.set_mask(np.ones((N, T), bool))
    with pytest.raises(ValueError, match=r"drop_mask: mask: expected the input's shape \(5, 3\), got \(5, 4\)"):
        layer.forward(np.zeros((N, C)), training=True)
