import numpy as np
import torch
import keras
import scratchnet as sn

# Bidirectional LSTM: x (N, T, F) = (2, 3, 4), U = 5 units each way, merge_mode "concat".
torch.manual_seed(0)
torch_bi = torch.nn.LSTM(4, 5, batch_first=True, bidirectional=True, dtype=torch.float64)

def lstm_weights(suffix):   # the LSTM rule (gate order i, f, g, o is Keras's i, f, c, o) per direction
    get = lambda name: getattr(torch_bi, name + suffix).detach().numpy()
    return [get("weight_ih_l0").T, get("weight_hh_l0").T, get("bias_ih_l0") + get("bias_hh_l0")]

keras_bi = keras.layers.Bidirectional(keras.layers.LSTM(5, dtype="float64"), merge_mode="concat", dtype="float64")
keras_bi.build((None, 3, 4))
keras_bi.forward_layer.set_weights(lstm_weights(""))
keras_bi.backward_layer.set_weights(lstm_weights("_reverse"))
sn_bi = sn.Bidirectional(sn.LSTM(5), merge_mode="concat").build((3, 4), "float64")
names = ("kernel", "recurrent_kernel", "bias")
sn_bi.set_weights({**{f"forward/{n}": a for n, a in zip(names, lstm_weights(""))},
                   **{f"backward/{n}": a for n, a in zip(names, lstm_weights("_reverse"))}})

x = np.random.default_rng(0).standard_normal((2, 3, 4))
out, (h_n, c_n) = torch_bi(torch.from_numpy(x))
# without return_sequences Keras gives each direction's final state: h_n[0] (after t = T) and
# h_n[1] (the reverse pass ends at t = 1): NOT out[:, -1], whose reverse half has seen one step
y_torch = torch.cat([h_n[0], h_n[1]], dim=-1).detach().numpy()                # (N, 2U)
assert np.allclose(out[:, 0, 5:].detach().numpy(), h_n[1].detach().numpy())
np.testing.assert_allclose(keras_bi(x).numpy(), y_torch, rtol=1e-12)
np.testing.assert_allclose(sn_bi.forward(x), y_torch, rtol=1e-12)
