"""The ReLU moved behind the max-pool (``scratchnet.fusion``) gives the unfused step's numbers.

Every comparison is exact (``np.array_equal``; NaN equal to NaN where the data has one): the
fused training step against forward + loss + backward + update run by hand, which never fuses.
The data makes every case of the derivation happen: windows whose maximum is positive, windows
whose every pre-activation is <= 0 (their gradient is dropped; a planted pool that keeps them is
caught), ties, NaN and infinity.
"""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import fusion
from scratchnet.layers.pooling import max_pool2d_backward, max_pool2d_forward

DTYPES = [np.float32, np.float64]


def _layers():
    """Three conv + pool pairs (2x2 tiled, 3x3 stride 2 "same" with -inf padding, 2x2 stride 1
    overlapping), one conv whose ReLU is not plain (leaky: not fused), distinct sizes everywhere."""
    return [sn.Conv2D(5, 3, padding="same", activation="relu", name="c1", bias_initializer="zeros"),
            sn.MaxPool2D(2, name="p1"),
            sn.Conv2D(7, (3, 2), activation="relu", name="c2"),
            sn.MaxPool2D(3, strides=2, padding="same", name="p2"),
            sn.DepthwiseConv2D(2, depth_multiplier=2, activation="relu", name="c3"),
            sn.MaxPool2D(2, strides=1, name="p3"),
            sn.Conv2D(3, 1, activation="leaky_relu", name="c4"),
            sn.MaxPool2D(2, padding="same", name="p4"),
            sn.Flatten(name="f"), sn.Dense(4, name="d")]


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 17, 13, 3)).astype(dtype)
    x[:, :4, :4] = 0  # ties: a patch of equal inputs gives equal pre-activations
    return x, rng.integers(0, 4, 6)


def _twins(make, dtype):
    a, b = make(), make()
    x, y = _data(dtype)
    for m in (a, b):
        m.build(x.shape[1:], dtype, np.random.default_rng(1))
        for layer in m.layers:  # negative biases: many windows with no positive pre-activation
            if "bias" in layer.params:
                layer.params["bias"][...] = -0.3 * np.arange(1, layer.params["bias"].size + 1) / layer.params["bias"].size
        m.compile("sparse_categorical_crossentropy", sn.optimizers.Adam(0.01), from_logits=True)
    return a, b, x, y


def _unfused_step(model, x, y):
    """``train_step`` written out without the fusion: forward, loss, backward, update."""
    value = model.loss.forward(y, model.forward(x, training=True))
    model.backward(model.loss.backward(), input_grad=False)
    params = {k: p for k, (p, _) in model.parameters().items()}
    model.optimizer.apply(params, {k: g for k, (_, g) in model.parameters().items()})
    return float(value)


def _sequential():
    return sn.Sequential(_layers())


def _graph():
    """The same chain as a graph, plus a shortcut: c2's output is also read by an Add (so c2, p2
    do not fuse) through a second conv that keeps the shape."""
    ls = _layers()
    nodes = [ls[0], ls[1], ls[2],
             (sn.Conv2D(7, 1, padding="same", name="side"), ["c2"]),
             (sn.Add(name="add"), ["c2", "side"]),
             (ls[3], ["add"]), *ls[4:]]
    return sn.Model(nodes)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [_sequential, _graph], ids=["sequential", "graph"])
def test_fused_train_steps_are_the_unfused_steps_bit_for_bit(make, dtype):
    fused, plain, x, y = _twins(make, dtype)
    pairs = [(c.name, p.name) for c, p in fused._relu_pools()]
    assert pairs == ([("c1", "p1"), ("c2", "p2"), ("c3", "p3")] if make is _sequential else [("c1", "p1"), ("c3", "p3")])
    for step in range(3):  # the weights move: later steps start from the fused updates
        assert fused.train_step(x, y) == _unfused_step(plain, x, y), step
        for key, (p, g) in fused.parameters().items():
            q, h = plain.parameters()[key]
            assert np.array_equal(g, h), (step, key)
            assert np.array_equal(p, q), (step, key)
    assert all(not c.relu_deferred and not p.relu_output for c, p in fused._relu_pools())  # flags cleared


def test_the_data_drops_windows_and_a_pool_that_keeps_them_is_caught():
    """Fused against unfused on one conv + pool, by hand: the data has windows whose maximum is
    <= 0; routing their gradient (the fusion without relu's derivative) changes dL/dz there."""
    dtype = np.float64
    conv, pool = sn.Conv2D(4, 3, activation="relu", name="c"), sn.MaxPool2D(2, name="p")
    x, _ = _data(dtype)
    for layer, shape in ((conv, x.shape[1:]), (pool, conv.compute_output_shape(x.shape[1:]))):
        layer.build(shape, dtype, np.random.default_rng(2))
    conv.params["bias"][...] = -0.5
    dy = np.random.default_rng(3).standard_normal((x.shape[0], *pool.compute_output_shape(conv.output_shape)))

    y_plain = pool.forward(conv.forward(x)).copy()
    dx_plain = conv.backward(pool.backward(dy)).copy()
    with fusion.relu_after_pool([(conv, pool)]):
        z = conv.forward(x)
        y_fused = pool.forward(z)
    assert np.array_equal(y_fused, y_plain)
    dz_fused = pool.backward(dy).copy()
    assert np.array_equal(conv.backward(dz_fused), dx_plain)

    zmax, cache = max_pool2d_forward(z, (2, 2), (2, 2), ((0, 0), (0, 0)))  # the planted pool: no drop
    assert (zmax <= 0).sum() > 10 and (zmax > 0).sum() > 10  # both kinds of windows occur
    dz_kept = max_pool2d_backward(dy, cache)
    assert not np.array_equal(dz_kept, dz_fused)
    dropped = (dz_kept != 0) & (dz_fused == 0)
    assert dropped.any() and np.all(z[dropped] <= 0)


@pytest.mark.parametrize("pool_size,strides,padding", [((2, 2), (2, 2), "valid"), ((3, 2), (1, 2), "same"),
                                                       ((12, 12), (1, 1), "valid")])
def test_relu_pool_with_nan_inf_and_ties_is_pool_of_relu(pool_size, strides, padding):
    """``max_pool2d_forward(relu=True)`` against max-pooling of relu(x), both ways, on values
    with NaN, +-inf, signed zeros and ties; (12, 12) windows keep their indices in int32."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 14, 13, 5))
    x[rng.random(x.shape) < 0.3] = -1.0
    x[0, :3, :3] = 0.0
    x[1, :2, :2] = -0.0
    x[..., 4] = -np.abs(x[..., 4])  # a channel with no positive value: every window dropped
    x[2, 5, 5], x[2, 7, 1], x[0, 9, 9], x[1, 0, 12] = np.nan, np.inf, -np.inf, np.nan
    pool = sn.MaxPool2D(pool_size, strides=strides, padding=padding, name="p").build(x.shape[1:], "float64")
    pads = pool._padding
    dy = rng.standard_normal((3, *pool.output_shape))
    relu_x = np.maximum(x, 0.0)
    y_plain, cache_plain = max_pool2d_forward(relu_x, pool_size, strides, pads)
    dx_plain = max_pool2d_backward(dy, cache_plain) * (relu_x > 0)  # pool, then relu's derivative
    y_fused, cache_fused = max_pool2d_forward(x, pool_size, strides, pads, relu=True)
    dx_fused = max_pool2d_backward(dy, cache_fused)
    assert np.isnan(y_plain).any() and (y_plain == 0).any()
    np.testing.assert_array_equal(y_fused, y_plain)
    np.testing.assert_array_equal(dx_fused, dx_plain)
    if pool_size == (2, 2):  # planted: relu' taken at y (NaN: dropped) instead of at the routed cell
        idx = cache_fused[0].copy()
        idx[np.isnan(y_fused) & (idx < 4)] += 4
        assert not np.array_equal(max_pool2d_backward(dy, (idx, *cache_fused[1:])), dx_plain)


def test_what_does_not_fuse():
    """A leaky or parametrised ReLU, an average pool, a pool after a non-convolution and a
    convolution read twice keep their own forward."""
    chain = sn.Sequential([sn.Conv2D(2, 3, activation="leaky_relu", name="a"), sn.MaxPool2D(2, name="b"),
                           sn.Conv2D(2, 1, activation="relu", name="c"), sn.AveragePool2D(2, name="d"),
                           sn.Dense(3, activation="relu", name="e"), sn.MaxPool2D(1, name="f"),
                           sn.Flatten(name="g")])
    assert chain._relu_pools() == []
    conv = sn.Conv2D(2, 1, activation="relu", name="c")
    shared = sn.Model([conv, (sn.MaxPool2D(1, name="p"), ["c"]), (sn.MaxPool2D(1, name="q"), ["c"]),
                       (sn.Add(name="s"), ["p", "q"])])
    assert shared._relu_pools() == []
