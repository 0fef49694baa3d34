import numpy as np
import torch
import keras
import scratchnet as sn

# Worked example (reset_after=True): one step, one feature, one unit, h_0 = 0; blocks z, r, h.
x1 = np.array([[[1.0]]])
kernel1 = np.array([[1.0, 2.0, 0.5]])              # (F, 3U): z, r, h
bias1 = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.25]])   # row 0: input bias, row 1: recurrent bias
sig = lambda a: 1 / (1 + np.exp(-a))
# z = sig(1), r = sig(2), hh = tanh(0.5 + r * (0 + 0.25)), h_1 = z * 0 + (1 - z) * hh = 0.16595
worked = (1 - sig(1.0)) * np.tanh(0.5 + sig(2.0) * 0.25)
assert abs(worked - 0.16595) < 1e-5
sn_one = sn.GRU(1).build((1, 1), "float64")
sn_one.set_weights({"kernel": kernel1, "recurrent_kernel": np.zeros((1, 3)), "bias": bias1})
np.testing.assert_allclose(sn_one.forward(x1), [[worked]])

# The weight copy from torch: torch's gate blocks are r, z, n; Keras's are z, r, h.
torch.manual_seed(0)
torch_gru = torch.nn.GRU(4, 5, batch_first=True, dtype=torch.float64)
U = 5
def zrh(a):                                        # torch [r, z, n] blocks -> Keras [z, r, h]
    r, z, n = a[:U], a[U:2 * U], a[2 * U:]
    return np.concatenate([z, r, n])
w_ih, w_hh = torch_gru.weight_ih_l0.detach().numpy(), torch_gru.weight_hh_l0.detach().numpy()
b_ih, b_hh = torch_gru.bias_ih_l0.detach().numpy(), torch_gru.bias_hh_l0.detach().numpy()
weights = [zrh(w_ih).T, zrh(w_hh).T, np.stack([zrh(b_ih), zrh(b_hh)])]   # (F, 3U), (U, 3U), (2, 3U)
keras_gru = keras.layers.GRU(5, reset_after=True, dtype="float64")
keras_gru.build((None, 3, 4))
keras_gru.set_weights(weights)
sn_gru = sn.GRU(5, reset_after=True).build((3, 4), "float64")
sn_gru.set_weights(dict(zip(["kernel", "recurrent_kernel", "bias"], weights)))

x = np.random.default_rng(0).standard_normal((2, 3, 4))
y_torch = torch_gru(torch.from_numpy(x))[0][:, -1].detach().numpy()
np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_gru(x)), y_torch, rtol=1e-12)
np.testing.assert_allclose(sn_gru.forward(x), y_torch, rtol=1e-12)
