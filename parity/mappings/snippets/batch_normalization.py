import numpy as np
import torch
import keras
import scratchnet as sn

# Worked example: a batch of two values in one channel, training mode.
x = np.array([[1.0], [3.0]])                  # (N, C) = (2, 1): mean 2, biased variance 1, unbiased 2
gamma, beta, eps = np.array([2.0]), np.array([0.5]), 1e-3
# y = gamma (x - mean) / sqrt(var + eps) + beta, with the biased variance in all three frameworks
expected = gamma * (x - 2.0) / np.sqrt(1.0 + eps) + beta            # [[-1.4990], [2.4990]]
# Running statistics (Keras momentum 0.99 = weight kept on the old value; torch momentum = 1 - 0.99):
# moving_mean = 0.99 * 0 + 0.01 * 2 = 0.02 in both; moving_variance: Keras 0.99 * 1 + 0.01 * 1 = 1.0
# (biased), torch 0.99 * 1 + 0.01 * 2 = 1.01 (unbiased): a convention, not a bug.

sn_bn = sn.BatchNormalization(momentum=0.99, epsilon=eps).build((1,), "float64")
sn_bn.set_weights({"gamma": gamma, "beta": beta, "moving_mean": [0.0], "moving_variance": [1.0]})
torch_bn = torch.nn.BatchNorm1d(1, eps=eps, momentum=0.01, dtype=torch.float64).train()
with torch.no_grad():
    torch_bn.weight.copy_(torch.from_numpy(gamma))
    torch_bn.bias.copy_(torch.from_numpy(beta))
keras_bn = keras.layers.BatchNormalization(momentum=0.99, epsilon=eps, dtype="float64")
keras_bn.build((None, 1))
keras_bn.set_weights([gamma, beta, np.zeros(1), np.ones(1)])   # gamma, beta, moving_mean, moving_variance

np.testing.assert_allclose(sn_bn.forward(x, training=True), expected)
np.testing.assert_allclose(torch_bn(torch.from_numpy(x)).detach().numpy(), expected)
np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_bn(x, training=True)), expected)
np.testing.assert_allclose(sn_bn.state["moving_mean"], [0.02])
np.testing.assert_allclose(sn_bn.state["moving_variance"], [1.0])
np.testing.assert_allclose(keras_bn.moving_variance.numpy(), [1.0])
np.testing.assert_allclose(torch_bn.running_var.numpy(), [1.01])
np.testing.assert_allclose(torch_bn.running_mean.numpy(), [0.02])
