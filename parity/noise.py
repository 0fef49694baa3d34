"""Gradients that are rounding noise, and the one thing that excuses (the policy is stated in
``parity.compare``).

A gradient is *noise* when the math makes it zero (a bias right before a training-mode
BatchNorm, which subtracts the batch mean; a bias under a softmax across the axis it is broadcast
along) and the frameworks' sums leave only rounding behind. Over the three frameworks' gradients
of one tensor:
- small: max|g| <= rtol * G in every framework, G the case's largest gradient (rounding errors
  are absolute, of the size of the terms summed, so G sets their scale). In float64 (rtol 1e-12)
  that is the whole test;
- and in float32 (rtol 1e-5, far above rounding) also incoherent: no two frameworks agree on it
  to rtol of its own size. A tiny gradient two frameworks agree on is signal (a deep sigmoid net's
  first layer, ~1e-7 G), and is compared strictly. (Known limit: float32 noise that two
  frameworks happen to sum bit for bit is taken for signal, and the third framework fails.)

Noise gradients are compared against G (``floor``). Under Adam, AdamW, RMSprop and Adagrad,
which divide by a running RMS, a noise gradient becomes steps of about +-learning_rate with
arbitrary signs, so that parameter's trajectory differs between frameworks by construction. Its
failing step rows are marked ``noise`` when both trajectories stay within the drift such steps can
make (``drift_bound``), and so are the failing ``moving_mean`` rows of a BatchNormalization right
after it, from step 2, within the largest difference of that parameter at the steps before (the
moving mean averages the batch means, which the bias shifts one for one). Anything larger fails.
"""
from __future__ import annotations

import math

import numpy as np

from parity import compare
from parity.mappings import layer_mapping
from parity.spec import INPUT, plan_of

FRAMEWORKS = ("scratch", "torch", "keras")


def _max_abs(a) -> float:
    return float(np.max(np.abs(a), initial=0.0))


def _adam_ratio_bound(b1: float, b2: float, t: int) -> float:
    """The largest |m_hat_t / sqrt(v_hat_t)| any gradients allow (Cauchy-Schwarz on the two
    running sums): (1 - b1) / sqrt(1 - b2) * sqrt(sum_{j<t} (b1^2 / b2)^j) * sqrt(1 - b2^t) / (1 - b1^t),
    exactly 1 at t = 1; more when the noise keeps one sign."""
    ratio = b1 * b1 / b2
    series = t if ratio == 1 else (1 - ratio ** t) / (1 - ratio)
    return (1 - b1) / math.sqrt(1 - b2) * math.sqrt(series) * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)


def drift_bound(optimizer, t: int, p0: np.ndarray) -> float:
    """The most a parameter with a noise gradient can move from ``p0`` in ``t`` steps (elementwise
    max), or 0 where the optimizer gives no such bound (centered RMSprop divides by
    sqrt(v - mg^2), which noise can make as small as it likes: such a case fails). Step s moves at
    most: Adam/AdamW lr * ``_adam_ratio_bound(s)``; RMSprop lr / sqrt(1 - rho) (v >= (1 - rho)
    g^2), over (1 - momentum) with momentum; Adagrad lr (the accumulator holds g^2); plus decoupled
    weight decay's lr * wd * |p|."""
    p = optimizer.params
    lr = p["learning_rate"]
    if optimizer.type in ("adam", "adamw"):
        steps = sum(lr * _adam_ratio_bound(p["beta_1"], p["beta_2"], s) for s in range(1, t + 1))
    elif optimizer.type == "rmsprop" and not p["centered"]:
        steps = t * lr / math.sqrt(1 - p["rho"]) / (1 - p["momentum"])
    elif optimizer.type == "adagrad":
        steps = t * lr
    else:
        return 0.0
    decay = t * lr * p.get("weight_decay", 0.0) * _max_abs(p0)
    return (steps + decay) * (1 + 1e-6)


class Noise:
    """Which of a case's gradients are noise (``tensors``), their floor G, and the rows it excuses."""

    def __init__(self, results: dict, spec, initial: dict[str, np.ndarray]):
        frameworks = [results[n] for n in FRAMEWORKS]
        grads = [[*b.grads.values(), *([] if b.input_grad is None else [b.input_grad])] for b in frameworks]
        self.floor = compare.gradient_floor([g for gs in grads for g in gs])
        self.rtol = compare.tolerance(spec.dtype, "grad")
        self.spec, self.initial = spec, initial
        keys = list(results["scratch"].grads) + (["input"] if results["scratch"].input_grad is not None else [])
        self.tensors = {k for k in keys if self._is_noise([_grad(b, k) for b in frameworks])}
        normalizing = spec.optimizer.type in compare.NORMALIZING_OPTIMIZERS
        self.params = sorted(k for k in self.tensors if k != "input") if normalizing else []

    def _is_noise(self, values: list[np.ndarray]) -> bool:
        bound = self.rtol * self.floor
        if bound <= 0 or any(_max_abs(v) > bound for v in values):
            return False
        dtype = self.spec.dtype
        if dtype == "float64":  # below 1e-12 * G a real gradient is rare, and two frameworks often
            return True         # sum the same noise bit for bit
        return not any(compare.passes(compare.metrics(values[i], values[j], dtype), self.rtol)
                       for i in range(len(values)) for j in range(i + 1, len(values)))

    def floor_for(self, key: str) -> float:
        """G for a noise gradient's rows (grad and fd), 0 for every other."""
        return self.floor if key in self.tensors else 0.0

    def step_reason(self, a, b, key: str, t: int) -> str:
        """Why the failing step-``t`` row of parameter ``key`` between results ``a`` and ``b`` is
        noise made into steps, or "" when it is not (not a noise parameter, or a drift too large)."""
        if key not in self.params:
            return ""
        p0 = self.initial[key]
        drift = max(_max_abs(a.steps[t - 1][key] - p0), _max_abs(b.steps[t - 1][key] - p0))
        bound = drift_bound(self.spec.optimizer, t, p0)
        bound += 4 * np.finfo(self.spec.dtype).eps * (_max_abs(p0) + bound)  # the rounding of p itself
        if drift > bound:
            return ""
        return (f"the gradient of {key} is rounding noise (<= {self.rtol:g} x the case's largest gradient "
                f"{self.floor:.3g} in every framework, and no two agree on it); {self.spec.optimizer.type} "
                f"turns it into steps of about +-learning_rate with arbitrary signs: moved {drift:.2g} from "
                f"its start, within the {bound:.2g} such steps allow")

    def _source(self, key: str) -> str | None:
        """The noise bias feeding ``key``'s BatchNormalization, if ``key`` is its moving_mean: in
        the layer before it or before layers that shift with a per-channel constant (pooling,
        flatten, reshape: max(x + b) = max(x) + b, and so does a mean)."""
        plan = plan_of(self.spec)
        layer, _, name = key.rpartition("/")
        node = plan.layer(layer)
        if name != "moving_mean" or node.type != "batch_normalization":
            return None
        source = node.inputs[0]
        while source != INPUT and layer_mapping(plan.layer(source).type).shift_preserving:
            source = plan.layer(source).inputs[0]
        bias = f"{source}/bias"
        return bias if bias in self.params else None

    def state_reason_applies(self, key: str) -> bool:
        return self._source(key) is not None

    def state_reason(self, a, b, key: str, t: int) -> str:
        """Why a failing ``moving_mean`` row right after a noise bias is that bias's doing, or ""."""
        bias = self._source(key)
        if bias is None or t < 2:
            return ""
        shift = max(_max_abs(a.steps[s - 1][bias] - b.steps[s - 1][bias]) for s in range(1, t))
        diff = _max_abs(a.steps[t - 1][key] - b.steps[t - 1][key])
        if diff > shift * (1 + 1e-6) + self.rtol * _max_abs(a.steps[t - 1][key]):
            return ""
        return (f"the running mean averages batch means that {bias} shifts one for one, and {bias} is noise "
                f"made into steps (see its rows): differs by {diff:.2g}, within the {shift:.2g} the bias differed by")


def _grad(result, key: str) -> np.ndarray:
    return result.input_grad if key == "input" else result.grads[key]
