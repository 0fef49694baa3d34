import numpy as np
import torch
import keras
import scratchnet as sn

# Conv2DTranspose on x (N, H, W, C_in) = (2, 4, 3, 5) to F = 2 filters, kernel 3, stride 2.
x = np.random.default_rng(0).standard_normal((2, 4, 3, 5))
torch.manual_seed(0)
torch_tconv = torch.nn.ConvTranspose2d(5, 2, 3, stride=2, padding=0, dtype=torch.float64)  # weight (C_in, F, kh, kw)
kernel = torch_tconv.weight.detach().numpy().transpose(2, 3, 1, 0)   # Keras's (kh, kw, F, C_in): OUTPUT channels first
bias = torch_tconv.bias.detach().numpy()
y_full = torch_tconv(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy().transpose(0, 2, 3, 1)
# the full output: (H - 1) s + k = 9 rows, 7 columns; Keras "valid" is exactly that (H s + max(k - s, 0))
assert y_full.shape == (2, 9, 7, 2)

keras_valid = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="valid", dtype="float64")
keras_valid.build((None, 4, 3, 5))
keras_valid.set_weights([kernel, bias])
np.testing.assert_allclose(keras_valid(x).numpy(), y_full, rtol=1e-12)

# Keras "same": H_out = H s = 8; total = 9 - 8 = 1 cut, top = total // 2 = 0 from the start, 1 from the end.
# No torch (padding, output_padding) gives it (padding cuts the same count from both ends):
# crop the full output as TF does.
keras_same = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64")
keras_same.build((None, 4, 3, 5))
keras_same.set_weights([kernel, bias])
np.testing.assert_allclose(keras_same(x).numpy(), y_full[:, 0:8, 0:6], rtol=1e-12)

sn_tconv = sn.Conv2DTranspose(2, 3, strides=2, padding="same").build((4, 3, 5), "float64")
sn_tconv.set_weights({"kernel": kernel, "bias": bias})
np.testing.assert_allclose(sn_tconv.forward(x), y_full[:, 0:8, 0:6], rtol=1e-12)
