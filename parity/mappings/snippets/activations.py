import numpy as np
import tensorflow as tf
import torch
import torch.nn as nn
import keras
import scratchnet as sn

# Every activation: torch module, Keras layer and scratchnet layer, forward and dL/dx compared in
# float64 on x (N, T, F) = (2, 3, 5) (distinct sizes), L = sum(w * y) so that dL/dy = w.
x = 3 * np.random.default_rng(0).standard_normal((2, 3, 5))
w = np.random.default_rng(1).standard_normal((2, 3, 5))
a = 0.25  # leaky_relu slope; elu and celu alpha (float32-representable: TF keeps it as float32)

def act(f):  # a Keras activation layer in float64 (without dtype= Keras computes in float32)
    return keras.layers.Activation(f, dtype="float64")

#      spec type: (torch module, Keras layer, scratchnet parameters)
PAIRS = {
    "sigmoid": (nn.Sigmoid(), act("sigmoid"), {}),
    "tanh": (nn.Tanh(), act("tanh"), {}),
    "relu": (nn.ReLU(), act("relu"), {}),
    "leaky_relu": (nn.LeakyReLU(negative_slope=a),
                   act(lambda t: keras.activations.leaky_relu(t, negative_slope=a)), {"negative_slope": a}),
    "elu": (nn.ELU(alpha=a), act(lambda t: keras.activations.elu(t, alpha=a)), {"alpha": a}),
    "selu": (nn.SELU(), act("selu"), {}),
    "gelu": (nn.GELU(approximate="none"), act(lambda t: keras.activations.gelu(t, approximate=False)),
             {"approximate": False}),
    "softplus": (nn.Softplus(beta=1.0, threshold=40.0), act("softplus"), {}),   # torch: x itself above threshold
    "silu": (nn.SiLU(), act("silu"), {}),
    "hard_sigmoid": (nn.Hardsigmoid(), act("hard_sigmoid"), {}),   # relu6(x + 3) / 6 in both
    "relu6": (nn.ReLU6(), act("relu6"), {}),
    "hard_silu": (nn.Hardswish(), act("hard_silu"), {}),
    "softsign": (nn.Softsign(), act("softsign"), {}),
    "log_sigmoid": (nn.LogSigmoid(), act("log_sigmoid"), {}),
    "celu": (nn.CELU(alpha=a), act(lambda t: keras.activations.celu(t, alpha=a)), {"alpha": a}),
    "hard_tanh": (nn.Hardtanh(min_val=-1.0, max_val=1.0), act("hard_tanh"), {}),
    "mish": (nn.Mish(), act("mish"), {}),
    "softmax": (nn.Softmax(dim=-1), keras.layers.Softmax(axis=-1, dtype="float64"), {"axis": -1}),
    "log_softmax": (nn.LogSoftmax(dim=-1), act(lambda t: keras.activations.log_softmax(t, axis=-1)), {"axis": -1}),
}
# measured float64 differences, each explained in the atlas entry's defaults: TF's exact GELU uses a
# float32 1/sqrt(2) (erf's argument 6e-8 relative off: 1.1e-9 absolute here), torch's Hardsigmoid
# backward a float32 1/6 (3e-8 relative)
TOL = {"gelu": (1e-7, 1e-8), "hard_sigmoid": (1e-7, 1e-15)}

def torch_run(module):
    xt = torch.from_numpy(x).requires_grad_()
    y = module(xt)
    (y * torch.from_numpy(w)).sum().backward()
    return y.detach().numpy(), xt.grad.numpy()

def keras_run(layer):
    xk = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xk)
        y = layer(xk)
        loss = tf.reduce_sum(y * w)
    return y.numpy(), tape.gradient(loss, xk).numpy()

def scratch_run(name, params):
    layer = sn.Activation(name, **params).build((3, 5), "float64")
    return layer.forward(x), layer.backward(w)

for name, (torch_module, keras_layer, params) in PAIRS.items():
    (yt, dxt), (yk, dxk), (ys, dxs) = torch_run(torch_module), keras_run(keras_layer), scratch_run(name, params)
    rtol, atol = TOL.get(name, (1e-13, 1e-15))
    for what, got, want in (("torch y", yt, ys), ("keras y", yk, ys), ("torch dx", dxt, dxs), ("keras dx", dxk, dxs)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{name}: {what}")

# The "activation" type names any of them: {"type": "activation", "activation": "elu", "alpha": 0.25}
# is keras.layers.Activation(lambda t: keras.activations.elu(t, alpha=0.25)) and nn.ELU(alpha=0.25).
np.testing.assert_allclose(keras_run(act(lambda t: keras.activations.elu(t, alpha=a)))[0],
                           sn.Activation("elu", alpha=a).build((3, 5), "float64").forward(x), rtol=1e-13)

# softmax over channels on an image: Keras's axis -1 of NHWC is torch's dim 1 of NCHW.
img = np.random.default_rng(2).standard_normal((2, 3, 4, 5))                    # (N, H, W, C)
y_torch = nn.Softmax(dim=1)(torch.from_numpy(img.transpose(0, 3, 1, 2))).numpy()  # (N, C, H, W)
y_keras = keras.layers.Softmax(axis=-1, dtype="float64")(img).numpy()
np.testing.assert_allclose(y_torch.transpose(0, 2, 3, 1), y_keras, rtol=1e-13)
