"""Error metrics, the one tolerance policy, and odd-one-out blame.

Tolerance policy (the only place it is stated):
- A difference is measured against the magnitude of the tensor, not elementwise: with
  scale = max(max|a|, max|b|), a pair passes when max|a - b| <= rtol * scale. (Elementwise relative
  errors explode on elements near zero: CONVENTIONS.md measured 1.8e-4 at 0.1% of the max in
  float32 where the tensor as a whole agreed to 5e-7.)
- rtol = 1e-12 in float64 and 1e-5 in float32 for outputs, the loss, gradients and the first
  optimizer step.
- Noise gradients (``parity.noise`` decides which): rounding errors in a gradient are absolute,
  the size of the upstream terms it is summed from, not of the gradient itself. A gradient that is
  zero by the math (a bias right before a training-mode BatchNorm, which subtracts the batch mean)
  comes out as noise of about eps * G, G the case's largest gradient, which its own scale would
  call a 100% disagreement. A gradient that is below rtol * G in every framework AND on which no two
  frameworks agree to rtol of its own size is noise, and its rows (pairs and finite differences)
  pass when max|a - b| <= rtol * max(scale, G). A tiny gradient two frameworks agree on is signal
  and is compared strictly.
- Noise steps: Adam, AdamW, RMSprop and Adagrad divide by a running root mean square, which turns
  a noise gradient into steps of about +-lr with arbitrary signs, so that parameter has no
  comparable trajectory. Its failing step rows are marked ``noise`` (not failures, with their
  measured size, like convention differences) while both trajectories stay within the drift such
  steps can make, and so are the failing running means of a BatchNorm right after it, within the
  bias's own difference. A larger difference fails. Centered RMSprop divides by sqrt(v - mg^2),
  which noise can make arbitrarily small: no bound, so such a case fails (set ``use_bias`` false
  before the BatchNorm, as Keras's own examples do).
- Trajectories: rounding differences compound, so at optimizer step t the allowed rtol is
  rtol * sqrt(t) (independent rounding errors add up like a random walk; step 1 gets the base
  tolerance). A chaotic run that amplifies them faster fails, and the report's trajectory plot
  shows the step at which the pair parted.
- Finite differences check scratchnet's float64 gradients with FD_RTOL = 1e-7 plus the rounding
  bound of a central difference of the loss: element by element relative to the largest gradient
  (``fd_tolerance``), along a random direction relative to |g| |d| (``fd_directional_tolerance``,
  derived in ``scratchnet.gradcheck``).
- Known deviations (a framework computing something else by definition or precision, each stated
  with its reason in a mapping) replace rtol with their own stated rtol for the affected backend
  and quantities only; the row's status says ``deviation`` and names the reason.
- Convention differences (torch and Keras implement different update rules and no setting
  reconciles them) are not failures: the row's status is ``convention``, the measured size is
  reported, and each framework is checked strictly against a scratchnet twin in its convention.

Known limit: rtol does not grow with the length of a reduction. A float32 sum of millions of
terms (the kernel gradient of a conv over a 1400 x 1400 image: 2e6 positions) carries ~3e-5 of
rounding in every framework, so such a case fails as "all disagree" although all three are right
to float32 precision; its float64 twin is the comparison that means something.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RTOL = {"float64": 1e-12, "float32": 1e-5}
FD_RTOL = 1e-7  # finite differences (float64): O(eps^2) truncation, plus rounding (fd_tolerance)
FD_EPS = 1e-6


def tolerance(dtype: str, quantity: str, step: int = 0) -> float:
    """The relative tolerance for ``quantity`` at optimizer ``step`` (0: before any step)."""
    if quantity == "fd":
        return FD_RTOL
    base = RTOL[dtype]
    return base * math.sqrt(max(step, 1)) if quantity in ("step", "state") else base


def fd_tolerance(loss: float, analytic: np.ndarray, numeric: np.ndarray, eps: float = FD_EPS,
                 floor: float = 0.0) -> float:
    """Tolerance for a central-difference gradient of a scalar loss L, relative to the larger of the
    two gradients' magnitudes (as every row): FD_RTOL for truncation, plus the rounding bound of
    (L(x+eps) - L(x-eps)) / (2 eps), about u |L| / eps in absolute terms (u = 2^-53). The bound is
    absolute, so a tiny true gradient (the bias before a training-mode BatchNorm) cannot excuse a
    large analytic one: the scale includes the analytic gradient. ``floor``: G for a noise gradient
    (``parity.noise``), whose rows are judged against it."""
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)), floor)
    rounding = 2 * np.finfo(np.float64).eps * max(abs(loss), 1e-300) / eps
    return FD_RTOL + (rounding / scale if scale > 0 else 0.0)


def fd_directional_tolerance(loss: float, scale: float, eps: float = FD_EPS) -> float:
    """Tolerance for a directional difference (L(x+) - L(x-)) / (2 eps) against g . d, relative to
    ``scale`` = max(|g| |d|, |difference|, G |d| for a noise gradient): FD_RTOL for truncation plus
    the rounding bound 4u|L| / (eps * scale) (``scratchnet.gradcheck.directional_tolerance``)."""
    from scratchnet.gradcheck import directional_tolerance

    return directional_tolerance(loss, scale, eps, FD_RTOL)


@dataclass(frozen=True)
class Metrics:
    max_abs: float
    max_rel: float
    mean_abs: float
    max_ulp: float
    worst_index: tuple
    scale: float


def metrics(a: np.ndarray, b: np.ndarray, dtype: str) -> Metrics:
    """Distances between two tensors of one quantity (same shape required)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.shape != b64.shape:
        raise ValueError(f"shapes differ: {a64.shape} vs {b64.shape}")
    if a64.size == 0:
        return Metrics(0.0, 0.0, 0.0, 0.0, (), 0.0)
    diff = np.abs(a64 - b64)
    if not np.all(np.isfinite(diff)):
        diff = np.where(np.isfinite(diff), diff, np.inf)
    scale = float(max(np.max(np.abs(a64)), np.max(np.abs(b64))))
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    max_abs = float(diff[worst])
    spacing = np.spacing(np.maximum(np.abs(a64), np.abs(b64)).astype(dtype)).astype(np.float64)
    ulp = float(np.max(diff / np.where(spacing > 0, spacing, np.finfo(dtype).smallest_subnormal)))
    return Metrics(max_abs, (max_abs / scale) if scale > 0 else (0.0 if max_abs == 0 else np.inf),
                   float(np.mean(diff)), ulp, tuple(int(i) for i in worst), scale)


def passes(m: Metrics, rtol: float, floor: float = 0.0) -> bool:
    """max|a - b| <= rtol * max(scale, floor) (unsigned: a negative error cannot pass by sign).
    ``floor``: the gradient floor G of the policy above (0 for every other quantity)."""
    return bool(np.isfinite(m.max_abs) and m.max_abs <= rtol * max(m.scale, floor))


NORMALIZING_OPTIMIZERS = ("adam", "adamw", "rmsprop", "adagrad")


def gradient_floor(grads: list[np.ndarray]) -> float:
    """G: the largest magnitude among all of a case's gradients (every framework, every tensor)."""
    return max((float(np.max(np.abs(g), initial=0.0)) for g in grads), default=0.0)


def odd_one_out(pair_passed: dict[tuple[str, str], bool]) -> str:
    """Name the backend that disagrees with the other two.

    With three backends A, B, C: if both pairs containing X fail and the third pair passes, X is
    the odd one out. All pass: "". All fail: "all disagree". One failing pair alone cannot name
    a culprit: "A|B" (either of the two).
    """
    failed = [pair for pair, ok in pair_passed.items() if not ok]
    if not failed:
        return ""
    names = {n for pair in pair_passed for n in pair}
    for name in sorted(names):
        with_name = [p for p in pair_passed if name in p]
        without = [p for p in pair_passed if name not in p]
        if with_name and all(not pair_passed[p] for p in with_name) and without and all(pair_passed[p] for p in without):
            return name
    if len(failed) == len(pair_passed) and len(pair_passed) > 1:
        return "all disagree"
    return "|".join(failed[0]) if len(failed) == 1 else "all disagree"
