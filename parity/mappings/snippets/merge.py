import numpy as np
import tensorflow as tf
import torch
import keras
import scratchnet as sn

# The merges of three inputs (N, T, F) = (2, 3, 4): Keras layers called on a list, torch tensor
# ops (torch has no merge modules), scratchnet merge layers (nodes of a scratchnet.Model).
rng = np.random.default_rng(0)
xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
ts = [torch.from_numpy(a) for a in xs]
#         spec type: (Keras layer, torch op, scratchnet layer)
MERGES = {
    "add": (keras.layers.Add(dtype="float64"), lambda t: t[0] + t[1] + t[2], sn.Add()),
    "subtract": (keras.layers.Subtract(dtype="float64"), lambda t: t[0] - t[1], sn.Subtract()),   # exactly two
    "multiply": (keras.layers.Multiply(dtype="float64"), lambda t: t[0] * t[1] * t[2], sn.Multiply()),
    "average": (keras.layers.Average(dtype="float64"), lambda t: (t[0] + t[1] + t[2]) / 3, sn.Average()),
    "maximum": (keras.layers.Maximum(dtype="float64"), lambda t: torch.stack(t).amax(0), sn.Maximum()),
    "minimum": (keras.layers.Minimum(dtype="float64"), lambda t: torch.stack(t).amin(0), sn.Minimum()),
    "concatenate": (keras.layers.Concatenate(axis=-1, dtype="float64"), lambda t: torch.cat(t, dim=-1),
                    sn.Concatenate(axis=-1)),
}
for name, (keras_layer, torch_op, sn_layer) in MERGES.items():
    k = 2 if name == "subtract" else 3
    y_keras = keras_layer(xs[:k]).numpy()
    y_torch = torch_op(ts[:k]).numpy()
    y_sn = sn_layer.build([(3, 4)] * k, "float64").forward(xs[:k])
    np.testing.assert_allclose(y_keras, y_torch, rtol=1e-13, err_msg=name)
    np.testing.assert_allclose(y_sn, y_torch, rtol=1e-13, err_msg=name)

# On NCHW images torch concatenates channels along dim 1 (Keras's axis -1 of NHWC)
imgs = [rng.standard_normal((2, 3, 4, c)) for c in (2, 5)]
y_torch = torch.cat([torch.from_numpy(a.transpose(0, 3, 1, 2)) for a in imgs], dim=1).numpy().transpose(0, 2, 3, 1)
np.testing.assert_array_equal(keras.layers.Concatenate(axis=-1, dtype="float64")(imgs).numpy(), y_torch)

# A tie in maximum (no derivative there): TF gives the whole gradient to the first input, torch's
# amax splits it equally; scratchnet follows either (convention="keras" | "torch").
a = np.array([[1.0, 2.0]])
b = np.array([[1.0, 0.5]])                       # tie at the first element
ta, tb = torch.from_numpy(a).requires_grad_(), torch.from_numpy(b).requires_grad_()
torch.stack([ta, tb]).amax(0).sum().backward()
va, vb = tf.constant(a), tf.constant(b)
with tf.GradientTape() as tape:
    tape.watch([va, vb])
    out = tf.reduce_sum(keras.layers.Maximum(dtype="float64")([va, vb]))
ga, gb = tape.gradient(out, [va, vb])
np.testing.assert_array_equal(ta.grad.numpy(), [[0.5, 1.0]])
np.testing.assert_array_equal(tb.grad.numpy(), [[0.5, 0.0]])
np.testing.assert_array_equal(ga.numpy(), [[1.0, 1.0]])
np.testing.assert_array_equal(gb.numpy(), [[0.0, 0.0]])
for convention, want in (("keras", [[1.0, 1.0]]), ("torch", [[0.5, 1.0]])):
    m = sn.Maximum(convention=convention).build([(2,), (2,)], "float64")
    m.forward([a, b])
    np.testing.assert_array_equal(m.backward(np.ones((1, 2)))[0], want)
