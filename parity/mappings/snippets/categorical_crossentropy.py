import numpy as np
import torch
import torch.nn.functional as F
import keras

# Worked example: one sample, logits z = [2, 0, -1], true class 0.
z = np.array([[2.0, 0.0, -1.0]])
t = np.array([[1.0, 0.0, 0.0]])                       # one-hot
# L = -log softmax(z)_0 = log(e^2 + e^0 + e^-1) - 2 = 0.1698
right = np.log(np.exp(2.0) + 1.0 + np.exp(-1.0)) - 2.0
assert abs(right - 0.16984) < 1e-5

# Keras takes (y_true, y_pred) and defaults to from_logits=False:
keras_logits = keras.losses.CategoricalCrossentropy(from_logits=True)
assert abs(float(keras_logits(t, z)) - right) < 1e-6   # Keras losses compute in floatx, float32
# the default reads the logits as probabilities: divides by their sum (1 here), clips to [1e-7, 1 - 1e-7]
# and returns -log(1 - 1e-7) = 1e-7: a wrong loss, and no error
keras_default = keras.losses.CategoricalCrossentropy()
assert float(keras_default(t, z)) < 1e-6

# torch takes (input, target): the prediction first; F.cross_entropy always takes logits
assert abs(float(F.cross_entropy(torch.from_numpy(z), torch.tensor([0]))) - right) < 1e-12
assert abs(float(F.cross_entropy(torch.from_numpy(z), torch.from_numpy(t))) - right) < 1e-12   # probability targets
