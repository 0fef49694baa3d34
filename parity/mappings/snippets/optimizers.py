import numpy as np
import torch
import keras
import scratchnet as sn

# Three steps of each optimizer on one parameter (2, 3) with fixed gradients, float64: torch against
# scratchnet's convention="torch", Keras against convention="keras" (where the two frameworks differ,
# e.g. RMSprop's epsilon inside or outside the root, each convention is one of them). The
# hyperparameters are float32-representable: TF rounds some of them through float32.
lr, rho, b1, b2, eps, wd = 0.125, 0.875, 0.75, 0.875, 2.0 ** -10, 0.0625
p0 = np.random.default_rng(0).standard_normal((2, 3))
grads = [np.random.default_rng(k).standard_normal((2, 3)) for k in (1, 2, 3)]

def lion_torch(params):  # torch has no Lion: the paper's Program 1 (Chen et al. 2023) in torch ops
    class Lion(torch.optim.Optimizer):
        @torch.no_grad()
        def step(self):
            for w in self.param_groups[0]["params"]:
                m = self.state[w].setdefault("m", torch.zeros_like(w))
                w.add_(torch.sign(b1 * m + (1 - b1) * w.grad), alpha=-lr)
                m.mul_(b2).add_(w.grad, alpha=1 - b2)
    return Lion(params, {})

#    spec type: (torch optimizer(params), Keras optimizer, scratchnet arguments)
OPTIMIZERS = {
    "rmsprop": (lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=rho, eps=eps, momentum=0.5, centered=True),
                keras.optimizers.RMSprop(learning_rate=lr, rho=rho, momentum=0.5, epsilon=eps, centered=True),
                dict(learning_rate=lr, rho=rho, momentum=0.5, epsilon=eps, centered=True)),
    "adamw": (lambda ps: torch.optim.AdamW(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd),
              keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd, beta_1=b1, beta_2=b2, epsilon=eps),
              dict(learning_rate=lr, weight_decay=wd, beta_1=b1, beta_2=b2, epsilon=eps)),
    "adagrad": (lambda ps: torch.optim.Adagrad(ps, lr=lr, initial_accumulator_value=0.25, eps=eps),
                keras.optimizers.Adagrad(learning_rate=lr, initial_accumulator_value=0.25, epsilon=eps),
                dict(learning_rate=lr, initial_accumulator_value=0.25, epsilon=eps)),
    # momentum_decay=1.0: Keras's fixed 0.96 ** t momentum schedule; decoupled: Keras's weight decay
    "nadam": (lambda ps: torch.optim.NAdam(ps, lr=lr, betas=(b1, b2), eps=eps, weight_decay=0.0,
                                           momentum_decay=1.0, decoupled_weight_decay=True),
              keras.optimizers.Nadam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps),
              dict(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)),
    "adamax": (lambda ps: torch.optim.Adamax(ps, lr=lr, betas=(b1, b2), eps=eps),
               keras.optimizers.Adamax(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps),
               dict(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)),
    "adadelta": (lambda ps: torch.optim.Adadelta(ps, lr=lr, rho=rho, eps=eps),
                 keras.optimizers.Adadelta(learning_rate=lr, rho=rho, epsilon=eps),
                 dict(learning_rate=lr, rho=rho, epsilon=eps)),
    "lion": (lion_torch, keras.optimizers.Lion(learning_rate=lr, beta_1=b1, beta_2=b2),
             dict(learning_rate=lr, beta_1=b1, beta_2=b2)),
}

# Keras on TF makes the 0.96 of Nadam's u_t float32's 0.9599999785: scratchnet follows with tf_float32_decay
KERAS_ONLY = {"nadam": {"tf_float32_decay": True}}
# torch keeps each parameter's step count in the default dtype: float32 would round NAdam's mu_t
previous = torch.get_default_dtype()
torch.set_default_dtype(torch.float64)
try:
    for name, (make_torch, keras_opt, kwargs) in OPTIMIZERS.items():
        w = torch.tensor(p0, requires_grad=True)
        torch_opt = make_torch([w])
        var = keras.Variable(p0, dtype="float64")
        sn_torch, sn_keras = p0.copy(), p0.copy()
        opt_t = sn.optimizers.get(name, convention="torch", **kwargs)
        opt_k = sn.optimizers.get(name, convention="keras", **kwargs, **KERAS_ONLY.get(name, {}))
        for g in grads:
            w.grad = torch.from_numpy(g)
            torch_opt.step()
            keras_opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
            opt_t.apply({"w": sn_torch}, {"w": g})
            opt_k.apply({"w": sn_keras}, {"w": g})
        np.testing.assert_allclose(w.detach().numpy(), sn_torch, rtol=1e-12, atol=1e-15, err_msg=f"{name}: torch")
        np.testing.assert_allclose(var.numpy(), sn_keras, rtol=1e-12, atol=1e-15, err_msg=f"{name}: keras")
finally:
    torch.set_default_dtype(previous)
