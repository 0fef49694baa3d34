import numpy as np
import tensorflow as tf
import torch
import torch.nn as nn
import torch.nn.functional as F
import keras
import scratchnet as sn

# 1-D pooling on x (N, T, C) = (2, 7, 3): Keras and scratchnet (N, T, C); torch pools (N, C, T).
x = np.random.default_rng(0).standard_normal((2, 7, 3))

def grads(y_shape, torch_fn, keras_layer, sn_layer):
    """Forward and dL/dx of L = sum(w * y) in all three; torch_fn maps an (N, T, C) tensor."""
    w = np.random.default_rng(1).standard_normal(y_shape)
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch_fn(xt)
    (yt * torch.from_numpy(w)).sum().backward()
    xk = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xk)
        yk = keras_layer(xk)
        lk = tf.reduce_sum(yk * w)
    ys = sn_layer.build((7, 3), "float64").forward(x)
    dxs = sn_layer.backward(w)
    for got in (yt.detach().numpy(), yk.numpy()):
        np.testing.assert_allclose(got, ys, rtol=1e-13, atol=1e-15)
    for got in (xt.grad.numpy(), tape.gradient(lk, xk).numpy()):
        np.testing.assert_allclose(got, dxs, rtol=1e-13, atol=1e-15)

nct = lambda t: t.transpose(1, 2)                     # (N, T, C) <-> (N, C, T)
# "same", pool 2, stride 2 on T = 7: total = (4 - 1) 2 + 2 - 7 = 1 -> lo 0, hi 1 (pad -inf for max)
grads((2, 4, 3), lambda t: nct(nn.MaxPool1d(2, stride=2)(F.pad(nct(t), (0, 1), value=float("-inf")))),
      keras.layers.MaxPooling1D(2, strides=2, padding="same", dtype="float64"), sn.MaxPool1D(2, strides=2, padding="same"))
grads((2, 3, 3), lambda t: nct(nn.MaxPool1d(3, stride=2)(nct(t))),
      keras.layers.MaxPooling1D(3, strides=2, padding="valid", dtype="float64"), sn.MaxPool1D(3, strides=2))
# average "same": padded cells are not counted in TF; torch's module counts them unless told not to
grads((2, 7, 3), lambda t: nct(nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)(nct(t))),
      keras.layers.AveragePooling1D(3, strides=1, padding="same", dtype="float64"),
      sn.AveragePool1D(3, strides=1, padding="same"))
# asymmetric (lo 0, hi 1): mean of the zero-padded x over the mean of the zero-padded ones = sum / count
grads((2, 4, 3), lambda t: nct(F.avg_pool1d(F.pad(nct(t), (0, 1)), 2, 2)
                               / F.avg_pool1d(F.pad(torch.ones_like(nct(t)), (0, 1)), 2, 2)),
      keras.layers.AveragePooling1D(2, strides=2, padding="same", dtype="float64"),
      sn.AveragePool1D(2, strides=2, padding="same"))
# global pools over T: (N, C) out
grads((2, 3), lambda t: t.mean(dim=1), keras.layers.GlobalAveragePooling1D(dtype="float64"), sn.GlobalAveragePool1D())
grads((2, 3), lambda t: t.amax(dim=1), keras.layers.GlobalMaxPooling1D(dtype="float64"), sn.GlobalMaxPool1D())
