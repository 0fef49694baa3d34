import numpy as np
import torch
import keras
import scratchnet as sn

# Flatten (and Reshape) of an image x (N, H, W, C) = (2, 3, 4, 5). Keras and scratchnet flatten
# channels-last, (H, W, C) order; torch flattens its NCHW tensor in (C, H, W) order.
x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
x_nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
flat_keras = keras.layers.Flatten(dtype="float64")(x).numpy()                        # (N, 60), (H, W, C) order
flat_torch = torch.nn.Flatten()(x_nchw).numpy()                       # (N, 60), (C, H, W) order
# canonical flat index i is torch's flat index perm[i]:
perm = np.arange(5 * 3 * 4).reshape(5, 3, 4).transpose(1, 2, 0).ravel()
np.testing.assert_array_equal(flat_torch[:, perm], flat_keras)
np.testing.assert_array_equal(sn.Flatten().build((3, 4, 5), "float64").forward(x), flat_keras)

# So a Dense after the Flatten takes torch's Linear weight with its rows permuted: kernel = weight.T[perm]
torch.manual_seed(0)
torch_dense = torch.nn.Linear(60, 2, dtype=torch.float64)
y_torch = torch_dense(torch.from_numpy(flat_torch)).detach().numpy()
kernel = torch_dense.weight.detach().numpy().T[perm]
keras_dense = keras.layers.Dense(2, dtype="float64")
keras_dense.build((None, 60))
keras_dense.set_weights([kernel, torch_dense.bias.detach().numpy()])
np.testing.assert_allclose(keras_dense(flat_keras).numpy(), y_torch, rtol=1e-12)

# Reshape: Keras's target shape has no batch axis; torch's reshape acts on its own (NCHW) layout,
# so move the channels last first to get Keras's element order.
y_keras = keras.layers.Reshape((6, 10), dtype="float64")(x).numpy()
y_torch = x_nchw.movedim(1, -1).reshape(2, 6, 10).numpy()
np.testing.assert_array_equal(y_torch, y_keras)
np.testing.assert_array_equal(sn.Reshape((6, 10)).build((3, 4, 5), "float64").forward(x), y_keras)
