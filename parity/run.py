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
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from parity import compare, fdcheck, propagation, verdicts
from parity.backends import BackendResult, PreparedCase, keras_backend, scratch, torch_backend
from parity.mappings import LOSSES, OPTIMIZERS, BuildContext, Deviation, defects, layer_mapping
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


def prepare(spec: CaseSpec, data: tuple | None = None, initial: dict | None = None) -> PreparedCase:
    """The case's input, target, dropout masks and initial weights, drawn from the spec's seed.
    ``data``: the user's own ``(x, y)`` instead (canonical layout; ``y`` None: targets drawn as
    usual); ``initial``: the user's own initial weights (canonical, every key of the model).
    Either is checked against the spec's shapes (ValueError naming the argument)."""
    rng = np.random.default_rng(spec.seed)
    plan = plan_of(spec)
    x, labels = load_data(spec, rng)
    out_shape = (spec.input_shape[0], *plan.output.out_shape)
    y = make_targets(spec, out_shape, labels, rng)
    if data is not None:
        x, y = _own_data(spec, x, y, data)
    case = PreparedCase(spec, x, y, {}, plan, sample_weight=sample_weights(spec))
    for node in plan:
        if node.type == "dropout":
            case.masks[node.name] = rng.random((spec.input_shape[0], *node.in_shape)) >= node.spec.params["rate"]
    drawn = randomize_normalization(scratch.build_model(case).get_weights(), spec.seed)
    case.initial = drawn if initial is None else _same_weights(drawn, initial, "initial: expected the model's")
    return case


def _own_data(spec: CaseSpec, x0: np.ndarray, y0: np.ndarray, data) -> tuple[np.ndarray, np.ndarray]:
    x, y = data
    x = np.asarray(x)
    if x.shape != x0.shape:
        raise ValueError(f"data: x has shape {x.shape}, the spec's input_shape is {x0.shape}")
    if (x.dtype.kind in "iu") != (x0.dtype.kind in "iu"):
        raise ValueError(f"data: x must be {'integer token ids' if x0.dtype.kind in 'iu' else 'floats'}, "
                         f"got dtype {x.dtype}")
    if x.dtype.kind in "iu":
        low, high = 0, plan_of(spec).layers[0].spec.params["input_dim"]
        if x.size and not (low <= x.min() and x.max() < high):
            raise ValueError(f"data: x holds token ids in [{x.min()}, {x.max()}], the embedding takes [{low}, {high})")
    elif x.dtype.kind != "f" or not np.isfinite(x).all():
        raise ValueError(f"data: x must be finite floats, got {'NaN or inf' if x.dtype.kind == 'f' else x.dtype}")
    x = x.astype(x0.dtype)
    if y is None:
        return x, y0
    y = np.asarray(y)
    if y.shape != y0.shape:
        raise ValueError(f"data: y has shape {y.shape}, the loss {spec.loss.type} takes targets of shape {y0.shape}")
    if y.dtype.kind not in "fiu" or not np.isfinite(y).all():
        raise ValueError(f"data: y must be finite numbers, got {'NaN or inf' if y.dtype.kind == 'f' else y.dtype}")
    if y0.dtype.kind in "iu" and (np.any(y != np.round(y)) or y.min() < 0 or y.max() >= plan_of(spec).output.out_shape[-1]):
        raise ValueError(f"data: y must be class ids in [0, {plan_of(spec).output.out_shape[-1]}) for "
                         f"{spec.loss.type}, got values in [{y.min()}, {y.max()}]")
    return x, y.astype(y0.dtype)


def _same_weights(reference: dict[str, np.ndarray], weights, what: str) -> dict[str, np.ndarray]:
    """``weights`` cast to ``reference``'s dtypes, once checked to have its keys and shapes (a
    ValueError starting with ``what`` names up to three that differ)."""
    if not isinstance(weights, Mapping):
        raise ValueError(f"{what.split(':')[0]}: expected a dict of weights keyed <layer>/<param>, got {type(weights).__name__}")
    want = {k: v.shape for k, v in reference.items()}
    got = {k: np.shape(v) for k, v in weights.items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:3]
        raise ValueError(f"{what} keys and shapes; differ at {diff}")
    out = {}
    for k, v in reference.items():
        w = np.asarray(weights[k])
        if w.dtype.kind not in "fiu" or not np.isfinite(w).all():
            raise ValueError(f"{what.split(':')[0]}: {k!r} must be finite numbers, got "
                             f"{'NaN or inf' if w.dtype.kind == 'f' else w.dtype}")
        out[k] = w.astype(v.dtype)
    return out


def sample_weights(spec: CaseSpec) -> np.ndarray | None:
    """The loss's per-sample weights for ``"sample_weight": true``: one per sample, uniform in
    [0.5, 1.5), from their own generator (seed, 2) so the rest of the case's data does not move."""
    if not spec.loss.params.get("sample_weight"):
        return None
    return np.random.default_rng([spec.seed, 2]).uniform(0.5, 1.5, size=spec.input_shape[0]).astype(spec.dtype)


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
    return [dataclasses.replace(d, from_layer=node.index, layer=node.name)
            for node in case.plan for d in layer_mapping(node.type).deviations(BuildContext.of(node, dtype))]


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
    results: dict[str, BackendResult]  # synced runs: every step from the reference's weights
    fd: dict | None  # tensor key -> scratchnet.gradcheck.TensorDifferences (parity.fdcheck)
    rows: list[dict] = field(default_factory=list)
    convention: str | None = None
    convention_quantities: frozenset = frozenset()  # the quantities whose torch-keras rows are conventions
    deviations: list[Deviation] = field(default_factory=list)
    noise: Noise | None = None  # which gradients are rounding noise (parity.noise)
    free: dict[str, BackendResult] = field(default_factory=dict)  # free-running torch and keras
    diverged_at: int | None = None  # the optimizer step at which every framework blew up alike
    parted_at: int | None = None  # the first step at which free-running trajectories parted
    defects: list = field(default_factory=list)  # (KnownDefect, why) triggered for the case
    counterfactuals: dict = field(default_factory=dict)  # cache of the reruns excuses ran
    variants: dict = field(default_factory=dict)  # backend -> Variant it ran instead of the case
    crashes: dict = field(default_factory=dict)  # backend -> (KnownDefect, why, error line): a known crash

    @property
    def verdict(self) -> str:
        return verdicts.worst(r["status"] for r in self.rows)

    @property
    def passed(self) -> bool:
        return verdicts.passed(self.verdict)


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
    check_exclusions(spec)


def check_exclusions(spec: CaseSpec) -> None:
    """Raise SpecError (exit 2) for an ``exclude_from_weight_decay`` string that matches no
    parameter name of the model (a typo, not a no-op; names as Keras's variable.name: kernel, bias, ...)."""
    import re

    strings = spec.optimizer.params.get("exclude_from_weight_decay")
    if not strings:
        return
    names = sorted({key.rsplit("/", 1)[-1] for key in scratch.parameter_keys(spec)})
    for i, s in enumerate(strings):
        try:
            pattern = re.compile(s)
        except re.error as exc:
            raise SpecError(spec.source, f"optimizer.exclude_from_weight_decay[{i}]",
                            f"expected a regular expression ({exc}), got {s!r}") from None
        if not any(pattern.search(n) for n in names):
            raise SpecError(spec.source, f"optimizer.exclude_from_weight_decay[{i}]",
                            f"expected a string found in a parameter name of the model ({', '.join(names)}), "
                            f"got {s!r}")


@dataclass(frozen=True)
class Variant:
    """What one backend runs instead of the prepared case: another spec (the same graph of layers,
    with other fields: a user's own epsilons, a planted bug), other initial weights (canonical
    layout, the same keys and shapes), and ``hooks`` passed to that backend's ``run(..., hooks=)``
    (code-level mutations; the backends document each hook name). ``scratch``'s variant is also
    the one ``scratch[torch]`` runs. Every run of that backend uses it: synced, free, and the reruns
    the excuses make. Uses: ``parity.compare_models`` (Keras with its own weights and fields), the
    selftest (a bug planted in one backend), diagnose (a switch flipped in one backend)."""

    spec: CaseSpec | None = None
    initial: Mapping[str, np.ndarray] | None = None
    hooks: Mapping[str, object] | None = None


def variant_case(case: PreparedCase, variant: Variant | None) -> PreparedCase:
    """``case`` as ``variant`` changes it, checked to be the same graph (names, output shapes and
    weight keys and shapes), so that every row still compares like with like."""
    if variant is None or (variant.spec is None and variant.initial is None):
        return case
    out = case
    if variant.spec is not None:
        plan = plan_of(variant.spec)
        if [(n.name, n.out_shape) for n in plan] != [(n.name, n.out_shape) for n in case.plan]:
            raise ValueError("a variant's spec must build the same graph as the case's (layer names and output shapes)")
        out = dataclasses.replace(out, spec=variant.spec, plan=plan)
    if variant.initial is not None:
        out = dataclasses.replace(out, initial=_same_weights(case.initial, variant.initial,
                                                             "a variant's initial weights must have the case's"))
    return out


def backend_run(res_or_variants, backend: str, case: PreparedCase, **options) -> BackendResult:
    """``backend``'s run of ``case`` (scratch, scratch[torch], torch or keras) under its variant."""
    variants = res_or_variants.variants if isinstance(res_or_variants, CaseResult) else (res_or_variants or {})
    if isinstance(res_or_variants, CaseResult) and backend in res_or_variants.crashes:
        options = {**res_or_variants.crashes[backend][0].rerun_options, **options}
    variant = variants.get("scratch" if backend.startswith("scratch") else backend)
    case = variant_case(case, variant)
    if variant is not None and variant.hooks:
        options["hooks"] = {**variant.hooks, **options.get("hooks", {})}
    if backend == "scratch[torch]":
        return scratch.run(case, convention="torch", name="scratch[torch]", **options)
    run = {"scratch": scratch.run, "torch": torch_backend.run, "keras": keras_backend.run}[backend]
    return run(case, **options)


def reference_of(backend: str, convention: str | None) -> str:
    """The reference run a backend's steps start from: scratchnet in the backend's own convention."""
    return "scratch[torch]" if convention and backend in ("torch", "scratch[torch]") else "scratch"


def run_case(spec: CaseSpec, variants: Mapping[str, Variant] | None = None, data: tuple | None = None,
             initial: dict | None = None, finite_differences: bool = True) -> CaseResult:
    """One case through every backend. The references (scratchnet, and scratchnet in torch's
    convention where the update rules differ) run free; torch and Keras run twice: synced (every
    step from their reference's weights: the step rows) and free (the trajectory rows).
    ``variants``: per backend (``scratch``, ``torch``, ``keras``), what it runs instead of the case
    (``Variant``); ``data`` and ``initial``: the user's own ``(x, y)`` and initial weights
    (``prepare``); ``finite_differences``: False skips the float64 fd rows (a rerun that needs
    only the frameworks' rows)."""
    variants = dict(variants or {})
    unknown = set(variants) - {"scratch", "torch", "keras"}
    if unknown:
        raise ValueError(f"variants name unknown backends {sorted(unknown)}: expected scratch, torch or keras")
    check_supported(spec)
    for v in variants.values():
        if v.spec is not None:
            check_supported(v.spec)
    case = prepare(spec, data, initial)
    for v in variants.values():
        variant_case(case, v)  # refuses a variant of another graph before anything runs
    convention = convention_difference(case)
    crashes: dict = {}

    def run(backend, **kw):
        """The backend's run; a crash a registered defect explains (``defects.crash_defect``) is
        recorded, and this and every later run of that backend go without the defect."""
        if backend in crashes:
            kw = {**crashes[backend][0].rerun_options, **kw}
        try:
            return backend_run(variants, backend, case, **kw)
        except Exception as exc:
            known = None if backend in crashes else defects.crash_defect(case, backend, exc)
            if known is None:
                raise
            crashes[backend] = (*known, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}")
            return run(backend, **kw)
    with np.errstate(all="ignore"):  # a run that overflows is reported as diverged, not warned about
        results = {"scratch": run("scratch")}
        if convention:
            results["scratch[torch]"] = run("scratch[torch]")
        results["torch"] = run("torch", sync=results[reference_of("torch", convention)].steps)
        results["keras"] = run("keras", sync=results["scratch"].steps)
        free = {"torch": run("torch"), "keras": run("keras")} if spec.steps >= 2 else {}
        fd = (scratch.finite_difference_grads(variant_case(case, variants.get("scratch")))
              if spec.dtype == "float64" and finite_differences else None)
    loss_dev = LOSSES[spec.loss.type].deviation(case, results["scratch"].loss)
    declared = deviations(case) + ([loss_dev] if loss_dev else [])
    noise = Noise(results, spec, case.initial, loose={
        d.backend: d.rtol for d in declared if "grad" in d.quantities and d.follow is None})
    out = CaseResult(spec, case, results, fd, convention=convention, convention_quantities=convention_quantities(case),
                     deviations=declared, noise=noise,
                     free=free, defects=defects.triggered(case) if spec.steps else [], variants=variants,
                     crashes=crashes)
    out.diverged_at = diverged_at(out)
    out.rows = build_rows(out)
    return out


DIVERGENCE_FACTOR = 1e6  # rule diverged of parity.compare.RULES


def _blown_up(result: BackendResult, steps: int) -> int | None:
    """The first step t (0: the forward before any step) after which ``result``'s loss is
    non-finite or more than DIVERGENCE_FACTOR x its step-0 value, or a weight non-finite."""
    loss0 = result.losses[0] if result.losses else 0.0
    if not np.isfinite(loss0):
        return 0
    for t in range(1, steps + 1):
        weights = result.steps[t - 1] if t - 1 < len(result.steps) else {}
        if any(not np.all(np.isfinite(w)) for w in weights.values()):
            return t
        if t < len(result.losses):
            loss = result.losses[t]
            if not np.isfinite(loss) or abs(loss) > DIVERGENCE_FACTOR * max(abs(loss0), np.finfo(np.float64).tiny):
                return t
    return None


def diverged_at(res: CaseResult) -> int | None:
    """The step at which every framework blew up alike (rule diverged), or None. One framework
    alone blowing up is not divergence: its rows fail and blame it."""
    spec = res.spec
    steps = {name: _blown_up(r, spec.steps) for name, r in res.results.items()}
    values = set(steps.values())
    return values.pop() if len(values) == 1 and None not in values else None


def _row(res: CaseResult, step, quantity, tensor, a, b, va, vb, floor: float = 0.0, allowance=None,
         excuses: tuple = (), layer_index: int = -1) -> dict:
    """One comparison row, judged by ``compare.judge``; ``layer_index``: the layer an output row
    belongs to (declared deviations touch rows from their layer on)."""
    dtype = res.spec.dtype
    touched = "step" if quantity == "trajectory" else quantity  # a deviation of the steps moves the trajectory
    declared = [dev for dev in res.deviations if touched in dev.quantities and dev.backend in (a, b)
                and not (quantity == "output" and layer_index < dev.from_layer)]
    if declared and all(dev.follow is not None for dev in declared):
        def check(m):
            return _followed(res, declared, quantity, tensor, step, {a: va, b: vb}, floor, allowance, m)
        excuses = (*excuses, compare.Excuse("declared-deviation", check))
    elif declared:
        dev = max(declared, key=lambda d: d.rtol)

        def check(m, dev=dev):
            if allowance is None:  # a gradient's float32 rounding is relative to the terms summed: G, at least
                ok = compare.passes(m, dev.rtol, max(floor, res.noise.floor if quantity in ("grad", "fd") and res.noise
                                                     else 0.0))
            else:  # the allowed gradient difference is dev.rtol, propagated through the optimizer as rtol's is
                ok = compare.passes_elementwise(va, vb, m, dev.rtol, propagated(res, a, b, step, tensor, quantity, dev.rtol))
            return ok, f"{dev.reason} (declared rtol {dev.rtol:g}; measured {m.max_rel:.2g})"
        excuses = (*excuses, compare.Excuse("declared-deviation", check))
    if "keras" in (a, b) and quantity in ("output", "loss", "grad"):
        excuses = (*excuses, compare.Excuse("tf-flush", lambda m: _tf_flush(res, a, b, quantity, tensor, m)))
    if quantity == "grad":
        excuses = (*excuses, compare.Excuse("grad-condition", lambda m: _conditioned(res, tensor, m)))
    if dtype == "float32" and quantity in ("output", "loss", "grad"):
        excuses = (*excuses, compare.Excuse("float32-rounding",
                                            lambda m: _float32_rounding(res, a, b, quantity, tensor, va, vb, m)))
    j = compare.judge(va, vb, dtype, quantity, step, floor=floor, allowance=allowance,
                      fd_loss=res.results["scratch"].loss if quantity == "fd" else None, excuses=excuses)
    m = j.metrics
    return {"case": res.spec.name, "dtype": dtype, "step": step, "quantity": quantity, "tensor": tensor,
            "backend_a": a, "backend_b": b, "max_abs": m.max_abs, "max_rel": m.max_rel, "tolerance": j.tolerance,
            "passed": j.passed, "status": j.status, "mean_abs": m.mean_abs, "max_ulp": m.max_ulp,
            "worst_index": str(m.worst_index), "note": j.reason, "odd_one_out": "", "rule": j.rule}


def _value(run: BackendResult, quantity: str, tensor: str, step: int) -> np.ndarray:
    """The tensor a row of ``quantity`` compares, from one backend's run."""
    if quantity == "output":
        return run.outputs[tensor]
    if quantity == "loss":
        return np.asarray(run.loss)
    if quantity == "grad":
        return run.input_grad if tensor == "input" else run.grads[tensor]
    return run.steps[step - 1][tensor]  # step, state, trajectory


def follow_of(res: CaseResult, side: str) -> dict[str, dict]:
    """Layer name -> the scratchnet keywords that follow ``side``'s declared constants
    (``Deviation.follow``) in this case."""
    follow: dict[str, dict] = {}
    for d in res.deviations:
        if d.backend == side and d.follow is not None and d.layer:
            follow.setdefault(d.layer, {}).update(d.follow)
    return follow


def _follow_run(res: CaseResult, side: str, free: bool) -> BackendResult:
    """``side``'s reference rerun following ``side``'s declared constants (``follow_of``): synced
    to the reference's own weights (step rows) or free-running (trajectory rows)."""
    ref = reference_of(side, res.convention)
    sync = None if free else res.results[ref].steps
    return _rerun(res, f"follow:{side}:{free}", lambda: backend_run(res, ref, res.case, sync=sync,
                                                                    follow=follow_of(res, side)))


def _followed(res: CaseResult, devs: list[Deviation], quantity, tensor, step, values: dict, floor, allowance,
              m) -> tuple[bool, str]:
    """Rule declared-deviation, demonstrated: each side of the pair against its reference run
    (synced to the same weights, or free for trajectory rows), strictly; a deviating side's
    reference rerun following its constants (``Deviation.follow`` on its deviating layers). When
    every side holds, the constants explain the whole difference, however many meet in one row."""
    dtype, free = res.spec.dtype, quantity == "trajectory"
    why = []
    for side, value in values.items():
        ref = reference_of(side, res.convention)
        if side == ref:
            continue
        follow = follow_of(res, side)  # all of the side's constants: one rerun per side serves every row
        run = _follow_run(res, side, free) if follow else res.results[ref]
        j = compare.judge(value, _value(run, quantity, tensor, step), dtype, quantity, step, floor=floor,
                          allowance=allowance)
        if not (j.passed and j.status == "pass") and quantity == "grad":  # rule grad-condition's bound
            j = dataclasses.replace(j, passed=_conditioned(res, tensor, j.metrics)[0], status="pass")
        if not follow:
            if not (j.passed and j.status == "pass"):
                return False, f"{side} differs from its reference {ref} ({j.metrics.max_rel:.2g}) beyond the declared causes"
            why.append(f"{side} agrees with {ref}, scratchnet in its convention ({j.metrics.max_rel:.2g})")
            continue
        said = "; ".join(dict.fromkeys(d.reason for d in devs if d.backend == side))
        shown = ", ".join(f"{layer}: {', '.join(f'{k}={v!r}' for k, v in kw.items())}" for layer, kw in follow.items())
        if not (j.passed and j.status == "pass"):
            return False, (f"{said}; {ref} following {side}'s constants ({shown}) still differs from {side} "
                           f"({j.metrics.max_rel:.2g}): the constants do not explain it")
        why.append(f"{said}; {ref} following {side}'s constants ({shown}) agrees with {side} ({j.metrics.max_rel:.2g})")
    return True, f"{'; '.join(why)} (measured {m.max_rel:.2g})"


# rule float32-rounding: a side's float32 error may be this many times the backends' median error.
# float32's unit roundoff is 2^-24; the next format a framework may silently compute in (TF32 or
# float16, 2^-11) is 8192 x coarser. 64 = 2^6 sits between: honest float32 implementations of
# one tensor differed by up to 6.2x and 34x (torch's more precise sum) on the fuzz findings
# (tests/parity/data/fuzz-float32-*.json), a TF32 or float16 computation is >= 1000x off.
FLOAT32_PRECISION_FACTOR = 64


def float64_twin(res: CaseResult) -> CaseResult:
    """The float32 case rerun in float64 on the same data and initial weights (upcast exactly), every
    backend, forward and gradients only (steps 0, no finite differences), variants included."""
    def up(a):
        return a.astype(np.float64) if a.dtype == np.float32 else a

    def spec64(spec):
        return dataclasses.replace(spec.with_dtype("float64"), steps=0)

    case = res.case
    variants = {n: dataclasses.replace(
        v, spec=spec64(v.spec) if v.spec is not None else None,
        initial={k: up(np.asarray(w)) for k, w in v.initial.items()} if v.initial is not None else None)
        for n, v in res.variants.items()}
    return run_case(spec64(res.spec), variants, data=(up(case.x), up(case.y)),
                    initial={k: up(v) for k, v in case.initial.items()}, finite_differences=False)


CONDITION_DRAWS = 4  # sign patterns of rule grad-condition's perturbed reruns


def condition_runs(res: CaseResult) -> list[BackendResult]:
    """Rule grad-condition's reruns: scratchnet's forward and gradients (steps 0) with every
    initial weight and (real) input element scaled by (1 + s u), s = +-1 drawn from
    Generator([seed, 5, k]), u the dtype's unit roundoff, and in float64 every layer's output and
    returned gradients likewise (hook ``round_off``, signs from Generator([seed, 6, k])): how far
    one rounding of the inputs and of every intermediate moves each gradient. A framework computing
    the same layers in another order errs by about as much (each layer's rounding errors are
    those of its output, and of the gradients it passes down, as a backward-stable layer's are);
    through a chain of layers that cancel (three BatchNorms, attention) the intermediates' part
    is what the inputs' alone leave out (fuzz seed 11 cases 128 and 230: the pairs 2.03 and 2.14
    times the inputs' move). In float32 the inputs only: there rule float32-rounding removes the
    cause outright (the float64 twin), and float32's intermediate roundings, through a cancelling
    gradient, move it as far as a Keras weight planted 1e-4 off does
    (tests/parity/test_float32_rounding.py), which must fail."""
    spec = dataclasses.replace(res.spec, steps=0)
    out = []
    for k in range(CONDITION_DRAWS):
        rng = np.random.default_rng([res.spec.seed, 5, k])
        case = dataclasses.replace(res.case, spec=spec, x=scratch.rounded(np.asarray(res.case.x), rng),
                                   initial={key: scratch.rounded(np.asarray(w), rng) for key, w in res.case.initial.items()})
        hooks = {"round_off": np.random.default_rng([res.spec.seed, 6, k])} if res.spec.dtype == "float64" else {}
        out.append(backend_run(res, "scratch", case, hooks=hooks))
    return out


def _conditioned(res: CaseResult, tensor: str, m) -> tuple[bool, str]:
    """Rule grad-condition: the pair within 2 e + rtol * scale, e the largest move of scratchnet's
    gradient of ``tensor`` under a one-rounding perturbation of its inputs (in float64 also of its
    intermediates: ``condition_runs``)."""
    runs = _rerun(res, "grad-condition", lambda: condition_runs(res))
    base = np.asarray(_value(res.results["scratch"], "grad", tensor, 0), np.float64)
    e = max(float(np.max(np.abs(base - _value(run, "grad", tensor, 0)), initial=0.0)) for run in runs)
    bound = 2 * e + compare.tolerance(res.spec.dtype, "grad") * m.scale
    moved = "inputs and intermediates" if res.spec.dtype == "float64" else "inputs"
    return m.max_abs <= bound, (f"the gradient's condition: scratchnet's moves by up to {e:.2g} when its {moved} move "
                                f"by one rounding ({len(runs)} sign patterns); the pair differs by {m.max_abs:.2g}")


def flushed_runs(res: CaseResult) -> dict[str, BackendResult]:
    """Rule tf-flush's counterfactual: scratchnet and torch rerun (forward and gradients, steps 0)
    with the calling thread's flush-to-zero and denormals-are-zero flags set, as TensorFlow's CPU
    kernels run; ``torch.set_flush_denormal`` sets them for numpy's operations in that thread too,
    and they are cleared again before anything else runs."""
    import torch

    case = dataclasses.replace(res.case, spec=dataclasses.replace(res.spec, steps=0))
    names = ["scratch", *(["scratch[torch]"] if res.convention else []), "torch"]
    torch.set_flush_denormal(True)
    try:
        return {n: backend_run(res, n, case) for n in names}
    finally:
        torch.set_flush_denormal(False)


def _tf_flush(res: CaseResult, a, b, quantity, tensor, m) -> tuple[bool, str]:
    """Rule tf-flush: the other side of a Keras pair, rerun with subnormals flushed, agrees strictly
    with Keras, and the flush changed it (a row no subnormal reaches is not this cause). scratchnet,
    whose operation order may keep other intermediates normal, may instead go through torch: it
    agrees strictly with torch, and torch flushed agrees strictly with Keras."""
    other = b if a == "keras" else a
    runs = _rerun(res, "tf-flush", lambda: flushed_runs(res))
    keras = _value(res.results["keras"], quantity, tensor, 0)
    dtype = res.spec.dtype

    def flushed_agrees(name):
        flushed = _value(runs[name], quantity, tensor, 0)
        if np.array_equal(flushed, _value(res.results[name], quantity, tensor, 0), equal_nan=True):
            return None  # no subnormal reaches this row in that backend
        j = compare.judge(flushed, keras, dtype, quantity)
        return j.passed and j.status == "pass", j.metrics.max_rel

    own = flushed_agrees(other)
    if own is not None and own[0]:
        return True, (f"TensorFlow flushes subnormals to zero: {other} rerun with them flushed (FTZ/DAZ) agrees "
                      f"strictly with keras ({own[1]:.2g}; {m.max_abs:.2g} apart without the flush)")
    if other == "scratch" and "torch" in runs:
        through = flushed_agrees("torch")
        st = compare.judge(_value(res.results["scratch"], quantity, tensor, 0),
                           _value(res.results["torch"], quantity, tensor, 0), dtype, quantity)
        if through is not None and through[0] and st.passed and st.status == "pass":
            return True, (f"TensorFlow flushes subnormals to zero: scratch agrees strictly with torch "
                          f"({st.metrics.max_rel:.2g}), and torch rerun with them flushed (FTZ/DAZ) agrees strictly with "
                          f"keras ({through[1]:.2g}; {m.max_abs:.2g} apart without the flush)")
    if own is None:
        return False, "subnormals flushed to zero: the rerun does not change this row (no subnormal reaches it)"
    return False, f"subnormals flushed to zero: {other} rerun with them flushed still differs from keras ({own[1]:.2g})"


def _float32_rounding(res: CaseResult, a, b, quantity, tensor, va, vb, m) -> tuple[bool, str]:
    """Rule float32-rounding: the float64 twin passes this row, and each side's float32 error is
    within max(FLOAT32_PRECISION_FACTOR x the median of the backends' float32 errors, rtol * scale)
    (the median: neither one more precise framework nor one defective one moves it)."""
    twin = _rerun(res, "float64-twin", lambda: float64_twin(res))
    rows = [r for r in twin.rows if (r["quantity"], r["tensor"], r["backend_a"], r["backend_b"]) == (quantity, tensor, a, b)]
    if not rows or not rows[0]["passed"]:
        return False, (f"in float64 on the same data and weights the pair differs too "
                       f"({rows[0]['max_rel']:.2g})" if rows else "no float64 row to compare")
    errors = {}
    for name, run in res.results.items():
        if name in twin.results:
            e = np.abs(np.asarray(_value(run, quantity, tensor, 0), np.float64) - _value(twin.results[name], quantity, tensor, 0))
            errors[name] = float(np.max(e, initial=0.0))
    best = float(np.median(list(errors.values())))
    bound = max(FLOAT32_PRECISION_FACTOR * best, compare.RTOL["float32"] * m.scale)
    ok = errors[a] <= bound and errors[b] <= bound
    shown = ", ".join(f"{n} {e:.2g}" for n, e in errors.items())
    return ok, (f"float32 rounding: in float64 the pair agrees ({rows[0]['max_rel']:.2g}); float32 errors against "
                f"float64 {shown} ({'each within' if ok else 'not all within'} {FLOAT32_PRECISION_FACTOR}x their "
                f"median, {best:.2g}, or rtol * scale)")


def build_rows(res: CaseResult) -> list[dict]:
    r = res.results
    spec = res.spec
    rows: list[dict] = []
    noise = res.noise = res.noise or Noise(r, spec, res.case.initial)
    d = res.diverged_at

    def triple(step, quantity, tensor, get, **kw):
        group = [_row(res, step, quantity, tensor, a, b, get(r[a]), get(r[b]), **kw) for a, b in FRAMEWORK_PAIRS]
        odd = compare.odd_one_out({(g["backend_a"], g["backend_b"]): g["passed"] for g in group})
        for g in group:
            g["odd_one_out"] = odd
        rows.extend(group)

    for backend in res.crashes:
        rows.extend(crash_rows(res, backend))
    with np.errstate(all="ignore"):
        finite = lambda key: all(np.all(np.isfinite(r[n].outputs[key])) for n in FRAMEWORKS)  # noqa: E731
        for key in res.case.keys:
            if d == 0 and not finite(key):
                break  # the overflowing layer and everything after it: not compared
            triple(0, "output", key, lambda b, k=key: b.outputs[k], layer_index=res.case.plan.layer(key).index)
        if d == 0:
            rows.extend(diverged_rows(res))
            return rows
        triple(0, "loss", "loss", lambda b: np.asarray(b.loss), floor=loss_condition(res))
        grad_rows = (lambda key, get: rows.extend(grad_twin_rows(res, key, get, noise.floor_for(key)))) \
            if "grad" in res.convention_quantities else \
            (lambda key, get: triple(0, "grad", key, get, floor=noise.floor_for(key)))
        for key in r["scratch"].grads:
            grad_rows(key, lambda b, k=key: b.grads[k])
        if r["scratch"].input_grad is not None:
            grad_rows("input", lambda b: b.input_grad)
        rows.extend(fdcheck.fd_rows(res, noise))
        steps = [t for t in compared_steps(spec.steps) if d is None or t < d]
        rows.extend(step_rows(res, steps))
        rows.extend(trajectory_rows(res, steps))
        if d is not None:
            rows.extend(diverged_rows(res))
    return rows


FRAMEWORKS = ("scratch", "torch", "keras")


def propagated(res: CaseResult, a: str, b: str, t: int, key: str, quantity: str, rtol: float | None = None):
    """Rule step-propagation's allowance A(a) + A(b) of a step row at step t, the sum over the
    steps so far of a trajectory row, None for a state or any other row. ``rtol``: a declared
    deviation's allowed gradient difference, relative to G in every tensor (a float32 computation's
    error is the size of the terms it sums; default: the dtype's, G for noise gradients only),
    propagated through the optimizer by rerunning it (``parity.propagation``: not linear in it)."""
    if quantity not in ("step", "trajectory") or key not in res.results["scratch"].grads:
        return None
    declared = rtol is not None  # a declared deviation's float32 error is relative to G in every tensor
    rtol = compare.RTOL[res.spec.dtype] if rtol is None else rtol
    noise = res.noise or Noise(res.results, res.spec, res.case.initial)
    tensors = set(res.results["scratch"].grads) if declared else set(noise.tensors) - {"input"}
    allow = _rerun(res, f"allowances:{rtol!r}", lambda: _allowances(res, tensors, rtol))
    steps = [t] if quantity == "step" else range(1, t + 1)
    return sum(_pair_allowance(allow, res.convention, a, b, s, key) for s in steps)


def _allowances(res: CaseResult, floored: set, rtol: float) -> dict[str, list[dict[str, np.ndarray]]]:
    """Rule step-propagation's A_t for each reference run (``parity.propagation``); ``floored``: the
    tensors whose allowed gradient difference is relative to G (noise gradients)."""
    spec = res.spec
    mapping = OPTIMIZERS[spec.optimizer.type]
    out = {}
    for name in ("scratch", "scratch[torch]"):
        if name not in res.results:
            continue
        ref = res.results[name]
        convention = "torch" if name == "scratch[torch]" else "keras"
        out[name] = propagation.step_allowances(
            lambda c=convention: mapping.scratch(spec.optimizer.params, c),
            res.case.initial, ref.steps, ref.step_grads, floored, rtol)
    return out


def grad_twin_rows(res: CaseResult, key: str, get, floor: float) -> list[dict]:
    """Gradient rows where a layer's convention reaches them: each framework against scratchnet
    following its rule (strict), torch vs Keras a convention when both twin rows pass."""
    r = res.results
    by_pair = {}
    for a, b in (("scratch", "keras"), ("scratch[torch]", "torch"), ("torch", "keras")):
        excuses = tuple(e for e in _excuses(res, a, b, 0, key, "grad", by_pair) if e.rule == "convention")
        by_pair[(a, b)] = _row(res, 0, "grad", key, a, b, get(r[a]), get(r[b]), floor=floor, excuses=excuses)
    _blame(by_pair, res.convention)
    return list(by_pair.values())


def step_rows(res: CaseResult, steps: list[int]) -> list[dict]:
    """Step and state rows: each backend's weights after step t, every backend having started step
    t from its reference's weights (rule step-propagation), with the excuses this case can claim."""
    if not steps:
        return []
    r, spec, conv = res.results, res.spec, res.convention
    param_keys = set(r["scratch"].grads)
    pairs = [("scratch", "keras"), ("scratch[torch]", "torch"), ("torch", "keras")] if conv else list(FRAMEWORK_PAIRS)
    rows = []
    for t in steps:
        group_rows = []
        for key in r["scratch"].steps[t - 1]:
            quantity = "step" if key in param_keys else "state"
            by_pair = {}
            for a, b in pairs:
                va, vb = r[a].steps[t - 1][key], r[b].steps[t - 1][key]
                allowance = propagated(res, a, b, t, key, quantity)
                excuses = _excuses(res, a, b, t, key, quantity, by_pair, allowance)
                row = _row(res, t, quantity, key, a, b, va, vb, allowance=allowance, excuses=excuses)
                by_pair[(a, b)] = row
                group_rows.append(row)
            _blame(by_pair, conv)
        rows.extend(group_rows)
    return rows


def _pair_allowance(allow, conv, a, b, t, key):
    """A(a) + A(b): a reference run (the one the pair's backends start from) has A = 0."""
    total = np.zeros_like(allow["scratch"][t - 1][key])
    for n in (a, b):
        ref = reference_of(n, conv)
        if n != ref:
            total = total + allow[ref][t - 1][key]
    return total


def _blame(by_pair: dict, conv: str | None) -> None:
    """The odd one out of one tensor's rows, from every comparison it has: with twins, a framework
    whose own-convention twin row fails while the other framework's passes is the odd one; both
    twin rows failing blame scratchnet, the one implementation in both."""
    passed = {pair: row["passed"] for pair, row in by_pair.items()}
    if not conv:
        odd = compare.odd_one_out(passed)
    else:
        sk, st = passed.get(("scratch", "keras"), True), passed.get(("scratch[torch]", "torch"), True)
        odd = "" if sk and st else "keras" if st else "torch" if sk else "scratch"  # scratchnet is in both failing rows
    for row in by_pair.values():
        row["odd_one_out"] = odd if not all(passed.values()) else ""


def _excuses(res: CaseResult, a: str, b: str, t: int, key: str, quantity: str, done: dict, allowance=None) -> tuple:
    """The claims a failing step/state row of pair (a, b) may make, each with its counterfactual;
    ``allowance``: the row's own (rule step-propagation, or trajectory's sum), which the reruns'
    rows are judged with too."""
    out = []
    if res.convention and (a, b) == ("torch", "keras"):
        twins = {pair: done.get(pair) for pair in (("scratch", "keras"), ("scratch[torch]", "torch"))}
        # a twin row that passed by a worse cause (a defect, a deviation) is part of this row's explanation
        worse = [row for row in twins.values() if row is not None and row["passed"]
                 and verdicts.rank(row["status"]) > verdicts.rank("convention")]
        rule = max(worse, key=lambda row: verdicts.rank(row["status"]))["rule"] if worse else "convention"

        def convention(m, twins=twins, worse=worse):
            ok = all(row is not None and row["passed"] for row in twins.values())
            if not ok:
                return False, f"{res.convention}, but a twin row did not pass strictly"
            also = "; ".join(f"{row['backend_b']}'s twin row {row['status']}: {row['note']}" for row in worse)
            return True, (f"{res.convention} (measured {m.max_rel:.2g}); each framework agrees with its "
                          f"own-convention scratchnet twin" + (f" ({also})" if also else " strictly"))
        out.append(compare.Excuse(rule, convention))
    if "keras" in (a, b):
        rounded = OPTIMIZERS[res.spec.optimizer.type].tf_rounded(res.spec.optimizer.params, res.spec.dtype)
        if rounded is not None:
            out.append(compare.Excuse("tf-rounding", lambda m: _tf_rounding(res, rounded, a, b, t, key, quantity, m,
                                                                            allowance)))
        for defect, why in res.defects:
            if defect.framework in (a, b):
                out.append(compare.Excuse("defect", lambda m, d=defect, w=why: _defect(res, d, w, a, b, t, key, quantity, m,
                                                                                       allowance)))
    noise = res.noise.tensors if res.noise is not None else set()
    if res.spec.optimizer.params.get("epsilon") == 0 and quantity in ("step", "state", "trajectory") and (
            key in noise or (quantity == "trajectory" and noise)):  # a free run carries a 0 / 0 into every tensor
        out.append(compare.Excuse("zero-over-zero", lambda m: _zero_over_zero(res, a, b, t, key, quantity, m, allowance)))
    through = _through_reference(res, a, b, done)
    if through is not None:
        out.append(through)
    return tuple(out)


def _through_reference(res: CaseResult, a: str, b: str, done: dict):
    """torch vs Keras without a convention, when both of their rows with scratchnet (their common
    reference) passed and at least one only by a demonstrated cause: max|t - k| <= max|t - s| +
    max|s - k|, so the causes of those two rows explain this one, under the rule of the worse of
    them. For causes whose rerun cannot reach torch (a Keras constant scratchnet follows, a Keras
    defect, TF's float32 values), and for two causes, one on each side (torch's float32 constant
    and TF's float32 hyperparameters)."""
    if (a, b) != ("torch", "keras") or res.convention:
        return None
    st, sk = done.get(("scratch", "torch")), done.get(("scratch", "keras"))
    if st is None or sk is None or not st["passed"] or not sk["passed"] or st["status"] == sk["status"] == "pass":
        return None
    worse = max((st, sk), key=lambda row: verdicts.rank(row["status"]))
    return compare.Excuse(worse["rule"], lambda m: (True, (
        f"both frameworks agree with scratch, their common reference: torch {st['status']} ({st['max_rel']:.2g}"
        f"{': ' + st['note'] if st['note'] else ''}); keras {sk['status']} ({sk['max_rel']:.2g}"
        f"{': ' + sk['note'] if sk['note'] else ''})")))


def _rerun(res: CaseResult, label: str, make):
    if label not in res.counterfactuals:
        with np.errstate(all="ignore"):
            res.counterfactuals[label] = make()
    return res.counterfactuals[label]


def _tf_rounding(res: CaseResult, rounded: dict, a, b, t, key, quantity, m, allowance=None) -> tuple[bool, str]:
    """Rule tf-rounding: all three rerun with the float32-exact hyperparameters (synced to the same
    reference weights); the excuse holds where the rerun pair agrees strictly and the difference is
    no larger than twice what the rounding moves either side of the pair by (Keras not at all where
    TF rounds the value anyway; the other side by the rounding's whole effect)."""
    case = res.case
    free = quantity == "trajectory"
    runs = _rerun(res, f"tf-rounding:{free}", lambda: _rounded_runs(res, rounded, free))
    orig = {**res.results, **res.free} if free else res.results
    va, vb = runs[a].steps[t - 1][key], runs[b].steps[t - 1][key]
    rerun = compare.judge(va, vb, case.spec.dtype, quantity, t, allowance=allowance)
    moved = max(compare.metrics(orig[n].steps[t - 1][key], runs[n].steps[t - 1][key], case.spec.dtype).max_abs
                for n in (a, b))  # the same NaN in both runs has not moved
    bound = 2 * moved + compare.tolerance(case.spec.dtype, quantity, t) * m.scale
    agrees = rerun.passed and rerun.status == "pass"
    within = ""
    loose = [d for d in res.deviations if "step" in d.quantities and d.backend in (a, b) and d.follow is None]
    if loose and not agrees:  # a declared deviation no rerun removes is allowed in the rerun, propagated as ever
        dev = max(loose, key=lambda d: d.rtol)
        dev_allowance = propagated(res, a, b, t, key, quantity, dev.rtol)  # None: a state row (no gradient)
        agrees = (compare.passes(rerun.metrics, dev.rtol) if dev_allowance is None else
                  compare.passes_elementwise(va, vb, rerun.metrics, dev.rtol, dev_allowance))
        bound += dev.rtol * m.scale if dev_allowance is None else float(np.max(dev_allowance))
        within = f" within the declared deviation's propagated allowance ({dev.reason.split(',')[0]})"
    changed = ", ".join(f"{k}={res.spec.optimizer.params[k]}" for k in rounded if rounded[k] != res.spec.optimizer.params[k])
    ok = agrees and np.isfinite(bound) and m.max_abs <= bound  # inf: not a rounding
    return ok, (f"TF casts {changed} through float32 in float64 math; rerun with float32-exact values the pair "
                f"{'agrees' + within if agrees else 'still differs'} ({rerun.metrics.max_rel:.2g}); the rounding moves "
                f"the pair's backends by up to {moved:.2g}, the pair differs by {m.max_abs:.2g}")


def _rounded_runs(res: CaseResult, rounded: dict, free: bool, extra: dict | None = None,
                  override: dict | None = None) -> dict[str, BackendResult]:
    """Every backend rerun with ``rounded`` hyperparameters: synced to the original references
    (step rows) or free-running (trajectory rows); scratchnet, Keras's reference, also follows
    Keras's declared layer constants (``follow_of``), so that both causes are removed at once.
    ``extra``: backend -> run options of another cause removed in the same rerun (a defect's);
    ``override``: hyperparameters set in every backend's own (a variant's too) after the rounding."""
    spec = res.spec
    twin = dataclasses.replace(res.case, spec=dataclasses.replace(
        spec, optimizer=dataclasses.replace(spec.optimizer, params=FrozenDict(rounded))))
    sync = (lambda name: None) if free else (lambda name: res.results[name].steps)

    def own_rounded(s: CaseSpec) -> CaseSpec:  # a variant's own hyperparameters, rounded as TF would round them
        params = {**(OPTIMIZERS[s.optimizer.type].tf_rounded(s.optimizer.params, s.dtype) or s.optimizer.params),
                  **(override or {})}
        return dataclasses.replace(s, optimizer=dataclasses.replace(s.optimizer, params=FrozenDict(params)))

    variants = {name: dataclasses.replace(v, spec=own_rounded(v.spec)) if v.spec is not None else v
                for name, v in res.variants.items()}
    names = ["scratch", *(["scratch[torch]"] if res.convention else []), "torch", "keras"]
    ref = {"scratch": "scratch", "scratch[torch]": "scratch[torch]", "keras": "scratch",
           "torch": reference_of("torch", res.convention)}
    options = {n: {**(res.crashes[n][0].rerun_options if n in res.crashes else {}), **(extra or {}).get(n, {})}
               for n in names}
    if follow_of(res, "keras"):
        options["scratch"]["follow"] = follow_of(res, "keras")  # Keras's reference follows its declared constants too
    return {n: backend_run(variants, n, twin, sync=sync(ref[n]), **options[n]) for n in names}


def _zero_over_zero(res: CaseResult, a, b, t, key, quantity, m, allowance=None) -> tuple[bool, str]:
    """Rule zero-over-zero: with epsilon 0, a normalising update of a gradient element that is
    exactly 0 is 0 / 0 (NaN), of one that is rounding noise +-lr: for a noise gradient, which a
    framework gets is chance. Every backend rerun with epsilon the dtype's smallest normal (0 / 0
    becomes 0, nothing else moves; TF's float32 hyperparameters, if any, rounded in all three)
    must pass the row."""
    tiny = float(np.finfo(res.spec.dtype).tiny)
    free = quantity == "trajectory"
    spec = res.spec  # TF's float32 hyperparameters removed in the same rerun, where they reach the row
    params = {**(OPTIMIZERS[spec.optimizer.type].tf_rounded(spec.optimizer.params, spec.dtype) or spec.optimizer.params),
              "epsilon": tiny}
    runs = _rerun(res, f"zero-over-zero:{free}", lambda: _rounded_runs(res, params, free, override={"epsilon": tiny}))
    rerun = compare.judge(runs[a].steps[t - 1][key], runs[b].steps[t - 1][key], res.spec.dtype, quantity, t,
                          allowance=allowance)
    ok = rerun.passed and rerun.status == "pass"
    if not ok and free:  # a free-running rerun parts as any chaotic run does: rule chaos on the rerun's difference
        ok = _chaos(res, a, t, key, rerun.metrics)[0]
    return ok, (f"epsilon 0 makes the update of a gradient element that is exactly 0 a 0 / 0 (NaN) and of rounding "
                f"noise +-lr; rerun with epsilon {tiny:.3g} the pair {'agrees' if ok else 'still differs'} "
                f"({rerun.metrics.max_rel:.2g})")


def _defect(res: CaseResult, defect, why: str, a, b, t, key, quantity, m, allowance=None) -> tuple[bool, str]:
    """Rule defect: the framework rerun without the defect (same reference weights) agrees strictly.
    Where TF's float32 hyperparameters also reach the row (a Keras pair, ``tf_rounded``), both
    causes are removed in one rerun: every backend on the float32-exact values, the defect's
    framework without the defect. Where the framework also has declared constants its reference
    follows (``follow_of``), the pair's reference side is that following rerun, so that both
    causes are removed at once there too."""
    free = quantity == "trajectory"
    spec = res.spec
    rounded = (OPTIMIZERS[spec.optimizer.type].tf_rounded(spec.optimizer.params, spec.dtype)
               if "keras" in (a, b) else None)
    also = ""
    if rounded is not None:
        runs = _rerun(res, f"defect+tf-rounding:{defect.name}:{free}", lambda: _rounded_runs(
            res, rounded, free, extra={defect.framework: defect.rerun_options}))
        also = " (with TF's float32 hyperparameters removed in the same rerun)"
    else:
        runs = {**res.results, **res.free} if free else dict(res.results)
        ref = None if free else res.results[reference_of(defect.framework, res.convention)].steps
        runs[defect.framework] = _rerun(res, f"defect:{defect.name}:{free}", lambda: backend_run(
            res, defect.framework, res.case, sync=ref, **defect.rerun_options))
        home = reference_of(defect.framework, res.convention)
        if follow_of(res, defect.framework) and home in (a, b):  # the reference on the framework's constants
            runs[home] = _follow_run(res, defect.framework, free)
            also = f" (with {home} following {defect.framework}'s declared constants in the same comparison)"
    rerun = compare.judge(runs[a].steps[t - 1][key], runs[b].steps[t - 1][key], res.spec.dtype, quantity, t,
                          allowance=allowance)
    ok = rerun.passed and rerun.status == "pass"
    return ok, (f"known defect {defect.name} ({defect.versions}): {why}; {defect.counterfactual}{also}: the pair "
                f"{'agrees strictly' if ok else 'still differs'} ({rerun.metrics.max_rel:.2g}); repro: "
                f"repro/{defect.name}.py in the report folder")


def trajectory_rows(res: CaseResult, steps: list[int]) -> list[dict]:
    """Free-running trajectories (each backend on its own weights from step 1 on) against their
    reference, from step 2 (step 1 is the step row), up to and including the first step at which a
    pair parts beyond rule trajectory: after that they are no longer comparable, and the step at
    which they parted is the figure worth reporting (``res.parted_at``). A parameter's tolerance
    includes sum_{s <= t} A_s(a) + A_s(b), rule step-propagation's allowances of the steps so far
    (each free-running update may differ by its A_s, whatever the weights it started from)."""
    if not res.free:
        return []
    r, conv = res.results, res.convention
    runs = {**{n: r[n] for n in ("scratch", "scratch[torch]") if n in r}, **res.free}
    pairs = [("scratch", "keras"), ("scratch[torch]", "torch"), ("torch", "keras")] if conv else list(FRAMEWORK_PAIRS)
    rows = []
    for t in (t for t in steps if t >= 2):
        parted = False
        for key in r["scratch"].steps[t - 1]:
            by_pair = {}
            for a, b in pairs:
                allowance = propagated(res, a, b, t, key, "trajectory")
                resync = ([compare.Excuse("resync", lambda m, a=a, b=b, t=t, key=key: _resynced(res, a, b, t, key))]
                          if key not in r["scratch"].grads else [])  # a running statistic
                excuses = [*resync, compare.Excuse("chaos", lambda m, a=a, t=t, key=key: _chaos(res, a, t, key, m)),
                           *_excuses(res, a, b, t, key, "trajectory", by_pair, allowance)]
                row = _row(res, t, "trajectory", key, a, b, runs[a].steps[t - 1][key], runs[b].steps[t - 1][key],
                           allowance=allowance, excuses=tuple(excuses))
                by_pair[(a, b)] = row
                parted |= row["status"] != "pass"
                rows.append(row)
            _blame(by_pair, conv)
        if parted:
            res.parted_at = t
            break
    return rows


def _resynced(res: CaseResult, a: str, b: str, t: int, key: str) -> tuple[bool, str]:
    """Rule resync: a running statistic's free-running trajectory, each framework's value at step t
    against its reference rerun from that framework's own free weights and statistics at t - 1:
    where each agrees strictly, the framework updates the statistic as the math does, and the
    pair's difference is carried by the weights it was computed from (judged by their own rows)."""
    shown = []
    for n in (a, b):
        ref = reference_of(n, res.convention)
        if n == ref:
            continue
        rerun = _rerun(res, f"resync:{n}", lambda n=n, ref=ref: backend_run(res, ref, res.case, sync=res.free[n].steps))
        j = compare.judge(rerun.steps[t - 1][key], res.free[n].steps[t - 1][key], res.spec.dtype, "state", t)
        if not (j.passed and j.status == "pass"):
            return False, f"{ref} from {n}'s own weights and statistics at step {t - 1} differs ({j.metrics.max_rel:.2g})"
        shown.append(f"{n} agrees with {ref} stepped from {n}'s own step-{t - 1} weights and statistics "
                     f"({j.metrics.max_rel:.2g})")
    return bool(shown), "; ".join(shown) + ": the difference is carried by the weights the statistic was computed from"


def _chaos(res: CaseResult, a: str, t: int, key: str, m) -> tuple[bool, str]:
    """Rule chaos: scratchnet from weights perturbed by rtol parts from the reference at least as
    far as this pair (the farthest of ``propagation.CHAOS_DRAWS`` perturbed reruns)."""
    conv = "torch" if reference_of(a, res.convention) == "scratch[torch]" else "keras"
    ref = res.results["scratch[torch]" if conv == "torch" else "scratch"]
    v = res.variants.get("scratch")
    hooks = {"hooks": v.hooks} if v is not None and v.hooks else {}
    moved = _rerun(res, f"chaos:{conv}", lambda: propagation.perturbed_runs(
        variant_case(res.case, v), lambda c, **kw: scratch.run(c, **kw, **hooks), conv))
    reference = np.asarray(ref.steps[t - 1][key], np.float64)
    e = max(float(np.max(np.abs(reference - run.steps[t - 1][key]), initial=0.0)) for run in moved)
    bound = 2 * e + compare.tolerance(res.spec.dtype, "trajectory", t) * m.scale
    ok = m.max_abs <= bound
    return ok, (f"free-running trajectories part at step {t}: scratchnet from weights perturbed by "
                f"{compare.RTOL[res.spec.dtype]:g} ({len(moved)} directions) parts by up to {e:.2g} by then, the pair by {m.max_abs:.2g}; "
                "trajectories are not compared after they part")


def loss_condition(res: CaseResult) -> float:
    """S of rule loss-condition: the loss's own reduction of |w_i l_i|, scratchnet's per-sample
    losses (``reduction="none"``, weights applied) at scratchnet's output; 0 for reduction none."""
    spec = res.spec
    reduction = spec.loss.params.get("reduction")
    if reduction in (None, "none"):  # a loss of its own reduction (sum_squared_error: terms >= 0), or none
        return 0.0
    out = res.results["scratch"].outputs[res.case.plan.output.name]
    loss = LOSSES[spec.loss.type].scratch({**spec.loss.params, "reduction": "none"})
    with np.errstate(all="ignore"):
        terms = np.abs(np.asarray(loss.forward(res.case.y, out, res.case.sample_weight), np.float64))
    total = float(np.sum(np.where(np.isfinite(terms), terms, 0.0)))
    return total / terms.size if reduction == "sum_over_batch_size" and terms.size else total


def crash_rows(res: CaseResult, backend: str) -> list[dict]:
    """Rule defect for a crash: the backend raised the error of a registered defect whose trigger
    holds; one row per pair with it, and every other row of that backend is its rerun without the
    defect (which must pass those rows on its own)."""
    defect, why, error = res.crashes[backend]
    note = (f"{backend} raised {error}; known defect {defect.name} ({defect.versions}): {why}; every {backend} row "
            f"of this case is from the {defect.counterfactual[0].lower()}{defect.counterfactual[1:]}; repro "
            f"repro/{defect.name}.py in the report folder")
    return [{"case": res.spec.name, "dtype": res.spec.dtype, "step": 0, "quantity": "run", "tensor": "run",
             "backend_a": a, "backend_b": b, "max_abs": float("nan"), "max_rel": float("nan"), "tolerance": 0.0,
             "passed": True, "status": "defect", "mean_abs": float("nan"), "max_ulp": float("nan"),
             "worst_index": "()", "note": note, "odd_one_out": backend, "rule": "defect"}
            for a, b in FRAMEWORK_PAIRS if backend in (a, b)]


def diverged_rows(res: CaseResult) -> list[dict]:
    """Rule diverged: one row per pair at the divergence step, not passed."""
    d, spec = res.diverged_at, res.spec
    losses = {n: (res.results[n].losses[d] if d < len(res.results[n].losses) else float("nan")) for n in FRAMEWORKS}
    note = (f"every framework blew up alike at step {d} (loss non-finite or > {DIVERGENCE_FACTOR:g} x its step-0 "
            f"value, or a weight non-finite): " + ", ".join(f"{n} loss {v:.3g}" for n, v in losses.items())
            + "; the steps from it on are not compared")
    return [{"case": spec.name, "dtype": spec.dtype, "step": d, "quantity": "loss", "tensor": "loss",
             "backend_a": a, "backend_b": b, "max_abs": float("nan"), "max_rel": float("nan"), "tolerance": 0.0,
             "passed": False, "status": "diverged", "mean_abs": float("nan"), "max_ulp": float("nan"),
             "worst_index": "()", "note": note, "odd_one_out": "", "rule": "diverged"} for a, b in FRAMEWORK_PAIRS]
