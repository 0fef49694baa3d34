import numpy as np
import torch
import keras
import scratchnet as sn

# LayerNormalization over the last two axes of x (N, T, F) = (2, 3, 4); eps passed explicitly
# (Keras 1e-3, torch 1e-5 by default). gamma and beta have the normalised shape (T, F) = (3, 4).
x = np.random.default_rng(0).standard_normal((2, 3, 4))
gamma = 1 + 0.1 * np.random.default_rng(1).standard_normal((3, 4))
beta = 0.1 * np.random.default_rng(2).standard_normal((3, 4))
eps = 1e-3

torch_ln = torch.nn.LayerNorm((3, 4), eps=eps, dtype=torch.float64)   # normalized_shape: trailing dims only
with torch.no_grad():
    torch_ln.weight.copy_(torch.from_numpy(gamma))
    torch_ln.bias.copy_(torch.from_numpy(beta))
keras_ln = keras.layers.LayerNormalization(axis=[-2, -1], epsilon=eps, dtype="float64")
keras_ln.build((None, 3, 4))
keras_ln.set_weights([gamma, beta])                                   # the same arrays, no transpose
sn_ln = sn.LayerNormalization(axis=[-2, -1], epsilon=eps).build((3, 4), "float64")
sn_ln.set_weights({"gamma": gamma, "beta": beta})

# y = gamma (x - mean) / sqrt(var + eps) + beta, mean and (biased) var over each sample's (T, F)
mean = x.mean(axis=(1, 2), keepdims=True)
var = x.var(axis=(1, 2), keepdims=True)
expected = gamma * (x - mean) / np.sqrt(var + eps) + beta
np.testing.assert_allclose(torch_ln(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-12)
np.testing.assert_allclose(keras_ln(x).numpy(), expected, rtol=1e-12)
np.testing.assert_allclose(sn_ln.forward(x), expected, rtol=1e-12)
