import numpy as np
import torch
import keras
import scratchnet as sn

# Worked example: p = 1, gradient 1 at every step, momentum 0.5, two steps.
# Keras (velocity in update units): m = 0.5 m - lr g; p += m.   torch (gradient units): b = 0.5 b + g; p -= lr b.
# lr 0.125 then 0.125: Keras m = -0.125, -0.1875 -> p = 0.6875; torch b = 1, 1.5 -> p = 1 - 0.125 - 0.1875 = 0.6875.
# lr 0.125 then 0.25:  Keras m = -0.125, -0.3125 -> p = 0.5625; torch p = 0.875 - 0.25 * 1.5 = 0.5.
# They agree while the learning rate is constant, and only then.
def keras_sgd(lrs):
    var = keras.Variable(np.array([1.0]), dtype="float64")
    opt = keras.optimizers.SGD(learning_rate=lrs[0], momentum=0.5)
    for lr in lrs:
        opt.learning_rate = lr
        opt.apply_gradients([(keras.ops.ones((1,), dtype="float64"), var)])
    return float(var.numpy()[0])


def torch_sgd(lrs):
    p = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=0.5, dampening=0.0)
    for lr in lrs:
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
    return float(p.detach()[0])


def scratch_sgd(lrs, convention):
    p = np.array([1.0])
    opt = sn.optimizers.get("sgd", learning_rate=lrs[0], momentum=0.5, convention=convention)
    for lr in lrs:
        opt.learning_rate = lr
        opt.apply({"p": p}, {"p": np.ones(1)})
    return float(p[0])


assert keras_sgd([0.125, 0.125]) == torch_sgd([0.125, 0.125]) == 0.6875
assert keras_sgd([0.125, 0.25]) == scratch_sgd([0.125, 0.25], "keras") == 0.5625
assert torch_sgd([0.125, 0.25]) == scratch_sgd([0.125, 0.25], "torch") == 0.5
