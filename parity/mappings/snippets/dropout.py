import numpy as np
import torch
import keras
import scratchnet as sn

# Dropout(p = 0.25) on x (N, T, F) = (2, 3, 4): inverted scaling in both frameworks, kept entries
# times 1 / (1 - p) while training, the identity at inference. Each draws its own mask, so the
# parity harness injects one mask into all three; here each framework's own mask is read back.
p = 0.25
x = 1 + np.random.default_rng(0).random((2, 3, 4))            # no zeros: a zero in y means dropped
scale = 1 / (1 - p)

torch_drop = torch.nn.Dropout(p)
torch.manual_seed(0)
y_torch = torch_drop.train()(torch.from_numpy(x)).numpy()
keras_drop = keras.layers.Dropout(p, seed=0, dtype="float64")
y_keras = keras_drop(x, training=True).numpy()
for y in (y_torch, y_keras):
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * scale)   # x * (1/(1-p)), bit for bit (x / (1-p) is 1 ulp off)

# scratchnet takes a mask: torch's, and gives torch's output exactly
sn_drop = sn.Dropout(p).build((3, 4), "float64")
sn_drop.set_mask(y_torch != 0)
np.testing.assert_array_equal(sn_drop.forward(x, training=True), y_torch)
# inference: the identity everywhere
np.testing.assert_array_equal(torch_drop.eval()(torch.from_numpy(x)).numpy(), x)
np.testing.assert_array_equal(keras_drop(x, training=False).numpy(), x)
np.testing.assert_array_equal(sn_drop.forward(x, training=False), x)
