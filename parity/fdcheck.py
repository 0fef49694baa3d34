"""Finite-difference rows: scratchnet's float64 gradients against differences of its own loss.

One ``fd`` row per tensor (every parameter, and the input when it is not integer ids), backend_a
``scratch``, backend_b ``fd``. What is measured is ``scratchnet.gradcheck.tensor_differences``: a
tensor of at most ``ELEMENT_CAP`` elements is checked element by element in full (note "all n
elements"); a larger one on sampled elements plus random directional derivatives (note "k
directions + m sampled elements of n"). The row passes when both parts pass:
- elements: analytic against central differences at the checked elements,
  ``compare.fd_tolerance`` relative to their largest magnitude;
- directions: g . d against (L(x+) - L(x-)) / (2 eps) for each direction,
  ``compare.fd_directional_tolerance`` relative to |g| |d| (the bound derived in
  ``scratchnet.gradcheck``).
The row shows the part whose error is the larger fraction of its tolerance (``worst_index`` an
element's index or ``direction j``). Elements at a kink and directions that crossed one are left out
and counted in the note; a row with nothing left to check fails. A noise gradient
(``parity.noise``) is judged against the floor G, in both parts, and keeps every element and
direction (noise against noise has no kinks to tell apart).

Keys in ``tensors.npz`` (after the ``<case>@<dtype>/`` prefix): ``fd/grad/<tensor>``: the element
differences in the tensor's shape, NaN where no element was checked; for a sampled tensor also
``fd/direction/<tensor>`` (k, *shape): the steps d taken, ``fd/directional/<tensor>`` (k,): the
differences n, ``fd/crossed/<tensor>`` (k,): which directions crossed a kink.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from parity import compare


def _row(res, key: str, part: "_Part", passed: bool, notes: list[str]) -> dict:
    """A row with the columns of every other row (``parity.run``)."""
    scale, max_abs = part.scale, part.max_abs
    return {"case": res.spec.name, "dtype": res.spec.dtype, "step": 0, "quantity": "fd", "tensor": key,
            "backend_a": "scratch", "backend_b": "fd", "max_abs": max_abs,
            "max_rel": max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf), "tolerance": part.rtol,
            "passed": bool(passed), "status": "pass" if passed else "fail", "mean_abs": part.mean_abs,
            "max_ulp": part.max_ulp, "worst_index": part.worst, "note": "; ".join(notes), "odd_one_out": "",
            "rule": "gradient-floor" if part.floored else "finite-difference"}


class _Part(NamedTuple):
    """One part of a row's check (the elements, or one direction)."""
    max_abs: float
    scale: float     # what max_abs is relative to
    rtol: float
    mean_abs: float
    max_ulp: float
    worst: str
    floored: bool    # scale is the noise floor G

    @property
    def passed(self) -> bool:
        """Within rtol of scale; an exact agreement passes even where nothing is allowed (a zero
        gradient against a zero difference: scale 0 and an infinite directional rtol)."""
        return bool(self.max_abs == 0 or (np.isfinite(self.max_abs) and self.max_abs <= self.rtol * self.scale))

    @property
    def ratio(self) -> float:
        """max_abs as a fraction of what it may be (inf for any error where nothing is allowed)."""
        allowed = self.rtol * self.scale
        return self.max_abs / allowed if allowed > 0 else (0.0 if self.max_abs == 0 else np.inf)


def _elements(g: np.ndarray, fd, keep: np.ndarray, loss: float, floor: float, noise: float, eps: float) -> _Part:
    a, n = g.reshape(-1)[fd.indices[keep]], fd.values[keep]
    m = compare.metrics(a, n, "float64")
    worst = np.unravel_index(int(fd.indices[keep][m.worst_index[0]]), fd.shape)
    return _Part(m.max_abs, max(m.scale, floor), compare.fd_tolerance(loss, a, n, eps, floor=floor, noise=noise), m.mean_abs,
                 m.max_ulp, str(tuple(int(i) for i in worst)), floor > m.scale)


def _direction(g: np.ndarray, norm: float, fd, j: int, loss: float, floor: float, noise: float, eps: float) -> _Part:
    d = fd.steps[j]
    a, n, size = float(np.sum(g * d)), float(fd.directional[j]), float(np.linalg.norm(d))
    scale = max(norm * size, abs(n), floor * size)
    err, top = abs(a - n), max(abs(a), abs(n))
    return _Part(err, scale, compare.fd_directional_tolerance(loss, scale, eps, noise=noise), err,
                 err / float(np.spacing(top)) if top > 0 else 0.0, f"direction {j}",
                 floor * size > max(norm * size, abs(n)))


def tensor_row(res, key: str, analytic: np.ndarray, fd, loss: float, floor: float, noise: bool,
               evaluation_noise: float = 0.0, eps: float = compare.FD_EPS) -> dict:
    """The fd row of one tensor: ``fd`` a ``scratchnet.gradcheck.TensorDifferences``, ``analytic``
    scratchnet's gradient, ``loss`` the loss at the point, ``floor`` G for a noise gradient (else 0),
    ``noise`` whether it is one (its kinks are not told apart from rounding: nothing left out)."""
    g = np.asarray(analytic, np.float64)
    kinks = np.zeros_like(fd.kinks) if noise else fd.kinks
    crossed = np.zeros_like(fd.crossed) if noise else fd.crossed
    usable = np.flatnonzero(~crossed)
    notes = [f"all {fd.size} elements" if fd.exhaustive else
             f"{usable.size} directions + {fd.indices.size} sampled elements of {fd.size}"]
    if kinks.any():
        notes.append(f"{int(kinks.sum())} of {kinks.size} elements at kinks (derivative undefined) left out")
    if crossed.any():
        notes.append(f"{int(crossed.sum())} of {crossed.size} directions crossed a kink (left out)")
    if not fd.exhaustive and not usable.size:
        notes.append(f"no direction free of kinks in {crossed.size} draws: only the sampled elements checked")
    parts = [_elements(g, fd, ~kinks, loss, floor, evaluation_noise, eps)] if (~kinks).any() else []
    norm = float(np.linalg.norm(g))
    directions = [_direction(g, norm, fd, int(j), loss, floor, evaluation_noise, eps) for j in usable]
    if directions:
        worst = max(directions, key=lambda p: p.ratio)
        parts.append(worst._replace(mean_abs=float(np.mean([p.max_abs for p in directions])),
                                    max_ulp=max(p.max_ulp for p in directions)))
    if not parts:  # nothing left to check: say so, never pass on nothing
        notes.append("every element at a kink: not checkable")
        return _row(res, key, _Part(0.0, 0.0, compare.tolerance("float64", "fd"), 0.0, 0.0, "()", False), False, notes)
    worst = max(parts, key=lambda p: p.ratio)
    if worst.floored:
        notes.append(f"relative to the case's largest gradient, {floor:.3g} (this one's largest is "
                     f"{float(np.max(np.abs(g), initial=0.0)):.2g})")
    return _row(res, key, worst, all(p.passed for p in parts) and all(p.passed for p in directions), notes)


def fd_rows(res, noise) -> list[dict]:
    """The fd rows of a float64 case run (``res.fd`` the differences by tensor key, ``noise`` the
    case's ``parity.noise.Noise``); none when the case has no finite differences."""
    if res.fd is None:
        return []
    scratch = res.results["scratch"]
    loss = scratch.loss
    rows = []
    for key, fd in res.fd.items():
        analytic = scratch.input_grad if key == "input" else scratch.grads[key]
        row = tensor_row(res, key, analytic, fd, loss, noise.floor_for(key), key in noise.tensors)
        if not row["passed"]:
            row = _with_measured_noise(res, key, analytic, fd, loss, noise, row)
        rows.append(row)
    return rows


def _with_measured_noise(res, key: str, analytic, fd, loss: float, noise, first: dict) -> dict:
    """A failing row judged again with the rounding bound of the loss's measured evaluation noise
    (``parity.backends.scratch.loss_noise``) where that exceeds u |L|: a loss of long sums that
    cancel (attention, normalisation) is noisier than one rounding of its value. The noise is
    measured, not assumed; a wrong gradient is off by far more than noise / h."""
    from parity.backends import scratch as scratch_backend
    from parity.run import variant_case

    case = variant_case(res.case, res.variants.get("scratch"))
    measured = scratch_backend.loss_noise(case, key)
    floor, is_noise = noise.floor_for(key), key in noise.tensors
    notes = []
    if measured > np.finfo(np.float64).eps * abs(loss):
        again = tensor_row(res, key, analytic, fd, loss, floor, is_noise, measured)
        notes.append(f"the loss's measured evaluation noise {measured:.2g} = "
                     f"{measured / (np.finfo(np.float64).eps * abs(loss)):.2g} u|L| (tolerance without it "
                     f"{first['tolerance']:.2g})")
        if again["passed"]:
            return {**again, "note": f"{again['note']}; {'; '.join(notes)}"}
    return _shorter(res, case, key, analytic, fd, loss, floor, is_noise, measured, first, notes)


SHORTER = 10  # a row that still fails is measured again at h / SHORTER


def _shorter(res, case, key: str, analytic, fd, loss: float, floor: float, is_noise: bool, measured: float,
             first: dict, notes: list[str]) -> dict:
    """A failing row measured again at h' = h / SHORTER, the same elements and directions, and judged
    with the rounding bound at h' (SHORTER times wider): a truncation error falls, by SHORTER^2 where
    the loss is smooth and by SHORTER where the step crosses a kink of its second derivative (Huber's
    transition, measured: 5.6e-7 at h = 1e-6, 3.6e-10 at 1e-7); a wrong gradient does not fall. The
    row passes only if the retry passes."""
    from parity.backends import scratch as scratch_backend

    eps = compare.FD_EPS / SHORTER
    near = scratch_backend.finite_difference_grads(case, eps, keys=(key,))[key]
    again = tensor_row(res, key, analytic, near, loss, floor, is_noise, measured, eps)
    if not again["passed"]:
        return {**first, "note": "; ".join([first["note"], *notes,
                                             f"at h = {eps:g} too: max_rel {again['max_rel']:.2g} > {again['tolerance']:.2g}"])}
    return {**again, "note": "; ".join([again["note"], *notes, f"measured at h = {eps:g} (at h = {compare.FD_EPS:g} "
                                        f"max_rel {first['max_rel']:.2g} > {first['tolerance']:.2g}: truncation)"])}


def fd_tensors(fd: dict | None, prefix: str) -> dict[str, np.ndarray]:
    """The ``tensors.npz`` entries of a case's finite differences (module docstring)."""
    out = {}
    for key, t in (fd or {}).items():
        out[f"{prefix}fd/grad/{key}"] = t.dense()
        if t.steps.shape[0]:
            out[f"{prefix}fd/direction/{key}"] = t.steps
            out[f"{prefix}fd/directional/{key}"] = t.directional
            out[f"{prefix}fd/crossed/{key}"] = t.crossed
    return out
