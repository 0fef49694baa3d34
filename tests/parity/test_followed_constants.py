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


@pytest.mark.parametrize("alpha", [1.0044953043920104, 1 / 3, 0.671819881586937])
def test_scratchnet_following_torch_celu_scale_is_torch_float64_backward(alpha):
    """torch's CELU backward is elu_backward(grad, alpha, 1, 1.0 / alpha.toFloat()): its input
    scale 1/alpha goes through float32 (fuzz-3-0451, fuzz-2-0122: torch 4.9e-9, 2.1e-8 off)."""
    import torch

    x = torch.tensor(X, requires_grad=True)
    dy = np.linspace(-1, 1, X.size).reshape(X.shape)
    torch.nn.functional.celu(x, alpha=alpha).backward(torch.tensor(dy))
    torch_dx = x.grad.numpy()
    followed = A.celu_backward(dy, X, None, alpha, float32_constants=True)
    assert np.max(np.abs(followed - torch_dx)) <= 4e-16 * np.max(np.abs(torch_dx))
    exact = np.where(X > 0, dy, dy * np.exp(X / alpha))  # the formula, written out here
    assert np.max(np.abs(A.celu_backward(dy, X, None, alpha) - exact)) <= 4e-16 * np.max(np.abs(exact))
    assert np.max(np.abs(exact - torch_dx)) > 1e-9 * np.max(np.abs(torch_dx))  # the deviation is real


def _celu_case(alpha):
    return {"name": "celu-torch-scale", "seed": 65535, "dtype": "float64", "input_shape": [4, 5],
            "input": {"kind": "normal"},
            "layers": [{"type": "dense", "name": "l0", "units": 3}, {"type": "celu", "name": "l1", "alpha": alpha},
                       {"type": "dense", "name": "l2", "units": 2}],
            "loss": {"type": "mean_squared_error"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "steps": 1}


def test_torch_celu_backward_is_a_demonstrated_deviation_and_a_planted_difference_still_fails():
    from parity.run import Variant
    from parity.spec import parse_spec

    r = parity.check(_celu_case(1.0044953043920104))
    assert r.passed and r.verdict == "deviation", r.worst
    dev = r.rows[r.rows.status == "deviation"]
    assert (dev.rule == "declared-deviation").all() and dev.note.str.contains("following torch's constants").all()
    assert ((dev.backend_a == "torch") | (dev.backend_b == "torch")).all()
    assert parity.check(_celu_case(0.75)).verdict == "pass"  # float32 holds 0.75: nothing to declare
    # torch with an alpha 1e-7 (relative) away: the followed rerun no longer agrees strictly
    planted = parse_spec(_celu_case(1.0044953043920104 * (1 + 1e-7)))
    r = parity.check(_celu_case(1.0044953043920104), variants={"torch": Variant(spec=planted)})
    assert not r.passed and r.odd_one_out == "torch"


@pytest.mark.parametrize("case, side", [("act-gelu", "keras"), ("act-gelu-tanh", "keras"), ("act-hard-sigmoid", "torch")])
def test_catalog_deviations_are_demonstrated_by_the_followed_rerun(case, side):
    r = parity.check(catalog_dir() / f"{case}.json", dtype="float64")
    assert r.verdict == "deviation"
    dev = r.rows[r.rows.status == "deviation"]
    assert (dev.rule == "declared-deviation").all()
    assert dev.note.str.contains(f"following {side}'s constants").all()
    assert ((dev.backend_a == side) | (dev.backend_b == side)).all()
