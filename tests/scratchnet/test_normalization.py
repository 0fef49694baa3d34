"""BatchNormalization and LayerNormalization: gradients, running statistics, torch parity, errors."""
import re

import numpy as np
import pytest
import torch

from scratchnet.gradcheck import check_layer
from scratchnet.layers import BatchNormalization, LayerNormalization, normalization

N, T, C = 5, 4, 3


def _random_bn(shape, rng, dtype="float64", **kwargs):
    """A built BN with random gamma/beta and running statistics (inference mode is then non-trivial)."""
    layer = BatchNormalization(**kwargs)
    layer.build(shape, dtype)
    c = layer.state["moving_mean"].shape[0]
    weights = {"moving_mean": rng.standard_normal(c), "moving_variance": rng.uniform(0.5, 2.0, c)}
    for name in layer.params:
        weights[name] = rng.standard_normal(c)
    layer.set_weights(weights)
    return layer


# -- gradients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(C,), (T, C), (T, 2, C)])
def test_batchnorm_gradcheck(shape, training):
    rng = np.random.default_rng(0)
    layer = _random_bn(shape, rng)
    x = rng.standard_normal((N, *shape)) * 2.0 + 0.5
    errors = check_layer(layer, x, rng, training=training)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck_channel_axis_1_and_no_affine(training):
    rng = np.random.default_rng(1)
    layer = _random_bn((C, T), rng, axis=1)  # channels-first (N, C, L), like torch's BatchNorm1d
    x = rng.standard_normal((N, C, T))
    assert max(check_layer(layer, x, rng, training=training).values()) < 1e-7
    bare = _random_bn((T, C), rng, center=False, scale=False)
    errors = check_layer(bare, rng.standard_normal((N, T, C)), rng, training=training)
    assert list(errors) == ["x"] and errors["x"] < 1e-7


@pytest.mark.parametrize("axis", [-1, [-2, -1], [1, 3]])
def test_layernorm_gradcheck(axis):
    rng = np.random.default_rng(2)
    shape = (T, C) if axis != [1, 3] else (T, 2, C)
    layer = LayerNormalization(axis=axis)
    layer.build(shape)
    layer.set_weights({name: rng.standard_normal(p.shape) for name, p in layer.params.items()})
    errors = check_layer(layer, rng.standard_normal((N, *shape)) * 3.0 - 1.0, rng)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


def test_layernorm_gradcheck_no_affine():
    rng = np.random.default_rng(3)
    errors = check_layer(LayerNormalization(axis=[-2, -1], center=False, scale=False),
                         rng.standard_normal((N, T, C)), rng)
    assert list(errors) == ["x"] and errors["x"] < 1e-7


def test_layernorm_param_shape_is_the_sorted_normalised_axes():
    layer = LayerNormalization(axis=[-1, -2])
    layer.build((T, C))
    assert layer.params["gamma"].shape == (T, C) and layer.params["beta"].shape == (T, C)
    layer = LayerNormalization(axis=1)
    layer.build((T, C))
    assert layer.params["gamma"].shape == (T,)


# -- planted bugs: the checks can fail ---------------------------------------------------------
def test_gradcheck_catches_batchnorm_backward_without_variance_term(monkeypatch):
    def buggy(dy, cache):  # drops the - xhat * mean(dy * xhat) term (the path through var)
        xhat, inv_std, gamma, axes, training = cache
        dx = gamma * inv_std * (dy - dy.mean(axis=axes, keepdims=True))
        return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)

    monkeypatch.setattr(normalization, "batch_norm_backward", buggy)
    rng = np.random.default_rng(4)
    errors = check_layer(_random_bn((T, C), rng), rng.standard_normal((N, T, C)), rng, training=True)
    assert errors["x"] > 1e-3


def test_gradcheck_catches_layernorm_backward_without_gamma(monkeypatch):
    def buggy(dy, cache):  # forgets that dL/dxhat = gamma * dy
        xhat, inv_std, gamma, axes = cache
        dx = normalization.normalize_backward(dy, xhat, inv_std, axes)
        other = tuple(a for a in range(dy.ndim) if a not in axes)
        return dx, (dy * xhat).sum(axis=other, keepdims=True), dy.sum(axis=other, keepdims=True)

    monkeypatch.setattr(normalization, "layer_norm_backward", buggy)
    rng = np.random.default_rng(5)
    layer = LayerNormalization()
    layer.build((T, C))
    layer.set_weights({"gamma": rng.standard_normal(C)})
    assert check_layer(layer, rng.standard_normal((N, T, C)), rng)["x"] > 1e-3


# -- values derived by hand --------------------------------------------------------------------
def _hand_batch():
    # channel 0: 1, 2, 3, 6 -> mean 3, sum of squared deviations 4+1+0+9 = 14
    # channel 1: 0, 0, 4, 4 -> mean 2, sum of squared deviations 4*4 = 16
    return np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 4.0], [6.0, 4.0]])


@pytest.mark.parametrize("convention, batch_var", [
    ("keras", [14 / 4, 16 / 4]),  # biased: divide by m = 4
    ("torch", [14 / 3, 16 / 3]),  # unbiased: divide by m - 1 = 3
])
def test_batchnorm_running_stats_after_one_step(convention, batch_var):
    layer = BatchNormalization(momentum=0.75, epsilon=1e-3, convention=convention)
    y = layer.forward(_hand_batch(), training=True)
    # moving = momentum * old + (1 - momentum) * batch, from moving_mean = 0, moving_variance = 1
    np.testing.assert_allclose(layer.state["moving_mean"], [0.25 * 3.0, 0.25 * 2.0], rtol=1e-15)
    np.testing.assert_allclose(layer.state["moving_variance"],
                               [0.75 + 0.25 * batch_var[0], 0.75 + 0.25 * batch_var[1]], rtol=1e-15)
    # the normalisation itself uses the biased variance in both conventions
    expected0 = (np.array([1.0, 2.0, 3.0, 6.0]) - 3.0) / np.sqrt(3.5 + 1e-3)
    np.testing.assert_allclose(y[:, 0], expected0, rtol=1e-14)
    np.testing.assert_allclose(y[:, 1], np.array([-2.0, -2.0, 2.0, 2.0]) / np.sqrt(4.0 + 1e-3), rtol=1e-14)


def test_batchnorm_inference_uses_running_stats_and_updates_nothing():
    layer = BatchNormalization(epsilon=0.25)
    layer.build((2,))
    layer.set_weights({"gamma": [2.0, 1.0], "beta": [0.5, 0.0], "moving_mean": [1.0, -1.0],
                       "moving_variance": [3.75, 0.0]})
    y = layer.forward(np.array([[3.0, 1.0], [1.0, -1.0]]), training=False)
    # sqrt(3.75 + 0.25) = 2, sqrt(0 + 0.25) = 0.5
    np.testing.assert_allclose(y, [[2.0 * 2.0 / 2.0 + 0.5, 2.0 / 0.5], [0.5, 0.0]], rtol=1e-15)
    np.testing.assert_array_equal(layer.state["moving_mean"], [1.0, -1.0])
    np.testing.assert_array_equal(layer.state["moving_variance"], [3.75, 0.0])


# -- torch parity (float64) --------------------------------------------------------------------
def _to_torch_layout(a):
    """channels-last (N, ..., C) -> channels-first (N, C, ...)"""
    return np.moveaxis(a, -1, 1)


@pytest.mark.parametrize("shape", [(C,), (T, C), (T, 2, C)])
def test_batchnorm_matches_torch(shape):
    rng = np.random.default_rng(6)
    momentum, eps = 0.875, 1e-3
    ours = BatchNormalization(momentum=momentum, epsilon=eps, convention="torch")
    ours.build(shape)
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    ours.set_weights({"gamma": gamma, "beta": beta})
    cls = {1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm2d}[len(shape)]
    ref = cls(C, eps=eps, momentum=1 - momentum, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    ref.train()
    for step in range(2):
        x = rng.standard_normal((N, *shape)) * 1.5 + step
        dy = rng.standard_normal(x.shape)
        y = ours.forward(x, training=True)
        dx = ours.backward(dy)
        xt = torch.from_numpy(_to_torch_layout(x)).requires_grad_()
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(torch.from_numpy(_to_torch_layout(dy)))
        np.testing.assert_allclose(_to_torch_layout(y), yt.detach().numpy(), rtol=0, atol=1e-13)
        np.testing.assert_allclose(_to_torch_layout(dx), xt.grad.numpy(), rtol=0, atol=1e-13)
        np.testing.assert_allclose(ours.grads["gamma"], ref.weight.grad.numpy(), rtol=0, atol=1e-13)
        np.testing.assert_allclose(ours.grads["beta"], ref.bias.grad.numpy(), rtol=0, atol=1e-13)
        np.testing.assert_allclose(ours.state["moving_mean"], ref.running_mean.numpy(), rtol=0, atol=1e-14)
        np.testing.assert_allclose(ours.state["moving_variance"], ref.running_var.numpy(), rtol=0, atol=1e-14)
    ref.eval()
    x = rng.standard_normal((N, *shape))
    with torch.no_grad():
        yt = ref(torch.from_numpy(_to_torch_layout(x))).numpy()
    np.testing.assert_allclose(_to_torch_layout(ours.forward(x, training=False)), yt, rtol=0, atol=1e-13)


def test_batchnorm_keras_convention_differs_from_torch_running_var():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, C))
    ours = BatchNormalization(momentum=0.5)  # convention="keras"
    ours.forward(x, training=True)
    ref = torch.nn.BatchNorm1d(C, eps=1e-3, momentum=0.5, dtype=torch.float64)
    ref(torch.from_numpy(x))
    np.testing.assert_allclose(ours.state["moving_mean"], ref.running_mean.numpy(), atol=1e-15)
    # running_var: torch 0.5 + 0.5 * var * N/(N-1), Keras 0.5 + 0.5 * var
    expected_gap = 0.5 * x.var(axis=0) * (N / (N - 1) - 1)
    np.testing.assert_allclose(ref.running_var.numpy() - ours.state["moving_variance"], expected_gap, rtol=1e-12)
    assert expected_gap.min() > 1e-3


@pytest.mark.parametrize("axis, normalized_shape", [(-1, (C,)), ([-2, -1], (T, C))])
def test_layernorm_matches_torch(axis, normalized_shape):
    rng = np.random.default_rng(8)
    eps = 1e-5
    ours = LayerNormalization(axis=axis, epsilon=eps)
    ours.build((T, C))
    gamma, beta = rng.standard_normal(normalized_shape), rng.standard_normal(normalized_shape)
    ours.set_weights({"gamma": gamma, "beta": beta})
    x, dy = rng.standard_normal((N, T, C)) * 2.0, rng.standard_normal((N, T, C))
    y = ours.forward(x)
    dx = ours.backward(dy)
    ref = torch.nn.LayerNorm(normalized_shape, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    xt = torch.from_numpy(x).requires_grad_()
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(ours.grads["gamma"], ref.weight.grad.numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(ours.grads["beta"], ref.bias.grad.numpy(), rtol=0, atol=1e-13)


# -- dtypes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_float32_stays_float32(training):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((N, T, C)).astype(np.float32)
    for layer in (BatchNormalization(momentum=0.9), BatchNormalization(convention="torch"),
                  LayerNormalization(axis=[-2, -1])):
        y = layer.forward(x, training=training)
        dx = layer.backward(rng.standard_normal(y.shape).astype(np.float32))
        assert y.dtype == np.float32 and dx.dtype == np.float32, layer
        for arr in (*layer.params.values(), *layer.grads.values(), *layer.state.values()):
            assert arr.dtype == np.float32, layer
        ref = type(layer)(**({"axis": [-2, -1]} if isinstance(layer, LayerNormalization) else {}))
        y64 = ref.forward(x.astype(np.float64), training=training)
        np.testing.assert_allclose(y, y64, atol=1e-5 * np.abs(y64).max())


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"momentum": 1.5}, "momentum"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"axis": "last"}, "axis"),
    ({"convention": "pytorch"}, "convention"),
])
def test_batchnorm_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=rf"bn_bad: {match}.*got"):
        BatchNormalization(name="bn_bad", **kwargs)


@pytest.mark.parametrize("axis", [0, 3, -3])
def test_batchnorm_bad_axis_for_input(axis):
    layer = BatchNormalization(axis=axis, name="bn_axis")
    with pytest.raises(ValueError, match=rf"bn_axis: axis.*\(N, 4, 3\).*got {axis}"):
        layer.compute_output_shape((T, C))


def test_batchnorm_wrong_channel_count_and_rank():
    layer = BatchNormalization(name="bn_chan")
    layer.build((T, C))
    with pytest.raises(ValueError, match=r"bn_chan: expected input shape \(N, 4, 3\), got \(5, 4, 2\)"):
        layer.forward(np.zeros((N, T, 2)))
    with pytest.raises(ValueError, match=r"bn_chan: expected input shape \(N, 4, 3\), got \(5, 3\)"):
        layer.forward(np.zeros((N, C)))
    with pytest.raises(ValueError, match="bn_chan: expected float64 input, got float32"):
        layer.forward(np.zeros((N, T, C), np.float32))


def _refused_with_state_kept(layer, x, pattern):
    """forward(x, training=True) raises ``pattern`` and leaves the running statistics as they were."""
    before = {k: v.copy() for k, v in layer.state.items()}
    with pytest.raises(ValueError, match=pattern):
        layer.forward(x, training=True)
    for k, v in layer.state.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("convention", ["keras", "torch"])
@pytest.mark.parametrize("shape", [(0, C), (0, T, C)])
def test_batchnorm_training_refuses_an_empty_batch_and_keeps_its_state(convention, shape):
    # an empty batch used to leave NaN in the running statistics for good
    layer = _random_bn(shape[1:], np.random.default_rng(9), convention=convention, name="bn_few")
    _refused_with_state_kept(layer, np.ones(shape), rf"^bn_few: training mode needs values for the batch "
                             rf"statistics, got an empty batch of shape {re.escape(str(shape))}$")


@pytest.mark.parametrize("shape", [(1, C), (1, 1, C)])
def test_batchnorm_one_value_per_channel_torch_refuses_keras_accepts(shape):
    layer = _random_bn(shape[1:], np.random.default_rng(9), convention="torch", name="bn_one")
    _refused_with_state_kept(layer, np.ones(shape), rf"^bn_one: convention='torch' needs more than one value "
                             rf"per channel.*got input shape {re.escape(str(shape))}$")
    keras_bn = _random_bn(shape[1:], np.random.default_rng(9), name="bn_one_keras")
    y = keras_bn.forward(np.ones(shape), training=True)  # Keras allows it: batch variance 0, y = beta
    np.testing.assert_allclose(y.reshape(-1, C), keras_bn.params["beta"][None, :])


def test_batchnorm_training_with_two_values_per_channel_is_fine():
    layer = BatchNormalization(convention="torch")
    y = layer.forward(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), training=True)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(layer.state["moving_variance"]))
    layer = BatchNormalization()
    layer.forward(np.arange(2.0 * C).reshape(1, 2, C), training=True)  # m = N * T = 2
    assert np.all(np.isfinite(layer.state["moving_mean"]))


@pytest.mark.parametrize("shape", [(0, C), (0, T, C)])
def test_batchnorm_inference_on_an_empty_batch(shape):
    layer = _random_bn(shape[1:], np.random.default_rng(10))
    before = {k: v.copy() for k, v in layer.state.items()}
    y = layer.forward(np.zeros(shape), training=False)
    assert y.shape == shape
    assert layer.backward(np.zeros(shape)).shape == shape
    for k, v in layer.state.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("axis, match", [
    (3, r"ln_bad: axis 3 .*\(N, 4, 3\).*got 3"),
    ([-1, 2], r"ln_bad: axis: expected distinct axes, got \[-1, 2\]"),
    (0, r"ln_bad: axis 0 .*batch axis.*got 0"),
])
def test_layernorm_bad_axis(axis, match):
    with pytest.raises(ValueError, match=match):
        LayerNormalization(axis=axis, name="ln_bad").forward(np.zeros((N, T, C)))


def test_layernorm_bad_arguments():
    with pytest.raises(ValueError, match="ln_arg: axis: expected an int or a non-empty list"):
        LayerNormalization(axis=[], name="ln_arg")
    with pytest.raises(ValueError, match=r"ln_arg2: epsilon: expected a positive float, got -1"):
        LayerNormalization(epsilon=-1, name="ln_arg2")
