"""``parse_spec``: a loaded document checked key by key into a ``CaseSpec``, every default filled
in, then the checks that span fields (input kind, targets, shapes)."""
from __future__ import annotations

import dataclasses
import difflib
import math
import json
import re
from typing import Any

from parity.spec.cases import CaseSpec, FrozenDict, InputSpec, LayerSpec, LossSpec, OptimizerSpec
from parity.spec.checks import (FLOAT32_MAX, MAX_LAYER_NAME_LENGTH, _BOOL, _NONNEG, _POS, _Check, _F, _Field, _choice_check, _is_int, _name_check,
                                _optional, _shape_check)
from parity.spec.errors import _MISSING, _REQUIRED, SpecError, _Bad, _fail, _join
from parity.spec.plan import plan_case
from parity.spec.vocabulary import (LOSS_FIELD_REFUSALS, RECURRENT_TYPES, _ACTIVATION_LAYERS, _LAYERS, _LOSSES, _OPTIMIZERS, _PROBABILITY_ACTIVATIONS,
                                    _SCHEDULES, CLIP_FIELDS,
                                    _TOP_KEYS, _TRAINABLE_LAYERS, _VALUE_PRESERVING, DATASETS, DIGITS_SAMPLES,
                                    DTYPES, INPUT_KINDS, LAYER_GRAPH_KEYS, XOR_INPUT_SHAPE)


# How deep a document may nest: a spec needs 6 levels (the spec, its layers, a layer, a
# bidirectional's inner layer, its kernel_size; or a learning-rate schedule's boundaries); 16
# leaves room. Deeper documents are refused before any field is read (and the JSON and TOML
# parsers' RecursionError beyond ~1000 levels is caught in ``files``).
MAX_DEPTH = 16
# The largest int anywhere in a spec: int64, what numpy and the frameworks count and index with.
# Python ints have no bound, and products of huge sizes would reach Python's limit on printing
# ints (4300 digits) deep inside the size checks.
MAX_INT = 2**63 - 1
# The most layers a spec may have: 1024, twice a ResNet-152 counted in Keras layers. Parsing builds
# each in scratchnet to infer shapes (~0.2 ms a layer) and every framework builds them again, so a
# 1 MiB file of 30000 activations would take seconds to refuse later and minutes to build.
MAX_LAYERS = 1024


def _check_document(source: str, data: Any) -> None:
    """Before any field is read: nesting at most MAX_DEPTH deep, every int within +-MAX_INT
    (iteratively: a document built in Python may nest deeper than the recursion limit)."""
    stack = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(source, path or None, f"expected nesting at most {MAX_DEPTH} deep (a spec needs "
                            "about 6), got deeper")
        if isinstance(value, dict):
            stack.extend((v, _join(path, str(k)[:60]), depth + 1) for k, v in reversed(value.items()))
        elif isinstance(value, (list, tuple)):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in reversed(list(enumerate(value))))
        elif _is_int(value) and not -MAX_INT - 1 <= value <= MAX_INT:
            _fail(source, path or None, f"expected an int of at most {MAX_INT} in size (int64, what the "
                  "frameworks count with)", value)


def _check_keys(source: str, raw: dict, path: str, allowed: tuple[str, ...], noun: str) -> None:
    """Every key of ``raw`` must be in ``allowed``; the first that is not is the error."""
    for key in raw:
        if key in allowed:
            continue
        shown = str(key) if len(str(key)) <= 60 else str(key)[:57] + "..."
        hint = difflib.get_close_matches(shown, allowed, n=1)
        hint = f" (did you mean {json.dumps(hint[0])}?)" if hint else ""
        expected = (f"expected one of the {noun} keys ({', '.join(allowed)})" if allowed
                    else f"expected no keys for {noun}")
        raise SpecError(source, _join(path, shown), f"{expected}, got unknown key {json.dumps(shown)}{hint}")


def _value(source: str, path: str, check: _Check, value: Any, required_by: str | None = None) -> Any:
    if value is _MISSING:
        who = f" (required by {required_by})" if required_by else " (required)"
        _fail(source, path, f"expected {check.desc}{who}")
    try:
        return check(value)
    except _Bad as bad:
        _fail(source, path, bad.expected or f"expected {check.desc}", value, bad.typed)


def _fill(source: str, raw: dict, path: str, fields: tuple[_Field, ...], noun: str,
          extra_keys: tuple[str, ...] = ("type",)) -> dict:
    """Check ``raw`` against ``fields``: unknown keys, then each field in order; defaults filled."""
    _check_keys(source, raw, path, (*extra_keys, *(f.name for f in fields)), noun)
    out = {}
    for f in fields:
        value = raw.get(f.name, _MISSING)
        if value is _MISSING and f.default is not _REQUIRED:
            out[f.name] = f.default
        else:
            out[f.name] = _value(source, _join(path, f.name), f.check, value, noun)
    return out


def _object(source: str, path: str, value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        _fail(source, path, f"expected {what}", value, typed=True)
    return value


def _typed_section(source: str, raw: Any, path: str, table: dict[str, tuple[_Field, ...]],
                   what: str, extra_keys: tuple[str, ...] = ("type",)) -> tuple[str, dict]:
    """``{"type": T, ...fields}`` against ``table``: returns (T, filled params)."""
    article = "an" if what[0] in "aeiou" else "a"
    raw = _object(source, path, raw, f'{article} {what} object {{"type": ..., ...}}')
    kind = raw.get("type", _MISSING)
    expected = f"{article} {what} type, one of {', '.join(table)}"
    if kind is _MISSING:
        _fail(source, _join(path, "type"), f"expected {expected} (required)")
    if not isinstance(kind, str):
        _fail(source, _join(path, "type"), f"expected {expected}", kind, typed=True)
    if kind not in table:
        hint = difflib.get_close_matches(kind, table, n=1)
        hint = f" (did you mean {json.dumps(hint[0])}?)" if hint else ""
        raise SpecError(source, _join(path, "type"), f"expected {expected}, got {json.dumps(kind)}{hint}")
    return kind, _fill(source, raw, path, table[kind], kind, extra_keys)


_LAYER_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _graph_fields(source: str, raw: dict, path: str, index: int, kind: str,
                  previous: str | None) -> tuple[str, tuple[str, ...]]:
    """A layer's ``name`` (default ``<index>_<type>``) and ``inputs`` (default: the layer before,
    or the input for the first), each checked for its form; the references are checked by the
    plan (``parity.spec.plan``), which sees every layer."""
    name = raw.get("name", _MISSING)
    if name is _MISSING:
        name = f"{index}_{kind}"
    elif not isinstance(name, str) or not _LAYER_NAME.fullmatch(name):
        _fail(source, _join(path, "name"), "expected a layer name of letters, digits, _ and -", name,
              typed=not isinstance(name, str))
    elif len(name) > MAX_LAYER_NAME_LENGTH:
        raise SpecError(source, _join(path, "name"), f"expected a layer name of at most {MAX_LAYER_NAME_LENGTH} "
                        f"characters (it starts every tensor key of the layer), got one of {len(name)}")
    inputs = raw.get("inputs", _MISSING)
    if inputs is _MISSING:
        return name, (previous if previous is not None else "input",)
    if not isinstance(inputs, list):
        _fail(source, _join(path, "inputs"), 'expected a list of layer names (or "input")', inputs, typed=True)
    for k, ref in enumerate(inputs):
        if not isinstance(ref, str):
            _fail(source, f"{_join(path, 'inputs')}[{k}]", 'expected a layer name (or "input")', ref, typed=True)
    return name, tuple(inputs)


def _parse_layer(source: str, raw: Any, path: str, index: int = 0, previous: str | None = None,
                 types: tuple[str, ...] | None = None) -> LayerSpec:
    """One layer object at ``path``, its graph fields from ``index`` and the ``previous`` layer's
    name; ``types`` restricts the type of a nested layer (a bidirectional's), which has no graph
    fields."""
    if types is None:
        kind, params = _typed_section(source, raw, path, _LAYERS, "layer", ("type", *LAYER_GRAPH_KEYS))
        name, inputs = _graph_fields(source, raw, path, index, kind, previous)
    else:
        kind, params = _typed_section(source, raw, path, {t: _LAYERS[t] for t in types}, "layer")
        name, inputs = None, None
    if kind == "bidirectional":  # the wrapped layer is a layer object of its own
        params["layer"] = _parse_layer(source, params["layer"], _join(path, "layer"), types=RECURRENT_TYPES)
    if kind == "conv2d_transpose":
        if params["dilation_rate"] != (1, 1):
            _fail(source, _join(path, "dilation_rate"), "expected 1 (TensorFlow on CPU cannot run a dilated "
                  "transposed convolution)", list(params["dilation_rate"]))
        op = params["output_padding"]
        if op is not None and any(o >= s for o, s in zip(op, params["strides"])):
            _fail(source, _join(path, "output_padding"), f"expected less than strides {list(params['strides'])} "
                  "on each axis (Keras refuses more)", list(op))
    if kind == "conv1d" and params["strides"] > 1 and params["dilation_rate"] > 1:
        _fail(source, _join(path, "dilation_rate"),
              "expected 1 when strides > 1 (Keras refuses strides > 1 with dilation_rate > 1)", params["dilation_rate"])
    if kind in ("max_pool1d", "average_pool1d") and params["strides"] is None:
        params["strides"] = params["pool_size"]
    if kind in ("conv2d", "depthwise_conv2d"):
        if max(params["strides"]) > 1 and max(params["dilation_rate"]) > 1:
            _fail(source, _join(path, "dilation_rate"),
                  "expected 1 when strides > 1 (Keras refuses strides > 1 with dilation_rate > 1)",
                  list(params["dilation_rate"]))
    if kind == "depthwise_conv2d" and params["strides"][0] != params["strides"][1]:
        # TensorFlow's DepthwiseConv2dNative kernel raises "Current implementation only supports
        # equal length strides" (measured in float64; float32 happened to run on a oneDNN CPU build),
        # and --dtype may change the dtype after parsing, so the spec refuses it for both.
        _fail(source, _join(path, "strides"), "expected equal strides for depthwise_conv2d (TensorFlow's "
              "depthwise convolution supports only equal row and column strides)", list(params["strides"]))
    if kind in ("max_pool2d", "average_pool2d"):
        if params["strides"] is None:
            params["strides"] = params["pool_size"]
        pad = params["padding"]
        if isinstance(pad, tuple) and any(p > k // 2 for p, k in zip(pad, params["pool_size"])):
            _fail(source, _join(path, "padding"),
                  f"expected at most half of pool_size {list(params['pool_size'])} per axis "
                  "(torch refuses more)", list(pad))
    return LayerSpec(kind, FrozenDict(params), name, inputs)


def _parse_schedule(source: str, raw: dict, path: str) -> FrozenDict:
    """A learning-rate schedule object: ``{"schedule": name, ...fields}`` filled in, boundaries
    strictly increasing and one more value than boundaries (piecewise)."""
    name = raw.get("schedule", _MISSING)
    expected = f"a schedule, one of {', '.join(_SCHEDULES)}"
    if name is _MISSING:
        _fail(source, _join(path, "schedule"), f"expected {expected} (required)")
    if not isinstance(name, str) or name not in _SCHEDULES:
        hint = difflib.get_close_matches(name, _SCHEDULES, n=1) if isinstance(name, str) else []
        hint = f" (did you mean {json.dumps(hint[0])}?)" if hint else ""
        raise SpecError(source, _join(path, "schedule"), f"expected {expected}, got {json.dumps(name)}{hint}")
    params = _fill(source, raw, path, _SCHEDULES[name], f"schedule {name}", extra_keys=("schedule",))
    if name == "piecewise_constant_decay":
        b, v = params["boundaries"], params["values"]
        if any(x >= y for x, y in zip(b, b[1:])):
            _fail(source, _join(path, "boundaries"), "expected strictly increasing step numbers", list(b))
        if len(v) != len(b) + 1:
            _fail(source, _join(path, "values"), f"expected {len(b) + 1} values (one more than the {len(b)} "
                  f"boundaries)", list(v))
    return FrozenDict({"schedule": name, **params})


def _check_schedule_range(source: str, lr: Any, steps: int) -> None:
    """An exponential_decay with ``decay_rate`` > 1 grows: its learning rate at the last update
    (step ``steps`` reads the schedule at ``steps - 1``; one step more is allowed for, where a
    framework reads it after the last update) must stay within float32 (``FLOAT32_MAX``), where
    the frameworks keep it; beyond that one side computes inf and another raises OverflowError.
    Checked in log space (the value itself may not be a float)."""
    if not isinstance(lr, dict) or lr.get("schedule") != "exponential_decay":
        return
    rate = lr["decay_rate"]
    if rate <= 1:
        return
    p = steps / lr["decay_steps"]
    if lr["staircase"]:
        p = math.floor(p)
    if math.log(lr["initial_learning_rate"]) + p * math.log(rate) > math.log(FLOAT32_MAX):
        _fail(source, "optimizer.learning_rate.decay_rate", f"expected a rate whose learning rate stays at most "
              f"{FLOAT32_MAX:.4g} (float32's largest) over the {steps} steps (initial_learning_rate * decay_rate ** "
              f"{p:g} is larger)", rate)


def _check_optimizer_options(source: str, params: dict) -> None:
    """A schedule's fields; at most one of clipnorm, clipvalue and global_clipnorm (Keras refuses two)."""
    if isinstance(params.get("learning_rate"), dict):
        params["learning_rate"] = _parse_schedule(source, params["learning_rate"], "optimizer.learning_rate")
    given = [k for k in CLIP_FIELDS if params.get(k) is not None]
    if len(given) > 1:
        _fail(source, f"optimizer.{given[1]}", f"expected null when {given[0]} is set (Keras refuses two of "
              "clipnorm, clipvalue and global_clipnorm)", params[given[1]])


def _parse_input(source: str, raw: Any) -> InputSpec:
    raw = _object(source, "input", raw, 'an input object {"kind": ...}')
    kind = _value(source, "input.kind", _choice_check(INPUT_KINDS), raw.get("kind", _MISSING))
    if kind != "integers":
        _check_keys(source, raw, "input", ("kind",), f'input kind "{kind}"')
        return InputSpec(kind)
    params = _fill(source, raw, "input", (_F("high", _POS), _F("low", _NONNEG, 0)), 'input kind "integers"',
                   extra_keys=("kind",))
    if params["low"] >= params["high"]:
        _fail(source, "input.low", f"expected an int below high={params['high']}", params["low"])
    return InputSpec(kind, params["high"], params["low"])


def parse_spec(data: dict, source: str = "<spec>") -> CaseSpec:
    """Validate ``data`` (a spec as loaded from JSON/TOML), fill in every default, infer the
    shapes, and return the ``CaseSpec``. ``source`` names the file in error messages."""
    source = str(source)
    if not isinstance(data, dict):
        _fail(source, None, "expected a spec object at the top level", data, typed=True)
    _check_document(source, data)
    _check_keys(source, data, "", _TOP_KEYS, "spec")
    get = data.get

    name = _value(source, "name", _name_check(), get("name", _MISSING))
    seed = _value(source, "seed", _NONNEG, get("seed", 0))
    dtype = _value(source, "dtype", _choice_check(DTYPES), get("dtype", "float64"))
    dataset = _value(source, "data", _optional(_choice_check(DATASETS)), get("data", None))

    raw_shape = get("input_shape", _MISSING)
    if dataset == "xor":
        if raw_shape is _MISSING:
            raw_shape = list(XOR_INPUT_SHAPE)
        input_shape = _value(source, "input_shape", _shape_check(), raw_shape)
        if input_shape != XOR_INPUT_SHAPE:
            _fail(source, "input_shape", 'expected [4, 3] for data "xor" (the four rows of three features)',
                  list(input_shape))
    else:
        input_shape = _value(source, "input_shape", _shape_check(), raw_shape)
    if dataset == "digits":
        ok_layout = input_shape[1:] in ((64,), (8, 8, 1))
        if not ok_layout or input_shape[0] > DIGITS_SAMPLES:
            _fail(source, "input_shape", f'expected [N, 64] or [N, 8, 8, 1] with N <= {DIGITS_SAMPLES} '
                  'for data "digits"', list(input_shape))

    input_spec = _parse_input(source, get("input", {"kind": "normal"}))
    if dataset is not None and input_spec.kind != "normal":
        _fail(source, "input.kind", f'expected "normal" (the default: data "{dataset}" supplies the input)',
              input_spec.kind)

    raw_layers = get("layers", _MISSING)
    if raw_layers is _MISSING:
        _fail(source, "layers", "expected a non-empty list of layer objects (required)")
    if not isinstance(raw_layers, (list, tuple)) or not raw_layers:
        _fail(source, "layers", "expected a non-empty list of layer objects", raw_layers,
              typed=not isinstance(raw_layers, (list, tuple)))
    if len(raw_layers) > MAX_LAYERS:
        raise SpecError(source, "layers", f"expected at most {MAX_LAYERS} layers (MAX_LAYERS), got {len(raw_layers)}")
    layers = []
    for i, raw in enumerate(raw_layers):
        layers.append(_parse_layer(source, raw, f"layers[{i}]", i, layers[-1].name if layers else None))
    layers = tuple(layers)

    loss_raw, opt_raw = get("loss", _MISSING), get("optimizer", _MISSING)
    if loss_raw is _MISSING:
        _fail(source, "loss", f'expected a loss object {{"type": ...}}, one of {", ".join(_LOSSES)} (required)')
    _refuse_missing_loss_fields(source, loss_raw)
    loss_type, loss_params = _typed_section(source, loss_raw, "loss", _LOSSES, "loss")
    loss = LossSpec(loss_type, FrozenDict(loss_params))
    if opt_raw is _MISSING:
        _fail(source, "optimizer",
              f'expected an optimizer object {{"type": ...}}, one of {", ".join(_OPTIMIZERS)} (required)')
    opt_type, opt_params = _typed_section(source, opt_raw, "optimizer", _OPTIMIZERS, "optimizer")
    _check_optimizer_options(source, opt_params)
    optimizer = OptimizerSpec(opt_type, FrozenDict(opt_params))
    if optimizer.type == "sgd" and optimizer.params["nesterov"] and optimizer.params["momentum"] == 0:
        _fail(source, "optimizer.nesterov", "expected false when momentum is 0 (torch refuses Nesterov "
              "without momentum)", True)

    steps = _value(source, "steps", _NONNEG, get("steps", 1))
    _check_schedule_range(source, optimizer.params["learning_rate"], steps)
    if steps and not any(layer.type in _TRAINABLE_LAYERS for layer in layers):
        _fail(source, "steps", "expected 0 for a model without trainable parameters (the optimizer has "
              "nothing to update; torch refuses an empty parameter list)", steps)
    training = _value(source, "training", _BOOL, get("training", True))

    spec = CaseSpec(name=name, seed=seed, dtype=dtype, input_shape=input_shape, input=input_spec,
                    layers=layers, loss=loss, optimizer=optimizer, steps=steps, training=training,
                    data=dataset, source=source)
    _check_input_kind(spec)
    plan = plan_case(spec)
    spec = dataclasses.replace(spec, plan=plan)
    _check_targets(spec, [layer.out_shape for layer in plan])
    return spec


def _refuse_missing_loss_fields(source: str, raw: Any) -> None:
    """A loss option on a loss type that has none (label_smoothing on sparse crossentropy,
    sample_weight on sum_squared_error, ...): refused with the reason, before the generic
    unknown-key check would say less."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or raw["type"] not in _LOSSES:
        return  # (a type that is not a string is refused by _typed_section, naming loss.type)
    accepted = {f.name for f in _LOSSES[raw["type"]]}
    for key in raw:
        if key in LOSS_FIELD_REFUSALS and key not in accepted:
            raise SpecError(source, _join("loss", key), f"expected no {key} for {raw['type']}: "
                            f"{LOSS_FIELD_REFUSALS[key]}")


def _check_input_kind(spec: CaseSpec) -> None:
    """Integer token ids go into an embedding first layer, and only there."""
    src = spec.source
    for i, layer in enumerate(spec.layers[1:], start=1):
        if layer.type == "embedding":
            _fail(src, f"layers[{i}].type", "expected embedding only as the first layer (it takes the "
                  "integer input ids)", "embedding")
    first = spec.layers[0]
    if first.type == "embedding":
        if spec.input.kind != "integers":
            _fail(src, "input.kind", 'expected "integers" (layers[0] is an embedding, which takes '
                  'token ids)', spec.input.kind)
        if spec.input.high > first.params["input_dim"]:
            _fail(src, "input.high", f"expected at most layers[0].input_dim={first.params['input_dim']} "
                  "(ids must index the embedding)", spec.input.high)
    elif spec.input.kind == "integers":
        _fail(src, "input.kind", 'expected "normal" or "uniform" ("integers" only feeds an embedding '
              f'first layer, and layers[0] is {first.type})', "integers")
    if spec.input.kind == "integers":
        for i, layer in enumerate(spec.layers[1:], start=1):
            if "input" in (layer.inputs or ()):
                _fail(src, f"layers[{i}].inputs", 'expected no "input" (integer ids feed only the embedding '
                      "at layers[0])", list(layer.inputs))


def _final_activation(spec: CaseSpec) -> tuple[int, str | None]:
    """(index, activation name) of the layer that last changes the output's values: flatten,
    reshape and the pools are looked through (to the layer they read); None when that layer is not
    an activation (e.g. an LSTM, a merge)."""
    plan = spec.plan
    node = plan.output
    while node.type in _VALUE_PRESERVING:
        if node.inputs[0] == "input":
            return 0, None  # only shape layers: the raw input is not probabilities
        node = plan.layer(node.inputs[0])
    if node.type in _ACTIVATION_LAYERS:
        return node.index, node.type
    return node.index, node.spec.params.get("activation")


_CLASS_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_focal_crossentropy")
# losses whose y_pred must be positive (log taken) or in (0, 1] (KL clips at 1e-7 and 1, torch takes log q)
_POSITIVE_OUTPUT = {"poisson": ("softplus", "sigmoid", "softmax"), "kl_divergence": ("softmax", "sigmoid")}


def _class_softmax_ending(layer: LayerSpec, rank: int) -> str | None:
    """None when ``layer`` (whose output has ``rank`` axes, batch included) ends in a softmax over
    its last axis; otherwise what it ends in, for the message.

    Why the categorical losses from probabilities need exactly this: Keras divides the output by
    its sum over the class axis before taking the log (as does scratchnet), torch's -sum(t log p)
    does not. The two agree only where every row already sums to 1: a softmax over the class axis,
    as the model's very last operation. Sigmoid outputs do not sum to 1, and neither do pooled,
    flattened or reshaped softmax outputs (a max pool takes maxima per class from different
    pixels), so unlike binary_crossentropy nothing is looked through here."""
    params = layer.params
    if layer.type == "softmax":
        if params["axis"] in (-1, rank - 1):
            return None
        return f"softmax over axis {params['axis']}"
    if layer.type in _ACTIVATION_LAYERS:
        return layer.type
    act = params.get("activation")
    if act == "softmax":  # a fused or activation-layer softmax is keras.activations.softmax: axis -1
        return None
    return act or "no activation"


def _check_targets(spec: CaseSpec, shapes: list[tuple[int, ...]]) -> None:
    """The loss (and the data set) must fit the model's output."""
    src, out, loss = spec.source, shapes[-1], spec.loss
    found = f"output {out} from layers[{len(spec.layers) - 1}] ({spec.layers[-1].type})"
    if loss.type in (*_CLASS_LOSSES, "categorical_hinge"):
        if not out or out[-1] < 2:
            raise SpecError(src, "loss.type", f"expected a final output with a class axis of size >= 2 "
                            f"for {loss.type}, got {found}")
    if loss.type in _CLASS_LOSSES and loss.params["from_logits"] is False:
        last, ending = len(spec.layers) - 1, _class_softmax_ending(spec.layers[-1], len(out) + 1)
        if ending is not None:
            raise SpecError(src, "loss.from_logits", f"expected true, or a last layer that ends in a softmax "
                            f"over the last (class) axis for {loss.type} (Keras renormalises any other output "
                            f"to sum to 1 over the classes, torch does not), got false with layers[{last}] "
                            f"({spec.layers[last].type}) ending in {ending}")
    elif loss.params.get("from_logits") is False:
        i, act = _final_activation(spec)
        if act not in _PROBABILITY_ACTIVATIONS:
            raise SpecError(src, "loss.from_logits", f"expected true, or a model that outputs probabilities "
                            f"(a final softmax, sigmoid or hard_sigmoid) for {loss.type}, got false with "
                            f"layers[{i}] ({spec.layers[i].type}) ending in {act or 'no activation'}")
    if loss.type in _POSITIVE_OUTPUT:
        i, act = _final_activation(spec)
        if act not in _POSITIVE_OUTPUT[loss.type]:
            raise SpecError(src, "loss.type", f"expected a model whose output ends in "
                            f"{' or '.join(_POSITIVE_OUTPUT[loss.type])} for {loss.type} (it takes the log of "
                            f"the output), got layers[{i}] ({spec.layers[i].type}) ending in {act or 'no activation'}")
    weights = loss.params.get("class_weight")
    if weights is not None:
        if len(out) != 1:
            raise SpecError(src, "loss.class_weight", f"expected no class_weight for a per-token or per-pixel "
                            f"target (Keras defines class weights for (N, C) outputs only), got {found}")
        if len(weights) != out[-1]:
            raise SpecError(src, "loss.class_weight", f"expected {out[-1]} weights (one per class of the output), "
                            f"got {len(weights)}")
    axis = loss.params.get("axis")
    if axis is not None and not (1 <= axis <= len(out) or -len(out) <= axis <= -1):
        raise SpecError(src, "loss.axis", f"expected an axis of the output (1..{len(out)} or -1..-{len(out)}; "
                        f"0 is the batch), got {axis} for {found}")
    if spec.data == "xor" and out != (1,):
        raise SpecError(src, "data", f'expected a model output of (1,) per sample for "xor" (one target '
                        f"per row), got {found}")
    if spec.data == "digits" and out != (10,):
        raise SpecError(src, "data", f'expected a model output of (10,) per sample for "digits" (one-hot '
                        f"over 10 classes), got {found}")
