import numpy as np
import torch
import torch.nn as nn
import keras
import scratchnet as sn

# UpSampling2D and ZeroPadding2D on x (N, H, W, C) = (2, 3, 4, 5); torch on NCHW.
x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
x_nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
to_nhwc = lambda t: t.numpy().transpose(0, 2, 3, 1)

for mode in ("nearest", "bilinear"):
    # align_corners=False is Keras's sampling map (torch's align_corners=True aligns the corners instead)
    torch_up = nn.Upsample(scale_factor=(2, 3), mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    y_torch = to_nhwc(torch_up(x_nchw))                                         # (N, 6, 12, C)
    y_keras = keras.layers.UpSampling2D(size=(2, 3), interpolation=mode, dtype="float64")(x).numpy()
    y_sn = sn.UpSampling2D((2, 3), interpolation=mode).build((3, 4, 5), "float64").forward(x)
    # Keras's bilinear goes through tf.image.resize, which computes in float32 even in a float64 model
    keras_tol = {"rtol": 1e-6, "atol": 1e-6} if mode == "bilinear" else {"rtol": 1e-12, "atol": 1e-15}
    np.testing.assert_allclose(y_keras, y_torch, **keras_tol, err_msg=mode)
    np.testing.assert_allclose(y_sn, y_torch, rtol=1e-12, atol=1e-15, err_msg=mode)

# ZeroPadding2D: Keras ((top, bottom), (left, right)), H first; torch (left, right, top, bottom), W first
y_keras = keras.layers.ZeroPadding2D(padding=((1, 2), (3, 0)), dtype="float64")(x).numpy()   # (N, 6, 7, C)
y_torch = to_nhwc(nn.ZeroPad2d((3, 0, 1, 2))(x_nchw))
y_sn = sn.ZeroPadding2D(((1, 2), (3, 0))).build((3, 4, 5), "float64").forward(x)
np.testing.assert_array_equal(y_keras, y_torch)
np.testing.assert_array_equal(y_sn, y_torch)
