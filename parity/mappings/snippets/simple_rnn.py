import numpy as np
import torch
import keras
import scratchnet as sn

# SimpleRNN: x (N, T, F) = (2, 3, 4) into U = 5 units, tanh; h_t = tanh(x_t W + h_{t-1} R + b).
torch.manual_seed(0)
torch_rnn = torch.nn.RNN(4, 5, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
w_ih, w_hh = torch_rnn.weight_ih_l0.detach().numpy(), torch_rnn.weight_hh_l0.detach().numpy()  # (U, F), (U, U)
b_ih, b_hh = torch_rnn.bias_ih_l0.detach().numpy(), torch_rnn.bias_hh_l0.detach().numpy()      # (U,) each
# torch's two biases only ever appear as a sum: Keras has one
keras_rnn = keras.layers.SimpleRNN(5, activation="tanh", dtype="float64")
keras_rnn.build((None, 3, 4))
keras_rnn.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])
sn_rnn = sn.SimpleRNN(5, activation="tanh").build((3, 4), "float64")
sn_rnn.set_weights({"kernel": w_ih.T, "recurrent_kernel": w_hh.T, "bias": b_ih + b_hh})

x = np.random.default_rng(0).standard_normal((2, 3, 4))
out, h_n = torch_rnn(torch.from_numpy(x))
y_torch = out[:, -1].detach().numpy()          # Keras's return_sequences=False: the last step
np.testing.assert_allclose(keras_rnn(x).numpy(), y_torch, rtol=1e-12)
np.testing.assert_allclose(sn_rnn.forward(x), y_torch, rtol=1e-12)
