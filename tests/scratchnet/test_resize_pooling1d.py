"""UpSampling2D, ZeroPadding2D, the 1-D poolings and the global max poolings: finite differences,
hand-derived values, torch twins, planted bugs, bad input. Sizes differ on every axis."""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.gradcheck import check_layer
from scratchnet.layers import resize


@pytest.mark.parametrize("size", [2, (2, 3), (3, 1)], ids=str)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_gradcheck(size, interpolation):
    rng = np.random.default_rng(1)
    errors = check_layer(sn.UpSampling2D(size, interpolation), rng.standard_normal((2, 3, 4, 5)), rng)
    assert errors["x"] < 1e-7, errors


def test_bilinear_by_hand():
    # one row [0, 4], scale 2: u = (i + 1/2) / 2 - 1/2 = -1/4, 1/4, 3/4, 5/4 -> clamped 0, 1, 3, 4
    layer = sn.UpSampling2D((1, 2), "bilinear")
    y = layer(np.array([0.0, 4.0]).reshape(1, 1, 2, 1))
    np.testing.assert_allclose(y[0, 0, :, 0], [0.0, 1.0, 3.0, 4.0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(resize.interpolation_matrix(2, 2),
                                  [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsampling_matches_torch_interpolate(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 5))
    layer = sn.UpSampling2D((2, 3), mode)
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    kw = {"align_corners": False} if mode == "bilinear" else {}
    yt = torch.nn.functional.interpolate(xt, scale_factor=(2, 3), mode=mode, **kw)
    yt.backward(torch.from_numpy(dy.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=0, atol=1e-14)


def test_planted_corner_aligned_bilinear_is_caught(monkeypatch):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 4, 2))

    def corners(size, scale, dtype=np.float64):  # u = i (H - 1) / (H_out - 1): align_corners=True
        out = size * scale
        u = np.arange(out) * (size - 1) / (out - 1)
        lo = np.floor(u).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        a = np.zeros((out, size))
        np.add.at(a, (np.arange(out), lo), 1 - (u - lo))
        np.add.at(a, (np.arange(out), hi), u - lo)
        return a.astype(dtype)

    ref = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), scale_factor=2,
                                          mode="bilinear", align_corners=False).numpy().transpose(0, 2, 3, 1)
    assert np.abs(sn.UpSampling2D(2, "bilinear")(x) - ref).max() < 1e-14
    monkeypatch.setattr(resize, "interpolation_matrix", corners)
    assert np.abs(sn.UpSampling2D(2, "bilinear")(x) - ref).max() > 1e-2


@pytest.mark.parametrize("padding, out", [(1, (5, 6)), ((2, 1), (7, 6)), (((0, 2), (3, 1)), (5, 8))], ids=str)
def test_zero_padding(padding, out):
    rng = np.random.default_rng(4)
    layer = sn.ZeroPadding2D(padding)
    x = rng.standard_normal((2, 3, 4, 2))
    y = layer(x)
    assert y.shape == (2, *out, 2)
    (t, _), (l, _) = resize.zero_padding_arg(padding, "p")
    np.testing.assert_array_equal(y[:, t:t + 3, l:l + 4], x)
    assert np.sum(np.abs(y)) == pytest.approx(np.sum(np.abs(x)))
    assert check_layer(sn.ZeroPadding2D(padding), x, rng)["x"] < 1e-7


def test_zero_padding_matches_torch_order():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).standard_normal((1, 3, 4, 1))
    y = sn.ZeroPadding2D(((0, 2), (3, 1)))(x)
    yt = torch.nn.ZeroPad2d((3, 1, 0, 2))(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))  # (left, right, top, bottom)
    np.testing.assert_array_equal(y, yt.numpy().transpose(0, 2, 3, 1))
    wrong = torch.nn.ZeroPad2d((0, 2, 3, 1))(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))  # H first: wrong
    assert wrong.shape[2:] != y.shape[1:3]


@pytest.mark.parametrize("cls", [sn.MaxPool1D, sn.AveragePool1D])
@pytest.mark.parametrize("pool, strides, padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid"), (2, 3, "same")])
def test_pool1d_gradcheck(cls, pool, strides, padding):
    rng = np.random.default_rng(6)
    layer = cls(pool, strides, padding)
    errors = check_layer(layer, rng.standard_normal((2, 9, 3)), rng)
    assert errors["x"] < 1e-7, errors


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool1d_matches_torch(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 8, 3))
    layer = (sn.MaxPool1D if kind == "max" else sn.AveragePool1D)(3, 2, "same")  # T 8: lo 0, hi 1
    y = layer(x)
    xt = torch.from_numpy(x.transpose(0, 2, 1).copy())
    if kind == "max":
        yt = torch.nn.functional.max_pool1d(torch.nn.functional.pad(xt, (0, 1), value=-np.inf), 3, 2)
    else:
        total = torch.nn.functional.avg_pool1d(torch.nn.functional.pad(xt, (0, 1)), 3, 2) * 3
        count = torch.nn.functional.avg_pool1d(torch.nn.functional.pad(torch.ones(1, 1, 8, dtype=xt.dtype), (0, 1)), 3, 2) * 3
        yt = total / count
    np.testing.assert_allclose(y, yt.numpy().transpose(0, 2, 1), rtol=0, atol=1e-14)


@pytest.mark.parametrize("layer, shape", [(sn.GlobalAveragePool1D(), (2, 7, 3)), (sn.GlobalMaxPool1D(), (2, 7, 3)),
                                          (sn.GlobalMaxPool2D(), (2, 3, 4, 5))], ids=lambda v: str(v))
def test_global_pool_gradcheck(layer, shape):
    rng = np.random.default_rng(8)
    assert check_layer(layer, rng.standard_normal(shape), rng)["x"] < 1e-7


def test_global_max_ties_share_the_gradient_like_torch_amax():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1.0], [3.0]], [[3.0], [2.0]]]])  # (1, 2, 2, 1): two tied maxima
    layer = sn.GlobalMaxPool2D()
    layer(x)
    dx = layer.backward(np.array([[1.0]]))
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    xt.amax(dim=(2, 3)).sum().backward()
    np.testing.assert_array_equal(dx, xt.grad.numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0.5], [0.5, 0]])


def test_bad_input():
    with pytest.raises(ValueError, match=r"interpolation: expected 'nearest' or 'bilinear'"):
        sn.UpSampling2D(2, "bicubic")
    with pytest.raises(ValueError, match=r"padding: expected a non-negative int, an \[h, w\] pair"):
        sn.ZeroPadding2D([[1, 2], 3])
    with pytest.raises(ValueError, match=r"padding: expected 'valid' or 'same'"):
        sn.MaxPool1D(2, padding=1)
    with pytest.raises(ValueError, match=r"input_shape: expected a sequence"):
        sn.GlobalMaxPool1D().compute_output_shape((3, 4, 5))
