import numpy as np
import torch
import torch.nn.functional as F
import keras
import scratchnet as sn

# Worked example: 'same' padding with stride 2 on a 4x4 image, a 3x3 kernel of ones, no bias.
x = np.arange(1.0, 17.0).reshape(1, 4, 4, 1)     # (N, H, W, C), rows 1..4, 5..8, 9..12, 13..16
kernel = np.ones((3, 3, 1, 1))                   # (kh, kw, C, F): Keras and scratchnet
# TensorFlow's rule: H_out = ceil(4 / 2) = 2, total = (2 - 1) * 2 + 3 - 4 = 1 row: top 0, bottom 1
# (the odd row and column go to the bottom and right).
# y[0,0] = 1+2+3+5+6+7+9+10+11 = 54, y[0,1] = 3+4+7+8+11+12 = 45,
# y[1,0] = 9+10+11+13+14+15 = 72,    y[1,1] = 11+12+15+16 = 54
expected = np.array([[54.0, 45.0], [72.0, 54.0]]).reshape(1, 2, 2, 1)

sn_conv = sn.Conv2D(1, 3, strides=2, padding="same", use_bias=False).build((4, 4, 1), "float64")
sn_conv.set_weights({"kernel": kernel})

keras_conv = keras.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False, dtype="float64")
keras_conv.build((None, 4, 4, 1))
keras_conv.set_weights([kernel])

# torch refuses padding="same" with stride 2: pad (left 0, right 1, top 0, bottom 1) explicitly.
torch_conv = torch.nn.Conv2d(1, 1, 3, stride=2, padding=0, bias=False, dtype=torch.float64)
with torch.no_grad():
    torch_conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))   # (F, C, kh, kw)
x_nchw = torch.from_numpy(x.transpose(0, 3, 1, 2))
y_torch = torch_conv(F.pad(x_nchw, (0, 1, 0, 1))).detach().numpy().transpose(0, 2, 3, 1)

np.testing.assert_allclose(sn_conv.forward(x), expected)
np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_conv(x)), expected)
np.testing.assert_allclose(y_torch, expected)
try:
    torch.nn.Conv2d(1, 1, 3, stride=2, padding="same")
except ValueError:
    pass  # "padding='same' is not supported for strided convolutions"
else:
    raise AssertionError("torch accepted padding='same' with stride 2")

# At stride 1 torch's padding="same" also puts the extra cell right/bottom (left = total // 2):
# a 2x2 kernel (total 1) is bit-identical to explicit padding (left 0, right 1, top 0, bottom 1).
w2 = torch.from_numpy(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
same = F.conv2d(x_nchw, w2, padding="same")
assert torch.equal(same, F.conv2d(F.pad(x_nchw, (0, 1, 0, 1)), w2))
assert not torch.equal(same, F.conv2d(F.pad(x_nchw, (1, 0, 1, 0)), w2))
