"""How far an allowed gradient difference can move an optimizer step (rule ``step-propagation``
of ``parity.compare.RULES``), and how far a run carries a rounding-size perturbation of its
weights (rule ``chaos``).

Step propagation. Every backend starts optimizer step t from the reference's weights w_{t-1}
(``sync``) but keeps its own optimizer state, so its step differs from the reference's only
through its gradients: at every step s <= t they may differ from the reference's g_s by the
allowed gradient difference

    dg_s = rtol * max(max|g_s|, G_s if the tensor is a noise gradient)        (one number a tensor)

(the tolerance the gradient rows themselves pass with: rules ``strict`` and ``gradient-floor``).
With U_t(g_1..g_t) the update the optimizer makes at step t from w_{t-1}, the step may move by

    A_t = max over sign patterns s of |U_t(g_1 + s_1 dg_1, ..., g_t + s_t dg_t) - U_t(g_1..g_t)|

elementwise, over four patterns: s_t = +1, -1, (-1)^t and -(-1)^t (constant signs are the worst
case of a linear state such as momentum; alternating ones of a normalizing state such as Adam's
m / sqrt(v), where noise flips sign from step to step): the propagation of dg through the update
*and* through the state it accumulates (m, v, velocity), evaluated by running four more copies of
scratchnet's optimizer on the perturbed gradients beside an unperturbed one, in float64, and
doubled (SAFETY): for an update linear in g the patterns give the exact bound; for a normalizing
update of a noise gradient (|g| <= dg) the worst history lies inside the box, with unequal
magnitudes (Cauchy-Schwarz on Adam's m / sqrt(v) is attained at g_s ~ (beta_1 / beta_2)^(t-s)),
measured up to 1.02 x the patterns' value (a noise bias under Adam, step 4). Where the update is steep in g
(RMSprop or Adam where v is tiny: d step / d g ~ lr / (sqrt(v) + eps)) A_t is large; where g is
noise (|g| <= dg) Adam's A_t is ~2 lr, the size of the +-lr steps noise makes; for SGD it is
lr * dg. The rounding of the update itself is the row's ``rtol * scale``.

Chaos. A free-running trajectory (each backend on its own weights) amplifies any rounding
difference when the run is chaotic. ``perturbed_runs`` reruns scratchnet from the initial weights
perturbed by rtol (relative to each tensor's largest magnitude) in CHAOS_DRAWS random directions,
direction k drawn from Generator([seed, 3, k]): the largest distance e_t between them and the
reference measures how much this run amplifies a rounding-size difference by step t (one
direction is one sample of it).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from parity import compare


SAFETY = 2.0  # see the module docstring


def _max_abs(a) -> float:
    return float(np.max(np.abs(a), initial=0.0))


def gradient_allowance(grads: dict[str, np.ndarray], noise: set[str], rtol: float) -> dict[str, float]:
    """dg for every tensor of one step's gradients (see the module docstring)."""
    G = max((_max_abs(g) for g in grads.values()), default=0.0)
    return {k: rtol * max(_max_abs(g), G if k in noise else 0.0) for k, g in grads.items()}


def step_allowances(optimizer_factory, initial: dict[str, np.ndarray], steps: list[dict[str, np.ndarray]],
                    step_grads: list[dict[str, np.ndarray]], noise: set[str], rtol: float) -> list[dict[str, np.ndarray]]:
    """A_t for t = 1..len(steps): ``{parameter key: elementwise allowance}`` (float64).

    ``optimizer_factory()`` makes a fresh scratchnet optimizer of the case (hyperparameters and
    convention of the reference); ``initial`` the weights before step 1, ``steps[t-1]`` the
    reference's weights after step t, ``step_grads[t-1]`` its gradients at step t."""
    patterns = (lambda t: 0.0, lambda t: 1.0, lambda t: -1.0, lambda t: (-1.0) ** t, lambda t: -((-1.0) ** t))
    optimizers = [optimizer_factory() for _ in patterns]
    keys = list(step_grads[0]) if step_grads else []
    prev = {k: np.asarray(initial[k], np.float64) for k in keys}
    out = []
    with np.errstate(all="ignore"):  # a diverging run: its rows are not compared after it parts
        for t in range(len(steps)):
            g = {k: np.asarray(step_grads[t][k], np.float64) for k in keys}
            dg = gradient_allowance(g, noise, rtol)
            moved = []
            for opt, sign in zip(optimizers, patterns):
                p = {k: prev[k].copy() for k in keys}
                opt.apply(p, {k: g[k] + sign(t) * dg[k] for k in keys})
                moved.append(p)
            out.append({k: SAFETY * np.max([np.abs(m[k] - moved[0][k]) for m in moved[1:]], axis=0) for k in keys})
            prev = {k: np.asarray(steps[t][k], np.float64) for k in keys}
    return out


CHAOS_DRAWS = 4  # perturbed reruns of rule chaos: one draw is one sample of the run's amplification


def perturbed_initial(initial: dict[str, np.ndarray], seed: int, rtol: float, draw: int = 0) -> dict[str, np.ndarray]:
    """The initial weights moved by up to rtol * max|w| elementwise, in a random direction
    (Generator([seed, 3, draw]): no other draw of the case moves)."""
    rng = np.random.default_rng([seed, 3, draw])
    return {k: (w + rtol * _max_abs(w) * rng.uniform(-1.0, 1.0, w.shape)).astype(w.dtype) if w.dtype.kind == "f" else w
            for k, w in initial.items()}


def perturbed_runs(case, run, convention: str) -> list:
    """The reference rerun (``run(case, convention=...)``, scratchnet) from CHAOS_DRAWS perturbed
    initial weights, each in its own random direction: ``parity.compare`` rule chaos."""
    spec = case.spec
    return [run(dataclasses.replace(case, initial=perturbed_initial(case.initial, spec.seed, compare.RTOL[spec.dtype], k)),
                convention=convention, name="scratch-perturbed") for k in range(CHAOS_DRAWS)]
