"""The normal form of a spec: two spellings of one model normalise to equal dicts.

``normalise(spec)`` parses the spec (every default filled in), names every layer canonically
(``<index>_<type>``, inputs renamed alike), and writes each field that has several spellings of
one meaning in one of them:
- an ``activation`` layer of a named activation is that activation's own layer type
  (``{"type": "activation", "activation": "relu"}`` -> ``{"type": "relu"}``);
- a window ``padding`` (conv2d, depthwise_conv2d, max/average_pool2d) is "valid" when it pads
  nothing, "same" when it pads exactly as TensorFlow's rule does for this input, else the
  symmetric [p_h, p_w] (``parity.mappings.conv.spec_padding``: torch's ``padding=1`` on a 3x3
  stride-1 conv is "same");
- an axis (softmax, log_softmax, concatenate) is -1 for the last axis, else positive; a
  layer_normalization ``axis`` is -1 or the list [-k, ..., -1];
- a reshape's ``target_shape`` has its -1 resolved;
- a conv2d_transpose's (padding, output_padding) is the first spelling (valid before same, no
  output_padding before the smallest) with the same output size and crop;
- a multi_head_attention's ``value_dim`` equal to its key_dim, and ``output_shape`` equal to the
  query's feature size, are null (their defaults' meaning); its inputs [q, v, v] are [q, v] and
  [q, q] is [q] (a key that is the value, a value that is the query);
- a symmetric ``zero_padding2d`` read only by a "valid" conv2d or depthwise_conv2d is that
  convolution's ``padding`` (Keras's ResNet and MobileNet write ``ZeroPadding2D(1)`` +
  ``Conv2D(strides=2)``, torch ``Conv2d(padding=1, stride=2)``: zeros either way).
``rename_weights(weights, spec)`` renames weight keys the same way.
"""
from __future__ import annotations

from parity.spec import CaseSpec, parse_spec, plan_of


def _parsed(spec) -> CaseSpec:
    if isinstance(spec, CaseSpec):
        return spec
    import json

    return parse_spec(json.loads(json.dumps(spec)), "<normalise>")


def _fields(raw: dict, node) -> dict:
    from parity.mappings.activations import NAMES, _defaults
    from parity.mappings.conv import spec_padding
    from parity.mappings.normalization import ln_axis
    from scratchnet.layers._windows import resolve_padding

    kind, rank = raw["type"], len(node.in_shape) + 1
    if kind == "activation" and raw["activation"] in NAMES:
        return {"type": raw["activation"], **_defaults(raw["activation"])}
    if kind in ("conv2d", "depthwise_conv2d", "max_pool2d", "average_pool2d"):
        k = raw["kernel_size"] if "kernel_size" in raw else raw["pool_size"]
        d = raw.get("dilation_rate", [1, 1])
        pad = raw["padding"] if isinstance(raw["padding"], str) else tuple(raw["padding"])
        pads = resolve_padding(pad, tuple(node.in_shape[:2]), tuple(k), tuple(raw["strides"]), tuple(d))
        padding = spec_padding(pads, node.in_shape[:2], k, raw["strides"], d)
        return {**raw, "padding": padding if isinstance(padding, str) else list(padding)}
    if kind in ("softmax", "log_softmax", "concatenate"):
        return {**raw, "axis": -1 if raw["axis"] % rank == rank - 1 else raw["axis"] % rank}
    if kind == "layer_normalization":
        axes = (raw["axis"],) if isinstance(raw["axis"], int) else tuple(raw["axis"])
        axis = ln_axis(axes, rank)
        return {**raw, "axis": axis if isinstance(axis, int) else list(axis)}
    if kind == "reshape":
        return {**raw, "target_shape": list(node.out_shape)}
    if kind == "conv2d_transpose":  # the first spelling (valid/same, output_padding) with Keras's geometry
        from parity.mappings import BuildContext
        from parity.mappings.conv_transpose import _spec_for, geometry

        ctx = BuildContext(node.spec, node.in_shape, node.out_shape, None, "float32")
        fields = {k: raw[k] for k in ("filters", "kernel_size", "strides", "use_bias")}
        found = _spec_for(fields, node.in_shape, [(ho, top) for ho, top, _ in geometry(ctx)])
        return {**raw, "padding": found["padding"],
                "output_padding": None if found["output_padding"] is None else list(found["output_padding"])}
    if kind == "multi_head_attention":  # (its inputs: _attention_inputs)
        return {**raw, "value_dim": None if raw["value_dim"] in (None, raw["key_dim"]) else raw["value_dim"],
                "output_shape": None if raw["output_shape"] in (None, node.in_shape[-1]) else raw["output_shape"]}
    return raw


def _attention_inputs(inputs: list[str]) -> list[str]:
    """[query, value, key] without its defaults: key is value, value is query (Keras's ``mha(x, x)``
    and torch's ``mha(x, x, x)`` are the self-attention [x])."""
    if len(inputs) == 3 and inputs[2] == inputs[1]:
        inputs = inputs[:2]
    if len(inputs) == 2 and inputs[1] == inputs[0]:
        inputs = inputs[:1]
    return inputs


def _symmetric(padding) -> tuple[int, int] | None:
    """A zero_padding2d's (p_h, p_w) when it pads top as bottom and left as right, else None."""
    if isinstance(padding, int):
        return padding, padding
    if all(isinstance(p, int) for p in padding):
        return tuple(padding)
    (t, b), (l, r) = padding
    return (t, l) if t == b and l == r else None


def _fold_padding(parsed: CaseSpec) -> CaseSpec:
    """``parsed`` with each symmetric zero_padding2d that only a "valid" conv2d / depthwise_conv2d
    reads moved into that convolution's padding (the docstring's last rule)."""
    data = parsed.to_dict()
    layers = [{**raw, "name": node.name, "inputs": list(node.inputs)} for node, raw in zip(plan_of(parsed), data["layers"])]
    readers: dict[str, list[int]] = {}
    for i, raw in enumerate(layers):
        for name in raw["inputs"]:
            readers.setdefault(name, []).append(i)
    dropped = set()
    for i, raw in enumerate(layers):
        if raw["type"] != "zero_padding2d" or len(readers.get(raw["name"], [])) != 1:
            continue
        conv = layers[readers[raw["name"]][0]]
        pads = _symmetric(raw["padding"])
        if conv["type"] in ("conv2d", "depthwise_conv2d") and conv["padding"] == "valid" and pads is not None:
            conv["padding"], conv["inputs"] = list(pads), list(raw["inputs"])
            dropped.add(i)
    if not dropped:
        return parsed
    data["layers"] = [raw for i, raw in enumerate(layers) if i not in dropped]
    return parse_spec(data, parsed.source)


FUSED = ("dense", "conv2d", "depthwise_conv2d", "conv1d")  # types whose ``activation`` field may be a layer of its own


def _normal(spec, split_activations: bool = False) -> tuple[dict, dict[str, str], dict[str, str], list[str]]:
    """(normal form, output renames, weight renames, the original name of each normal layer)."""
    from parity.mappings.activations import _defaults

    parsed = _fold_padding(_parsed(spec))
    plan = plan_of(parsed)
    data = parsed.to_dict()
    outputs, weights, layers, origin = {"input": "input"}, {}, [], []
    for node, raw in zip(plan, data["layers"]):
        raw = {k: v for k, v in raw.items() if k not in ("name", "inputs")}
        raw = _fields(raw, node)
        inputs = [outputs[n] for n in node.inputs]
        if raw["type"] == "multi_head_attention":
            inputs = _attention_inputs(inputs)
        parts = [raw]
        if split_activations and raw["type"] in FUSED and raw["activation"] != "linear":
            act = raw["activation"]
            parts = [{**raw, "activation": "linear"}, {"type": act, **_defaults(act)}]
        for part in parts:
            new = f"{len(layers)}_{part['type']}"
            layers.append({**part, "name": new, "inputs": inputs})
            origin.append(node.name)
            weights.setdefault(node.name, new)
            inputs = [new]
        outputs[node.name] = layers[-1]["name"]
    data["layers"] = layers
    return parse_spec(data, parsed.source).to_dict(), outputs, weights, origin


def normalise(spec, split_activations: bool = False) -> dict:
    """The normal form of ``spec`` (a dict or a CaseSpec): see the module docstring.
    ``split_activations``: a dense or convolution's fused activation becomes a layer of its own
    after it (``Linear`` + ``nn.Tanh`` and ``Dense(activation="tanh")`` are one architecture)."""
    return _normal(spec, split_activations)[0]


def origins(spec, split_activations: bool = False) -> list[str]:
    """The name, in ``spec``, of each layer of its normal form (a split activation: its layer's)."""
    return _normal(spec, split_activations)[3]


def rename_weights(weights: dict, spec, split_activations: bool = False) -> dict:
    """``weights`` keyed by ``normalise(spec)``'s layer names."""
    renames = _normal(spec, split_activations)[2]
    out = {}
    for key, value in weights.items():
        layer, _, param = key.partition("/")  # a layer name has no "/", a parameter may (forward/kernel)
        out[f"{renames.get(layer, layer)}/{param}"] = value
    return out
