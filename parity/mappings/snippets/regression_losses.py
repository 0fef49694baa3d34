import numpy as np
import tensorflow as tf
import torch
import torch.nn.functional as F
import keras
import scratchnet as sn

# Regression and distribution losses on predictions y and targets t of shape (N, C) = (3, 4):
# the loss and dL/dy in all three, float64. Keras takes (y_true, y_pred), torch (input, target);
# Keras averages each sample over the last axis, then over the batch ("sum_over_batch_size").
rng = np.random.default_rng(0)
y = rng.uniform(0.1, 2.0, (3, 4))                # positive: poisson, msle and kl_divergence need it
t = rng.uniform(0.1, 2.0, (3, 4))
p, q = y / y.sum(-1, keepdims=True), t / t.sum(-1, keepdims=True)    # distributions for kl_divergence

def keras_loss(cls, **kw):
    return cls(dtype="float64", **kw)

def per_sample_mean(fn):                         # torch: elementwise, then Keras's reduction
    return lambda yy, tt: fn(yy, tt).mean(-1).mean()

#       spec type: (Keras loss, torch loss(y, t), scratchnet parameters, (y, t) used)
LOSSES = {
    "sum_squared_error": (lambda tt, yy: keras.ops.sum(keras.ops.square(yy - tt)),   # no Keras class
                          lambda yy, tt: torch.nn.MSELoss(reduction="sum")(yy, tt), {}, (y, t)),
    "mean_squared_error": (keras_loss(keras.losses.MeanSquaredError), torch.nn.MSELoss(), {}, (y, t)),
    "mean_absolute_error": (keras_loss(keras.losses.MeanAbsoluteError), torch.nn.L1Loss(), {}, (y, t)),
    "mean_absolute_percentage_error": (keras_loss(keras.losses.MeanAbsolutePercentageError),
                                       per_sample_mean(lambda yy, tt: 100 * (tt - yy).abs() / tt.abs().clamp_min(1e-7)),
                                       {}, (y, t)),
    "mean_squared_logarithmic_error": (keras_loss(keras.losses.MeanSquaredLogarithmicError),
                                       per_sample_mean(lambda yy, tt: (torch.log(yy.clamp_min(1e-7) + 1)
                                                                       - torch.log(tt.clamp_min(1e-7) + 1)) ** 2),
                                       {}, (y, t)),
    "huber": (keras_loss(keras.losses.Huber, delta=0.5), torch.nn.HuberLoss(delta=0.5), {"delta": 0.5}, (y, t)),
    "log_cosh": (keras_loss(keras.losses.LogCosh),
                 per_sample_mean(lambda yy, tt: (yy - tt).abs() + torch.log1p(torch.exp(-2 * (yy - tt).abs()))
                                 - np.log(2.0)), {}, (y, t)),
    "cosine_similarity": (keras_loss(keras.losses.CosineSimilarity, axis=-1),
                          lambda yy, tt: -(F.normalize(yy, dim=-1, eps=1e-7) * F.normalize(tt, dim=-1, eps=1e-7))
                          .sum(-1).mean(), {"axis": -1}, (y, t)),
    "poisson": (keras_loss(keras.losses.Poisson),     # torch's default eps is 1e-8, Keras's 1e-7
                lambda yy, tt: torch.nn.PoissonNLLLoss(log_input=False, eps=1e-7, reduction="none")(yy, tt).mean(-1).mean(),
                {}, (y, t)),
    "kl_divergence": (keras_loss(keras.losses.KLDivergence),          # batchmean: divided by N, as Keras
                      lambda yy, tt: torch.nn.KLDivLoss(reduction="batchmean")(torch.log(yy), tt), {}, (p, q)),
}

# Keras's LogCosh subtracts log 2 computed in float32 (ops.log(2.0)): its value is
# |log(2) - float32(log 2)| = 1.9e-9 off in float64 (its gradient is not)
KERAS_ATOL = {"log_cosh": 2e-9}

for name, (keras_fn, torch_fn, params, (yy, tt)) in LOSSES.items():
    yt = torch.from_numpy(yy).requires_grad_()
    l_torch = torch_fn(yt, torch.from_numpy(tt))
    l_torch.backward()
    yk = tf.constant(yy)
    with tf.GradientTape() as tape:
        tape.watch(yk)
        l_keras = keras_fn(tf.constant(tt), yk)                       # (y_true, y_pred)
    loss = sn.losses.get(name, **params)
    l_sn = loss.forward(tt, yy)                                       # (y_true, y_pred), as Keras
    g_sn = loss.backward()
    np.testing.assert_allclose(l_torch.item(), l_sn, rtol=1e-13, err_msg=name)
    np.testing.assert_allclose(float(l_keras), l_sn, rtol=1e-13, atol=KERAS_ATOL.get(name, 0), err_msg=name)
    np.testing.assert_allclose(yt.grad.numpy(), g_sn, rtol=1e-12, atol=1e-16, err_msg=name)
    np.testing.assert_allclose(tape.gradient(l_keras, yk).numpy(), g_sn, rtol=1e-12, atol=1e-16, err_msg=name)

# torch's reduction="sum" sums every element; Keras's sums the per-sample MEANS: C = 4 times less
assert np.isclose(float(torch.nn.HuberLoss(delta=0.5, reduction="sum")(torch.from_numpy(y), torch.from_numpy(t))),
                  4 * float(keras_loss(keras.losses.Huber, delta=0.5, reduction="sum")(t, y)), rtol=1e-13)
