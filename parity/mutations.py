"""The one registry of known mistakes: every ``Switch`` is a named transform of ONE backend's
case (its layer fields, its initial weights in canonical layout, or a code path through
``parity.hooks``). The same fact serves twice:

- ``parity selftest`` plants it in one backend (a bug on purpose) and checks that the harness
  catches it and blames that backend (``parity.selftest``);
- ``parity diagnose`` flips it on the odd-one-out backend of a failing comparison (or on Keras for
  a port), alone and in pairs, and names the switches that make the frameworks agree
  (``parity.diagnose``).

A switch has a ``forward`` transform (the mistake as selftest plants it) and, where the mistake is
not its own inverse, a ``backward`` one (its undoing); diagnose tries both. Each transform says
where it applies (``targets(spec, plan)``: layer names, or ``"optimizer"`` / ``"loss"``), what it
does (``plant(planted, target) -> Planted``), and the sentence a porter can act on
(``what``, completed by ``sentence``). Transforms are pure: they return a new ``Planted`` and
never touch the arrays they are given.

Kinds: ``weights`` (a transform of the canonical initial weights: the weight conversion of that
backend gone wrong), ``fields`` (a transform of the layer / loss / optimizer fields: a setting
left at the wrong value), ``hook`` (a code path, ``parity.hooks``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from parity.spec import CaseSpec, FrozenDict, plan_of
from scratchnet.optimizers.schedules import LearningRateSchedule

OTHER_CONVENTION = {"keras": "torch", "torch": "keras"}


@dataclass(frozen=True)
class Planted:
    """What one backend runs: its spec, its initial weights (canonical layout), its hooks."""

    spec: CaseSpec
    initial: Mapping[str, np.ndarray]
    hooks: Mapping[str, object] = field(default_factory=dict)

    def variant(self):
        from parity.run import Variant

        return Variant(spec=self.spec, initial=dict(self.initial), hooks=dict(self.hooks) or None)


@dataclass(frozen=True)
class Transform:
    """One direction of a switch: where it applies, what it does, what it says."""

    targets: Callable[[CaseSpec, object], list[str]]  # (spec, plan) -> targets it applies to
    plant: Callable[[Planted, str], Planted]
    what: str | Callable[[Planted, str], str]  # "its Dense kernel {target} is transposed": completes
    # "agrees ... when <what>"; a callable (planted, target) -> str where the values belong in it

    def describe(self, planted: Planted, target: str) -> str:
        return self.what(planted, target) if callable(self.what) else self.what.format(target=target)


@dataclass(frozen=True)
class Switch:
    name: str
    kind: str  # weights | fields | hook
    applies_to: str  # the layer types, optimizers or losses, in words
    forward: Transform  # the mistake as planted
    backward: Transform | None = None  # its undoing, where forward is not its own inverse
    cases: tuple[str, ...] = ()  # representative catalog cases (parity selftest's default)
    convention: str = ""  # the CONVENTIONS.md fact it stands for
    diagnose: bool = True  # a switch diagnose can flip (False: the mistake loses information, no undoing)

    @property
    def directions(self) -> tuple[Transform, ...]:
        return (self.forward,) if self.backward is None else (self.forward, self.backward)


# -- small helpers --------------------------------------------------------------------------------
def _layers_of(plan, *types: str) -> list:
    return [node for node in plan if node.type in types]


def _with_weights(planted: Planted, changes: dict[str, np.ndarray]) -> Planted:
    return dataclasses.replace(planted, initial={**planted.initial, **changes})


def _with_layer_params(planted: Planted, target: str, **params) -> Planted:
    spec = planted.spec
    layers = tuple(dataclasses.replace(layer, params=FrozenDict({**layer.params, **params}))
                   if node.name == target else layer for node, layer in zip(plan_of(spec), spec.layers))
    return dataclasses.replace(planted, spec=dataclasses.replace(spec, layers=layers, plan=None))


def _with_section(planted: Planted, section: str, **params) -> Planted:
    spec = planted.spec
    part = getattr(spec, section)
    new = dataclasses.replace(part, params=FrozenDict({**part.params, **params}))
    return dataclasses.replace(planted, spec=dataclasses.replace(spec, **{section: new}))


def _with_hook(planted: Planted, name: str, value) -> Planted:
    if name in planted.hooks:
        raise ValueError(f"hook {name!r} is set already: two switches of one code path cannot be combined")
    return dataclasses.replace(planted, hooks={**planted.hooks, name: value})


def _one(transform: Callable[[Planted, str], dict[str, np.ndarray]]):
    """A weights transform from a function returning the changed arrays."""
    return lambda planted, target: _with_weights(planted, transform(planted, target))


# -- kernels and biases ---------------------------------------------------------------------------
def _dense_reshaped(planted, target):
    k = np.asarray(planted.initial[f"{target}/kernel"])  # (I, U)
    return {f"{target}/kernel": k.T.reshape(k.shape).copy()}  # torch's weight (U, I) reshaped, not transposed


def _dense_unreshaped(planted, target):
    k = np.asarray(planted.initial[f"{target}/kernel"])
    return {f"{target}/kernel": k.reshape(k.shape[::-1]).T.copy()}


def _conv_flipped(planted, target):
    k = np.asarray(planted.initial[f"{target}/kernel"])  # (kh, kw, I, O)
    return {f"{target}/kernel": k[::-1, ::-1].copy()}


def _conv_targets(spec, plan):
    return [n.name for n in _layers_of(plan, "conv2d", "depthwise_conv2d", "conv1d")
            if np.prod(n.spec.params["kernel_size"]) > 1]


def _bias_targets(spec, plan):
    return [n.name for n in _layers_of(plan, "dense", "conv2d", "conv1d", "depthwise_conv2d") if n.spec.params["use_bias"]]


def _no_bias(planted, target):
    return {f"{target}/bias": np.zeros_like(np.asarray(planted.initial[f"{target}/bias"]))}


def _flatten_dense(spec, plan):
    """Dense layers reading a Flatten of an image (rank-3 input): where the row order matters."""
    out = []
    for node in _layers_of(plan, "dense"):
        src = node.inputs[0]
        if src != "input" and plan.layer(src).type == "flatten" and len(plan.layer(src).in_shape) == 3:
            out.append(node.name)
    return out


def _flat_perm(planted, target):
    from parity.mappings.base import flat_perm

    plan = plan_of(planted.spec)
    return np.asarray(flat_perm(plan.layer(plan.layer(target).inputs[0]).in_shape))


def _rows_to_chw(planted, target):
    k = np.asarray(planted.initial[f"{target}/kernel"])
    return {f"{target}/kernel": k[np.argsort(_flat_perm(planted, target))].copy()}  # rows in torch's C,H,W order


def _rows_to_hwc(planted, target):
    k = np.asarray(planted.initial[f"{target}/kernel"])
    return {f"{target}/kernel": k[_flat_perm(planted, target)].copy()}


# -- attention ------------------------------------------------------------------------------------
def _qk_targets(spec, plan):
    """Attention layers whose query and key kernels have one shape (E_q = E_k): a swap is possible."""
    return [n.name for n in _layers_of(plan, "multi_head_attention") if n.in_shapes[0][-1] == n.in_shapes[-1][-1]]


def _swap_qk(planted, target):
    out = {}
    for name in ("kernel", "bias"):
        q, k = f"{target}/query/{name}", f"{target}/key/{name}"
        if q in planted.initial:
            out[q], out[k] = np.array(planted.initial[k], copy=True), np.array(planted.initial[q], copy=True)
    return out


# -- recurrent gate blocks ------------------------------------------------------------------------
def _swap_blocks(planted, target, n_blocks: int, a: int, b: int, names: tuple[str, ...]):
    out = {}
    for name in names:
        key = f"{target}/{name}"
        if key not in planted.initial:
            continue
        w = np.array(planted.initial[key], copy=True)
        u = w.shape[-1] // n_blocks
        blocks = [w[..., i * u:(i + 1) * u].copy() for i in range(n_blocks)]
        blocks[a], blocks[b] = blocks[b], blocks[a]
        out[key] = np.concatenate(blocks, axis=-1)
    return out


RECURRENT = ("kernel", "recurrent_kernel", "bias")


# -- normalisation and optimizer fields -----------------------------------------------------------
KERAS_NORM_EPS, TORCH_NORM_EPS = 1e-3, 1e-5
KERAS_OPT_EPS, TORCH_OPT_EPS = 1e-7, 1e-8


def _other_norm_eps(eps: float) -> float:
    """The other framework's default: torch's 1e-5 for a value near Keras's 1e-3, else Keras's."""
    return TORCH_NORM_EPS if eps >= 1e-4 else KERAS_NORM_EPS


def _other_opt_eps(eps: float) -> float:
    return TORCH_OPT_EPS if math.isclose(eps, KERAS_OPT_EPS) else KERAS_OPT_EPS


def _norm_eps(planted, target):
    eps = plan_of(planted.spec).layer(target).spec.params["epsilon"]
    return _with_layer_params(planted, target, epsilon=_other_norm_eps(eps))


def _whose(eps: float, keras: float, torch: float) -> str:
    return " (Keras's default)" if math.isclose(eps, keras) else " (torch's default)" if math.isclose(eps, torch) else ""


def _describe_norm_eps(kind: str):
    def what(planted, target):
        eps = plan_of(planted.spec).layer(target).spec.params["epsilon"]
        new = _other_norm_eps(eps)
        return (f"its {kind} {target} epsilon is {new:g}{_whose(new, KERAS_NORM_EPS, TORCH_NORM_EPS)} instead of "
                f"{eps:g}{_whose(eps, KERAS_NORM_EPS, TORCH_NORM_EPS)}")
    return what


def _describe_opt_eps(planted, target):
    eps = planted.spec.optimizer.params["epsilon"]
    new = _other_opt_eps(eps)
    return (f"its optimizer epsilon is {new:g}{_whose(new, KERAS_OPT_EPS, TORCH_OPT_EPS)} instead of "
            f"{eps:g}{_whose(eps, KERAS_OPT_EPS, TORCH_OPT_EPS)}")


def _opt_has(name: str, positive: bool = True):
    def targets(spec, plan):
        v = spec.optimizer.params.get(name)
        return ["optimizer"] if spec.steps and v is not None and (not positive or v > 0) else []
    return targets


def _scratch_optimizer(spec: CaseSpec, convention: str, **changes):
    from parity.mappings import OPTIMIZERS

    params = {**spec.optimizer.params, **changes}
    return OPTIMIZERS[spec.optimizer.type].scratch(params, convention)


def _other_rule(planted, target):
    spec = planted.spec
    return _with_hook(planted, "optimizer", lambda convention: _scratch_optimizer(spec, OTHER_CONVENTION[convention]))


def _momentum_targets(spec, plan):
    p = spec.optimizer.params
    # SGD and RMSprop: the conventions part in momentum units alone when there is no weight decay
    # and (RMSprop) no epsilon: otherwise the other rule changes those too
    if spec.steps and spec.optimizer.type in ("sgd", "rmsprop") and p.get("momentum", 0) > 0 \
            and not p.get("weight_decay") and not (spec.optimizer.type == "rmsprop" and p["epsilon"] > 0):
        return ["optimizer"]
    return []


def _placement_targets(spec, plan):
    p = spec.optimizer.params
    if not spec.steps or spec.optimizer.type not in ("adam", "rmsprop", "adagrad", "adamax") or not p.get("epsilon"):
        return []
    if p.get("weight_decay") and spec.optimizer.type != "adam" or p.get("momentum"):
        return []  # the other rule would change the decay coupling or the momentum units too
    return ["optimizer"]


class CoupledDecay:
    """Weight decay as an L2 penalty's gradient (g + wd p) fed to an optimizer without decay:
    torch's ``Adam(weight_decay)`` / ``SGD(weight_decay)``, where Keras decouples it."""

    def __init__(self, optimizer, weight_decay: float):
        self.optimizer, self.weight_decay = optimizer, weight_decay

    def apply(self, params, grads):
        dt = {k: p.dtype.type for k, p in params.items()}
        self.optimizer.apply(params, {k: g + dt[k](self.weight_decay) * params[k] for k, g in grads.items()})


def _coupled(planted, target):
    spec = planted.spec
    wd = spec.optimizer.params["weight_decay"]
    return _with_hook(planted, "optimizer",
                      lambda convention: CoupledDecay(_scratch_optimizer(spec, convention, weight_decay=0.0), wd))


def _schedule_targets(spec, plan):
    return ["optimizer"] if spec.steps and isinstance(spec.optimizer.params["learning_rate"], Mapping) else []


class Shifted(LearningRateSchedule):
    """A learning-rate schedule read one step late or early: the update of step t uses
    ``schedule(max(t - 1 + shift, 0))`` instead of Keras's ``schedule(t - 1)``."""

    def __init__(self, schedule: LearningRateSchedule, shift: int):
        self.schedule, self.shift, self.name = schedule, shift, schedule.name

    def __call__(self, step):
        return self.schedule(max(step + self.shift, 0))

    def get_config(self):
        return {**self.schedule.get_config(), "shift": self.shift}


def _shift_schedule(shift: int):
    def plant(planted, target):
        spec = planted.spec

        def factory(convention):
            opt = _scratch_optimizer(spec, convention)
            opt.learning_rate = Shifted(opt.schedule, shift)
            return opt
        return _with_hook(planted, "optimizer", factory)
    return plant


# -- padding --------------------------------------------------------------------------------------
def _symmetric_same(node) -> tuple[int, int] | None:
    """The symmetric padding ``(p_h, p_w)`` that puts TF's odd cell on the top/left instead of the
    bottom/right (p = ceil(total / 2) each side) with the same output shape, or None."""
    from scratchnet.layers._windows import output_size, same_padding

    p = node.spec.params
    if node.type not in ("conv2d", "depthwise_conv2d") or p["padding"] != "same":
        return None
    pads = []
    for size, k, s, d in zip(node.in_shape[:2], p["kernel_size"], p["strides"], p["dilation_rate"]):
        lo, hi = same_padding(size, k, s, d)
        sym = (lo + hi + 1) // 2
        if output_size(size + 2 * sym, k, s, d) != output_size(size + lo + hi, k, s, d):
            return None
        pads.append(sym)
    return tuple(pads)


def _same_targets(spec, plan):
    return [n.name for n in plan if _symmetric_same(n) is not None]


def _pad_symmetric(planted, target):
    node = plan_of(planted.spec).layer(target)
    return _with_layer_params(planted, target, padding=_symmetric_same(node))


def _pad_same(planted, target):
    return _with_layer_params(planted, target, padding="same")


def _explicit_targets(spec, plan):
    """Convolutions with an explicit symmetric padding that TF's ``same`` would spell with the odd
    cell at the bottom/right instead (the undoing of ``same_padding_side``)."""
    out = []
    for n in plan:
        if n.type in ("conv2d", "depthwise_conv2d") and isinstance(n.spec.params["padding"], tuple):
            same = dataclasses.replace(n, spec=dataclasses.replace(n.spec, params=FrozenDict({**n.spec.params, "padding": "same"})))
            if _symmetric_same(same) == tuple(n.spec.params["padding"]):
                out.append(n.name)
    return out


# -- fan-out ------------------------------------------------------------------------------------------
def _fanout_targets(spec, plan):
    """``<reader>:<index>``: the last reader's edge of every tensor read more than once."""
    out = []
    for name in ["input", *plan.names]:
        readers = plan.readers(name)
        if len(readers) > 1:
            last = readers[-1]
            out.append(f"{last.name}:{last.inputs.index(name)}")
    return out


def _stop(planted, target):
    layer, index = target.rsplit(":", 1)
    edges = tuple(planted.hooks.get("stop_gradient", ()))
    hooks = {**planted.hooks, "stop_gradient": (*edges, (layer, int(index)))}
    return dataclasses.replace(planted, hooks=hooks)


# -- losses -------------------------------------------------------------------------------------------
def _reduction_targets(spec, plan):
    return ["loss"] if spec.loss.params.get("reduction") in ("sum", "sum_over_batch_size") else []


def _other_reduction(planted, target):
    r = planted.spec.loss.params["reduction"]
    return _with_section(planted, "loss", reduction="sum" if r == "sum_over_batch_size" else "sum_over_batch_size")


# -- the registry ---------------------------------------------------------------------------------
def _layer_targets(*types):
    return lambda spec, plan: [n.name for n in _layers_of(plan, *types)]


def _square_or_any(spec, plan):
    return [n.name for n in _layers_of(plan, "dense")]


SWITCHES: tuple[Switch, ...] = (
    Switch("dense_kernel_transposed", "weights", "dense",
           Transform(_square_or_any, _one(_dense_reshaped),
                     "its Dense kernel {target} is torch's weight reshaped to (in, units) instead of transposed "
                     "(for a square kernel: not transposed)"),
           Transform(_square_or_any, _one(_dense_unreshaped),
                     "its Dense kernel {target} is transposed from torch's (units, in) weight (kernel = weight.T), "
                     "not reshaped"),
           cases=("mlp-tanh-mse",), convention="Layouts: Dense kernel = weight.T"),
    Switch("conv_kernel_flipped", "weights", "conv2d, depthwise_conv2d, conv1d (kernel > 1)",
           Transform(_conv_targets, _one(_conv_flipped),
                     "its convolution kernel {target} is flipped in space (kernel[::-1, ::-1]: a true convolution, "
                     "where every framework cross-correlates)"),
           cases=("conv-same-stride2",), convention="Layouts: Conv2D kernel = weight.permute(2, 3, 1, 0)"),
    Switch("flatten_order", "weights", "dense after a flatten of an image",
           Transform(_flatten_dense, _one(_rows_to_chw),
                     "its Dense kernel {target} after Flatten has its rows permuted from H,W,C to C,H,W order"),
           Transform(_flatten_dense, _one(_rows_to_hwc),
                     "its Dense kernel {target} after Flatten is permuted from C,H,W to H,W,C order "
                     "(kernel = weight.T[perm], perm = arange(C*H*W).reshape(C,H,W).transpose(1,2,0).ravel())"),
           cases=("cnn-flatten-dense",), convention="Layouts: Flatten -> Dense"),
    Switch("lstm_gates_swapped", "weights", "lstm",
           Transform(_layer_targets("lstm"), _one(lambda p, t: _swap_blocks(p, t, 4, 0, 1, RECURRENT)),
                     "its LSTM {target} has the input and forget gate blocks (i, f) swapped in the kernel, recurrent "
                     "kernel and bias"),
           cases=("lstm-last-state-dense",), convention="Layouts: LSTM gates i,f,g,o"),
    Switch("gru_gates_swapped", "weights", "gru",
           Transform(_layer_targets("gru"), _one(lambda p, t: _swap_blocks(p, t, 3, 0, 1, RECURRENT)),
                     "its GRU {target} has the update and reset gate blocks (z, r) swapped in the kernel, recurrent "
                     "kernel and bias (torch's r,z,n is Keras's z,r,h)"),
           cases=("gru-reset-after",), convention="Layouts: GRU gates r,z,n vs z,r,h"),
    Switch("gru_bias_rows_swapped", "weights", "gru with reset_after",
           Transform(lambda spec, plan: [n.name for n in _layers_of(plan, "gru") if n.spec.params["reset_after"]],
                     _one(lambda p, t: {f"{t}/bias": np.asarray(p.initial[f"{t}/bias"])[::-1].copy()}),
                     "its GRU {target} has the two bias rows swapped (bias = stack([bias_ih, bias_hh]): row 0 the "
                     "input bias, row 1 the recurrent bias inside the reset gate's product)"),
           cases=("gru-reset-after",), convention="Layouts: GRU bias (2, 3U) = stack([b_ih, b_hh])"),
    Switch("attention_qk_swapped", "weights", "multi_head_attention with query and key of one size",
           Transform(_qk_targets, _one(_swap_qk),
                     "its MultiHeadAttention {target} has the query and key projections swapped (torch's packed "
                     "in_proj_weight (3E, E) is q, k, v in that order: query = chunk 0, key = chunk 1)"),
           cases=("attention-encoder-block",), convention="Multi-head attention: packed q, k, v"),
    Switch("bias_missing", "weights", "dense, conv2d, conv1d, depthwise_conv2d with use_bias",
           Transform(_bias_targets, _one(_no_bias), "its layer {target} lost its bias (zeros)"),
           cases=("mlp-tanh-mse",), diagnose=False),
    Switch("bn_momentum_meaning", "fields", "batch_normalization",
           Transform(_layer_targets("batch_normalization"),
                     lambda p, t: _with_layer_params(p, t, momentum=1.0 - plan_of(p.spec).layer(t).spec.params["momentum"]),
                     "its BatchNormalization {target} momentum is 1 - momentum (torch's momentum is the weight of the "
                     "new batch, Keras's the weight kept on the old value)"),
           cases=("norm-bn-dense-train",), convention="BatchNorm momentum: keras = 1 - torch"),
    Switch("bn_epsilon", "fields", "batch_normalization",
           Transform(_layer_targets("batch_normalization"), _norm_eps, _describe_norm_eps("BatchNormalization")),
           cases=("norm-bn-dense-train",), convention="BatchNorm eps 1e-5 vs 1e-3"),
    Switch("ln_epsilon", "fields", "layer_normalization",
           Transform(_layer_targets("layer_normalization"), _norm_eps, _describe_norm_eps("LayerNormalization")),
           cases=("norm-ln-last",), convention="LayerNorm eps 1e-5 vs 1e-3"),
    Switch("optimizer_epsilon", "fields", "optimizers with epsilon",
           Transform(_opt_has("epsilon", positive=False),
                     lambda p, t: _with_section(p, "optimizer", epsilon=_other_opt_eps(p.spec.optimizer.params["epsilon"])),
                     _describe_opt_eps),
           cases=("opt-adam",), convention="Adam eps 1e-8 vs 1e-7"),
    Switch("epsilon_placement", "hook", "adam, rmsprop, adagrad, adamax with epsilon > 0",
           Transform(_placement_targets, _other_rule,
                     "its optimizer puts epsilon where the other framework does (Adam: eps vs eps_hat; RMSprop, "
                     "Adagrad: outside vs inside the root; Adamax: inside vs after the max)"),
           cases=("opt-rmsprop", "opt-adam-eps"), convention="RMSprop / Adam / Adagrad epsilon placement"),
    Switch("momentum_units", "hook", "sgd, rmsprop with momentum",
           Transform(_momentum_targets, _other_rule,
                     "its optimizer keeps momentum in the other framework's units (torch: gradient units, "
                     "b = mu b + g; Keras: update units, m = mu m - lr g): they part when the learning rate changes"),
           cases=("opt-schedule-cosine-warmup", "opt-sgd-momentum"), convention="Momentum units"),
    Switch("coupled_decay", "hook", "optimizers with weight_decay (Keras's meaning: decoupled)",
           Transform(_opt_has("weight_decay"), _coupled,
                     "its optimizer couples weight decay into the gradient (g + wd p, torch's Adam/SGD weight_decay) "
                     "instead of decoupling it (p -= lr wd p, Keras and torch's AdamW)"),
           cases=("opt-adamw", "opt-sgd-weight-decay"), convention="Coupled vs decoupled weight decay"),
    Switch("same_padding_side", "fields", "conv2d, depthwise_conv2d with padding same",
           Transform(_same_targets, _pad_symmetric,
                     "its convolution {target} pads symmetrically (torch's padding=p, the odd cell on the top/left) "
                     "where TF's same puts it on the bottom/right"),
           Transform(_explicit_targets, _pad_same,
                     "its convolution {target} pads as TF's same (the odd cell at the bottom/right: "
                     "F.pad(x, (left, right, top, bottom)) before a padding=0 conv) instead of symmetrically"),
           cases=("conv-same-stride2", "cnn-flatten-dense"), convention="Conv2D same, stride > 1"),
    Switch("dropped_fanout_gradient", "hook", "a tensor read by several layers",
           Transform(_fanout_targets, _stop,
                     "the gradient through the edge {target} (reader:input index) of a fanned-out tensor is dropped "
                     "(a detach / stop_gradient on one branch)"),
           cases=("unet-skip", "resnet-basic-block")),
    Switch("loss_reduction", "fields", "losses with reduction",
           Transform(_reduction_targets, _other_reduction,
                     "its loss uses the other reduction (sum vs sum_over_batch_size = torch's mean)"),
           cases=("loss-mse",), convention="Keras sum_over_batch_size = torch mean"),
    Switch("schedule_off_by_one", "hook", "learning-rate schedules",
           Transform(_schedule_targets, _shift_schedule(1),
                     "its learning-rate schedule is read one step late (the update of step t uses schedule(t), "
                     "Keras uses schedule(t - 1))"),
           Transform(_schedule_targets, _shift_schedule(-1),
                     "its learning-rate schedule is read one step early (the update of step t uses schedule(t - 2))"),
           cases=("opt-schedule-exponential",), convention="Learning-rate schedules: update t uses schedule(t - 1)"),
    Switch("clipnorm_per_variable", "fields", "optimizers with global_clipnorm",
           Transform(_opt_has("global_clipnorm"),
                     lambda p, t: _with_section(p, "optimizer", clipnorm=p.spec.optimizer.params["global_clipnorm"],
                                                global_clipnorm=None),
                     "its optimizer clips each variable's gradient on its own (clipnorm) instead of all together "
                     "(global_clipnorm, torch's clip_grad_norm_ over all parameters)"),
           Transform(_opt_has("clipnorm"),
                     lambda p, t: _with_section(p, "optimizer", global_clipnorm=p.spec.optimizer.params["clipnorm"],
                                                clipnorm=None),
                     "its optimizer clips all gradients together (global_clipnorm) instead of each on its own"),
           cases=("opt-global-clipnorm",), convention="Gradient clipping"),
)

BY_NAME: dict[str, Switch] = {s.name: s for s in SWITCHES}


def switch(name: str) -> Switch:
    if name not in BY_NAME:
        raise KeyError(f"no switch named {name!r} (have {', '.join(BY_NAME)})")
    return BY_NAME[name]


