import numpy as np
import tensorflow as tf
import torch
import torch.nn.functional as F
import keras
import scratchnet as sn

# Hinge, crossentropy and focal losses on (N, C) = (3, 4): the loss and dL/dy in all three, float64.
# Keras takes (y_true, y_pred) and defaults to from_logits=False; torch takes (input, target).
rng = np.random.default_rng(0)
z = rng.standard_normal((3, 4))                            # logits (or hinge scores)
labels = np.array([2, 0, 3])                               # class ids
onehot = np.eye(4)[labels]
bits = rng.integers(0, 2, (3, 4)).astype(np.float64)       # binary targets, 0 or 1
kl = lambda cls, **kw: cls(dtype="float64", **kw)

def focal_binary(zz, tt, gamma=2.0):                       # torch has no focal loss: written from its ops
    p = torch.sigmoid(zz)
    p_t = tt * p + (1 - tt) * (1 - p)
    bce = F.binary_cross_entropy_with_logits(zz, tt, reduction="none")
    return ((1 - p_t) ** gamma * bce).mean(-1).mean()

def focal_categorical(zz, tt, gamma=2.0, alpha=0.25):
    q = torch.softmax(zz, -1).clamp(1e-7, 1 - 1e-7)        # Keras clips q from logits too
    return (alpha * (1 - q) ** gamma * (-tt * torch.log(q))).sum(-1).mean()

hinge_t = 2 * bits - 1                                     # Keras maps 0/1 labels to -1/+1
#       spec type: (Keras loss, torch loss(y, t), scratchnet parameters, Keras/scratchnet target, torch target)
LOSSES = {
    "hinge": (kl(keras.losses.Hinge), lambda yy, tt: (1 - tt * yy).clamp_min(0).mean(-1).mean(), {}, bits, hinge_t),
    "squared_hinge": (kl(keras.losses.SquaredHinge), lambda yy, tt: ((1 - tt * yy).clamp_min(0) ** 2).mean(-1).mean(),
                      {}, bits, hinge_t),
    "categorical_hinge": (kl(keras.losses.CategoricalHinge),
                          lambda yy, tt: (((1 - tt) * yy).amax(-1) - (tt * yy).sum(-1) + 1).clamp_min(0).mean(),
                          {}, onehot, onehot),
    "binary_crossentropy": (kl(keras.losses.BinaryCrossentropy, from_logits=True), torch.nn.BCEWithLogitsLoss(),
                            {"from_logits": True}, bits, bits),
    "sparse_categorical_crossentropy": (kl(keras.losses.SparseCategoricalCrossentropy, from_logits=True),
                                        lambda yy, tt: F.cross_entropy(yy, tt), {"from_logits": True},
                                        labels, torch.from_numpy(labels)),
    "binary_focal_crossentropy": (kl(keras.losses.BinaryFocalCrossentropy, gamma=2.0, from_logits=True), focal_binary,
                                  {"gamma": 2.0, "from_logits": True}, bits, bits),
    "categorical_focal_crossentropy": (kl(keras.losses.CategoricalFocalCrossentropy, gamma=2.0, alpha=0.25,
                                          from_logits=True), focal_categorical,
                                       {"gamma": 2.0, "alpha": 0.25, "from_logits": True}, onehot, onehot),
}
for name, (keras_fn, torch_fn, params, t_keras, t_torch) in LOSSES.items():
    zt = torch.from_numpy(z).requires_grad_()
    l_torch = torch_fn(zt, t_torch if torch.is_tensor(t_torch) else torch.from_numpy(t_torch))
    l_torch.backward()
    zk = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zk)
        l_keras = keras_fn(tf.constant(t_keras), zk)
    loss = sn.losses.get(name, **params)
    l_sn = loss.forward(t_keras, z)
    g_sn = loss.backward()
    np.testing.assert_allclose(l_torch.item(), l_sn, rtol=1e-13, err_msg=name)
    np.testing.assert_allclose(float(l_keras), l_sn, rtol=1e-13, err_msg=name)
    np.testing.assert_allclose(zt.grad.numpy(), g_sn, rtol=1e-12, atol=1e-16, err_msg=name)
    np.testing.assert_allclose(tape.gradient(l_keras, zk).numpy(), g_sn, rtol=1e-12, atol=1e-16, err_msg=name)

# Keras's default from_logits=False expects probabilities: given sigmoid(z) it is the same loss;
# given the logits by mistake it clips them to [1e-7, 1 - 1e-7] and returns another number, no error
right = LOSSES["binary_crossentropy"][0](bits, z).numpy()
assert np.isclose(float(kl(keras.losses.BinaryCrossentropy)(bits, 1 / (1 + np.exp(-z)))), right, rtol=1e-6)
assert abs(float(kl(keras.losses.BinaryCrossentropy)(bits, z)) - right) > 0.1
