import numpy as np
import torch
import keras
import scratchnet as sn

# Worked example: one parameter p = 1, gradient 0.5, lr 0.1, beta_1 0.9, beta_2 0.999, epsilon 0.1
# (a large epsilon, to make the two conventions visible), one step.
lr, b1, b2, eps, g, t = 0.1, 0.9, 0.999, 0.1, 0.5, 1
m, v = (1 - b1) * g, (1 - b2) * g ** 2                # 0.05, 0.00025
m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)   # 0.5, 0.25
p_torch = 1 - lr * m_hat / (np.sqrt(v_hat) + eps)     # 1 - 0.1 * 0.5 / 0.6 = 0.916667
# Keras adds its epsilon (the paper's eps_hat) to sqrt(v), before the bias correction:
p_keras = 1 - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)   # 0.986347
# = torch's update with eps_t = eps / sqrt(1 - b2^t) (3.16 at t = 1, -> eps as t grows): no constant
# torch eps reproduces Keras's Adam.
assert abs(p_torch - 0.916667) < 1e-6 and abs(p_keras - 0.986347) < 1e-6

p = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
torch_adam = torch.optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps)
p.grad = torch.tensor([g], dtype=torch.float64)
torch_adam.step()

var = keras.Variable(np.array([1.0]), dtype="float64")
keras_adam = keras.optimizers.Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
keras_adam.apply_gradients([(keras.ops.convert_to_tensor(np.array([g])), var)])

params = {"p": np.array([1.0]), "q": np.array([1.0])}
sn.optimizers.get("adam", learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps).apply(
    {"p": params["p"]}, {"p": np.array([g])})
sn.optimizers.get("adam", learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps, convention="torch").apply(
    {"q": params["q"]}, {"q": np.array([g])})

np.testing.assert_allclose(p.detach().numpy(), [p_torch], rtol=1e-12)
np.testing.assert_allclose(params["q"], [p_torch], rtol=1e-12)
np.testing.assert_allclose(params["p"], [p_keras], rtol=1e-12)
np.testing.assert_allclose(var.numpy(), [p_keras], rtol=1e-7)  # TF rounds beta_1, beta_2 via float32
