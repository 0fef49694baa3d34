"""One case through all backends: data, the same initial weights everywhere, outputs, loss,
gradients, the optimizer trajectory, and the comparison rows.

Keys of ``tensors.npz`` (``<case>@<dtype>/`` prefixes every key):
- ``input``, ``target``; ``initial/<layer>/<name>``: the canonical initial weights and state
  (``<layer>`` is the layer's name: the spec's, or ``<index>_<type>``, e.g. ``0_dense``);
- ``<backend>/output/<layer>``: each layer's output of the first forward;
- ``<backend>/loss`` (scalar), ``<backend>/losses`` (the loss before each step);
- ``<backend>/grad/<layer>/<param>`` and ``<backend>/grad/input``;
- ``<backend>/step<t>/<layer>/<name>``: parameters and state after optimizer step t (t = 1..steps);
- ``fd/grad/...``, ``fd/direction/...``, ``fd/directional/...``, ``fd/crossed/...``: finite
  differences (float64 cases; ``parity.fdcheck``).
``<backend>`` is ``scratch``, ``torch``, ``keras``, or ``scratch[torch]`` (scratchnet following torch's
convention, present when the frameworks' update rules differ for the case).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from parity import compare, fdcheck
from parity.backends import BackendResult, PreparedCase, keras_backend, scratch, torch_backend
from parity.mappings import LOSSES, OPTIMIZERS, BuildContext, Deviation, layer_mapping
from parity.noise import Noise
from parity.spec import CaseSpec, FrozenDict, SpecError, plan_of
from parity.spec.shapes import check_work

FRAMEWORK_PAIRS = (("scratch", "torch"), ("scratch", "keras"), ("torch", "keras"))
MAX_COMPARED_STEPS = 50


def load_data(spec: CaseSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """The input (and, for data sets, the labels) in canonical layout and the case dtype."""
    if spec.data == "xor":
        from scratchnet.tutorial import X, Y
        return X.astype(spec.dtype), Y.astype(spec.dtype)
    if spec.data == "digits":
        from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

        d = load_digits()
        n = spec.input_shape[0]
        return (d.data[:n] / 16.0).reshape(spec.input_shape).astype(spec.dtype), d.target[:n].astype(np.int64)
    kind = spec.input.kind
    if kind == "integers":
        return rng.integers(spec.input.low or 0, spec.input.high, size=spec.input_shape).astype(np.int64), None
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0, size=spec.input_shape).astype(spec.dtype), None
    return rng.standard_normal(spec.input_shape).astype(spec.dtype), None


def make_targets(spec: CaseSpec, out_shape: tuple, labels: np.ndarray | None, rng) -> np.ndarray:
    mapping = LOSSES[spec.loss.type]
    if labels is None:
        return mapping.targets(rng, out_shape, spec.dtype)
    if spec.data == "xor" or labels.dtype.kind == "f":
        return labels
    if spec.loss.type == "sparse_categorical_crossentropy":
        return labels
    return np.eye(out_shape[-1], dtype=spec.dtype)[labels]  # one-hot digits for every other loss


def prepare(spec: CaseSpec) -> PreparedCase:
    rng = np.random.default_rng(spec.seed)
    plan = plan_of(spec)
    x, labels = load_data(spec, rng)
    y = make_targets(spec, (spec.input_shape[0], *plan.output.out_shape), labels, rng)
    case = PreparedCase(spec, x, y, {}, plan)
    for node in plan:
        if node.type == "dropout":
            case.masks[node.name] = rng.random((spec.input_shape[0], *node.in_shape)) >= node.spec.params["rate"]
    case.initial = randomize_normalization(scratch.build_model(case).get_weights(), spec.seed)
    return case


def randomize_normalization(weights: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Replace the trivial initial values of biases (0) and normalisation (gamma 1, beta 0, moving
    mean 0, moving variance 1) with random ones, so that a wrong mapping of any of them shows up,
    inference mode uses non-trivial running statistics, and a ReLU after a zero bias does not sit
    exactly on its kink wherever the input is zero (the digits' blank borders), where finite
    differences are meaningless. Drawn from their own generator (seed, 1) so the rest of the
    case's data does not move."""
    rng = np.random.default_rng([seed, 1])
    draws = {"bias": lambda s: rng.normal(0.0, 0.1, s), "gamma": lambda s: rng.uniform(0.5, 1.5, s), "beta": lambda s: rng.normal(0.0, 0.25, s),
             "moving_mean": lambda s: rng.normal(0.0, 0.5, s), "moving_variance": lambda s: rng.uniform(0.5, 2.0, s)}
    out = {}
    for key, value in weights.items():
        name = key.rsplit("/", 1)[-1]
        out[key] = draws[name](value.shape).astype(value.dtype) if name in draws else value
    return out


def deviations(case: PreparedCase) -> list[Deviation]:
    dtype = case.spec.dtype
    return [dataclasses.replace(d, from_layer=node.index)
            for node in case.plan for d in layer_mapping(node.type).deviations(BuildContext.of(node, dtype))]


def rounding_deviation(case: PreparedCase, results: dict[str, BackendResult], noise: Noise) -> Deviation | None:
    """Keras's stated deviation when TensorFlow rounds hyperparameters through float32 in a float64
    case (``OptimizerMapping.tf_rounded``), sized by measurement, twice:
    - Keras rerun with the values float32 holds exactly (which TF leaves alone) against Keras: what
      TF rounds in some places and not in others (Adam's bias corrections take the rounded beta,
      its moment updates 1 - beta in full precision: ~1e-5 relative in the step size at 0.999);
    - scratchnet rerun with those values against scratchnet: what rounding them everywhere does
      (SGD's momentum, Adagrad's initial accumulator, a weight decay).
    Keras's step and state rows may differ from the others by twice the larger of the two (the
    largest relative change over the compared steps), plus the step tolerance. Parameters with a
    noise gradient, and running statistics right after them, are left out of the measurement (they
    part by +-lr steps whether rounded or not)."""
    spec = case.spec
    rounded = OPTIMIZERS[spec.optimizer.type].tf_rounded(spec.optimizer.params, spec.dtype)
    if rounded is None or not spec.steps:
        return None
    twin_case = dataclasses.replace(case, spec=dataclasses.replace(
        spec, optimizer=dataclasses.replace(spec.optimizer, params=FrozenDict(rounded))))
    twins = {"keras": keras_backend.run(twin_case), "scratch": scratch.run(twin_case)}
    skip = set(noise.params) | {k for k in results["scratch"].steps[0] if noise.state_reason_applies(k)}
    worst = max((compare.metrics(value, twins[name].steps[t - 1][key], spec.dtype).max_rel
                 for name in twins for t in compared_steps(spec.steps)
                 for key, value in results[name].steps[t - 1].items() if key not in skip), default=0.0)
    changed = ", ".join(f"{k}={spec.optimizer.params[k]}" for k in rounded if rounded[k] != spec.optimizer.params[k])
    return Deviation("keras", ("step", "state"), 2 * worst + compare.tolerance(spec.dtype, "step", spec.steps),
                     f"TF casts {changed} through float32 in float64 math (not everywhere alike); rerun with "
                     f"float32-exact values, Keras and scratchnet move by up to {worst:.2g} (relative): allowed "
                     "twice that")


def layer_conventions(case: PreparedCase) -> list[tuple[str, object]]:
    """(layer name, Convention) for every convention a layer's mapping declares for this case,
    those reaching only the trajectory left out when there are no steps."""
    spec = case.spec
    return [(node.name, c) for node in case.plan
            for c in layer_mapping(node.type).conventions(BuildContext.of(node, spec.dtype, training=spec.training))
            if spec.steps or "grad" in c.quantities]


def convention_quantities(case: PreparedCase) -> frozenset[str]:
    """The quantities whose torch-Keras rows are conventions: the trajectory's when torch and Keras
    differ by definition anywhere, and the gradients' too when a layer's convention reaches them."""
    if not convention_difference(case):
        return frozenset()
    return frozenset({"step", "state"}) | {q for _, c in layer_conventions(case) for q in c.quantities}


def convention_difference(case: PreparedCase) -> str | None:
    """Why torch's and Keras's results differ by definition for this case, or None."""
    spec = case.spec
    reasons = []
    if spec.steps:
        why = OPTIMIZERS[spec.optimizer.type].differ(spec.optimizer.params)
        if why:
            reasons.append(f"{spec.optimizer.type}: {why}")
    reasons += [f"{case.plan.layer(name).type}: {c.reason}" for name, c in layer_conventions(case)]
    return "; ".join(dict.fromkeys(reasons)) or None  # one mention per type


@dataclass
class CaseResult:
    spec: CaseSpec
    case: PreparedCase
    results: dict[str, BackendResult]
    fd: dict | None  # tensor key -> scratchnet.gradcheck.TensorDifferences (parity.fdcheck)
    rows: list[dict] = field(default_factory=list)
    convention: str | None = None
    convention_quantities: frozenset = frozenset()  # the quantities whose torch-keras rows are conventions
    deviations: list[Deviation] = field(default_factory=list)
    noise: Noise | None = None  # which gradients are rounding noise (parity.noise)

    @property
    def passed(self) -> bool:
        return all(r["passed"] for r in self.rows)


def compared_steps(steps: int) -> list[int]:
    """Every step up to MAX_COMPARED_STEPS; beyond, a 1-2-5 series and the last step."""
    if steps <= MAX_COMPARED_STEPS:
        return list(range(1, steps + 1))
    series = sorted({m * 10 ** e for e in range(6) for m in (1, 2, 5) if m * 10 ** e <= steps} | {steps})
    return series


def check_supported(spec: CaseSpec) -> None:
    """Raise SpecError (exit 2) naming the first layer torch has no twin for (a mapping's
    ``torch_only_if`` reason, e.g. Keras GRU ``reset_after=False``), or the field that puts the
    case's work over its budget (``parity.spec.shapes.check_work``)."""
    check_work(spec)
    for node in plan_of(spec):
        reason = layer_mapping(node.type).torch_only_if(BuildContext.of(node, spec.dtype))
        if reason:
            raise SpecError(spec.source, node.path, reason)


def run_case(spec: CaseSpec) -> CaseResult:
    check_supported(spec)
    case = prepare(spec)
    results = {"scratch": scratch.run(case), "torch": torch_backend.run(case), "keras": keras_backend.run(case)}
    convention = convention_difference(case)
    if convention:
        results["scratch[torch]"] = scratch.run(case, convention="torch", name="scratch[torch]")
    fd = scratch.finite_difference_grads(case) if spec.dtype == "float64" else None
    noise = Noise(results, spec, case.initial)
    rounding = rounding_deviation(case, results, noise)
    out = CaseResult(spec, case, results, fd, convention=convention, convention_quantities=convention_quantities(case),
                     deviations=deviations(case) + ([rounding] if rounding else []), noise=noise)
    out.rows = build_rows(out)
    return out


def _row(res: CaseResult, step, quantity, tensor, a, b, va, vb, convention: bool = False,
         floor: float = 0.0, noise: str = "") -> dict:
    """One comparison row. ``floor``: the gradient floor G for grad rows (``compare``); ``noise``:
    why a failing step row is rounding noise made into steps (a noise-gradient parameter), or ""."""
    dtype = res.spec.dtype
    rtol = compare.tolerance(dtype, quantity, step)
    status, note = "pass", ""
    for dev in res.deviations:
        if quantity not in dev.quantities or dev.backend not in (a, b):
            continue
        if quantity == "output" and res.case.plan.layer(tensor).index < dev.from_layer:
            continue  # upstream of the deviating layer
        if dev.rtol > rtol:
            rtol, note = dev.rtol, dev.reason
    m = compare.metrics(va, vb, dtype)
    ok = compare.passes(m, rtol, floor)
    if convention:
        status, note, ok = "convention", res.convention, True
    elif not ok and noise:
        status, note, ok = "noise", noise, True
    elif not ok:
        status = "fail"
    elif note:
        status = "deviation"
    if floor > m.scale:  # judged against the floor: the error is reported relative to it
        m = dataclasses.replace(m, max_rel=m.max_abs / floor)
        note = "; ".join(filter(None, [note, f"relative to the case's largest gradient, {floor:.3g} "
                                             f"(this one's largest is {m.scale:.2g})"]))
    return {"case": res.spec.name, "dtype": dtype, "step": step, "quantity": quantity, "tensor": tensor,
            "backend_a": a, "backend_b": b, "max_abs": m.max_abs, "max_rel": m.max_rel, "tolerance": rtol,
            "passed": ok, "status": status, "mean_abs": m.mean_abs, "max_ulp": m.max_ulp,
            "worst_index": str(m.worst_index), "note": note, "odd_one_out": ""}


def build_rows(res: CaseResult) -> list[dict]:
    r = res.results
    rows: list[dict] = []
    noise = res.noise or Noise(r, res.spec, res.case.initial)

    def excuse(a, b, key, quantity, t):
        if quantity == "step":
            return noise.step_reason(r[a], r[b], key, t)
        return noise.state_reason(r[a], r[b], key, t) if quantity == "state" else ""

    def triple(step, quantity, tensor, get):
        group = [_row(res, step, quantity, tensor, a, b, get(r[a]), get(r[b]),
                      floor=noise.floor_for(tensor) if quantity == "grad" else 0.0,
                      noise=excuse(a, b, tensor, quantity, step)) for a, b in FRAMEWORK_PAIRS]
        odd = compare.odd_one_out({(g["backend_a"], g["backend_b"]): g["passed"] for g in group})
        for g in group:
            g["odd_one_out"] = odd
        rows.extend(group)

    for key in res.case.keys:
        triple(0, "output", key, lambda b, k=key: b.outputs[k])
    def twins(step, quantity, key, get):
        """Each framework against scratchnet following its convention; torch-keras a convention."""
        noisy = {pair: excuse(*pair, key, quantity, step) for pair in (("scratch", "keras"), ("scratch[torch]", "torch"))}
        group = [_row(res, step, quantity, key, "scratch", "keras", get(r["scratch"]), get(r["keras"]),
                      noise=noisy["scratch", "keras"],
                      floor=noise.floor_for(key) if quantity == "grad" else 0.0),
                 _row(res, step, quantity, key, "scratch[torch]", "torch", get(r["scratch[torch]"]), get(r["torch"]),
                      noise=noisy["scratch[torch]", "torch"],
                      floor=noise.floor_for(key) if quantity == "grad" else 0.0),
                 _row(res, step, quantity, key, "torch", "keras", get(r["torch"]), get(r["keras"]), convention=True)]
        for g in group[:2]:
            g["odd_one_out"] = "" if g["passed"] else _blame_twin(g)
        rows.extend(group)

    triple(0, "loss", "loss", lambda b: np.asarray(b.loss))
    grad_rows = twins if "grad" in res.convention_quantities else triple
    for key in r["scratch"].grads:
        grad_rows(0, "grad", key, lambda b, k=key: b.grads[k])
    if r["scratch"].input_grad is not None:
        grad_rows(0, "grad", "input", lambda b: b.input_grad)
    rows.extend(fdcheck.fd_rows(res, noise))
    param_keys = set(r["scratch"].grads)
    for t in compared_steps(res.spec.steps):
        for key in r["scratch"].steps[t - 1]:
            quantity = "step" if key in param_keys else "state"
            get = lambda b, k=key, t=t: b.steps[t - 1][k]
            if res.convention:
                twins(t, quantity, key, get)
            else:
                triple(t, quantity, key, get)
    return rows


def _blame_twin(row: dict) -> str:
    """A framework disagreeing with its own-convention scratchnet twin: name both (scratch is checked
    by finite differences separately, so a passing fd check points at the framework)."""
    return f"{row['backend_a']}|{row['backend_b']}"
