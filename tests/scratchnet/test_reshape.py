"""Flatten and Reshape: element order, the torch Flatten->Dense permutation, gradients, errors."""
import numpy as np
import pytest
import torch

from scratchnet.gradcheck import check_layer
from scratchnet.layers import Flatten, Reshape

N, H, W, C = 2, 4, 3, 5


def test_flatten_order_by_hand():
    x = np.arange(N * H * W * C, dtype=np.float64).reshape(N, H, W, C)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (N, H * W * C) and layer.output_shape == (H * W * C,)
    # x[n, h, w, c] = ((n*H + h)*W + w)*C + c lands at column (h*W + w)*C + c
    assert y[1, (2 * W + 0) * C + 4] == x[1, 2, 0, 4] == ((1 * H + 2) * W + 0) * C + 4
    assert y[0, (3 * W + 2) * C + 1] == x[0, 3, 2, 1]
    np.testing.assert_array_equal(y[1], np.arange(H * W * C) + H * W * C)
    dy = np.arange(y.size, dtype=np.float64).reshape(y.shape) * 2.0
    np.testing.assert_array_equal(layer.backward(dy), x * 2.0)


def test_flatten_then_dense_matches_torch_with_permuted_rows():
    """The docstring's recipe: kernel = weight.T[perm], perm from torch's (C, H, W) order."""
    rng = np.random.default_rng(0)
    units = 6
    x = rng.standard_normal((N, H, W, C))
    ref = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * H * W, units, dtype=torch.float64))
    with torch.no_grad():
        yt = ref(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()  # NCHW
    weight, bias = ref[1].weight.detach().numpy(), ref[1].bias.detach().numpy()
    perm = np.arange(C * H * W).reshape(C, H, W).transpose(1, 2, 0).ravel()
    kernel = weight.T[perm]  # (H*W*C, units)
    y = Flatten().forward(x) @ kernel + bias
    np.testing.assert_allclose(y, yt, rtol=0, atol=1e-13)
    assert np.abs(Flatten().forward(x) @ weight.T + bias - yt).max() > 1e-2  # the naive copy is wrong


@pytest.mark.parametrize("layer, shape", [(Flatten(), (H, W, C)), (Reshape((-1, C)), (H, W, C)),
                                          (Reshape([W, H, C]), (H, W, C)), (Flatten(), (H,))])
def test_gradcheck(layer, shape):
    rng = np.random.default_rng(1)
    assert check_layer(layer, rng.standard_normal((N, *shape)), rng)["x"] < 1e-7


def test_reshape_infers_minus_one_and_keeps_c_order():
    x = np.arange(N * H * W * C, dtype=np.float64).reshape(N, H, W, C)
    layer = Reshape((-1, 2 * C))
    y = layer.forward(x)
    assert layer.output_shape == (H * W // 2, 2 * C) and y.shape == (N, 6, 10)
    np.testing.assert_array_equal(y[1, 0], np.arange(10) + H * W * C)
    assert layer.backward(y).shape == x.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    x = np.ones((N, H, W, C), dtype)
    for layer in (Flatten(), Reshape((W * C, H))):
        y = layer.forward(x)
        assert y.dtype == dtype and layer.backward(y).dtype == dtype


@pytest.mark.parametrize("target", [(-1, -1), (0, 5), (3, -2), "abc", (), (2.5,)])
def test_bad_target_shape(target):
    with pytest.raises(ValueError, match="rs_bad: target_shape: expected a non-empty list of positive ints"):
        Reshape(target, name="rs_bad")


@pytest.mark.parametrize("target, match", [
    ((7, 7), r"rs_count: target_shape: expected 60 elements \(input shape \(N, 4, 3, 5\)\), got \[7, 7\] with 49"),
    ((-1, 7), r"rs_count: target_shape: \[-1, 7\] cannot hold the 60 elements .*not a multiple of 7"),
])
def test_reshape_element_count_mismatch(target, match):
    with pytest.raises(ValueError, match=match):
        Reshape(target, name="rs_count").forward(np.zeros((N, H, W, C)))


def test_flatten_wrong_input_after_build():
    layer = Flatten(name="flat_in")
    layer.build((H, W, C))
    with pytest.raises(ValueError, match=r"flat_in: expected input shape \(N, 4, 3, 5\), got \(2, 4, 3, 2\)"):
        layer.forward(np.zeros((N, H, W, 2)))
