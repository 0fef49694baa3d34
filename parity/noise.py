"""Gradients that are rounding noise (the policy is stated in ``parity.compare.RULES``).

A gradient is *noise* when the math makes it zero (a bias right before a training-mode
BatchNorm, which subtracts the batch mean; a bias under a softmax across the axis it is broadcast
along) and the frameworks' sums leave only rounding behind. Over the three frameworks' gradients
of one tensor:
- small: max|g| <= rtol * G in every framework (rtol a declared float32 deviation's for a
  framework that computes the gradient in float32), G the case's largest gradient (rounding errors
  are absolute, of the size of the terms summed, so G sets their scale). In float64 (rtol 1e-12)
  that is the whole test;
- and in float32 (rtol 1e-5, far above rounding) also incoherent: no two frameworks agree on it
  to rtol of its own size. A tiny gradient two frameworks agree on is signal (a deep sigmoid net's
  first layer, ~1e-7 G), and is compared strictly. (Known limit: float32 noise that two
  frameworks happen to sum bit for bit is taken for signal, and the third framework fails.)

Noise gradients are compared against G (rule ``gradient-floor`` of ``parity.compare.RULES``), and
their allowed difference, rtol * G, is what rule ``step-propagation`` carries through the optimizer
at every step (an Adam, RMSprop or Adagrad update turns it into steps of up to +-learning_rate,
which that rule allows and bounds).
"""
from __future__ import annotations

import numpy as np

from parity import compare

FRAMEWORKS = ("scratch", "torch", "keras")


def _max_abs(a) -> float:
    return float(np.max(np.abs(a), initial=0.0))


class Noise:
    """Which of a case's gradients are noise (``tensors``) and their floor G."""

    def __init__(self, results: dict, spec, initial: dict[str, np.ndarray], loose: dict[str, float] | None = None):
        """``loose``: framework -> the rtol of a declared deviation of its gradients that is not a
        followed constant (a float32 computation, e.g. TF's bilinear resize): its noise is that rtol
        of G, not the dtype's."""
        frameworks = [results[n] for n in FRAMEWORKS]
        self.loose = [max(compare.tolerance(spec.dtype, "grad"), (loose or {}).get(n, 0.0)) for n in FRAMEWORKS]
        grads = [[*b.grads.values(), *([] if b.input_grad is None else [b.input_grad])] for b in frameworks]
        self.floor = compare.gradient_floor([g for gs in grads for g in gs])
        self.rtol = compare.tolerance(spec.dtype, "grad")
        self.spec, self.initial = spec, initial
        keys = list(results["scratch"].grads) + (["input"] if results["scratch"].input_grad is not None else [])
        self.tensors = {k for k in keys if self._is_noise([_grad(b, k) for b in frameworks])}

    def _is_noise(self, values: list[np.ndarray]) -> bool:
        """Noise when every framework's value is below rtol * G (its declared float32 deviation's
        rtol for a framework that has one) and, in float32, no two agree; a framework whose value is
        not finite has no say (its own rows fail on it)."""
        pairs = [(v, rtol) for v, rtol in zip(values, self.loose) if np.all(np.isfinite(v))]
        values = [v for v, _ in pairs]
        if self.rtol * self.floor <= 0 or any(_max_abs(v) > rtol * self.floor for v, rtol in pairs):
            return False
        dtype = self.spec.dtype
        if dtype == "float64":  # below 1e-12 * G a real gradient is rare, and two frameworks often
            return True         # sum the same noise bit for bit
        return not any(compare.passes(compare.metrics(values[i], values[j], dtype), self.rtol)
                       for i in range(len(values)) for j in range(i + 1, len(values)))

    def floor_for(self, key: str) -> float:
        """G for a noise gradient's rows (grad and fd), 0 for every other."""
        return self.floor if key in self.tensors else 0.0


def _grad(result, key: str) -> np.ndarray:
    return result.input_grad if key == "input" else result.grads[key]
