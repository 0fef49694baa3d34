"""Conv2DTranspose and Conv1D: finite differences over a grid, the adjoint identity with Conv2D,
torch twins (the full transposed convolution cropped as TensorFlow crops), planted bugs, bad
input. Sizes differ on every axis."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.gradcheck import check_layer, rel_error
from scratchnet.layers import conv, conv_transpose


def same_lo(size, k, s):
    """TensorFlow's same padding's leading share, written out here independently of scratchnet."""
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2


# -- Conv2DTranspose: finite differences -------------------------------------------------------------
GRID = [  # (kernel, strides, padding, output_padding, dilation)
    ((3, 2), (2, 1), "same", None, 1), ((3, 2), (2, 3), "valid", None, 1), ((4, 3), 2, "same", (1, 1), 1),
    ((5, 2), (2, 3), "valid", (1, 2), 1), (3, 3, "same", (2, 1), 1), (2, (2, 3), "valid", None, 1),
    (1, 2, "same", None, 1), ((3, 2), 1, "valid", None, (2, 3)), ((2, 3), (1, 2), "same", None, (2, 1)),
]


@pytest.mark.parametrize("kernel, strides, padding, output_padding, dilation", GRID, ids=str)
def test_conv2d_transpose_gradcheck(kernel, strides, padding, output_padding, dilation):
    rng = np.random.default_rng(1)
    layer = sn.Conv2DTranspose(5, kernel, strides=strides, padding=padding, output_padding=output_padding,
                               dilation_rate=dilation, bias_initializer="glorot_uniform", rng=rng)
    errors = check_layer(layer, rng.standard_normal((2, 3, 4, 6)), rng)
    assert set(errors) == {"x", "kernel", "bias"}
    assert max(errors.values()) < 1e-7, errors


def test_conv2d_transpose_gradcheck_with_activation():
    rng = np.random.default_rng(2)
    layer = sn.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh", rng=rng)
    assert max(check_layer(layer, rng.standard_normal((2, 4, 3, 2)), rng).values()) < 1e-7


# -- the adjoint identity -------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, strides, padding, output_padding, dilation", GRID, ids=str)
def test_forward_is_the_adjoint_of_conv2d(kernel, strides, padding, output_padding, dilation):
    """<conv2d(z; K, pads), x> = <z, conv2d_transpose(x; K)> with the same kernel array, where
    conv2d maps the transposed conv's output shape back to its input shape with TF's padding."""
    rng = np.random.default_rng(3)
    layer = sn.Conv2DTranspose(5, kernel, strides=strides, padding=padding, output_padding=output_padding,
                               dilation_rate=dilation, use_bias=False, rng=rng)
    x = rng.standard_normal((2, 3, 4, 6))
    y = layer(x)  # (N, H_out, W_out, F)
    z = rng.standard_normal(y.shape)
    k = layer.params["kernel"]  # (kh, kw, F, C): as a Conv2D kernel it maps F channels to C
    kh, kw = k.shape[:2]
    ho, wo = y.shape[1:3]
    st, dl = layer.strides, layer.dilation_rate
    pads = []
    for size, back, kk, s, d in ((ho, 3, kh, st[0], dl[0]), (wo, 4, kw, st[1], dl[1])):
        lo = same_lo(size, (kk - 1) * d + 1, s) if padding == "same" else 0
        hi = (back - 1) * s + (kk - 1) * d + 1 - size - lo  # whatever the last window needs
        pads.append((lo, max(hi, 0)))
    cz, _ = conv.conv2d_forward(z, k, None, st, tuple(pads), dl)
    cz = cz[:, :3, :4]  # (N, H, W, C)
    lhs, rhs = float(np.sum(cz * x)), float(np.sum(z * y))
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0), (lhs, rhs)


def test_planted_flipped_kernel_breaks_the_adjoint_identity():
    rng = np.random.default_rng(4)
    layer = sn.Conv2DTranspose(4, (3, 2), strides=2, padding="valid", use_bias=False, rng=rng)
    x = rng.standard_normal((2, 3, 4, 5))
    y = layer(x)
    z = rng.standard_normal(y.shape)
    k = layer.params["kernel"]
    for kernel, holds in ((k, True), (k[::-1, ::-1].copy(), False)):  # the flipped kernel: a real convolution
        cz, _ = conv.conv2d_forward(z, kernel, None, (2, 2), ((0, 0), (0, 0)))
        lhs, rhs = float(np.sum(cz * x)), float(np.sum(z * y))
        assert (abs(lhs - rhs) <= 1e-12 * abs(lhs)) == holds, (lhs, rhs)


# -- torch: the full transposed convolution cropped as TensorFlow crops ---------------------------
@pytest.mark.parametrize("k, s", [(3, 2), (4, 2), (5, 2), (3, 3), (2, 2)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_matches_torch_full_transposed_conv_cropped(k, s, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    layer = sn.Conv2DTranspose(3, (k, k + 1), strides=(s, s + 1), padding=padding, rng=rng,
                               bias_initializer="glorot_uniform")
    x = rng.standard_normal((2, 4, 3, 5))
    y = layer(x)
    w = torch.from_numpy(layer.params["kernel"].transpose(3, 2, 0, 1).copy())  # (C_in, C_out, kh, kw)
    full = torch.nn.functional.conv_transpose2d(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), w,
                                                torch.from_numpy(layer.params["bias"]), stride=(s, s + 1))
    (top, left), (ho, wo) = layer._crop, y.shape[1:3]
    if padding == "same":
        assert (top, left) == (same_lo(ho, k, s), same_lo(wo, k + 1, s + 1))
    expect = full.numpy().transpose(0, 2, 3, 1)
    bias_only = np.broadcast_to(layer.params["bias"], (2, top + ho + 8, left + wo + 8, 3)).copy()
    bias_only[:, :expect.shape[1], :expect.shape[2]] = expect  # beyond the full output: the bias alone
    np.testing.assert_allclose(y, bias_only[:, top:top + ho, left:left + wo], rtol=0, atol=1e-13)


@pytest.mark.parametrize("padding, op, shape", [("valid", None, (9, 10)), ("same", None, (8, 9)),
                                                ("valid", 1, (10, 11)), ("same", 1, (8, 7))])
def test_output_size_by_hand(padding, op, shape):
    # H = 4, W = 3, k = (3, 4), s = (2, 3). No output_padding: valid H s + max(k - s, 0) = 8 + 1, 9 + 1;
    # same H s = 8, 9. output_padding 1: (H - 1) s + k - 2 pad + 1 with pad 0 (valid): 6 + 3 + 1,
    # 6 + 4 + 1; pad k // 2 (same): 6 + 3 - 2 + 1 = 8, 6 + 4 - 4 + 1 = 7.
    layer = sn.Conv2DTranspose(2, (3, 4), strides=(2, 3), padding=padding,
                               output_padding=None if op is None else (op, op))
    assert layer.compute_output_shape((4, 3, 1))[:2] == shape


def test_refuses_what_tensorflow_refuses():
    with pytest.raises(ValueError, match=r"output_padding: along H, output size 6 does not invert"):
        sn.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=0).compute_output_shape((4, 5, 1))
    with pytest.raises(ValueError, match=r"output_padding: expected less than strides"):
        sn.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"padding: expected 'valid' or 'same'"):
        sn.Conv2DTranspose(2, 3, padding=1)


# -- Conv1D ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("strides, padding, dilation, groups",
                         [(1, "valid", 1, 1), (2, "same", 1, 1), (1, "same", 2, 2), (2, "causal", 1, 1),
                          (1, "causal", 3, 2), (3, 2, 1, 1), (2, "valid", 2, 2)], ids=str)
def test_conv1d_gradcheck(strides, padding, dilation, groups):
    rng = np.random.default_rng(6)
    layer = sn.Conv1D(6, 3, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                      bias_initializer="glorot_uniform", rng=rng)
    errors = check_layer(layer, rng.standard_normal((2, 11, 4)), rng)
    assert set(errors) == {"x", "kernel", "bias"} and max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("strides, padding, dilation", [(1, "same", 1), (2, "same", 2), (2, "causal", 2), (3, "valid", 1)])
def test_conv1d_matches_torch(strides, padding, dilation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    layer = sn.Conv1D(5, 4, strides=strides, padding=padding, dilation_rate=dilation, rng=rng,
                      bias_initializer="glorot_uniform")
    x = rng.standard_normal((3, 10, 2))
    y = layer(x)
    k_eff = 3 * dilation + 1
    if padding == "causal":
        lo, hi = k_eff - 1, 0
    elif padding == "same":
        lo = same_lo(10, k_eff, strides)
        hi = max((-(-10 // strides) - 1) * strides + k_eff - 10, 0) - lo
    else:
        lo = hi = 0
    xt = torch.nn.functional.pad(torch.from_numpy(x.transpose(0, 2, 1).copy()), (lo, hi))
    yt = torch.nn.functional.conv1d(xt, torch.from_numpy(layer.params["kernel"].transpose(2, 1, 0).copy()),
                                    torch.from_numpy(layer.params["bias"]), stride=strides, dilation=dilation)
    np.testing.assert_allclose(y, yt.numpy().transpose(0, 2, 1), rtol=0, atol=1e-13)


def test_conv1d_causal_output_never_sees_the_future():
    rng = np.random.default_rng(8)
    layer = sn.Conv1D(2, 3, padding="causal", dilation_rate=2, rng=rng)
    x = rng.standard_normal((1, 9, 2))
    y = layer(x).copy()
    x2 = x.copy()
    x2[:, 5:] += 1.0  # change inputs from t = 5 on
    y2 = layer(x2)
    np.testing.assert_array_equal(y[:, :5], y2[:, :5])
    assert np.all(np.abs(y[:, 5:] - y2[:, 5:]) > 0)


def test_conv1d_bad_input():
    with pytest.raises(ValueError, match=r"padding: expected 'valid', 'same', 'causal'"):
        sn.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"input_shape: expected a sequence \(T, C\)"):
        sn.Conv1D(2, 3).compute_output_shape((4, 5, 6))
    with pytest.raises(ValueError, match=r"kernel_size: the window along T spans 7 cells"):
        sn.Conv1D(2, 7).compute_output_shape((5, 2))
