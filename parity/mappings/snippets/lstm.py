import numpy as np
import torch
import keras
import scratchnet as sn

# Worked example: one step, one feature, one unit; gate blocks in the order i, f, c (g), o.
x1 = np.array([[[1.0]]])                          # (N, T, F) = (1, 1, 1)
w = np.array([[0.5, -0.5, 1.0, 2.0]])             # kernel (F, 4U); recurrent kernel and bias zero
sig = lambda a: 1 / (1 + np.exp(-a))
# h_0 = c_0 = 0: c_1 = f*0 + i*g = sig(0.5) tanh(1) = 0.4741, h_1 = o tanh(c_1) = sig(2) tanh(0.4741) = 0.38885
worked = sig(2.0) * np.tanh(sig(0.5) * np.tanh(1.0))
assert abs(worked - 0.38885) < 1e-5
sn_one = sn.LSTM(1).build((1, 1), "float64")
sn_one.set_weights({"kernel": w, "recurrent_kernel": np.zeros((1, 4)), "bias": np.zeros(4)})
np.testing.assert_allclose(sn_one.forward(x1), [[worked]])

# The weight copy, from torch's random weights: N=2, T=3, F=4, U=5 (distinct sizes).
torch.manual_seed(0)
torch_lstm = torch.nn.LSTM(4, 5, batch_first=True, dtype=torch.float64)
w_ih, w_hh = torch_lstm.weight_ih_l0.detach().numpy(), torch_lstm.weight_hh_l0.detach().numpy()  # (4U, F), (4U, U)
b_ih, b_hh = torch_lstm.bias_ih_l0.detach().numpy(), torch_lstm.bias_hh_l0.detach().numpy()      # (4U,) each
# torch's gate order i, f, g, o is Keras's i, f, c, o: transpose, and add the two biases.
keras_lstm = keras.layers.LSTM(5, dtype="float64")
keras_lstm.build((None, 3, 4))
keras_lstm.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])
sn_lstm = sn.LSTM(5).build((3, 4), "float64")
sn_lstm.set_weights({"kernel": w_ih.T, "recurrent_kernel": w_hh.T, "bias": b_ih + b_hh})

x = np.random.default_rng(0).standard_normal((2, 3, 4))
out, (h_n, c_n) = torch_lstm(torch.from_numpy(x))
y_torch = out[:, -1].detach().numpy()            # Keras's return_sequences=False: the last step
np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_lstm(x)), y_torch, rtol=1e-12)
np.testing.assert_allclose(sn_lstm.forward(x), y_torch, rtol=1e-12)
