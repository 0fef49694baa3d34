"""Error metrics, the one tolerance policy (``RULES``), ``judge()`` that applies it, and
odd-one-out blame.

Every compared row is judged by ``judge()`` against the rules of ``RULES`` below, in order: the
first *tolerance* rule that applies to the row sets its tolerance; when the row does not pass it,
the row's *excuses* (claims made by the harness for this row: a convention, TF's float32 rounding,
a known framework defect, chaos) are tried in the table's order, and each excuse holds only when
its counterfactual (a rerun with that one cause removed) agrees strictly. An excuse that cannot be
demonstrated leaves the row failed, with the reason "claimed cause X did not explain it". The
report's legend prints this same table (``rules_table()``).

Magnitudes, not elementwise ratios: with scale = max(max|a|, max|b|) a row passes when
max|a - b| <= rtol * scale (elementwise relative errors explode on elements near zero:
CONVENTIONS.md measured 1.8e-4 at 0.1% of the max in float32 where the tensor agreed to 5e-7).
The comparison is unsigned: a negative error cannot pass by sign.

Causes that meet in one row are removed together in one rerun where they can be (TF's float32
hyperparameters with a Keras defect or a followed constant). A torch-Keras row without a
convention whose causes no rerun can remove from torch's side takes the scratch-Keras row's
excuse when scratchnet agrees strictly with torch: max|t - k| <= max|t - s| + max|s - k|.

rtol does not grow with the length of a reduction or with cancellation: a float32 sum of
millions of terms (the kernel gradient of a conv over a 1400 x 1400 image), or a gradient that
nearly cancels (gamma of a BatchNorm whose output is normalized again), carries rounding far
above 1e-5 of its own size in every framework. Such a row is excused as noise only by rule
float32-rounding: its float64 twin (the same data and weights) passes, and no framework's float32
error exceeds a few times the most precise framework's.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

RTOL = {"float64": 1e-12, "float32": 1e-5}
FD_RTOL = 1e-7  # finite differences (float64): O(eps^2) truncation, plus rounding (fd_tolerance)
FD_EPS = 1e-6


def tolerance(dtype: str, quantity: str, step: int = 0) -> float:
    """The strict relative tolerance for ``quantity`` at optimizer ``step`` (rules ``strict``,
    ``finite-difference`` and ``trajectory`` of ``RULES``)."""
    if quantity == "fd":
        return FD_RTOL
    base = RTOL[dtype]
    return base * math.sqrt(max(step, 1)) if quantity == "trajectory" else base


def fd_tolerance(loss: float, analytic: np.ndarray, numeric: np.ndarray, eps: float = FD_EPS,
                 floor: float = 0.0, noise: float = 0.0) -> float:
    """Tolerance for a central-difference gradient of a scalar loss L, relative to the larger of the
    two gradients' magnitudes (as every row): FD_RTOL for truncation, plus the rounding bound of
    (L(x+eps) - L(x-eps)) / (2 eps), about u |L| / eps in absolute terms (u = 2^-53). The bound is
    absolute, so a tiny true gradient (the bias before a training-mode BatchNorm) cannot excuse a
    large analytic one: the scale includes the analytic gradient. ``floor``: G for a noise gradient
    (``parity.noise``), whose rows are judged against it. ``noise``: the loss's measured evaluation
    noise (``scratchnet.gradcheck.evaluation_noise``), the bound 2 max(2u |L|, 2 noise) / eps where
    the loss is noisier than u |L| (long sums that cancel)."""
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)), floor)
    rounding = 2 * max(np.finfo(np.float64).eps * abs(loss), 2 * noise, 1e-300) / eps
    return FD_RTOL + (rounding / scale if scale > 0 else 0.0)


def fd_directional_tolerance(loss: float, scale: float, eps: float = FD_EPS, noise: float = 0.0) -> float:
    """Tolerance for a directional difference (L(x+) - L(x-)) / (2 eps) against g . d, relative to
    ``scale`` = max(|g| |d|, |difference|, G |d| for a noise gradient): FD_RTOL for truncation plus
    the rounding bound 4u|L| / (eps * scale) (``scratchnet.gradcheck.directional_tolerance``)."""
    from scratchnet.gradcheck import directional_tolerance

    return directional_tolerance(loss, scale, eps, FD_RTOL, noise)


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
    with np.errstate(all="ignore"):  # inf - inf and the like: judged non-finite below, not warned
        return _metrics(a64, b64, dtype)


def _difference(a64: np.ndarray, b64: np.ndarray) -> np.ndarray:
    """|a - b| elementwise: 0 where both sides hold the same value, finite or not (NaN and NaN,
    or one signed inf); inf where they differ and either is non-finite."""
    diff = np.abs(a64 - b64)
    if not np.all(np.isfinite(diff)):
        same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
        diff = np.where(same, 0.0, np.where(np.isfinite(diff), diff, np.inf))
    return diff


def _metrics(a64: np.ndarray, b64: np.ndarray, dtype: str) -> Metrics:
    """An element both sides computed as the same non-finite value (NaN and NaN, or one signed
    inf) agrees; any other non-finite difference is inf. ``scale`` is the largest finite magnitude,
    so that a tolerance relative to it stays a number."""
    diff = _difference(a64, b64)
    finite = lambda v: float(np.max(np.abs(np.where(np.isfinite(v), v, 0.0))))  # noqa: E731
    scale = max(finite(a64), finite(b64))
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


def gradient_floor(grads: list[np.ndarray]) -> float:
    """G: the largest finite magnitude among all of a case's gradients (every framework, every
    tensor; a framework's NaN or inf gradient is judged by its own rows, not made everyone's floor)."""
    with np.errstate(all="ignore"):
        return max((float(np.max(np.abs(np.where(np.isfinite(g), g, 0)), initial=0.0)) for g in grads), default=0.0)


@dataclass(frozen=True)
class Rule:
    """One line of the tolerance policy: ``kind`` "tolerance" (sets a row's tolerance) or "excuse"
    (a claimed cause, tried on a row that fails its tolerance); ``status`` what a row it decides
    is called."""

    name: str
    kind: str
    status: str
    formula: str
    applies: str
    why: str


RULES: tuple[Rule, ...] = (
    Rule("strict", "tolerance", "pass",
         "max|a - b| <= rtol * scale; scale = max(max|a|, max|b|); rtol 1e-12 (float64), 1e-5 (float32)",
         "outputs, the loss, gradients: every row no later rule claims",
         "float64 rounding of these models stays within ~1e-15 of scale, float32 within ~3e-6 (CONVENTIONS.md)"),
    Rule("gradient-floor", "tolerance", "pass",
         "max|a - b| <= rtol * max(scale, G); G = the case's largest gradient (any tensor, any framework)",
         "grad and fd rows of a noise gradient: <= rtol * G in every framework and no two agree on it (float32)",
         "rounding errors are absolute, the size of the terms summed: a gradient zero by the math (a bias before "
         "a training-mode BatchNorm) is noise of about eps * G"),
    Rule("loss-condition", "tolerance", "pass",
         "max|a - b| <= rtol * max(scale, S); S = the loss's reduction of |w_i l_i| (scratchnet's per-sample "
         "losses l_i with their weights w_i, at its own output)",
         "the loss row, when the per-sample losses cancel (S > scale)",
         "the rounding of a sum is relative to the sum of its terms' magnitudes: losses of opposite sign that "
         "cancel to ~0 (a cosine similarity of +-1 per sample) leave an error of about eps * S, not eps * |L|"),
    Rule("finite-difference", "tolerance", "pass",
         "elements: max|a - fd| <= (FD_RTOL + 2 u |L| / (h * scale)) * scale; directions: |g.d - fd_d| <= "
         "fd_directional_tolerance * |g| |d|; FD_RTOL 1e-7, h 1e-6, u 2^-53",
         "fd rows: scratchnet's float64 gradients against central differences of the loss (every element of a "
         "small tensor; sampled elements plus random directions of a large one: parity.fdcheck); a failing row "
         "judged again with the loss's measured evaluation noise in place of u |L|, then measured at h / 10",
         "O(h^2) truncation plus the rounding of (L(x+h) - L(x-h)) / 2h (derived in scratchnet.gradcheck)"),
    Rule("step-propagation", "tolerance", "pass",
         "|a_e - b_e| <= rtol * scale + A_e(a) + A_e(b) for every element e; A_e = 2 max over sign patterns s "
         "of |U(g + s dg)_e - U(g)_e|, U the optimizer's update and state from the recorded history, dg the "
         "allowed gradient difference (rtol * max(|g|, G for noise)) at every step so far (parity.propagation); "
         "A = 0 for the reference",
         "step and state rows; every backend starts each step from the reference's weights (synced)",
         "first-order propagation of an allowed gradient difference through the update: large where the update "
         "is steep in g (RMSprop and Adam where v is tiny, noise gradients under any normalizing optimizer)"),
    Rule("trajectory", "tolerance", "pass",
         "|a_e - b_e| <= rtol * sqrt(t) * scale + sum_{s <= t} A_s,e(a) + A_s,e(b) (rule step-propagation's "
         "allowances of every step so far; 0 for running statistics)",
         "free-running trajectories (quantity trajectory): each backend on its own weights",
         "independent rounding errors add up like a random walk, and each step's update may differ by what the "
         "allowed gradient difference moves it (a noise gradient under Adam or Nadam: up to +-lr a step)"),
    Rule("declared-deviation", "excuse", "deviation",
         "scratchnet rerun following the framework's constant (Deviation.follow) agrees strictly with it, and the "
         "pair agrees strictly with scratchnet's own value in its place; a constant scratchnet cannot follow: "
         "max|a - b| <= rtol_declared * scale, stated by the layer's mapping (<= 1e-6)",
         "rows of the deviating backend from the deviating layer on (float64 only)",
         "a framework computes with a float32 constant in float64 (TF's GELU, torch's Hardsigmoid backward)"),
    Rule("tf-flush", "excuse", "deviation",
         "scratchnet and torch rerun with subnormals flushed to zero (the CPU's FTZ and DAZ flags, "
         "torch.set_flush_denormal(True)), as TensorFlow's kernels run, agree strictly with Keras on this row",
         "output, loss and grad rows of a Keras pair",
         "TensorFlow's CPU kernels flush subnormal inputs and results to zero (1e-39 * 1.5 = 0 in float32, "
         "1e-310 * 1.5 = 0 in float64); numpy and torch keep them, so a value near the smallest normal "
         "(1.2e-38, 2.2e-308) or one computed from such values can differ by all of itself"),
    Rule("float32-rounding", "excuse", "noise",
         "the case rerun in float64 on the same data and weights (every backend) passes this row, and each side's "
         "float32 error max|x32 - x64| is at most max(64 x the backends' median float32 error, rtol * scale)",
         "float32 output, loss and gradient rows",
         "a tensor that cancels (a sum of large terms with a small result) carries float32 rounding far above rtol "
         "of its own size in every framework; the float64 rerun removes that one cause; 64 = 2^6 separates float32 "
         "implementations (measured up to 34x apart) from a silent TF32 or float16 computation (2^13 coarser)"),
    Rule("grad-condition", "excuse", "noise",
         "max|a - b| <= 2 e + rtol * scale; e = max|g' - g| of scratchnet's gradient rerun with every weight and "
         "input element (in float64 also every layer's output and every gradient a layer passes down) scaled by "
         "(1 +- u), u the dtype's unit roundoff, the largest over 4 random sign patterns",
         "grad rows (and the gradients a followed constant's rerun compares)",
         "a gradient left small by cancellation (terms of 0.05 summing to 2.5e-7) moves by more than rtol of "
         "itself when its inputs move by one rounding: the rerun measures that condition instead of assuming it; "
         "each layer rounds its output and its gradients as the inputs are rounded, and through layers that cancel "
         "(three BatchNorms, attention) those roundings move it further than the inputs' alone"),
    Rule("convention", "excuse", "convention",
         "both own-convention twin rows pass strictly (scratch vs keras, scratch[torch] vs torch)",
         "torch-keras step, state and trajectory rows of a case whose update rules differ by definition",
         "no setting reconciles the two rules; each framework is shown right in its own convention"),
    Rule("tf-rounding", "excuse", "deviation",
         "a rerun of all three backends with the float32-exact hyperparameters agrees strictly on this row, and "
         "max|a - b| <= 2 max|keras - keras_rerun| + rtol * scale",
         "keras step and state rows of a float64 case whose hyperparameters float32 cannot hold",
         "TensorFlow casts some Python-float hyperparameters through float32 even in float64 math"),
    Rule("defect", "excuse", "defect",
         "a registered defect's trigger holds, and the framework rerun without it (its counterfactual) agrees "
         "strictly on this row",
         "rows of the defective framework (parity.mappings.defects)",
         "a known framework bug, named, with a standalone repro in the report folder"),
    Rule("zero-over-zero", "excuse", "noise",
         "every backend rerun with epsilon = the dtype's smallest normal (synced as the row) passes the row",
         "step and state rows of a noise gradient under an optimizer whose epsilon is 0, and every trajectory row "
         "of such a case (a free run carries the NaN into every tensor)",
         "a normalising update m / sqrt(v) of a gradient element exactly 0 is 0 / 0 = NaN, of rounding noise "
         "+-lr: which one a framework computes is chance; the rerun removes only the 0 / 0"),
    Rule("resync", "excuse", "noise",
         "each framework's running statistic at step t agrees strictly with its reference rerun from that "
         "framework's own free weights and statistics at t - 1",
         "trajectory rows of running statistics (a BatchNorm's moving mean and variance)",
         "a statistic is a function of the weights it is computed from: with the update itself shown exact, "
         "its difference is the weights' difference, which their own rows judge"),
    Rule("chaos", "excuse", "noise",
         "max|a - b| <= 2 e_t + rtol * sqrt(t) * scale; e_t = max|w_t - w'_t| of scratchnet from the same "
         "weights perturbed by rtol (relative), the largest over 4 random directions",
         "trajectory rows",
         "a chaotic run amplifies any rounding difference; the perturbed reruns measure this run's own amplification "
         "(one direction is one sample of it: noise gradients under Adam flip steps of +-lr at random)"),
    Rule("diverged", "verdict", "diverged",
         "the loss non-finite or > 1e6 x its step-0 value, or a weight non-finite, at the same step in every "
         "framework, every earlier row having passed",
         "the case: steps from the divergence on are not compared",
         "a blow-up all frameworks share is the model's, not a framework's; one framework alone is a failure"),
)
RULE_NAMES = tuple(r.name for r in RULES)


def rule(name: str) -> Rule:
    return RULES[RULE_NAMES.index(name)]


def rules_table() -> list[dict]:
    """The policy as rows (rule, kind, status, formula, applies, why), in order: the report's legend."""
    return [{"rule": r.name, "kind": r.kind, "status": r.status, "formula": r.formula, "applies": r.applies,
             "why": r.why} for r in RULES]


@dataclass(frozen=True)
class Excuse:
    """A claimed cause for one row: ``rule`` names an excuse of ``RULES``; ``check(metrics)`` runs
    its counterfactual and returns (holds, reason): the reason says what was measured either way."""

    rule: str
    check: Callable[[Metrics], tuple[bool, str]]


@dataclass(frozen=True)
class Judgement:
    status: str
    passed: bool
    tolerance: float  # relative to the row's scale (the reported one for elementwise rules)
    rule: str  # the rule that decided the row
    reason: str
    metrics: Metrics


def judge(a, b, dtype: str, quantity: str, step: int = 0, *, floor: float = 0.0,
          allowance: np.ndarray | None = None, fd_loss: float | None = None,
          excuses: tuple[Excuse, ...] = ()) -> Judgement:
    """Apply ``RULES`` to one row: tensors ``a`` and ``b`` of ``quantity`` at ``step``.

    ``floor``: G for a noise gradient (rule gradient-floor), S for the loss (rule loss-condition); ``allowance``: the elementwise A(a) + A(b)
    of rule step-propagation (same shape as a); ``fd_loss``: the loss, for fd rows; ``excuses``: the
    claims that may explain a failure, tried in the order of ``RULES``."""
    m = metrics(a, b, dtype)
    rtol = tolerance(dtype, quantity, step)
    name, note = "strict", ""
    if quantity == "fd":
        name, rtol = "finite-difference", fd_tolerance(fd_loss if fd_loss is not None else 0.0, np.asarray(a),
                                                       np.asarray(b), floor=floor)
    elif quantity == "trajectory":
        name = "trajectory"
    if floor > m.scale and quantity == "loss":
        name = "loss-condition"
        note = f"relative to the reduction of the per-sample losses' magnitudes, {floor:.3g} (the loss's is {m.scale:.2g})"
    elif floor > m.scale:
        name = "gradient-floor" if quantity != "fd" else name
        note = f"relative to the case's largest gradient, {floor:.3g} (this one's largest is {m.scale:.2g})"
    if allowance is not None and quantity in ("step", "state", "trajectory"):
        ok, rtol, note = _elementwise(a, b, m, rtol, allowance)
        name = "step-propagation" if np.any(allowance > 0) and quantity != "trajectory" else name
    else:
        ok = passes(m, rtol, floor)
    if floor > m.scale:
        m = dataclasses.replace(m, max_rel=m.max_abs / floor)
    if ok:
        return Judgement("pass", True, rtol, name, note, m)
    order = {r: i for i, r in enumerate(RULE_NAMES)}
    reasons = []
    for excuse in sorted(excuses, key=lambda e: order[e.rule]):
        holds, why = excuse.check(m)
        if holds:
            r = rule(excuse.rule)
            return Judgement(r.status, True, rtol, r.name, why, m)
        reasons.append(f"claimed cause {excuse.rule} did not explain it: {why}")
    return Judgement("fail", False, rtol, name, "; ".join(filter(None, [note, *reasons])), m)


def passes_elementwise(a, b, m: Metrics, rtol: float, allowance: np.ndarray) -> bool:
    """|a_e - b_e| <= rtol * scale + allowance_e at every element (rule step-propagation's test)."""
    return _elementwise(a, b, m, rtol, allowance)[0]


def _elementwise(a, b, m: Metrics, rtol: float, allowance: np.ndarray) -> tuple[bool, float, str]:
    """Rule step-propagation: |a_e - b_e| <= rtol * scale + allowance_e. Returns (passed, the
    tolerance at the deciding element relative to scale, note): the worst-ratio element when it
    fails, the largest-difference element when it passes (so that a pass has max_rel <= tolerance)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(all="ignore"):
        diff = _difference(a64, b64)
        allowance = np.asarray(allowance, np.float64)
        bound = rtol * m.scale + np.where(np.isfinite(allowance), allowance, 0.0)
        ratio = np.where(np.isfinite(diff), diff / np.where(bound > 0, bound, np.inf), np.inf)
        ratio = np.where((diff == 0), 0.0, ratio)
    scale = m.scale if m.scale > 0 else 1.0
    if not np.all(ratio <= 1.0):
        worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        return False, float(bound[worst] / scale), (f"element {tuple(int(i) for i in worst)} differs by "
                                                    f"{float(diff[worst]):.3g} > its propagated bound {float(bound[worst]):.3g}")
    return True, float(bound[tuple(m.worst_index)] / scale), ""


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
