"""A hypothesis strategy over the whole spec vocabulary that draws only valid, small specs.

``case_specs()`` draws a spec dict (the JSON form ``parse_spec`` reads). The strategy proposes and
the parser disposes: every layer type, loss, optimizer and schedule, and every field of each, is
read from the vocabulary tables (``parity.spec.vocabulary``), each field's value drawn by the
strategy for its name (``LAYER_FIELDS``, ``LOSS_FIELDS``, ``OPTIMIZER_FIELDS``,
``SCHEDULE_FIELDS``: small sizes, values inside the field's accepted range), and every proposal is
checked by ``parse_spec`` and ``parity.run.check_supported`` before it is kept. A layer that does
not fit the tensor it reads is proposed again without its optional fields, then dropped; a loss
that does not fit the output gets a probability-making head (softmax, sigmoid, softplus) or falls
back to mean_squared_error. So a new layer type in the vocabulary is drawn without a change here,
and a new field is drawn once its name has a strategy (``tests/parity/test_fuzz.py`` fails
naming any field without one).

What is drawn:
- the input: flat (N, F), a sequence (N, T, F), an image (N, H, W, C) or token ids (N, T) read by
  an embedding, with distinct sizes on every axis (2..8), normal or uniform values; now and then
  a data set (xor, digits);
- 1..``max_blocks`` blocks, each a layer of any single-input type, a residual block (one or two
  layers whose output has the shape of the block's input, merged with it by any elementwise merge
  type, the input on either side) or two branches concatenated on their last axis;
- a head (dense, or a 1x1 conv2d on images) with any activation, any loss with its fields (class
  weights sized to the output's classes), any optimizer with its fields, one clipping option now
  and then, a schedule now and then, weight-decay exclusions naming a parameter of the model;
- both dtypes, training or inference, 0..3 steps, a seed.

Sizes stay small (at most 8 on an axis, a handful of units) so that a case runs in about a second.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

from hypothesis import assume
from hypothesis import strategies as st

from parity.spec import vocabulary as vocab
from parity.spec.errors import _REQUIRED

PLACEHOLDER_LOSS = {"type": "mean_squared_error"}
PLACEHOLDER_OPTIMIZER = {"type": "sgd"}
PROBABILITY_HEADS = ("softmax", "sigmoid", "softplus")  # tried, in order, when a loss refuses the drawn head


@lru_cache(maxsize=None)
def merge_types() -> tuple[str, ...]:
    from parity.mappings import layer_mapping

    return tuple(t for t in vocab.LAYER_TYPES if layer_mapping(t).family == "merge")


@lru_cache(maxsize=None)
def elementwise_merges() -> tuple[str, ...]:
    return tuple(t for t in merge_types() if not vocab._LAYERS[t])  # concatenate has its axis


@lru_cache(maxsize=None)
def single_input_types() -> tuple[str, ...]:
    """Every layer type a chain can use (merges read several inputs; an embedding reads the ids first)."""
    return tuple(t for t in vocab.LAYER_TYPES if t not in merge_types() and t != "embedding")


# --- field strategies, by field name: draw(st) -> value; ctx: the shape the layer reads ----------

def _size(lo: int, hi: int):
    return st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=2, max_size=2))


def _floats(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _divisors(n: int) -> list[int]:
    return [d for d in range(2, n) if n % d == 0]


def _target_shape(draw, ctx) -> list[int]:
    total = math.prod(ctx["shape"])
    ds = _divisors(total)
    form = draw(st.integers(0, 2 if ds else 0))
    if form == 0:
        return [-1]
    a = draw(st.sampled_from(ds))
    if form == 1 or not _divisors(total // a):
        return [a, -1]
    return [a, draw(st.sampled_from(_divisors(total // a))), -1]


def _axis(draw, ctx) -> int:
    rank = len(ctx["shape"])
    return draw(st.sampled_from([-1, *range(1, rank + 1)]))


def _axes(draw, ctx):
    rank = len(ctx["shape"])
    choices = [-1, *range(1, rank + 1)]
    if draw(st.booleans()):
        return draw(st.sampled_from(choices))
    return draw(st.lists(st.sampled_from(list(range(1, rank + 1))), min_size=1, max_size=rank, unique=True))


@lru_cache(maxsize=None)
def _activation_names() -> tuple[str, ...]:
    from scratchnet.activations import NAMES

    return NAMES


def _recurrent_layer(draw, ctx) -> dict:
    layer = {"type": draw(st.sampled_from(vocab.RECURRENT_TYPES)), "units": draw(st.integers(2, 5))}
    if draw(st.booleans()):
        layer["return_sequences"] = draw(st.booleans())
    return layer


def _zero_padding(draw, ctx):
    small = st.integers(0, 2)
    return draw(st.one_of(small, st.lists(small, min_size=2, max_size=2),
                          st.lists(st.lists(small, min_size=2, max_size=2), min_size=2, max_size=2)))


FieldStrategy = Callable[[Callable, dict], object]


def _s(strategy) -> FieldStrategy:
    return lambda draw, ctx: draw(strategy)


LAYER_FIELDS: dict[str, FieldStrategy] = {
    "units": _s(st.integers(2, 6)), "filters": _s(st.integers(2, 5)), "kernel_size": _s(_size(1, 3)),
    "strides": _s(_size(1, 2)), "dilation_rate": _s(_size(1, 2)), "groups": _s(st.integers(1, 3)),
    "padding": _s(st.one_of(st.sampled_from(["valid", "same", "causal"]), _size(0, 1))),
    "activation": lambda draw, ctx: draw(st.sampled_from(_activation_names())),
    "use_bias": _s(st.booleans()), "depth_multiplier": _s(st.integers(1, 2)), "pool_size": _s(_size(1, 3)),
    "target_shape": _target_shape, "rate": _s(_floats(0.0, 0.5)), "momentum": _s(_floats(0.0, 0.99)),
    "epsilon": _s(_floats(1e-5, 0.1)), "axis": _axis, "input_dim": _s(st.integers(5, 9)),
    "output_dim": _s(st.integers(2, 6)), "return_sequences": _s(st.booleans()), "reset_after": _s(st.booleans()),
    "output_padding": _s(st.one_of(st.none(), _size(0, 1))), "size": _s(_size(1, 2)),
    "interpolation": _s(st.sampled_from(["nearest", "bilinear"])), "layer": _recurrent_layer,
    "merge_mode": _s(st.sampled_from(vocab.MERGE_MODES)), "negative_slope": _s(_floats(-0.5, 0.5)),
    "alpha": _s(_floats(0.1, 2.0)), "approximate": _s(st.booleans()),
    "num_heads": _s(st.integers(1, 3)), "key_dim": _s(st.integers(2, 4)),
    "value_dim": _s(st.one_of(st.none(), st.integers(2, 4))), "output_shape": _s(st.one_of(st.none(), st.integers(2, 5))),
    "causal": _s(st.booleans()),
}
LAYER_FIELDS_BY_TYPE: dict[tuple[str, str], FieldStrategy] = {  # where a name means another thing
    ("layer_normalization", "axis"): _axes,
    ("zero_padding2d", "padding"): _zero_padding,
}

LOSS_FIELDS: dict[str, FieldStrategy] = {
    "reduction": _s(st.sampled_from(vocab.LOSS_REDUCTIONS)), "sample_weight": _s(st.booleans()),
    "from_logits": _s(st.booleans()), "label_smoothing": _s(_floats(0.0, 0.3)), "delta": _s(_floats(0.3, 2.0)),
    "gamma": _s(_floats(0.0, 3.0)), "alpha": _s(_floats(0.0, 1.0)), "apply_class_balancing": _s(st.booleans()),
    "axis": _axis,
    "class_weight": lambda draw, ctx: draw(st.lists(_floats(0.25, 2.0), min_size=ctx["shape"][-1],
                                                    max_size=ctx["shape"][-1])),
}

OPTIMIZER_FIELDS: dict[str, FieldStrategy] = {
    "learning_rate": lambda draw, ctx: draw(_learning_rates()),
    "momentum": _s(_floats(0.0, 0.95)), "nesterov": _s(st.booleans()), "weight_decay": _s(_floats(0.0, 0.1)),
    "rho": _s(_floats(0.5, 0.99)), "epsilon": _s(st.one_of(st.just(0.0), _floats(1e-8, 1e-3))),
    "centered": _s(st.booleans()), "beta_1": _s(_floats(0.5, 0.99)), "beta_2": _s(_floats(0.8, 0.999)),
    "initial_accumulator_value": _s(_floats(0.0, 0.5)),
    "clipnorm": _s(_floats(0.1, 2.0)), "clipvalue": _s(_floats(0.05, 1.0)), "global_clipnorm": _s(_floats(0.1, 2.0)),
    "exclude_from_weight_decay": lambda draw, ctx: [draw(st.sampled_from(ctx["parameters"] or ["kernel"]))],
}

SCHEDULE_FIELDS: dict[str, FieldStrategy] = {
    "initial_learning_rate": _s(_floats(1e-3, 0.05)), "decay_steps": _s(st.integers(1, 4)),
    "decay_rate": _s(_floats(0.5, 0.99)), "staircase": _s(st.booleans()), "alpha": _s(_floats(0.0, 1.0)),
    "warmup_target": _s(st.one_of(st.none(), _floats(1e-3, 0.05))), "warmup_steps": _s(st.integers(0, 3)),
    "boundaries": _s(st.lists(st.integers(0, 4), min_size=1, max_size=3, unique=True).map(sorted)),
    "values": None,  # one more than boundaries: drawn with them (_schedule)
}


def _learning_rates():
    return st.one_of(_floats(1e-3, 0.05), _floats(1e-3, 0.05), _floats(1e-3, 0.05), _schedules())


@st.composite
def _schedules(draw) -> dict:
    kind = draw(st.sampled_from(vocab.SCHEDULE_TYPES))
    out = {"schedule": kind}
    for f in vocab._SCHEDULES[kind]:
        if f.name == "values":
            out["values"] = draw(st.lists(_floats(1e-3, 0.05), min_size=len(out["boundaries"]) + 1,
                                          max_size=len(out["boundaries"]) + 1))
        elif f.default is _REQUIRED or draw(st.booleans()):
            out[f.name] = SCHEDULE_FIELDS[f.name](draw, {})
    return out


def _fields(draw, table: dict, fields, ctx: dict, by_type: dict | None = None, type_name: str = "") -> dict:
    """Every required field, and each optional one with probability 1/2, drawn by its name's strategy."""
    out = {}
    for f in fields:
        if f.default is not _REQUIRED and not draw(st.booleans()):
            continue
        strategy = (by_type or {}).get((type_name, f.name)) or table.get(f.name)
        if strategy is None:
            if f.default is _REQUIRED:
                raise KeyError(f"no strategy for the required field {type_name}.{f.name}")
            continue
        out[f.name] = strategy(draw, ctx)
    return out


# --- the model, block by block, each proposal checked by the parser ------------------------------

class _Model:
    """The layers drawn so far, their names and the current output (name, shape)."""

    def __init__(self, top: dict):
        self.top = top  # the spec's top-level keys but layers, loss and optimizer
        self.layers: list[dict] = []
        self.current = ("input", None)

    def spec(self, layers=None, loss=None, optimizer=None, steps=0) -> dict:
        return {**self.top, "layers": self.layers if layers is None else layers,
                "loss": loss or PLACEHOLDER_LOSS, "optimizer": optimizer or PLACEHOLDER_OPTIMIZER, "steps": steps}

    def probe(self, layers) -> tuple | None:
        """The output shape of the model with ``layers``, or None when the parser refuses it."""
        return shape_of(self.spec(layers))

    def name(self) -> str:
        return f"l{len(self.layers)}"


def valid(spec: dict) -> bool:
    return shape_of(spec) is not None


def shape_of(spec: dict) -> tuple | None:
    """The model output's shape (batch excluded) if ``spec`` parses and every backend can run it."""
    from parity.run import check_supported
    from parity.spec import SpecError, parse_spec, plan_of

    try:
        parsed = parse_spec(spec, "<fuzz>")
        check_supported(parsed)
    except SpecError:
        return None
    return plan_of(parsed).output.out_shape


@lru_cache(maxsize=None)
def families() -> dict[str, tuple[str, ...]]:
    """Single-input layer types by their mapping's family (a family drawn first, then a type in it,
    so that the twenty activations do not crowd out the rest)."""
    from parity.mappings import layer_mapping

    out: dict[str, list[str]] = {}
    for t in single_input_types():
        out.setdefault(layer_mapping(t).family, []).append(t)
    return {k: tuple(v) for k, v in out.items()}


def _layer(draw, model: _Model, reads: str, shape: tuple, base: list | None = None,
           only: str | None = None) -> dict | None:
    """One single-input layer (of type ``only`` when given) reading ``reads`` (of ``shape``) that
    the parser accepts after the layers ``base`` (default: the model's), or None."""
    base = model.layers if base is None else base
    for _ in range(4):
        groups = families()
        t = only or draw(st.sampled_from(groups[draw(st.sampled_from(sorted(groups)))]))
        fields = _fields(draw, LAYER_FIELDS, vocab._LAYERS[t], {"shape": shape}, LAYER_FIELDS_BY_TYPE, t)
        for proposal in (fields, {k: v for k, v in fields.items()
                                  if next(f for f in vocab._LAYERS[t] if f.name == k).default is _REQUIRED}):
            layer = {"type": t, "name": model.name(), **proposal}
            if reads != model.current[0] or reads == "input" and model.layers:
                layer["inputs"] = [reads]
            if model.probe(base + [layer]) is not None:
                return layer
    return None


def _add(model: _Model, layer: dict) -> None:
    model.layers.append(layer)
    model.current = (layer["name"], model.probe(model.layers))


def _residual(draw, model: _Model) -> None:
    x, shape = model.current
    start = len(model.layers)
    for _ in range(draw(st.integers(1, 2))):
        layer = _layer(draw, model, model.current[0] if len(model.layers) > start else x, model.current[1])
        if layer is None:
            break
        _add(model, layer)
    if len(model.layers) == start:
        return
    last = model.layers[-1]
    if model.current[1] != shape and model.current[1][:-1] == shape[:-1]:  # a dense or conv: match the width
        for key in ("units", "filters"):
            if key in last:
                fixed = dict(last, **{key: shape[-1]})
                if model.probe(model.layers[:-1] + [fixed]) == shape:
                    model.layers[-1] = fixed
                    model.current = (fixed["name"], shape)
    if model.current[1] != shape:
        return  # the branch stays a chain
    kind = draw(st.sampled_from(elementwise_merges()))
    ins = [model.current[0], x] if draw(st.booleans()) else [x, model.current[0]]
    merge = {"type": kind, "name": model.name(), "inputs": ins}
    if model.probe(model.layers + [merge]) is not None:
        _add(model, merge)


def _concatenation(draw, model: _Model) -> None:
    x, shape = model.current
    a = _layer(draw, model, x, shape)
    if a is None:
        return
    _add(model, a)
    b = _layer(draw, model, x, shape, base=model.layers[:-1])  # probed beside a, which the merge will read
    if b is None:
        return
    trial = model.layers + [b, {"type": "concatenate", "name": f"l{len(model.layers) + 1}", "inputs": [a["name"], b["name"]]}]
    if model.probe(trial) is not None:
        _add(model, b)
        _add(model, trial[-1])


def _input(draw) -> tuple[dict, str]:
    """The top-level keys but layers, loss and optimizer, and the input's kind."""
    kind = draw(st.sampled_from(["flat", "flat", "sequence", "sequence", "image", "image", "tokens", "xor", "digits"]))
    sizes = draw(st.lists(st.integers(2, 8), min_size=4, max_size=4, unique=True))
    top = {"name": "fuzz", "seed": draw(st.integers(0, 2**16)), "dtype": draw(st.sampled_from(vocab.DTYPES)),
           "training": draw(st.booleans())}
    if kind == "xor":
        top["data"] = "xor"
    elif kind == "digits":
        top["data"] = "digits"
        top["input_shape"] = [sizes[0], 64] if draw(st.booleans()) else [sizes[0], 8, 8, 1]
    else:
        shape = {"flat": sizes[:2], "sequence": sizes[:3], "image": sizes, "tokens": sizes[:2]}[kind]
        top["input_shape"] = shape
        if kind == "tokens":
            top["input"] = {"kind": "integers", "high": draw(st.integers(3, 6))}
        elif draw(st.booleans()):
            top["input"] = {"kind": draw(st.sampled_from(["normal", "uniform"]))}
    return top, kind


def _head_and_loss(draw, model: _Model, kind: str) -> dict:
    """Append a head (now and then) and return a loss that fits the output."""
    if kind in ("xor", "digits") or draw(st.integers(0, 3)):
        if len(model.current[1]) == 3 and (kind == "digits" or draw(st.booleans())):
            flat = {"type": "flatten", "name": model.name()}
            if model.probe(model.layers + [flat]) is not None:
                _add(model, flat)
        units = 1 if kind == "xor" else 10 if kind == "digits" else draw(st.integers(2, 5))
        head = ({"type": "conv2d", "filters": units, "kernel_size": 1} if len(model.current[1]) == 3
                else {"type": "dense", "units": units})
        head = {**head, "name": model.name(), "activation": draw(st.sampled_from(_activation_names()))}
        if model.probe(model.layers + [head]) is not None:
            _add(model, head)
    out = model.probe(model.layers)
    assume(out is not None)  # no layer fitted (every proposal refused): a rare draw, rejected
    loss_type = draw(st.sampled_from(vocab.LOSS_TYPES))
    loss = {"type": loss_type, **_fields(draw, LOSS_FIELDS, vocab._LOSSES[loss_type], {"shape": out})}
    if loss_type == "cosine_similarity" and ((0, *out))[loss.get("axis", -1)] == 1:  # axis counts the batch
        # constant by the math (the cosine of one value is its sign): every gradient of the case is
        # rounding noise, which no rule can scale (fuzz-findings.md, judgement limits)
        return dict(PLACEHOLDER_LOSS)
    if valid(model.spec(loss=loss)):
        return loss
    last = model.layers[-1] if model.layers else None
    if last is not None and "activation" in last:
        for act in PROBABILITY_HEADS:
            trial = model.layers[:-1] + [dict(last, activation=act)]
            if valid(model.spec(layers=trial, loss=loss)):
                model.layers[:] = trial
                return loss
    for act in PROBABILITY_HEADS:
        trial = model.layers + [{"type": act, "name": model.name()}]
        if valid(model.spec(layers=trial, loss=loss)):
            model.layers[:] = trial
            return loss
    return {"type": "mean_squared_error"}


def _parameters(spec: dict) -> list[str]:
    from parity.backends import scratch
    from parity.spec import parse_spec

    return sorted({k.rsplit("/", 1)[-1] for k in scratch.parameter_keys(parse_spec(spec, "<fuzz>"))})


def _optimizer(draw, model: _Model, loss: dict) -> dict:
    kind = draw(st.sampled_from(vocab.OPTIMIZER_TYPES))
    fields = [f for f in vocab._OPTIMIZERS[kind] if f.name not in vocab.CLIP_FIELDS]
    ctx = {"parameters": _parameters(model.spec(loss=loss))}
    opt = {"type": kind, **_fields(draw, OPTIMIZER_FIELDS, fields, ctx)}
    if draw(st.integers(0, 3)) == 0:
        clip = draw(st.sampled_from(vocab.CLIP_FIELDS))
        opt[clip] = OPTIMIZER_FIELDS[clip](draw, ctx)
    if opt.get("nesterov") and not opt.get("momentum"):
        opt["momentum"] = 0.5
    return opt


@st.composite
def case_specs(draw, max_blocks: int = 4, first: str | None = None) -> dict:
    """A valid spec dict (see the module doc); ``first``: a single-input layer type the first
    block must be (rejected when it does not fit the drawn input)."""
    top, kind = _input(draw)
    model = _Model(top)
    model.current = ("input", tuple(top.get("input_shape", vocab.XOR_INPUT_SHAPE)[1:]))
    if kind == "tokens":
        emb = {"type": "embedding", "name": model.name(), "input_dim": top["input"]["high"] + draw(st.integers(0, 3)),
               "output_dim": draw(st.integers(2, 6))}
        _add(model, emb)
    if first is not None:
        layer = _layer(draw, model, model.current[0], model.current[1], only=first)
        assume(layer is not None)
        _add(model, layer)
    for _ in range(draw(st.integers(1, max_blocks))):
        block = draw(st.sampled_from(["layer", "layer", "layer", "residual", "concatenate"]))
        if block == "layer":
            layer = _layer(draw, model, model.current[0], model.current[1])
            if layer is not None:
                _add(model, layer)
        elif block == "residual":
            _residual(draw, model)
        else:
            _concatenation(draw, model)
    loss = _head_and_loss(draw, model, kind)
    assume(model.layers and valid(model.spec(loss=loss)))
    optimizer = _optimizer(draw, model, loss)
    steps = draw(st.integers(0, 3))
    for opt in (optimizer, {k: v for k, v in optimizer.items() if k != "exclude_from_weight_decay"}):
        for n in (steps, 0):
            spec = model.spec(loss=loss, optimizer=opt, steps=n)
            if valid(spec):
                return spec
    assume(False)


def missing_strategies() -> list[str]:
    """Every field of the vocabulary that has no strategy here (``<part> <type>.<field>``)."""
    out = []
    for part, table, fields in (("layer", LAYER_FIELDS, vocab._LAYERS), ("loss", LOSS_FIELDS, vocab._LOSSES),
                                ("optimizer", OPTIMIZER_FIELDS, vocab._OPTIMIZERS),
                                ("schedule", SCHEDULE_FIELDS, vocab._SCHEDULES)):
        for type_name, type_fields in fields.items():
            for f in type_fields:
                if f.name not in table and (type_name, f.name) not in LAYER_FIELDS_BY_TYPE:
                    out.append(f"{part} {type_name}.{f.name}")
    return out
