import numpy as np
import torch
import keras
import scratchnet as sn

# Worked example: one sample with 2 features into 3 units.
x = np.array([[1.0, 2.0]])                     # (N, I) = (1, 2)
kernel = np.array([[1.0, 0.0, -1.0],
                   [2.0, 1.0, 0.0]])           # (I, U): the Keras and scratchnet layout
bias = np.array([0.5, 0.0, -0.5])              # (U,)
# z = x W + b = [1*1 + 2*2 + 0.5, 1*0 + 2*1 + 0, 1*(-1) + 2*0 - 0.5]
expected = np.array([[5.5, 2.0, -1.5]])

sn_dense = sn.Dense(3).build((2,), "float64")
sn_dense.set_weights({"kernel": kernel, "bias": bias})

torch_dense = torch.nn.Linear(2, 3, dtype=torch.float64)
with torch.no_grad():
    torch_dense.weight.copy_(torch.from_numpy(kernel.T))   # torch keeps weight (U, I) = kernel.T
    torch_dense.bias.copy_(torch.from_numpy(bias))

keras_dense = keras.layers.Dense(3, dtype="float64")
keras_dense.build((None, 2))
keras_dense.set_weights([kernel, bias])

np.testing.assert_allclose(sn_dense.forward(x), expected)
np.testing.assert_allclose(torch_dense(torch.from_numpy(x)).detach().numpy(), expected)
np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_dense(x)), expected)
