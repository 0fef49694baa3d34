"""Optimizers in all three frameworks, and where their update rules part.

Every hyperparameter is passed explicitly (SGD's default learning rate alone differs: torch 1e-3,
Keras 0.01). scratchnet runs each trajectory in the Keras convention (its canonical one) and,
where the two frameworks' rules differ for the given hyperparameters, a second time in the torch
convention (backend ``scratch[torch]``), so each framework is checked strictly against a
from-scratch twin and the torch-keras pair is reported as a convention difference with both
formulas and its measured size.

When the rules part (``OptimizerMapping.differ``):
- sgd: momentum kept in gradient units (torch: b = mu b + g; p -= lr b) or update units (Keras:
  m = mu m - lr g; p += m): identical while lr is constant (a schedule changes it). Weight decay:
  torch couples it (g += wd p), Keras decouples it (p -= lr wd p): identical without momentum.
- rmsprop: eps inside the root (Keras sqrt(v + eps)) or outside (torch sqrt(v) + eps): differ
  unless eps = 0; momentum in update or gradient units, as SGD's, under a schedule.
- adam / adamw: Keras's eps_hat is torch's eps * sqrt(1 - beta_2^t), which changes every step:
  differ unless eps is negligible (the catalog uses 1e-30 to show exact agreement).
- adagrad: eps inside (Keras) vs outside (torch) the root; differ unless eps = 0.
- nadam: torch's NAdam with ``momentum_decay=1`` (default 0.004: 9.3e-4 apart after one step)
  and ``decoupled_weight_decay=True`` is Keras's update, but Keras on TF rounds the 0.96 of its u_t
  through float32 (not in u_product): a convention (1.7e-9 in float64), the keras twin following TF.
- adamax: eps inside torch's max(b2 u, |g| + eps), added to the norm in Keras (u + eps);
  weight decay coupled in torch's Adamax (it has no decoupled form).
- adadelta: the same formula; weight decay coupled in torch.
- lion: torch has no Lion; its side here is the paper's Program 1 written in torch ops
  (``LionPaper``), so a Lion case has two independent implementations (scratchnet, Keras) and
  this project's transcription.
- clipnorm / global_clipnorm: torch's ``clip_grad_norm_`` (per parameter for clipnorm, over all
  for global_clipnorm) scales by c / (N + 1e-6), Keras by c / max(N, c). clipvalue is the same.
- schedules: the torch side sets every parameter group's lr to the schedule's value before each
  ``optimizer.step()`` (the update of step t uses schedule(t - 1), Keras's counting; torch's own
  schedulers step per call and are recursive, see ``scratchnet.optimizers.schedules``). Keras on
  TF computes a schedule in float32 even for float64 variables (2.8e-10 relative in a step of
  opt-schedule-exponential): a stated Keras deviation in float64, measured by rerunning with the
  values rounded to float32 (``tf_rounded``).
- exclude_from_weight_decay: Keras's re.search of the strings on each variable's name; torch: the
  matching parameters in a group with weight_decay 0. No difference.

TensorFlow casts some Python-float hyperparameters through float32 even in float64 math
(measured: SGD momentum, Adam betas, weight_decay, Adagrad's initial accumulator; not the
learning rate, rho or epsilon): in a float64 case whose values float32 cannot hold exactly, a
Keras row that fails strictly is a deviation only when scratchnet, torch and Keras rerun with the
rounded values (``tf_rounded``) agree strictly on it (rule ``tf-rounding`` of
``parity.compare.RULES``, applied in ``parity.run._tf_rounding``).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from parity.mappings.base import Atlas, float32_representable, snippet

TF_ROUNDED = ("momentum", "beta_1", "beta_2", "weight_decay", "initial_accumulator_value")
CLIP_FIELDS = ("clipnorm", "clipvalue", "global_clipnorm")
TORCH_CLIP_EPS = 1e-6  # clip_grad_norm_: max_norm / (total_norm + 1e-6)


def own_params(p: dict) -> dict:
    """The optimizer's own hyperparameters: the spec's, less the options every optimizer takes."""
    return {k: v for k, v in p.items() if k not in (*CLIP_FIELDS, "exclude_from_weight_decay")}


def _wd(p):
    return p.get("weight_decay") or None


# -- learning-rate schedules: the torch side's values, written from Keras's formulas ----------------
def schedule_value(schedule: dict, s: int) -> float:
    """The learning rate after ``s`` updates (the torch side sets it before update s + 1); in a
    ``tf_rounded`` rerun (``"tf_float32": true``) the value Keras on TF computes, in float32
    arithmetic (``scratchnet.optimizers.schedules.Rounded``: the rerun's one float32 evaluation)."""
    if schedule.get("tf_float32"):
        return _scratch_schedule(schedule)(s)
    return _schedule_value(schedule, s)


def _schedule_value(schedule: dict, s: int) -> float:
    kind = schedule["schedule"]
    lr0 = schedule.get("initial_learning_rate")
    if kind == "exponential_decay":
        p = s / schedule["decay_steps"]
        return lr0 * schedule["decay_rate"] ** (math.floor(p) if schedule["staircase"] else p)
    if kind == "cosine_decay":
        decay_steps, alpha = schedule["decay_steps"], schedule["alpha"]
        target, warmup = schedule["warmup_target"], schedule["warmup_steps"]
        if target is None:
            start, s_decay = lr0, min(s, decay_steps)
        else:
            s = min(s, decay_steps + warmup)
            if s < warmup:
                return (target - lr0) * (s / warmup) + lr0
            start, s_decay = target, s - warmup
        return start * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s_decay / decay_steps)) + alpha)
    for boundary, value in zip(schedule["boundaries"], schedule["values"]):
        if s <= boundary:
            return value
    return schedule["values"][-1]


def _scratch_schedule(schedule: dict):
    from scratchnet.optimizers import schedules

    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in schedule.items()
              if k not in ("schedule", "tf_float32")}
    made = schedules.get(schedule["schedule"], **kwargs)
    return schedules.Rounded(made) if schedule.get("tf_float32") else made


def _keras_schedule(schedule: dict):
    import keras

    s = keras.optimizers.schedules
    kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in schedule.items()
          if k not in ("schedule", "tf_float32")}  # Keras rounds to float32 anyway
    return {"exponential_decay": s.ExponentialDecay, "cosine_decay": s.CosineDecay,
            "piecewise_constant_decay": s.PiecewiseConstantDecay}[schedule["schedule"]](**kw)


# -- the torch side: an optimizer plus what Keras does inside apply_gradients ----------------------
class TorchStep:
    """A ``torch.optim`` optimizer and the steps a torch training loop writes around it, in Keras's
    order: set each group's lr to the schedule's value (update t uses schedule(t - 1)), clip the
    gradients (``clip_grad_norm_`` per parameter for clipnorm and over all for global_clipnorm,
    ``clip_grad_value_`` for clipvalue), then ``optimizer.step()``."""

    def __init__(self, optimizer, params: list, spec_params: dict):
        self.optimizer, self.params, self.spec = optimizer, params, spec_params
        self.updates = 0

    def zero_grad(self, set_to_none: bool = False) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        import torch

        lr = self.spec["learning_rate"]
        if isinstance(lr, dict):
            for group in self.optimizer.param_groups:
                group["lr"] = schedule_value(lr, self.updates)
        with_grad = [p for p in self.params if p.grad is not None]
        if self.spec.get("clipnorm") is not None:
            for p in with_grad:
                torch.nn.utils.clip_grad_norm_([p], self.spec["clipnorm"])
        elif self.spec.get("global_clipnorm") is not None:
            torch.nn.utils.clip_grad_norm_(with_grad, self.spec["global_clipnorm"])
        elif self.spec.get("clipvalue") is not None:
            torch.nn.utils.clip_grad_value_(with_grad, self.spec["clipvalue"])
        self.optimizer.step()
        self.updates += 1


def _torch_groups(named: list, p: dict) -> list[dict]:
    """Parameter groups: those whose name (the canonical key's last part, Keras's variable name)
    matches an ``exclude_from_weight_decay`` string by re.search get weight_decay 0."""
    strings = p.get("exclude_from_weight_decay")
    if not strings or not _wd(p):
        return [{"params": [t for _, t in named]}]
    pattern = re.compile("|".join(strings))
    excluded = [pattern.search(name.rsplit("/", 1)[-1]) is not None for name, _ in named]
    groups = [{"params": [t for (_, t), x in zip(named, excluded) if not x]},
              {"params": [t for (_, t), x in zip(named, excluded) if x], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _lr0(p) -> float:
    lr = p["learning_rate"]
    return schedule_value(lr, 0) if isinstance(lr, dict) else lr


def _torch_sgd(groups, p):
    import torch
    return torch.optim.SGD(groups, lr=_lr0(p), momentum=p["momentum"], dampening=0.0,
                           nesterov=p["nesterov"], weight_decay=p["weight_decay"])


def _torch_rmsprop(groups, p):
    import torch
    return torch.optim.RMSprop(groups, lr=_lr0(p), alpha=p["rho"], eps=p["epsilon"],
                               momentum=p["momentum"], centered=p["centered"])


def _torch_adam(groups, p):
    import torch
    betas = (p["beta_1"], p["beta_2"])
    if p.get("weight_decay"):  # Keras's Adam weight decay is decoupled: torch's AdamW
        return torch.optim.AdamW(groups, lr=_lr0(p), betas=betas, eps=p["epsilon"], weight_decay=p["weight_decay"])
    return torch.optim.Adam(groups, lr=_lr0(p), betas=betas, eps=p["epsilon"])


def _torch_adamw(groups, p):
    import torch
    return torch.optim.AdamW(groups, lr=_lr0(p), betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"],
                             weight_decay=p["weight_decay"])


def _torch_adagrad(groups, p):
    import torch
    return torch.optim.Adagrad(groups, lr=_lr0(p), initial_accumulator_value=p["initial_accumulator_value"],
                               eps=p["epsilon"])


def _torch_nadam(groups, p):
    import torch
    # momentum_decay=1: Keras's fixed 0.96 ** t schedule; decoupled: Keras's weight decay
    return torch.optim.NAdam(groups, lr=_lr0(p), betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"],
                             weight_decay=p["weight_decay"], momentum_decay=1.0, decoupled_weight_decay=True)


def _torch_adamax(groups, p):
    import torch
    return torch.optim.Adamax(groups, lr=_lr0(p), betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"],
                              weight_decay=p["weight_decay"])


def _torch_adadelta(groups, p):
    import torch
    return torch.optim.Adadelta(groups, lr=_lr0(p), rho=p["rho"], eps=p["epsilon"], weight_decay=p["weight_decay"])


def _lion_class():
    import torch

    class LionPaper(torch.optim.Optimizer):
        """Lion as the paper's Program 1 (Chen et al. 2023, "Symbolic Discovery of Optimization
        Algorithms"), in torch ops: torch has no Lion. Per parameter, with c the interpolation::

            update = sign(beta_1 m + (1 - beta_1) g) + wd p;   p <- p - lr update
            m <- beta_2 m + (1 - beta_2) g
        """

        def __init__(self, params, lr, betas, weight_decay=0.0):
            super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                beta_1, beta_2 = group["betas"]
                for w in group["params"]:
                    if w.grad is None:
                        continue
                    m = self.state[w].setdefault("exp_avg", torch.zeros_like(w))
                    update = torch.sign(m * beta_1 + w.grad * (1 - beta_1)) + w * group["weight_decay"]
                    w.add_(update, alpha=-group["lr"])
                    m.mul_(beta_2).add_(w.grad, alpha=1 - beta_2)

    return LionPaper


def _torch_lion(groups, p):
    return _lion_class()(groups, lr=_lr0(p), betas=(p["beta_1"], p["beta_2"]), weight_decay=p["weight_decay"])


# -- the Keras side -----------------------------------------------------------------------------------
def _keras(name):
    def build(p):
        import keras
        kwargs = own_params(p)
        if "weight_decay" in kwargs and name != "AdamW":  # Keras's AdamW refuses None; 0.0 is exact
            kwargs["weight_decay"] = _wd(p)
        if isinstance(kwargs["learning_rate"], dict):
            kwargs["learning_rate"] = _keras_schedule(kwargs["learning_rate"])
        clip = {k: p[k] for k in CLIP_FIELDS if p.get(k) is not None}
        opt = getattr(keras.optimizers, name)(**kwargs, **clip)
        if p.get("exclude_from_weight_decay"):
            opt.exclude_from_weight_decay(var_names=list(p["exclude_from_weight_decay"]))
        return opt
    return build


# -- where the rules part ------------------------------------------------------------------------------
def _eps_differs(p):
    return (f"epsilon={p['epsilon']} sits inside the root in Keras, outside in torch" if p["epsilon"] > 0 else None)


def _adam_differs(p):
    return (f"Keras's eps_hat = torch's eps * sqrt(1 - beta_2^t) changes every step (epsilon={p['epsilon']})"
            if p["epsilon"] > 1e-20 else None)


def _momentum_units(p):
    if p["momentum"] > 0 and isinstance(p["learning_rate"], dict):
        return ("momentum is kept in update units in Keras (it remembers each step's lr) and in gradient units "
                "in torch (each step multiplies it by the current lr): they part when a schedule changes the lr")
    return None


def _sgd_differs(p):
    why = [_momentum_units(p)]
    if p["momentum"] > 0 and p["weight_decay"] > 0:
        why.append("weight decay is coupled (g += wd p) in torch and decoupled (p -= lr wd p) in Keras, and "
                   "momentum carries it")
    return "; ".join(w for w in why if w) or None


def _rmsprop_differs(p):
    return "; ".join(w for w in (_eps_differs(p), _momentum_units(p)) if w) or None


def _coupled(p):
    return ("weight decay is coupled (g += wd p) in torch, decoupled (p -= lr wd p) in Keras"
            if p.get("weight_decay") else None)


def _adamax_differs(p):
    eps = (f"epsilon={p['epsilon']} sits inside torch's max(b2 u, |g| + eps) and is added to the norm in Keras "
           "(u + eps)" if p["epsilon"] > 0 else None)
    return "; ".join(w for w in (eps, _coupled(p)) if w) or None


def _never(p):
    return None


def _nadam_differs(p):
    return ("Keras on TensorFlow computes u_t = b1 (1 - 0.5 * 0.96^t) with ops.cast(0.96, dtype), float32's "
            "0.9599999785 (its u_product keeps 0.96), torch's NAdam (momentum_decay=1) with 0.96: 1.7e-9 after "
            "one float64 step at lr 0.125, none in float32")


def clipping_differs(p: dict) -> str | None:
    for mode, how in (("clipnorm", "each parameter's gradient"), ("global_clipnorm", "all gradients together")):
        if p.get(mode) is not None:
            return (f"{mode}={p[mode]} clips {how} by c / (N + 1e-6) in torch's clip_grad_norm_ and by "
                    "c / max(N, c) in Keras")
    return None


@dataclass(frozen=True)
class OptimizerMapping:
    type: str
    atlas: Atlas
    torch: Callable[[list, dict], Any]  # (torch parameters or param groups, spec params) -> torch.optim.Optimizer
    keras: Callable[[dict], Any]  # spec params -> keras optimizer (with its clipping, schedule, exclusions)
    own_differ: Callable[[dict], str | None]  # why the torch and Keras update rules part here, or None
    note: str = ""  # said in every report of a case with this optimizer

    def differ(self, params: dict) -> str | None:
        """Why torch's and Keras's trajectories differ by definition (the update rule, clipping), or None."""
        why = [self.own_differ(params), clipping_differs(params)]
        return "; ".join(w for w in why if w) or None

    def torch_step(self, named: list, params: dict) -> TorchStep:
        """``named``: (canonical key, torch parameter) pairs, or bare parameters (then no
        ``exclude_from_weight_decay`` can apply); the optimizer with the loop steps around it."""
        if named and not isinstance(named[0], tuple):
            if params.get("exclude_from_weight_decay") and _wd(params):
                raise ValueError("exclude_from_weight_decay needs named parameters")
            named = [(f"param{i}", t) for i, t in enumerate(named)]
        return TorchStep(self.torch(_torch_groups(named, params), params), [t for _, t in named], params)

    def scratch(self, params: dict, convention: str):
        from scratchnet import optimizers

        p = dict(params)
        if "weight_decay" in p and not p["weight_decay"]:
            p["weight_decay"] = None
        if isinstance(p["learning_rate"], dict):
            p["learning_rate"] = _scratch_schedule(p["learning_rate"])
        if p.get("exclude_from_weight_decay"):
            p["exclude_from_weight_decay"] = list(p["exclude_from_weight_decay"])
        if self.type == "nadam" and convention == "keras":
            p["tf_float32_decay"] = True  # Keras on TF: float32's 0.96 in u_t (see _nadam_differs)
        elif self.type == "nadam":
            p["decoupled_weight_decay"] = True  # as the torch side's NAdam
        # Keras's Adam(weight_decay) is decoupled, i.e. AdamW, which is also what torch runs for it
        name = "adamw" if self.type == "adam" and p.get("weight_decay") else self.type
        return optimizers.get(name, **p, convention=convention)

    def tf_rounded(self, params: dict, dtype: str) -> dict | None:
        """The hyperparameters as TensorFlow uses them in a float64 case (those in TF_ROUNDED
        through float32), or None when that changes none of them.
        ``parity.run._tf_rounding`` reruns all three backends with them: the counterfactual of rule
        ``tf-rounding``."""
        if dtype != "float64":
            return None
        rounded = {k: float(np.float32(params[k])) for k in TF_ROUNDED
                   if k in params and not float32_representable(params[k])}
        if isinstance(params.get("learning_rate"), dict):  # Keras computes schedules in float32
            rounded["learning_rate"] = {**params["learning_rate"], "tf_float32": True}
        return {**params, **rounded} if rounded else None


def _sparse_note(name: str) -> str:
    from parity.mappings.defects import sparse_duplicate_note  # the measured table's one home

    return sparse_duplicate_note(name)


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
        _torch_rmsprop, _keras("RMSprop"), _rmsprop_differs),
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
    OptimizerMapping("nadam", Atlas(
        "nadam", "mu_t = b1 (1 - 0.5 * 0.96^(t psi)); mu_prod_t = mu_1 ... mu_t (Keras psi = 1, fixed)\n"
                 "m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; v_hat = v / (1 - b2^t)\n"
                 "p -= lr (mu_{t+1} m / (1 - mu_prod_t mu_{t+1}) + (1 - mu_t) g / (1 - mu_prod_t)) / (sqrt(v_hat) + eps)",
        "scratchnet.optimizers.Nadam(learning_rate, beta_1, beta_2, epsilon, weight_decay, momentum_decay=1, convention)",
        "torch.optim.NAdam(params, lr, betas, eps, weight_decay, momentum_decay=1.0, decoupled_weight_decay=True)",
        "keras.optimizers.Nadam(learning_rate, beta_1, beta_2, epsilon, weight_decay)",
        defaults="torch momentum_decay 0.004 (0.96^(0.004 t); 9.3e-4 apart after one step at the defaults, "
                 "matched here by momentum_decay=1), lr 2e-3, eps 1e-8, coupled weight decay unless "
                 "decoupled_weight_decay=True",
        notes="TF rounds the 0.96 of Keras's u_t and u_{t+1} through float32 in float64 math (its u_product "
              "keeps 0.96): 1.7e-9 after one step at lr 0.125, a convention (scratchnet's keras twin follows TF "
              "with Nadam(tf_float32_decay=True)); torch keeps "
              "NAdam's mu_product in float32 unless torch's default dtype is float64 (3.1e-9; the harness "
              "sets it)"), _torch_nadam, _keras("Nadam"), _nadam_differs),
    OptimizerMapping("adamax", Atlas(
        "adamax", "m = b1 m + (1-b1) g\n"
                  "Keras: u = max(b2 u, |g|);        p -= lr m / ((1 - b1^t) (u + eps))\n"
                  "torch: u = max(b2 u, |g| + eps);  p -= lr / (1 - b1^t) * m / u",
        "scratchnet.optimizers.Adamax(learning_rate, beta_1, beta_2, epsilon, weight_decay, convention)",
        "torch.optim.Adamax(params, lr, betas, eps, weight_decay)",
        "keras.optimizers.Adamax(learning_rate, beta_1, beta_2, epsilon, weight_decay)",
        defaults="lr 2e-3 (torch) vs 1e-3, eps 1e-8 vs 1e-7; torch's weight decay is coupled (no decoupled form)",
        notes="eps placement: 3.4e-4 apart at eps 1e-7 (measured)"), _torch_adamax, _keras("Adamax"), _adamax_differs),
    OptimizerMapping("adadelta", Atlas(
        "adadelta", "E[g^2] = rho E[g^2] + (1-rho) g^2;  delta = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g\n"
                    "E[dx^2] = rho E[dx^2] + (1-rho) delta^2;  p -= lr delta  (the same in both)",
        "scratchnet.optimizers.Adadelta(learning_rate, rho, epsilon, weight_decay, convention)",
        "torch.optim.Adadelta(params, lr, rho, eps, weight_decay)",
        "keras.optimizers.Adadelta(learning_rate, rho, epsilon, weight_decay)",
        defaults="lr 1.0 (torch) vs 1e-3, rho 0.9 vs 0.95, eps 1e-6 vs 1e-7; torch's weight decay is coupled"),
        _torch_adadelta, _keras("Adadelta"), _coupled),
    OptimizerMapping("lion", Atlas(
        "lion", "c = b1 m + (1-b1) g;  p -= lr (sign(c) + wd p);  m = b2 m + (1-b2) g",
        "scratchnet.optimizers.Lion(learning_rate, beta_1, beta_2, weight_decay, convention)",
        "none in torch: parity.mappings.optimizers LionPaper, the paper's Program 1 written in torch ops",
        "keras.optimizers.Lion(learning_rate, beta_1, beta_2, weight_decay)",
        defaults="Keras lr 1e-3, betas (0.9, 0.99); Keras refuses beta_1 outside (0, 1]",
        notes="torch has no Lion: its side is this project's transcription of the paper (Chen et al. 2023), so "
              "only scratchnet and Keras are independent implementations"),
        _torch_lion, _keras("Lion"), _never,
        note="torch has no Lion: the torch side is this project's transcription of the paper's Program 1 "
             "(parity.mappings.optimizers.LionPaper), so this comparison has two independent implementations "
             "(scratchnet and Keras), not three"),
]}

# Atlas entries of the options every optimizer takes (``parity explain clipnorm``)
OPTIONS: dict[str, Atlas] = {a.title: a for a in [
    Atlas("clipnorm", "Keras: g_i *= c / max(||g_i||, c), each parameter alone\n"
                      "torch: clip_grad_norm_([p_i], c): g_i *= min(1, c / (||g_i|| + 1e-6))",
          "scratchnet.optimizers.*(clipnorm=c, convention)  (scratchnet.optimizers.clipping)",
          "torch.nn.utils.clip_grad_norm_([p], c) for each parameter before optimizer.step()",
          "keras.optimizers.*(clipnorm=c)",
          notes="a convention: torch's 1e-6 (a norm-5 gradient clipped to 1 has norm 0.9999998); at most one "
                "of clipnorm, clipvalue, global_clipnorm"),
    Atlas("global_clipnorm", "N = sqrt(sum_i ||g_i||^2)\nKeras: g_i *= c * min(1/N, 1/c)\n"
                             "torch: clip_grad_norm_(params, c): g_i *= min(1, c / (N + 1e-6))",
          "scratchnet.optimizers.*(global_clipnorm=c, convention)",
          "torch.nn.utils.clip_grad_norm_(params, c) before optimizer.step()",
          "keras.optimizers.*(global_clipnorm=c)", notes="a convention: torch's 1e-6"),
    Atlas("clipvalue", "g = clip(g, -c, c) elementwise (the same in both)",
          "scratchnet.optimizers.*(clipvalue=c)", "torch.nn.utils.clip_grad_value_(params, c) before optimizer.step()",
          "keras.optimizers.*(clipvalue=c)"),
    Atlas("exponential_decay", "lr(s) = lr0 * rate^(s / decay_steps)  (staircase: floor); update t uses lr(t - 1)",
          "scratchnet.optimizers.schedules.ExponentialDecay(initial_learning_rate, decay_steps, decay_rate, staircase)",
          "each group's lr set to lr(t - 1) before step t (torch's ExponentialLR is recursive and steps per call)",
          "keras.optimizers.schedules.ExponentialDecay(initial_learning_rate, decay_steps, decay_rate, staircase)"),
    Atlas("cosine_decay", "warmup (s < W): lr0 + (target - lr0) s / W;  then start = target (lr0 without warmup):\n"
                          "lr = start ((1 - alpha) (1 + cos(pi min(s - W, D) / D)) / 2 + alpha)",
          "scratchnet.optimizers.schedules.CosineDecay(initial_learning_rate, decay_steps, alpha, warmup_target, "
          "warmup_steps)",
          "each group's lr set to lr(t - 1) before step t (CosineAnnealingLR takes an absolute eta_min, is "
          "recursive and rises again after T_max)",
          "keras.optimizers.schedules.CosineDecay(initial_learning_rate, decay_steps, alpha, warmup_target, "
          "warmup_steps)"),
    Atlas("piecewise_constant_decay", "lr(s) = values[i] for boundaries[i-1] < s <= boundaries[i]",
          "scratchnet.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)",
          "each group's lr set to lr(t - 1) before step t (MultiStepLR multiplies by a constant gamma)",
          "keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)"),
    Atlas("exclude_from_weight_decay", "no decay for a parameter whose name re.search-matches one of the strings "
                                       "('kernel' also matches 'recurrent_kernel')",
          "scratchnet.optimizers.*(exclude_from_weight_decay=[...])",
          "a parameter group with weight_decay=0 for the matching parameters",
          "optimizer.exclude_from_weight_decay(var_names=[...])",
          notes="a string that matches no parameter of the model is refused (exit 2)"),
]}


def _with_sparse_note(atlas: Atlas, name: str) -> Atlas:
    return dataclasses.replace(atlas, notes="; ".join(filter(None, [atlas.notes, _sparse_note(name)])))


for _name in ("nadam", "adamax", "adadelta", "lion"):
    MAPPINGS[_name] = dataclasses.replace(MAPPINGS[_name], atlas=_with_sparse_note(MAPPINGS[_name].atlas, _name))
for _name in CLIP_FIELDS:
    OPTIONS[_name] = _with_sparse_note(OPTIONS[_name], _name)

# the runnable snippet of every optimizer without its own worked one (parity/mappings/snippets/optimizers.py)
for _name in ("rmsprop", "adamw", "adagrad", "nadam", "adamax", "adadelta", "lion"):
    MAPPINGS[_name] = dataclasses.replace(MAPPINGS[_name], atlas=dataclasses.replace(
        MAPPINGS[_name].atlas, snippet=snippet("optimizers")))
