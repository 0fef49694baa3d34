"""Conv2D and DepthwiseConv2D: finite differences, hand-derived values, torch, planted bugs,
bad input, dtypes. Sizes differ on every axis so that a wrong transpose cannot hide."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from scratchnet.gradcheck import check_layer
from scratchnet.layers import Conv2D, DepthwiseConv2D, _windows, conv

STRIDES = [1, 2, [2, 1]]
PADDINGS = ["valid", "same", 1, [1, 2]]
SHAPES = {"odd": (2, 7, 5, 4), "even": (2, 6, 8, 4)}  # (N, H, W, C)


def hw(v):
    """An int or an [h, w] pair as (h, w)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def tf_same(size, k, s, d=1):
    """TensorFlow's same padding, written out here independently of scratchnet."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


# -- finite differences ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("padding", PADDINGS, ids=str)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
def test_conv2d_gradcheck(strides, padding, dilation, groups, shape):
    rng = np.random.default_rng(1)
    layer = Conv2D(6, (3, 2), strides=strides, padding=padding, dilation_rate=dilation,
                   groups=groups, bias_initializer="glorot_uniform", rng=rng)
    errors = check_layer(layer, rng.standard_normal(shape), rng)
    assert set(errors) == {"x", "kernel", "bias"}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("kernel_size", [1, (2, 3), 3])
@pytest.mark.parametrize("activation", [None, "tanh", "relu"])  # relu: fused into the convolution
def test_conv2d_gradcheck_kernels_and_activation(kernel_size, activation):
    rng = np.random.default_rng(2)
    layer = Conv2D(5, kernel_size, padding="same", activation=activation, rng=rng,
                   bias_initializer="glorot_uniform")
    errors = check_layer(layer, rng.standard_normal((2, 6, 7, 3)), rng)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("padding", PADDINGS, ids=str)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
def test_depthwise_gradcheck(strides, padding, dilation, shape):
    rng = np.random.default_rng(3)
    layer = DepthwiseConv2D((3, 2), depth_multiplier=3, strides=strides, padding=padding,
                            dilation_rate=dilation, bias_initializer="glorot_uniform", rng=rng)
    errors = check_layer(layer, rng.standard_normal(shape), rng)
    assert set(errors) == {"x", "kernel", "bias"}
    assert max(errors.values()) < 1e-7, errors


# -- values derived by hand --------------------------------------------------------------------
def test_known_single_channel_result():
    # x[i, j] = 4 i + j; kernel [[1, 2], [3, 4]]: y[i, j] = x[i,j] + 2 x[i,j+1] + 3 x[i+1,j]
    # + 4 x[i+1,j+1] = 10 (4 i + j) + 2 + 12 + 20 = 10 (4 i + j) + 34; plus bias 0.5.
    layer = Conv2D(1, 2).build((3, 4, 1))
    layer.set_weights({"kernel": np.array([[1., 2.], [3., 4.]]).reshape(2, 2, 1, 1), "bias": [0.5]})
    y = layer(np.arange(12.0).reshape(1, 3, 4, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[34.5, 44.5, 54.5], [74.5, 84.5, 94.5]])


def test_same_stride2_even_input_pads_bottom_right():
    # H = W = 4, k = 3, s = 2: out = 2, total = (2-1)*2 + 3 - 4 = 1 -> top/left 0, bottom/right 1.
    # Windows cover rows/cols {0,1,2} and {2,3,pad}. With x = 1 and a ones kernel the sums are
    # 9, 6 (3 real rows x 2 real cols), 6, 4. Symmetric top padding would give 6 at [0, 0].
    assert _windows.same_padding(4, 3, 2) == (0, 1)
    layer = Conv2D(1, 3, strides=2, padding="same", use_bias=False).build((4, 4, 1))
    layer.set_weights({"kernel": np.ones((3, 3, 1, 1))})
    y = layer(np.ones((1, 4, 4, 1)))
    np.testing.assert_array_equal(y[0, :, :, 0], [[9., 6.], [6., 4.]])
    # backward with dy = 1: each input cell receives one per window covering it
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 1, 2, 1], [1, 1, 2, 1], [2, 2, 4, 2], [1, 1, 2, 1]])


@pytest.mark.parametrize("size, k, s, d, expected", [
    (4, 3, 2, 1, (0, 1)), (8, 3, 2, 1, (0, 1)), (7, 3, 2, 1, (1, 1)), (5, 3, 1, 2, (2, 2)),
    (5, 1, 2, 1, (0, 0)), (6, 4, 1, 1, (1, 2)), (2, 5, 1, 1, (2, 2))])
def test_same_padding_table(size, k, s, d, expected):
    assert _windows.same_padding(size, k, s, d) == expected


def test_grouped_block_order():
    # C = 4, groups = 2, F = 2, 1x1 kernel[0, 0, c, f] = [[1, 10], [100, 1000]]:
    # y0 = x0 * 1 + x1 * 100 (group 0: channels 0, 1); y1 = x2 * 10 + x3 * 1000 (group 1: 2, 3).
    layer = Conv2D(2, 1, groups=2, use_bias=False).build((1, 1, 4))
    layer.set_weights({"kernel": np.array([[1., 10.], [100., 1000.]]).reshape(1, 1, 2, 2)})
    y = layer(np.array([1., 2., 3., 4.]).reshape(1, 1, 1, 4))
    np.testing.assert_array_equal(y.ravel(), [201., 4030.])


def test_depthwise_channel_order():
    # C = 2, m = 2, 1x1 kernel[0, 0, c, k] = [[1, 10], [100, 1000]], x = (1, 2):
    # output channel c m + k = x_c kernel[c, k] -> (1, 10, 200, 2000).
    layer = DepthwiseConv2D(1, depth_multiplier=2, use_bias=False).build((1, 1, 2))
    layer.set_weights({"kernel": np.array([[1., 10.], [100., 1000.]]).reshape(1, 1, 2, 2)})
    y = layer(np.array([1., 2.]).reshape(1, 1, 1, 2))
    np.testing.assert_array_equal(y.ravel(), [1., 10., 200., 2000.])


def test_dilation_by_hand():
    # 1 x 5 row x = (1, 2, 4, 8, 16), kernel (1, 2) = (1, 1), dilation 2: y_j = x_j + x_{j+2}.
    layer = Conv2D(1, (1, 2), dilation_rate=2, use_bias=False).build((1, 5, 1))
    layer.set_weights({"kernel": np.ones((1, 2, 1, 1))})
    y = layer(np.array([1., 2., 4., 8., 16.]).reshape(1, 1, 5, 1))
    np.testing.assert_array_equal(y.ravel(), [5., 10., 20.])


# -- torch, forward and backward ----------------------------------------------------------------
def torch_conv(x, kernel, bias, strides, padding, dilation, groups, dy):
    """torch's conv2d on the same numbers: NHWC -> NCHW, HWIO -> OIHW, TF 'same' via F.pad."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    kh, kw = kernel.shape[:2]
    (sh, sw), (dh, dw) = hw(strides), hw(dilation)
    h, w = x.shape[1:3]
    if padding == "same":
        (t, b), (l, r) = tf_same(h, kh, sh, dh), tf_same(w, kw, sw, dw)
    elif padding == "valid":
        t = b = l = r = 0
    else:
        ph, pw = hw(padding)
        t, b, l, r = ph, ph, pw, pw
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    wt = torch.tensor(kernel).permute(3, 2, 0, 1).requires_grad_()  # OIHW = HWIO.permute(3,2,0,1)
    bt = torch.tensor(bias).requires_grad_()
    y = F.conv2d(F.pad(xt, (l, r, t, b)), wt, bt, stride=(sh, sw), dilation=(dh, dw), groups=groups)
    y.backward(torch.tensor(dy).permute(0, 3, 1, 2))
    return (y.detach().permute(0, 2, 3, 1).numpy(), xt.grad.permute(0, 2, 3, 1).numpy(),
            wt.grad.permute(2, 3, 1, 0).numpy(), bt.grad.numpy())  # kernel = weight.permute(2,3,1,0)


def assert_close(a, ref, tol=1e-12):
    assert a.shape == ref.shape and a.dtype == ref.dtype
    assert np.max(np.abs(a - ref)) <= tol * np.max(np.abs(ref))


@pytest.mark.parametrize("strides, padding, dilation, groups", [
    (2, "same", 1, 1), ([2, 1], "same", 1, 2), (1, "same", 2, 1), (2, [1, 2], 2, 2),
    (1, "valid", 1, 2), (2, "valid", 1, 1)])
@pytest.mark.parametrize("shape", [(2, 8, 6, 4), (3, 7, 9, 2)])
def test_conv2d_matches_torch(strides, padding, dilation, groups, shape):
    rng = np.random.default_rng(4)
    layer = Conv2D(6, (3, 2), strides=strides, padding=padding, dilation_rate=dilation,
                   groups=groups, bias_initializer="glorot_uniform", rng=rng)
    x = rng.standard_normal(shape)
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref = torch_conv(x, layer.params["kernel"], layer.params["bias"], strides, padding, dilation, groups, dy)
    for mine, theirs in zip((y, dx, layer.grads["kernel"], layer.grads["bias"]), ref):
        assert_close(mine, theirs)


@pytest.mark.parametrize("strides, padding", [(1, "valid"), (2, "same"), ([1, 2], 1)])
def test_depthwise_matches_torch(strides, padding):
    rng = np.random.default_rng(5)
    c, m = 3, 2
    layer = DepthwiseConv2D((3, 2), depth_multiplier=m, strides=strides, padding=padding,
                            bias_initializer="glorot_uniform", rng=rng)
    x = rng.standard_normal((2, 8, 7, c))
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    kernel = layer.params["kernel"]
    # torch: Conv2d(C, C m, groups=C), weight (C m, 1, kh, kw); W[:, 0].transpose(1, 2, 0) is
    # (kh, kw, C m) = kernel.reshape(kh, kw, C m), i.e. the grouped HWIO kernel (kh, kw, 1, C m).
    grouped = kernel.reshape(3, 2, 1, c * m)
    ref_y, ref_dx, ref_dw, ref_db = torch_conv(x, grouped, layer.params["bias"], strides, padding, 1, c, dy)
    assert_close(y, ref_y)
    assert_close(dx, ref_dx)
    assert_close(layer.grads["kernel"], ref_dw.reshape(3, 2, c, m))
    assert_close(layer.grads["bias"], ref_db)


# -- planted bugs: the checks must fail ---------------------------------------------------------
ORIGINAL_BACKWARD = conv.conv2d_backward
ORIGINAL_COL2IM = _windows.col2im_channels_first


def _flipped_kernel_grad(dy, cache):
    dx, dkernel, dbias = ORIGINAL_BACKWARD(dy, cache)
    return dx, dkernel[::-1, ::-1], dbias  # treated dW as a convolution, not a correlation


def _swapped_group_grad(dy, cache):
    dx, dkernel, dbias = ORIGINAL_BACKWARD(dy, cache)
    kh, kw, cg, f = dkernel.shape  # the two groups' filter blocks swapped
    return dx, dkernel.reshape(kh, kw, cg, 2, f // 2)[..., ::-1, :].reshape(dkernel.shape), dbias


def _transposed_dx(dy, cache):
    dx, dkernel, dbias = ORIGINAL_BACKWARD(dy, cache)
    return dx[:, ::-1, ::-1, :], dkernel, dbias  # dx scattered from the flipped window


def _undilated_col2im(dcols, kernel, strides, dilation, out_hw, groups, out):
    return ORIGINAL_COL2IM(dcols, kernel, strides, (1, 1), out_hw, groups, out)  # dropped the dilation


@pytest.mark.parametrize("bug, broken", [
    ("flip", "kernel"), ("groups", "kernel"), ("dx", "x"), ("dilation", "x")])
def test_planted_bugs_are_caught(monkeypatch, bug, broken):
    rng = np.random.default_rng(6)
    layer = Conv2D(6, (3, 2), strides=[2, 1], padding="same", dilation_rate=2 if bug == "dilation" else 1,
                   groups=2, rng=rng)
    x = rng.standard_normal((2, 7, 5, 4))
    assert max(check_layer(layer, x, rng).values()) < 1e-7  # healthy first
    if bug == "dilation":
        monkeypatch.setattr(_windows, "col2im_channels_first", _undilated_col2im)
    else:
        planted = {"flip": _flipped_kernel_grad, "groups": _swapped_group_grad, "dx": _transposed_dx}[bug]
        monkeypatch.setattr(conv, "conv2d_backward", planted)
    errors = check_layer(layer, x, rng)
    assert errors[broken] > 1e-3, errors


def test_planted_depthwise_bug_is_caught(monkeypatch):
    rng = np.random.default_rng(8)
    layer = DepthwiseConv2D((3, 2), depth_multiplier=2, padding="same", rng=rng)
    x = rng.standard_normal((2, 6, 5, 3))
    assert max(check_layer(layer, x, rng).values()) < 1e-7
    monkeypatch.setattr(conv, "conv2d_backward", _flipped_kernel_grad)
    assert check_layer(layer, x, rng)["kernel"] > 1e-3


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(filters=0, kernel_size=3), r"c1: filters: .*got 0"),
    (dict(filters=4, kernel_size=(3, 0)), r"c1: kernel_size: .*\[3, 0\]"),
    (dict(filters=4, kernel_size=3, strides=-1), r"c1: strides: .*-1"),
    (dict(filters=4, kernel_size=3, dilation_rate=0), r"c1: dilation_rate: .*0"),
    (dict(filters=4, kernel_size=3, padding="full"), r"c1: padding: .*'full'"),
    (dict(filters=4, kernel_size=3, padding=-1), r"c1: padding: .*-1"),
    (dict(filters=4, kernel_size=3, groups=3), r"c1: groups: expected a divisor of filters=4, got groups=3"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(name="c1", **kwargs)


@pytest.mark.parametrize("layer, shape, match", [
    (Conv2D(4, 3, name="c2"), (7, 5), r"c2: input_shape: expected an image \(H, W, C\).*\(7, 5\)"),
    (Conv2D(4, 3, groups=2, name="c3"), (7, 5, 3), r"c3: groups: .*C=3, got groups=2"),
    (Conv2D(4, (3, 6), name="c4"), (7, 5, 3),
     r"c4: kernel_size: the window along W spans 6 .*padded input's 5.*expected at most 5"),
    (Conv2D(4, 3, dilation_rate=4, padding=1, name="c5"), (6, 9, 3),
     r"c5: kernel_size: the window along H spans 9 cells \(size 3, dilation 4\).*padded input's 8 \(input 6, padding 1\+1\)"),
    (DepthwiseConv2D(3, name="d1"), (2, 9, 3), r"d1: kernel_size: the window along H spans 3 .*padded input's 2"),
    (DepthwiseConv2D(3, name="d2"), (9, 9, 3, 1), r"d2: input_shape: .*\(9, 9, 3, 1\)"),
])
def test_bad_input_shapes(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer.compute_output_shape(shape)
    with pytest.raises(ValueError, match=match):
        layer.build(shape)


def test_wrong_channel_count_at_call():
    layer = Conv2D(4, 3, name="c6").build((7, 5, 3))
    with pytest.raises(ValueError, match=r"c6: expected input shape \(N, 7, 5, 3\), got \(2, 7, 5, 2\)"):
        layer(np.zeros((2, 7, 5, 2)))


def test_depthwise_bad_multiplier():
    with pytest.raises(ValueError, match=r"d3: depth_multiplier: .*got 0"):
        DepthwiseConv2D(3, depth_multiplier=0, name="d3")


# -- shapes and dtypes ---------------------------------------------------------------------------
@pytest.mark.parametrize("padding, strides, expected", [
    ("valid", 1, (5, 4, 6)), ("same", 1, (7, 5, 6)), ("same", 2, (4, 3, 6)), (1, 2, (4, 3, 6)),
    ([2, 0], [1, 2], (9, 2, 6))])
def test_output_shape(padding, strides, expected):
    layer = Conv2D(6, (3, 2), strides=strides, padding=padding)
    assert layer.compute_output_shape((7, 5, 4)) == expected
    assert layer(np.zeros((2, 7, 5, 4))).shape == (2, *expected)


@pytest.mark.parametrize("make", [
    lambda: Conv2D(6, (3, 2), strides=2, padding="same", groups=2, activation="relu"),
    lambda: DepthwiseConv2D((2, 3), depth_multiplier=2, padding=1, activation="tanh")])
def test_float32_stays_float32(make):
    rng = np.random.default_rng(7)
    layer = make()
    x = rng.standard_normal((2, 7, 5, 4)).astype(np.float32)
    y = layer(x)
    dx = layer.backward(rng.standard_normal(y.shape).astype(np.float32))
    assert y.dtype == dx.dtype == np.float32
    assert all(p.dtype == np.float32 for p in layer.params.values())
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    # and float32 is float64's answer to float32 precision
    ref = make().build(x.shape[1:], "float64")
    ref.set_weights(layer.params)
    y64 = ref(x.astype(np.float64))
    assert np.max(np.abs(y - y64)) <= 1e-5 * np.max(np.abs(y64))


def test_grid_is_nonempty_everywhere():
    # every configuration of the gradcheck grid produces at least one output pixel
    for (strides, padding, dilation, shape) in itertools.product(STRIDES, PADDINGS, [1, 2], SHAPES.values()):
        out = Conv2D(6, (3, 2), strides=strides, padding=padding, dilation_rate=dilation).compute_output_shape(shape[1:])
        assert min(out) >= 1


@pytest.mark.parametrize("make", [lambda b: Conv2D(4, 3, use_bias=b, name="c_bias"),
                                  lambda b: DepthwiseConv2D(3, use_bias=b, name="c_bias")],
                         ids=["conv2d", "depthwise"])
@pytest.mark.parametrize("bad", ["no", 0, None])
def test_use_bias_takes_only_a_bool(make, bad):
    # a truthy "no" used to keep the bias
    with pytest.raises(ValueError, match=rf"^c_bias: use_bias: expected True or False, got {bad!r}$"):
        make(bad)


@pytest.mark.parametrize("make", [lambda b: Conv2D(4, 3, use_bias=b), lambda b: DepthwiseConv2D(3, use_bias=b)],
                         ids=["conv2d", "depthwise"])
def test_use_bias_numpy_bool(make):
    layer = make(np.False_).build((7, 5, 2))
    assert layer.use_bias is False and set(layer.params) == {"kernel"}


# -- the channels-first im2col against the plain channels-last one -----------------------------
WINDOW_CASES = [((3, 2), (1, 1), (1, 1), ((1, 1), (0, 1)), 1), ((2, 3), (2, 1), (1, 2), ((0, 1), (2, 0)), 2),
                ((3, 3), (1, 2), (2, 1), ((1, 2), (1, 1)), 4)]


@pytest.mark.parametrize("kernel, strides, dilation, pads, groups", WINDOW_CASES)
def test_im2col_channels_first_is_the_plain_im2col_transposed(kernel, strides, dilation, pads, groups):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 7, 6, 4))  # (N, H, W, C), distinct sizes
    xp = _windows.pad(x, pads)
    ho, wo = (_windows.output_size(xp.shape[1 + i], kernel[i], strides[i], dilation[i]) for i in range(2))
    k, m = kernel[0] * kernel[1] * 4 // groups, 3 * ho * wo
    plain = _windows.im2col(xp, kernel, strides, dilation, (ho, wo), groups, np.empty((groups, m, k)))
    xt = _windows.pad_channels_first(x, pads)
    assert np.array_equal(xt, xp.transpose(3, 0, 1, 2))
    fast = _windows.im2col_channels_first(xt, kernel, strides, dilation, (ho, wo), groups, np.empty((groups, k, m)))
    assert np.array_equal(fast, plain.transpose(0, 2, 1))


@pytest.mark.parametrize("kernel, strides, dilation, pads, groups", WINDOW_CASES)
def test_col2im_channels_first_is_the_adjoint_of_its_im2col(kernel, strides, dilation, pads, groups):
    """<im2col(x), D> = <x, col2im(D)> for every x and D, and with one group it is the plain col2im."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 7, 6, 4))
    xt = _windows.pad_channels_first(x, pads)
    ho, wo = (_windows.output_size(xt.shape[2 + i], kernel[i], strides[i], dilation[i]) for i in range(2))
    k, m = kernel[0] * kernel[1] * 4 // groups, 3 * ho * wo
    cols = _windows.im2col_channels_first(xt, kernel, strides, dilation, (ho, wo), groups, np.empty((groups, k, m)))
    d = rng.standard_normal(cols.shape)
    back = _windows.col2im_channels_first(d, kernel, strides, dilation, (ho, wo), groups, np.full(xt.shape, np.nan))
    assert np.isclose(np.sum(cols * d), np.sum(xt * back), rtol=1e-12)
    if groups == 1:
        d6 = d[0].reshape(*kernel, 4, 3, ho, wo).transpose(3, 4, 5, 0, 1, 2)  # (N, H_out, W_out, kh, kw, C)
        plain = _windows.col2im(d6, (3, *xt.shape[2:], 4), kernel, strides, dilation)
        assert np.allclose(back.transpose(1, 2, 3, 0), plain, rtol=1e-13, atol=1e-13)


# -- the fast path (chunks of images, run positions, bias row) against the plain formulas ------
FAST_CASES = [  # kernel, strides, dilation, pads, groups
    ((3, 2), (1, 1), (1, 1), ((1, 1), (0, 1)), 1),  # stride 1: run positions
    ((3, 2), (1, 1), (2, 1), ((2, 0), (1, 1)), 2),  # dilated, grouped, asymmetric padding
    ((1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),  # g K < 2 F: channels-first matrix at stride 1
    ((2, 3), (2, 1), (1, 2), ((0, 1), (2, 0)), 2),  # strided: channels-first matrix
    ((3, 3), (1, 2), (2, 1), ((1, 2), (1, 1)), 4),
]


def _fast_and_reference(case, bias, chunk, rng, relu=False, writable=False):
    """The fast path's (y, dx, dkernel, dbias) and the reference's; with ``relu`` the fused ReLU
    against y = max(conv, 0) and the reference backward of dz = dy [y > 0]; ``writable``: the
    backward may write over (a copy of) dy, which it must leave alone otherwise."""
    kernel, strides, dilation, pads, groups = case
    x = rng.standard_normal((5, 9, 7, 4))  # (N, H, W, C), F = 12: distinct sizes
    k = rng.standard_normal((*kernel, 4 // groups, 12))
    b = rng.standard_normal(12) if bias else None
    y, cache = conv.conv2d_forward(x, k, b, strides, pads, dilation, groups, chunk=chunk, relu=relu)
    dy = rng.standard_normal(y.shape)
    given = dy.copy()
    cache[-1]["dy_writable"] = writable
    fast = (y.copy(), *conv.conv2d_backward(given, cache))
    if not writable:
        assert np.array_equal(given, dy)
    ref_y = conv.conv2d_reference(x, k, b, strides, pads, dilation, groups)
    if relu:
        ref_y = np.maximum(ref_y, 0)
        assert 0 < np.count_nonzero(ref_y) < ref_y.size  # both sides of the kink
        dy = dy * (ref_y > 0)
    return fast, (ref_y, *conv.conv2d_backward_reference(dy, x, k, strides, pads, dilation, groups))


@pytest.mark.parametrize("relu, writable", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("chunk", [1, 2, None])  # 5 images: chunks of 1, of 2, 2, 1, one chunk
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", FAST_CASES)
def test_fast_path_is_the_reference(case, bias, chunk, relu, writable):
    fast, ref = _fast_and_reference(case, bias, chunk, np.random.default_rng(13), relu, writable)
    for name, got, want in zip(("y", "dx", "dkernel", "dbias"), fast, ref):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11, err_msg=name)


def test_fast_cases_cover_both_matrix_layouts():
    layouts = {conv.uses_runs(s, kh * kw * 4, 12) for (kh, kw), s, _, _, g in FAST_CASES}  # g K = kh kw C
    assert layouts == {True, False}


def test_reference_is_the_layer_on_hand_values():
    """The reference's formula on a case small enough to write out: a 2x2 all-ones kernel sums
    each 2x2 window; one group, no padding."""
    x = np.arange(12.0).reshape(1, 3, 4, 1)
    y = conv.conv2d_reference(x, np.ones((2, 2, 1, 1)), np.array([0.5]))
    want = np.array([[0 + 1 + 4 + 5, 1 + 2 + 5 + 6, 2 + 3 + 6 + 7],
                     [4 + 5 + 8 + 9, 5 + 6 + 9 + 10, 6 + 7 + 10 + 11]]) + 0.5
    assert np.array_equal(y[0, :, :, 0], want)


def _shifted_im2col_rows(xt, kernel, dilation, out_hw, groups, out):
    return ORIGINAL_IM2COL_ROWS(xt, kernel, (1, 1), out_hw, groups, out)  # dropped the dilation


def _undilated_col2im_rows(dcols, kernel, dilation, out_hw, groups, out):
    return ORIGINAL_COL2IM_ROWS(dcols, kernel, (1, 1), out_hw, groups, out)  # dropped the dilation


def _first_images_chunk_cols(cols, xt, n0, n1, *args):
    return ORIGINAL_CHUNK_COLS(cols, xt, 0, n1 - n0, *args)  # every chunk built from the first images


ORIGINAL_IM2COL_ROWS = _windows.im2col_rows
ORIGINAL_COL2IM_ROWS = _windows.col2im_rows
ORIGINAL_CHUNK_COLS = conv._chunk_cols


@pytest.mark.parametrize("bug, broken", [("im2col_rows", "y"), ("col2im_rows", "dx"), ("_chunk_cols", "dkernel"),
                                        ("_relu_mask", "dkernel")])
def test_planted_fast_path_bugs_are_caught(monkeypatch, bug, broken):
    case = FAST_CASES[1]  # dilated, grouped, run positions
    rng = np.random.default_rng(14)
    planted = {"im2col_rows": (_windows, _shifted_im2col_rows), "col2im_rows": (_windows, _undilated_col2im_rows),
               "_chunk_cols": (conv, _first_images_chunk_cols),
               "_relu_mask": (conv, lambda y: np.greater_equal(y, 0))}  # relu'(0) = 1: dy leaks through y = 0
    module, broken_function = planted[bug]
    monkeypatch.setattr(module, bug, broken_function)
    fast, ref = _fast_and_reference(case, True, 2, rng, relu=bug == "_relu_mask")
    wrong = {name for name, got, want in zip(("y", "dx", "dkernel", "dbias"), fast, ref)
             if not np.allclose(got, want, rtol=1e-11, atol=1e-11)}
    assert broken in wrong


@pytest.mark.parametrize("kernel, dilation, pads, groups", [((3, 2), (1, 1), ((1, 1), (0, 1)), 1),
                                                            ((2, 3), (2, 1), ((0, 2), (1, 0)), 2)])
def test_im2col_rows_is_the_channels_first_matrix_at_the_pixels(kernel, dilation, pads, groups):
    """At run position r = i W_p + j (j < W_out) the run matrix is im2col_channels_first's column
    (n, i, j); and col2im_rows is its adjoint: <im2col_rows(x), D> = <x, col2im_rows(D)>."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((3, 7, 6, 4))  # (N, H, W, C)
    xt = _windows.pad_channels_first(x, pads)
    hp, wp = xt.shape[2:]
    ho, wo = (_windows.output_size(s, k, 1, d) for s, k, d in zip((hp, wp), kernel, dilation))
    k, run = kernel[0] * kernel[1] * 4 // groups, _windows.row_run((hp, wp), (ho, wo))
    rows = _windows.im2col_rows(xt, kernel, dilation, (ho, wo), groups, np.full((groups, k, 3 * run), np.nan))
    plain = _windows.im2col_channels_first(xt, kernel, (1, 1), dilation, (ho, wo), groups, np.empty((groups, k, 3 * ho * wo)))
    at_pixels = _windows.grid_view(rows.reshape(groups * k, 3, run).transpose(1, 2, 0), (ho, wo), wp)  # (N, ho, wo, g k)
    assert np.array_equal(at_pixels.reshape(3 * ho * wo, groups, k).transpose(1, 2, 0), plain)
    d = rng.standard_normal(rows.shape)
    back = _windows.col2im_rows(d, kernel, dilation, (ho, wo), groups, np.full(xt.shape, np.nan))
    assert np.isclose(np.sum(rows * d), np.sum(xt * back), rtol=1e-12)
