"""Reused buffers and in-place updates (issue 6): the ownership rule of ``layers.base`` holds, and
the fast paths compute what the allocating ones do. Speed itself is measured by a benchmark,
never asserted here."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import LSTM, Conv2D, Dense, Flatten, MaxPool2D
from scratchnet.layers import _windows, pooling


def cnn(reuse=True, seed=0):
    layers = [Conv2D(4, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(3, activation="relu"), Dense(2)]
    for layer in layers:
        layer.reuse_buffers = reuse
    return sn.Sequential(layers).build((8, 8, 2), "float64", np.random.default_rng(seed))


def test_forward_output_is_the_layers_buffer_until_the_next_forward():
    rng = np.random.default_rng(0)
    layer = Dense(3, activation="relu").build((4,), "float64", rng)
    x1, x2 = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    y1 = layer.forward(x1)
    kept = y1.copy()
    y2 = layer.forward(x2)
    assert y2 is y1 and not np.array_equal(kept, y2)  # overwritten: callers copy what they keep
    layer.reuse_buffers = False
    y3 = layer.forward(x1)
    assert y3 is not y2 and np.array_equal(y3, kept)


def test_predict_returns_copies():
    model = cnn()
    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((3, 8, 8, 2)), rng.standard_normal((3, 8, 8, 2))
    p1 = model.predict(x1)
    p1_again = p1.copy()
    model.predict(x2)
    assert np.array_equal(p1, p1_again)
    batched = model.predict(np.concatenate([x1, x2]), batch_size=3)  # each batch reuses the buffers
    assert np.allclose(batched, np.concatenate([model.predict(x1), model.predict(x2)]), rtol=0, atol=1e-15)


def test_backward_never_writes_the_given_gradient_and_matches_fresh_arrays():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8, 8, 2))
    dy = rng.standard_normal((3, 2))
    fast, fresh = cnn(True), cnn(False)
    dy_kept = dy.copy()
    for model in (fast, fresh):
        model.forward(x, training=True)
    dx_fast, dx_fresh = fast.backward(dy), fresh.backward(dy)
    assert np.array_equal(dy, dy_kept)
    assert np.allclose(dx_fast, dx_fresh, rtol=0, atol=1e-14)
    for (k, (_, g_fast)), (_, (_, g_fresh)) in zip(fast.parameters().items(), fresh.parameters().items()):
        assert np.allclose(g_fast, g_fresh, rtol=0, atol=1e-14), k


def test_input_grad_false_skips_dx_and_keeps_the_parameter_gradients():
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((3, 8, 8, 2)), rng.standard_normal((3, 2))
    model = cnn()
    model.forward(x, training=True)
    model.backward(dy)
    want = {k: g.copy() for k, (_, g) in model.parameters().items()}
    model.forward(x, training=True)
    assert model.backward(dy, input_grad=False) is None
    for k, (_, g) in model.parameters().items():
        assert np.array_equal(g, want[k]), k


def test_train_step_updates_the_parameter_arrays_in_place_like_a_functional_step():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 8, 8, 2)), rng.integers(0, 2, 6)
    model = cnn().compile("sparse_categorical_crossentropy", sn.optimizers.SGD(0.1), from_logits=True)
    arrays = {k: p for k, (p, _) in model.parameters().items()}
    before = {k: p.copy() for k, p in arrays.items()}
    model.train_step(x, y)
    for k, (p, g) in model.parameters().items():
        assert p is arrays[k]
        assert np.array_equal(p, before[k] - g * 0.1), k  # Keras's p - g lr, bitwise


@pytest.mark.parametrize("momentum, nesterov, convention", [
    (0.0, False, "keras"), (0.5, False, "keras"), (0.5, True, "keras"),
    (0.0, False, "torch"), (0.5, False, "torch"), (0.5, True, "torch")])
def test_in_place_sgd_equals_its_functional_form(momentum, nesterov, convention):
    from scratchnet import optimizers as O
    rng = np.random.default_rng(5)
    p, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(3)]
    fn = O.sgd_keras if convention == "keras" else O.sgd_torch
    ref, state = p.copy(), None if convention == "torch" or momentum == 0 else np.zeros_like(p)
    opt = O.SGD(0.25, momentum=momentum, nesterov=nesterov, convention=convention)
    for g in grads:
        ref, state = fn(ref, g, state, 0.25, momentum, nesterov)  # the functional form
        opt.apply({"w": p}, {"w": g})
        assert np.array_equal(p, ref)


def _max_pool_reference(x, pool, strides, pads, dy):
    """The 6-D window view with argmax: the formula as written, first maximum on ties."""
    xp = _windows.pad(x, pads, -np.inf)
    view = _windows.windows(xp, pool, strides)
    n, ho, wo, ph, pw, c = view.shape
    flat = view.reshape(n, ho, wo, ph * pw, c)
    idx = flat.argmax(axis=3)[:, :, :, None, :]
    y = np.take_along_axis(flat, idx, axis=3)[:, :, :, 0, :]
    dcols = np.zeros((n, ho, wo, ph * pw, c))
    np.put_along_axis(dcols, idx, dy[:, :, :, None, :], axis=3)
    dxp = _windows.col2im(dcols.reshape(n, ho, wo, ph, pw, c), xp.shape, pool, strides)
    (top, _), (left, _) = pads
    return y, dxp[:, top:top + x.shape[1], left:left + x.shape[2], :]


@pytest.mark.parametrize("pool, strides, padding", [
    (2, None, "valid"), (2, 1, "valid"), (3, 2, "same"), ((2, 3), 3, "valid"), (3, 1, 1), (2, 3, "same")])
def test_max_pool_slices_match_the_window_argmax_with_ties(pool, strides, padding):
    rng = np.random.default_rng(6)
    layer = MaxPool2D(pool, strides, padding)
    x = rng.integers(0, 3, (2, 9, 7, 3)).astype(np.float64)  # small integers: many ties
    for _ in range(2):  # the second call reuses every buffer
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(dy)
        ref_y, ref_dx = _max_pool_reference(x, layer.pool_size, layer.strides, layer._padding, dy)
        assert np.array_equal(y, ref_y) and np.array_equal(dx, ref_dx)


def test_max_pool_cache_index_is_the_flat_window_offset():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    _, cache = pooling.max_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert np.array_equal(cache[0][..., 0], [[[3, 3], [3, 3]]])  # bottom-right cell, a pw + b = 3


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_time_major_buffers_match_a_fresh_run(return_sequences):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 4))
    fast = LSTM(6, return_sequences=return_sequences).build((5, 4), "float64", np.random.default_rng(8))
    fresh = LSTM(6, return_sequences=return_sequences).build((5, 4), "float64", np.random.default_rng(8))
    fresh.reuse_buffers = False
    y = fast.forward(x)
    dy = rng.standard_normal(y.shape)
    fast.forward(x)  # a second run over the same buffers
    assert np.array_equal(fast.forward(x), fresh.forward(x))
    assert np.array_equal(fast.backward(dy), fresh.backward(dy))
    for name in fast.grads:
        assert np.array_equal(fast.grads[name], fresh.grads[name]), name
