import numpy as np
import torch
import torch.nn.functional as F
import keras
import scratchnet as sn

# Conv1D on x (N, T, C) = (2, 7, 3), 4 filters of size 3, stride 2, "same" padding.
# TF's "same" on T = 7, k = 3, s = 2: T_out = ceil(7 / 2) = 4, total = (4 - 1) 2 + 3 - 7 = 2 -> lo 1, hi 1.
x = np.random.default_rng(0).standard_normal((2, 7, 3))
torch.manual_seed(0)
torch_conv = torch.nn.Conv1d(3, 4, 3, stride=2, padding=1, dtype=torch.float64)   # weight (F, C, k) = (4, 3, 3)
kernel = torch_conv.weight.detach().numpy().transpose(2, 1, 0)                   # Keras's (k, C, F)
bias = torch_conv.bias.detach().numpy()

keras_conv = keras.layers.Conv1D(4, 3, strides=2, padding="same", dtype="float64")
keras_conv.build((None, 7, 3))
keras_conv.set_weights([kernel, bias])
sn_conv = sn.Conv1D(4, 3, strides=2, padding="same").build((7, 3), "float64")
sn_conv.set_weights({"kernel": kernel, "bias": bias})

# torch's Conv1d takes (N, C, T): transpose in and out
y_torch = torch_conv(torch.from_numpy(x).transpose(1, 2)).transpose(1, 2).detach().numpy()   # (N, T_out, F)
np.testing.assert_allclose(keras_conv(x).numpy(), y_torch, rtol=1e-12)
np.testing.assert_allclose(sn_conv.forward(x), y_torch, rtol=1e-12)

# "causal" (Keras only): (k - 1) d zeros on the left; torch pads by hand, here with dilation 2.
torch_causal = torch.nn.Conv1d(3, 4, 3, dilation=2, dtype=torch.float64)
keras_causal = keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, dtype="float64")
keras_causal.build((None, 7, 3))
keras_causal.set_weights([torch_causal.weight.detach().numpy().transpose(2, 1, 0), torch_causal.bias.detach().numpy()])
y_causal = torch_causal(F.pad(torch.from_numpy(x).transpose(1, 2), (4, 0))).transpose(1, 2).detach().numpy()
np.testing.assert_allclose(keras_causal(x).numpy(), y_causal, rtol=1e-12)
