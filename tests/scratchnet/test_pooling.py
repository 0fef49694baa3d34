"""MaxPool2D, AveragePool2D, GlobalAveragePool2D: finite differences, hand-derived values,
torch, planted bugs, bad input, dtypes. Sizes differ on every axis."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scratchnet.gradcheck import check_layer
from scratchnet.layers import AveragePool2D, GlobalAveragePool2D, MaxPool2D, pooling

SHAPES = {"odd": (2, 7, 5, 3), "even": (2, 6, 8, 3)}  # (N, H, W, C)
POOLS = [MaxPool2D, AveragePool2D]


def hw(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def tf_same(size, k, s):
    """TensorFlow's same padding, written out here independently of scratchnet."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


# -- finite differences ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("padding", ["valid", "same", 1, [1, 0]], ids=str)
@pytest.mark.parametrize("strides", [None, 1, 2, [2, 1]], ids=str)
@pytest.mark.parametrize("pool_size", [2, (3, 2)], ids=str)
@pytest.mark.parametrize("cls", POOLS)
def test_pool_gradcheck(cls, pool_size, strides, padding, shape):
    rng = np.random.default_rng(10)
    layer = cls(pool_size, strides, padding)
    errors = check_layer(layer, rng.standard_normal(shape), rng)
    assert set(errors) == {"x"}
    assert errors["x"] < 1e-7, errors


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_global_average_gradcheck(shape):
    rng = np.random.default_rng(11)
    assert check_layer(GlobalAveragePool2D(), rng.standard_normal(shape), rng)["x"] < 1e-7


# -- values derived by hand --------------------------------------------------------------------
def test_average_pool_same_border_excludes_padding():
    # x = 1..9 in a 3x3 grid, pool 2, stride 2, same: out 2, total = (2-1)*2 + 2 - 3 = 1 -> one
    # padded row at the bottom, one padded column at the right. Windows and their real cells:
    # {1,2,4,5} -> 3;  {3,6} -> 4.5 (not 9/4);  {7,8} -> 7.5;  {9} -> 9.
    layer = AveragePool2D(2, padding="same")
    y = layer(np.arange(1.0, 10.0).reshape(1, 3, 3, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[3., 4.5], [7.5, 9.]])
    # backward with dy = 1: each real cell gets 1 / (its window's count)
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[.25, .25, .5], [.25, .25, .5], [.5, .5, 1.]])


def test_average_pool_explicit_padding_excludes_padding():
    # x = 1..4 in 2x2, pool 2, stride 1, padding 1 -> 3x3 windows; corners see one real cell,
    # edges two, the centre all four: [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]].
    y = AveragePool2D(2, 1, padding=1)(np.arange(1.0, 5.0).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[1., 1.5, 2.], [2., 2.5, 3.], [3., 3.5, 4.]])


def test_max_pool_same_pads_with_minus_inf_bottom_right():
    # x = -1..-16 (4x4), pool 3, stride 2, same: total = 2 + 3 - 4 = 1 -> a padded row/column at
    # the bottom/right. Windows: rows/cols {0,1,2} and {2,3,pad}; the maximum is the top-left
    # real cell: -1, -3, -9, -11. Zero padding would give 0 in three windows; the padding at the
    # top/left (windows {pad,0,1} and {1,2,3}) would give [[-1, -2], [-5, -6]].
    layer = MaxPool2D(3, 2, padding="same")
    y = layer(-np.arange(1.0, 17.0).reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1., -3.], [-9., -11.]])
    dx = layer.backward(np.array([1., 2., 3., 4.]).reshape(1, 2, 2, 1))
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 2], expected[2, 0], expected[2, 2] = 1., 2., 3., 4.
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


TIES = np.array([[1., 3., 3.],
                 [3., 0., 3.],
                 [2., 3., 1.]])


def test_max_pool_ties_go_to_first_maximum():
    # pool 2, stride 1: every window's maximum is 3. Row-major first maximum of each window:
    # (0,0): cells (0,0)=1 (0,1)=3 (1,0)=3 (1,1)=0 -> (0,1);  (0,1): (0,1)=3 (0,2)=3 ... -> (0,1);
    # (1,0): (1,0)=3 (1,1)=0 (2,0)=2 (2,1)=3 -> (1,0);   (1,1): (1,1)=0 (1,2)=3 (2,1)=3 -> (1,2).
    # dy = [[1, 10], [100, 1000]] -> dx[0,1] = 1 + 10, dx[1,0] = 100, dx[1,2] = 1000.
    layer = MaxPool2D(2, 1)
    y = layer(TIES.reshape(1, 3, 3, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[3., 3.], [3., 3.]])
    dx = layer.backward(np.array([[1., 10.], [100., 1000.]]).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0., 11., 0.], [100., 0., 1000.], [0., 0., 0.]])


def test_max_pool_tie_rule_matches_torch():
    torch = pytest.importorskip("torch")
    xt = torch.tensor(TIES[None, None], requires_grad=True)
    y = torch.nn.functional.max_pool2d(xt, 2, 1)
    y.backward(torch.tensor([[[[1., 10.], [100., 1000.]]]], dtype=torch.float64))
    layer = MaxPool2D(2, 1)
    layer(TIES.reshape(1, 3, 3, 1))
    dx = layer.backward(np.array([[1., 10.], [100., 1000.]]).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(dx[0, :, :, 0], xt.grad[0, 0].numpy())


def test_global_average_by_hand():
    # x[0, i, j, c] = 10 c + (3 i + j) over a 2x3 grid: mean over i, j = 10 c + 2.5
    x = (np.arange(6.0).reshape(2, 3)[None, :, :, None] + 10.0 * np.arange(4.0)).copy()
    layer = GlobalAveragePool2D()
    np.testing.assert_array_equal(layer(x), [[2.5, 12.5, 22.5, 32.5]])
    dx = layer.backward(np.array([[6., 12., 18., 24.]]))
    np.testing.assert_array_equal(dx[0, 1, 2], [1., 2., 3., 4.])  # dy / (H W), H W = 6
    assert dx.shape == x.shape


# -- torch, forward and backward ----------------------------------------------------------------
def torch_pool(kind, x, pool_size, strides, padding, dy):
    """torch's max_pool2d / avg_pool2d on the same numbers, Keras padding rules applied explicitly."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    (kh, kw), (sh, sw) = hw(pool_size), hw(strides if strides is not None else pool_size)
    h, w = x.shape[1:3]
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    if padding in ("valid", "same"):
        (t, b), (l, r) = ((0, 0), (0, 0)) if padding == "valid" else (tf_same(h, kh, sh), tf_same(w, kw, sw))
        if kind == "max":
            y = F.max_pool2d(F.pad(xt, (l, r, t, b), value=-math.inf), (kh, kw), (sh, sw))
        else:  # window sum / count of real cells: exact for asymmetric padding too
            ones = torch.ones((1, 1, h, w), dtype=xt.dtype)
            total = F.avg_pool2d(F.pad(xt, (l, r, t, b)), (kh, kw), (sh, sw), divisor_override=1)
            count = F.avg_pool2d(F.pad(ones, (l, r, t, b)), (kh, kw), (sh, sw), divisor_override=1)
            y = total / count
    else:  # explicit symmetric padding: torch's own padding=
        if kind == "max":
            y = F.max_pool2d(xt, (kh, kw), (sh, sw), padding=hw(padding))
        else:
            y = F.avg_pool2d(xt, (kh, kw), (sh, sw), padding=hw(padding), count_include_pad=False)
    y.backward(torch.tensor(dy).permute(0, 3, 1, 2))
    return y.detach().permute(0, 2, 3, 1).numpy(), xt.grad.permute(0, 2, 3, 1).numpy()


def assert_close(a, ref, tol=1e-12):
    assert a.shape == ref.shape and a.dtype == ref.dtype
    assert np.max(np.abs(a - ref)) <= tol * np.max(np.abs(ref))


@pytest.mark.parametrize("pool_size, strides, padding", [
    (3, 2, "same"), (2, None, "same"), ((3, 2), [2, 1], "same"), (2, None, "valid"), (3, 1, 1),
    ((3, 2), 2, [1, 0])])
@pytest.mark.parametrize("shape", [(2, 8, 7, 3), (3, 7, 6, 2)])
@pytest.mark.parametrize("kind, cls", [("max", MaxPool2D), ("avg", AveragePool2D)])
def test_pool_matches_torch(kind, cls, pool_size, strides, padding, shape):
    rng = np.random.default_rng(12)
    layer = cls(pool_size, strides, padding)
    x = rng.standard_normal(shape)
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_y, ref_dx = torch_pool(kind, x, pool_size, strides, padding, dy)
    assert_close(y, ref_y)
    assert_close(dx, ref_dx)


def test_average_same_k3_s2_h8_equals_torch_ceil_mode():
    # the CONVENTIONS.md shortcut: TF same (top 0, bottom 1) = torch ceil_mode, padding 0, here
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(13).standard_normal((2, 8, 8, 3))
    y = AveragePool2D(3, 2, "same")(x)
    ref = torch.nn.functional.avg_pool2d(torch.tensor(x).permute(0, 3, 1, 2), 3, 2, ceil_mode=True,
                                         count_include_pad=False)
    assert_close(y, ref.permute(0, 2, 3, 1).numpy())


# -- planted bugs: the checks must fail ---------------------------------------------------------
ORIGINAL_MAX_BACKWARD = pooling.max_pool2d_backward
ORIGINAL_AVG_BACKWARD = pooling.average_pool2d_backward


def _max_to_next_cell(dy, cache):
    idx, *rest = cache
    ph, pw = rest[2]
    return ORIGINAL_MAX_BACKWARD(dy, ((idx + 1) % (ph * pw), *rest))  # the cell after the maximum


def _avg_counts_padding(dy, cache):
    count, *rest = cache
    ph, pw = rest[2]
    return ORIGINAL_AVG_BACKWARD(dy, (np.full_like(count, ph * pw), *rest))  # count_include_pad


@pytest.mark.parametrize("cls, target, planted", [
    (MaxPool2D, "max_pool2d_backward", _max_to_next_cell),
    (AveragePool2D, "average_pool2d_backward", _avg_counts_padding)])
def test_planted_bugs_are_caught(monkeypatch, cls, target, planted):
    rng = np.random.default_rng(14)
    layer = cls(3, 2, "same")
    x = rng.standard_normal((2, 7, 5, 3))
    assert check_layer(layer, x, rng)["x"] < 1e-7  # healthy first
    monkeypatch.setattr(pooling, target, planted)
    assert check_layer(layer, x, rng)["x"] > 1e-3


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(pool_size=0), r"p1: pool_size: expected positive sizes, got \[0, 0\]"),
    (dict(pool_size=(2, -1)), r"p1: pool_size: .*\[2, -1\]"),
    (dict(strides=[1, 0]), r"p1: strides: .*\[1, 0\]"),
    (dict(padding="full"), r"p1: padding: .*'full'"),
    (dict(pool_size=2, padding=2), r"p1: padding: expected at most half of pool_size \[2, 2\] .*got \[2, 2\]"),
])
@pytest.mark.parametrize("cls", POOLS)
def test_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(name="p1", **kwargs)


@pytest.mark.parametrize("cls", POOLS)
def test_bad_input_shapes(cls):
    layer = cls((3, 4), name="p2")
    with pytest.raises(ValueError, match=r"p2: pool_size: the window along W spans 4 .*padded input's 3"):
        layer.compute_output_shape((7, 3, 2))
    with pytest.raises(ValueError, match=r"p2: input_shape: expected an image \(H, W, C\).*\(7, 3\)"):
        layer.compute_output_shape((7, 3))
    with pytest.raises(ValueError, match=r"g1: input_shape: .*\(5, 2\)"):
        GlobalAveragePool2D(name="g1").compute_output_shape((5, 2))


# -- shapes and dtypes ---------------------------------------------------------------------------
@pytest.mark.parametrize("pool_size, strides, padding, expected", [
    (2, None, "valid", (3, 2, 3)), (2, None, "same", (4, 3, 3)), (3, 1, "same", (7, 5, 3)),
    ((3, 2), [2, 1], "valid", (3, 4, 3)), (3, 2, 1, (4, 3, 3))])
def test_output_shape(pool_size, strides, padding, expected):
    for cls in POOLS:
        layer = cls(pool_size, strides, padding)
        assert layer.compute_output_shape((7, 5, 3)) == expected
        assert layer(np.zeros((2, 7, 5, 3))).shape == (2, *expected)
    assert GlobalAveragePool2D().compute_output_shape((7, 5, 3)) == (3,)


@pytest.mark.parametrize("make", [lambda: MaxPool2D(3, 2, "same"), lambda: AveragePool2D(3, 2, "same"),
                                  lambda: AveragePool2D(2, 1, 1), GlobalAveragePool2D])
def test_float32_stays_float32(make):
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 7, 5, 3)).astype(np.float32)
    layer = make()
    y = layer(x)
    dx = layer.backward(rng.standard_normal(y.shape).astype(np.float32))
    assert y.dtype == dx.dtype == np.float32
    y64 = make()(x.astype(np.float64))
    assert np.max(np.abs(y - y64)) <= 1e-6 * np.max(np.abs(y64))
