"""The framework constants scratchnet can follow (``Deviation.follow``), checked against the
frameworks themselves in float64: following them reproduces the framework to rounding, not
following them leaves the measured deviation. The catalog cases that declare them are then
excused only by the rerun that follows them (rule declared-deviation)."""
import numpy as np
import pytest

import parity
from parity.spec import catalog_dir
from scratchnet import activations as A

X = np.random.default_rng(5).normal(0, 2, size=(7, 3))


@pytest.mark.parametrize("approximate", [False, True])
def test_scratchnet_following_tf_gelu_constants_is_tf_float64_gelu(approximate):
    import tensorflow as tf

    tf_y = tf.nn.gelu(tf.constant(X), approximate=approximate).numpy()
    followed = A.gelu(X, approximate, float32_constants=True)
    plain = A.gelu(X, approximate)
    assert np.max(np.abs(followed - tf_y)) <= 4e-16 * np.max(np.abs(tf_y))
    assert np.max(np.abs(plain - tf_y)) > 1e-10 * np.max(np.abs(tf_y))  # the deviation is real
    with tf.GradientTape() as tape:
        x = tf.constant(X)
        tape.watch(x)
        y = tf.nn.gelu(x, approximate=approximate)
    dy = np.linspace(-1, 1, X.size).reshape(X.shape)
    tf_dx = tape.gradient(y, x, output_gradients=tf.constant(dy)).numpy()
    dx = A.gelu_backward(dy, X, followed, approximate, float32_constants=True)
    assert np.max(np.abs(dx - tf_dx)) <= 1e-15 * np.max(np.abs(tf_dx))


def test_scratchnet_following_torch_hardsigmoid_constant_is_torch_float64_backward():
    import torch

    x = torch.tensor(X, requires_grad=True)
    dy = np.linspace(-1, 1, X.size).reshape(X.shape)
    torch.nn.functional.hardsigmoid(x).backward(torch.tensor(dy))
    torch_dx = x.grad.numpy()
    assert np.array_equal(A.hard_sigmoid_backward(dy, X, None, float32_constants=True), torch_dx)
    assert not np.array_equal(A.hard_sigmoid_backward(dy, X, None), torch_dx)


@pytest.mark.parametrize("case, side", [("act-gelu", "keras"), ("act-gelu-tanh", "keras"), ("act-hard-sigmoid", "torch")])
def test_catalog_deviations_are_demonstrated_by_the_followed_rerun(case, side):
    r = parity.check(catalog_dir() / f"{case}.json", dtype="float64")
    assert r.verdict == "deviation"
    dev = r.rows[r.rows.status == "deviation"]
    assert (dev.rule == "declared-deviation").all()
    assert dev.note.str.contains(f"following {side}'s constants").all()
    assert ((dev.backend_a == side) | (dev.backend_b == side)).all()
