import numpy as np
import tensorflow as tf
import torch
import torch.nn as nn
import torch.nn.functional as F
import keras
import scratchnet as sn

# 2-D pooling on x (N, H, W, C) = (2, 5, 7, 3): Keras and scratchnet channels-last, torch NCHW.
x = np.random.default_rng(0).standard_normal((2, 5, 7, 3))
to_nchw = lambda a: torch.from_numpy(a.transpose(0, 3, 1, 2).copy())
to_nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)

def grads(y_shape, torch_fn, keras_layer, sn_layer, nchw=True):
    """Forward and dL/dx of L = sum(w * y) in all three; torch_fn maps an NCHW tensor."""
    w = np.random.default_rng(1).standard_normal(y_shape)
    xt = to_nchw(x).requires_grad_()
    yt = torch_fn(xt)
    yt_nhwc = to_nhwc(yt) if nchw else yt.detach().numpy()
    (yt * (to_nchw(w) if nchw else torch.from_numpy(w))).sum().backward()
    xk = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xk)
        yk = keras_layer(xk)
        lk = tf.reduce_sum(yk * w)
    ys = sn_layer.build((5, 7, 3), "float64").forward(x)
    dxs = sn_layer.backward(w)
    for got in (yt_nhwc, yk.numpy()):
        np.testing.assert_allclose(got, ys, rtol=1e-13, atol=1e-15)
    for got in (to_nhwc(xt.grad), tape.gradient(lk, xk).numpy()):
        np.testing.assert_allclose(got, dxs, rtol=1e-13, atol=1e-15)

# "same" with pool 2, stride 2: TF's rule, total = (ceil(5/2) - 1) 2 + 2 - 5 = 1 row -> top 0, bottom 1
# (and 1 column: left 0, right 1). torch pads only symmetrically: pad explicitly, -inf for max.
max_same = nn.Sequential(nn.ConstantPad2d((0, 1, 0, 1), float("-inf")), nn.MaxPool2d(2, stride=2))
grads((2, 3, 4, 3), max_same, keras.layers.MaxPooling2D(2, strides=2, padding="same", dtype="float64"),
      sn.MaxPool2D(2, strides=2, padding="same"))
# valid, overlapping windows (pool 3, stride 2): the same constructor arguments in all three
grads((2, 2, 3, 3), nn.MaxPool2d(3, stride=2),
      keras.layers.MaxPooling2D(3, strides=2, padding="valid", dtype="float64"), sn.MaxPool2D(3, strides=2))

# average "same": TF leaves the padded cells out of each window's count (torch counts them by
# default: count_include_pad=True). Asymmetric: the sum of the padded x over the count of real cells.
def avg_same(t):
    p = (0, 1, 0, 1)                                            # (left, right, top, bottom)
    total = F.avg_pool2d(F.pad(t, p), 2, 2, divisor_override=1)
    count = F.avg_pool2d(F.pad(torch.ones_like(t), p), 2, 2, divisor_override=1)
    return total / count
grads((2, 3, 4, 3), avg_same, keras.layers.AveragePooling2D(2, strides=2, padding="same", dtype="float64"),
      sn.AveragePool2D(2, strides=2, padding="same"))
# symmetric padding (pool 3, stride 1, "same": one cell each side) fits torch's own module
grads((2, 5, 7, 3), nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
      keras.layers.AveragePooling2D(3, strides=1, padding="same", dtype="float64"), sn.AveragePool2D(3, strides=1, padding="same"))

# global pools: (N, C) out; torch has no class of that name: a mean / amax over H and W of NCHW
grads((2, 3), lambda t: t.mean(dim=(2, 3)), keras.layers.GlobalAveragePooling2D(dtype="float64"),
      sn.GlobalAveragePool2D(), nchw=False)
grads((2, 3), lambda t: t.amax(dim=(2, 3)), keras.layers.GlobalMaxPooling2D(dtype="float64"),
      sn.GlobalMaxPool2D(), nchw=False)
