"""Optimizers in all three frameworks, and where their update rules part.

Every hyperparameter is passed explicitly (SGD's default learning rate alone differs: torch 1e-3,
Keras 0.01). scratchnet runs each trajectory in the Keras convention (its canonical one) and,
where the two frameworks' rules differ for the given hyperparameters, a second time in the torch
convention (backend ``scratch[torch]``), so each framework is checked strictly against a
from-scratch twin and the torch-keras pair is reported as a convention difference with both
formulas and its measured size.

When the rules part (``conventions_differ``):
- sgd: momentum kept in gradient units (torch: b = mu b + g; p -= lr b) or update units (Keras:
  m = mu m - lr g; p += m): identical while lr is constant. Weight decay: torch couples it
  (g += wd p), Keras decouples it (p -= lr wd p): identical without momentum, not with it.
- rmsprop: eps inside the root (Keras sqrt(v + eps)) or outside (torch sqrt(v) + eps): differ
  unless eps = 0.
- adam / adamw: Keras's eps_hat is torch's eps * sqrt(1 - beta_2^t), which changes every step:
  differ unless eps is negligible (the catalog uses 1e-30 to show exact agreement).
- adagrad: eps inside (Keras) vs outside (torch) the root; differ unless eps = 0.

TensorFlow casts some Python-float hyperparameters through float32 even in float64 math
(measured: SGD momentum, Adam betas, weight_decay, Adagrad's initial accumulator; not the
learning rate, rho or epsilon): a float64 case whose values float32 cannot hold exactly is a
stated Keras-side deviation, its size measured by rerunning scratchnet with the rounded values
(``tf_rounded``; ``parity.run.rounding_deviation``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from parity.mappings.base import Atlas, float32_representable, snippet

TF_ROUNDED = ("momentum", "beta_1", "beta_2", "weight_decay", "initial_accumulator_value")


@dataclass(frozen=True)
class OptimizerMapping:
    type: str
    atlas: Atlas
    torch: Callable[[list, dict], Any]  # (torch params, spec params) -> torch.optim.Optimizer
    keras: Callable[[dict], Any]  # spec params -> keras optimizer
    differ: Callable[[dict], str | None]  # why the torch and Keras rules part here, or None

    def scratch(self, params: dict, convention: str):
        from scratchnet import optimizers

        p = dict(params)
        if "weight_decay" in p and not p["weight_decay"]:
            p["weight_decay"] = None
        # Keras's Adam(weight_decay) is decoupled, i.e. AdamW, which is also what torch runs for it
        name = "adamw" if self.type == "adam" and p.get("weight_decay") else self.type
        return optimizers.get(name, **p, convention=convention)

    def tf_rounded(self, params: dict, dtype: str) -> dict | None:
        """The hyperparameters as TensorFlow uses them in a float64 case (those in TF_ROUNDED
        through float32), or None when that changes none of them. ``parity.run`` reruns scratchnet
        with them to measure the Keras-side deviation this causes."""
        if dtype != "float64":
            return None
        rounded = {k: float(np.float32(params[k])) for k in TF_ROUNDED
                   if k in params and not float32_representable(params[k])}
        return {**params, **rounded} if rounded else None


def _wd(p):
    return p.get("weight_decay") or None


def _torch_sgd(params, p):
    import torch
    return torch.optim.SGD(params, lr=p["learning_rate"], momentum=p["momentum"], dampening=0.0,
                           nesterov=p["nesterov"], weight_decay=p["weight_decay"])


def _torch_rmsprop(params, p):
    import torch
    return torch.optim.RMSprop(params, lr=p["learning_rate"], alpha=p["rho"], eps=p["epsilon"],
                               momentum=p["momentum"], centered=p["centered"])


def _torch_adam(params, p):
    import torch
    betas = (p["beta_1"], p["beta_2"])
    if p.get("weight_decay"):  # Keras's Adam weight decay is decoupled: torch's AdamW
        return torch.optim.AdamW(params, lr=p["learning_rate"], betas=betas, eps=p["epsilon"], weight_decay=p["weight_decay"])
    return torch.optim.Adam(params, lr=p["learning_rate"], betas=betas, eps=p["epsilon"])


def _torch_adamw(params, p):
    import torch
    return torch.optim.AdamW(params, lr=p["learning_rate"], betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"],
                             weight_decay=p["weight_decay"])


def _torch_adagrad(params, p):
    import torch
    return torch.optim.Adagrad(params, lr=p["learning_rate"], initial_accumulator_value=p["initial_accumulator_value"],
                               eps=p["epsilon"])


def _keras(name):
    def build(p):
        import keras
        kwargs = dict(p)
        if "weight_decay" in kwargs and name != "AdamW":  # Keras's AdamW refuses None; 0.0 is exact
            kwargs["weight_decay"] = _wd(p)
        return getattr(keras.optimizers, name)(**kwargs)
    return build


def _eps_differs(p):
    return (f"epsilon={p['epsilon']} sits inside the root in Keras, outside in torch" if p["epsilon"] > 0 else None)


def _adam_differs(p):
    return (f"Keras's eps_hat = torch's eps * sqrt(1 - beta_2^t) changes every step (epsilon={p['epsilon']})"
            if p["epsilon"] > 1e-20 else None)


def _sgd_differs(p):
    if p["momentum"] > 0 and p["weight_decay"] > 0:
        return "weight decay is coupled (g += wd p) in torch and decoupled (p -= lr wd p) in Keras, and momentum carries it"
    return None


MAPPINGS: dict[str, OptimizerMapping] = {m.type: m for m in [
    OptimizerMapping("sgd", Atlas(
        "sgd", "Keras: m = mu m - lr g; p += m  (nesterov: p += mu m - lr g); decay p -= lr wd p first\n"
               "torch: b = mu b + g (b = g at step 1); p -= lr b  (nesterov: p -= lr (g + mu b)); decay g += wd p",
        "scratchnet.optimizers.SGD(learning_rate, momentum, nesterov, weight_decay, convention)",
        "torch.optim.SGD(params, lr, momentum, dampening=0, nesterov, weight_decay)",
        "keras.optimizers.SGD(learning_rate, momentum, nesterov, weight_decay)",
        defaults="lr: torch 1e-3, Keras 0.01", aliases=("SGD",), snippet=snippet("sgd"), notes=(
            "Momentum: Keras keeps the velocity in update units (m = mu m - lr g), torch in gradient units (b = mu b + g, "
            "stepped by lr b). m = -lr b exactly while the learning rate is constant, so the two agree only then: with a "
            "schedule, Keras's velocity carries each step's own lr and torch multiplies the whole sum by today's lr")),
        _torch_sgd, _keras("SGD"), _sgd_differs),
    OptimizerMapping("rmsprop", Atlas(
        "rmsprop", "v = rho v + (1 - rho) g^2 (centered: minus mg^2, mg = rho mg + (1-rho) g)\n"
                   "Keras: p -= lr g / sqrt(v + eps)    torch: p -= lr g / (sqrt(v) + eps)",
        "scratchnet.optimizers.RMSprop(learning_rate, rho, momentum, epsilon, centered, convention)",
        "torch.optim.RMSprop(params, lr, alpha=rho, eps, momentum, centered)",
        "keras.optimizers.RMSprop(learning_rate, rho, momentum, epsilon, centered)",
        defaults="lr 1e-2 vs 1e-3, alpha 0.99 vs rho 0.9, eps 1e-8 (outside) vs 1e-7 (inside)"),
        _torch_rmsprop, _keras("RMSprop"), _eps_differs),
    OptimizerMapping("adam", Atlas(
        "adam", "m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2\n"
                "Keras: p -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps_hat)\n"
                "torch: p -= lr m_hat / (sqrt(v_hat) + eps), m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)",
        "scratchnet.optimizers.Adam(learning_rate, beta_1, beta_2, epsilon, weight_decay, convention)",
        "torch.optim.Adam(params, lr, betas=(beta_1, beta_2), eps)  (AdamW when weight_decay > 0)",
        "keras.optimizers.Adam(learning_rate, beta_1, beta_2, epsilon, weight_decay)",
        defaults="eps 1e-8 (torch) vs 1e-7 (Keras); torch Adam(weight_decay) is coupled L2, Keras's decoupled",
        snippet=snippet("adam"), aliases=("Adam",), notes=(
            "eps_hat is Keras's `epsilon`: the paper's epsilon-hat (Kingma & Ba, end of section 2), added to sqrt(v_t) "
            "before the bias correction, where torch adds its eps to sqrt(v_hat_t) after it. Keras's update is torch's "
            "with eps_t = eps_hat / sqrt(1 - beta_2^t), which changes every step (31.6 eps_hat at t = 1 with beta_2 = "
            "0.999, tending to eps_hat): no constant torch eps reproduces Keras's Adam; the two agree only where eps is "
            "negligible next to sqrt(v_hat) (the catalog's opt-adam uses 1e-30). The snippet works one step by hand"),
        latex=(r"m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,\quad \hat m_t = \frac{m_t}{1 - \beta_1^t},\quad \hat v_t = \frac{v_t}{1 - \beta_2^t}" "\n"
               r"\text{torch: } p_t = p_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}" "\n"
               r"\text{Keras: } p_t = p_{t-1} - \eta\, \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}\, \frac{m_t}{\sqrt{v_t} + \hat\epsilon} = p_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \hat\epsilon / \sqrt{1 - \beta_2^t}}")),
        _torch_adam, _keras("Adam"), _adam_differs),
    OptimizerMapping("adamw", Atlas(
        "adamw", "p -= lr wd p; then the Adam step (see adam)",
        "scratchnet.optimizers.AdamW(learning_rate, beta_1, beta_2, epsilon, weight_decay, convention)",
        "torch.optim.AdamW(params, lr, betas, eps, weight_decay)",
        "keras.optimizers.AdamW(learning_rate, weight_decay, beta_1, beta_2, epsilon)",
        defaults="weight_decay 1e-2 (torch) vs 4e-3 (Keras)"), _torch_adamw, _keras("AdamW"), _adam_differs),
    OptimizerMapping("adagrad", Atlas(
        "adagrad", "acc += g^2;  Keras: p -= lr g / sqrt(acc + eps)    torch: p -= lr g / (sqrt(acc) + eps)",
        "scratchnet.optimizers.Adagrad(learning_rate, initial_accumulator_value, epsilon, convention)",
        "torch.optim.Adagrad(params, lr, initial_accumulator_value, eps)",
        "keras.optimizers.Adagrad(learning_rate, initial_accumulator_value, epsilon)",
        defaults="initial accumulator 0 (torch) vs 0.1 (Keras); eps 1e-10 outside vs 1e-7 inside"),
        _torch_adagrad, _keras("Adagrad"), _eps_differs),
]}
