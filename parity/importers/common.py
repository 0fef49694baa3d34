"""What both importers share: one imported layer, the spec it becomes, its names, and the check
that the imported spec and weights reproduce the model they came from.

Layers are read back through the layer mappings' own hooks (``LayerMapping.from_torch``,
``from_torch_call``, ``from_keras``), so every fact about a layer type stays in its mapping module;
this module only walks, names and assembles.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from parity.mappings import REGISTRY, BuildContext
from parity.mappings.base import SAME, ImportContext, Layout
from parity.spec import INPUT, LayerSpec, SpecError, scratch_layer

DEFAULT_LOSS = {"type": "mean_squared_error"}
DEFAULT_OPTIMIZER = {"type": "sgd", "learning_rate": 0.01}


class ImportRefused(ValueError):
    """A model (or one of its layers) the importer cannot express as a spec: one line naming the
    layer (its path or name, and its class) and why. ``parity import`` turns it into exit 2."""


def refuse(where: str, cls: str, why: str) -> ImportRefused:
    return ImportRefused(f"{where} ({cls}): {why}")


@dataclass
class Imported:
    """One spec layer read back from a framework object."""

    name: str
    fields: dict  # type and fields, JSON-able
    inputs: list[str]
    source: str  # "<path> (<class>)" for messages
    layer: LayerSpec | None = None  # parsed, defaults filled
    in_shapes: tuple = ()
    out_shape: tuple = ()
    in_layouts: tuple = ()
    out_layout: Layout = SAME
    tensors: dict = field(default_factory=dict)  # torch: tensors by the rules' names; keras: name -> array


def spec_name(raw: str, taken: set[str]) -> str:
    """A spec layer name for a module path or a Keras layer name: every character other than
    letters, digits, ``_`` and ``-`` becomes ``_`` (``features.0`` -> ``features_0``); ``input`` (the
    model's input) and a name already taken get a suffix ``_2``, ``_3``, ..."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", raw) or "layer"
    base, k = name, 2
    while name in taken or name == INPUT:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def jsonable(value):
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def parse_layer(item: Imported, index: int, shapes: dict, source: str = "<import>") -> None:
    """Fill ``item.layer`` (the parser's filled-in LayerSpec), its input shapes and output shape
    (scratchnet's shape rule, as the plan computes it)."""
    from parity.spec.parse import _parse_layer  # the parser's one-layer reading (defaults, checks)

    raw = {**jsonable(item.fields), "name": item.name, "inputs": list(item.inputs)}
    try:
        layer = _parse_layer(source, json.loads(json.dumps(raw)), f"layers[{index}]", index)
        in_shapes = tuple(shapes[n] for n in item.inputs)
        takes_list = REGISTRY[layer.type].arity[1] != 1
        out = scratch_layer(layer, name=layer.type).compute_output_shape(list(in_shapes) if takes_list else in_shapes[0])
    except SpecError as exc:
        raise ImportRefused(f"{item.source}: {exc}") from None
    except ValueError as exc:
        raise ImportRefused(f"{item.source}: as {item.fields['type']} on input {in_shapes}: {exc}") from None
    item.layer, item.in_shapes, item.out_shape = layer, in_shapes, tuple(int(d) for d in out)


def torch_layout(item: Imported, dtype: str) -> Layout:
    """The layout the harness's torch model gives this layer's output (its mapping's torch builder,
    the one source of that fact)."""
    ctx = build_context(item, dtype)
    _, layout = REGISTRY[item.layer.type].torch(ctx)
    return layout


def build_context(item: Imported, dtype: str) -> BuildContext:
    return BuildContext(item.layer, item.in_shapes[0], item.out_shape, item.in_layouts[0], dtype, item.in_shapes,
                        item.in_layouts)


def import_context(shapes, layouts, dtype: str, hints: dict | None = None) -> ImportContext:
    return ImportContext(tuple(shapes), tuple(layouts), dtype, dict(hints or {}))


def claim(kind: str, obj, ictx: ImportContext, where: str, cls: str, call: tuple | None = None):
    """The first mapping whose hook (``kind``: from_torch, from_torch_call, from_keras) recognises
    ``obj``; its result, or None when no mapping does. A mapping's Refused becomes an ImportRefused."""
    from parity.mappings.base import Refused

    for mapping in REGISTRY.values():
        hook = getattr(mapping, kind)
        try:
            found = hook(*call, ictx) if call is not None else hook(obj, ictx)
        except Refused as exc:
            raise refuse(where, cls, str(exc)) from None
        if found is not None:
            return found
    return None


def prune(items: list[Imported], output: str) -> list[Imported]:
    """The layers the output depends on, in order, the output's layer last."""
    needed, by_name = {output}, {it.name: it for it in items}
    for it in reversed(items):
        if it.name in needed:
            needed.update(n for n in it.inputs if n != INPUT)
    kept = [it for it in items if it.name in needed]
    if kept and kept[-1].name != output:
        raise ImportRefused(f"the model's output {by_name[output].source} is read by a later layer: the spec's output "
                           "is its last layer")
    return kept


def checked_arguments(input_shape, loss, optimizer, shape_required: bool = True):
    """``from_torch`` / ``from_keras``'s arguments before any model is walked: ``input_shape`` a
    sequence of positive ints, batch first (a tuple; None allowed where not ``shape_required``);
    ``loss`` / ``optimizer`` None, a type name (``"adam"``) or a spec object (a dict, checked by the
    parser later). ImportRefused (a ValueError) naming the argument otherwise."""
    if input_shape is None and not shape_required:
        shape = None
    else:
        try:
            dims = list(input_shape)
        except TypeError:
            dims = None
        if (dims is None or isinstance(input_shape, (str, bytes, dict)) or not dims
                or not all(isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d > 0
                           for d in dims)):
            raise ImportRefused(f"input_shape: expected positive ints, batch first (e.g. (4, 28, 28, 1)), got "
                                f"{input_shape!r}"[:200])
        shape = tuple(int(d) for d in dims)
    sections = []
    for what, value in (("loss", loss), ("optimizer", optimizer)):
        if isinstance(value, str):
            value = {"type": value}
        elif value is not None and not isinstance(value, dict):
            raise ImportRefused(f"{what}: expected a type name or a spec object {{\"type\": ...}}, got "
                                f"{type(value).__name__}")
        sections.append(value)
    return shape, *sections


def assemble(items: list[Imported], input_shape, dtype: str, name: str, loss, optimizer, steps: int, seed: int,
             training: bool) -> dict:
    """The spec dict: every layer with its ``name`` and ``inputs`` spelled out."""
    layers = [{**jsonable(dict(it.layer.to_dict())), "name": it.name, "inputs": list(it.inputs)} for it in items]
    spec = {"name": name, "seed": seed, "dtype": dtype, "input_shape": [int(d) for d in input_shape],
            "layers": layers, "loss": dict(loss or DEFAULT_LOSS), "optimizer": dict(optimizer or DEFAULT_OPTIMIZER),
            "steps": steps, "training": training}
    if items and items[0].layer.type == "embedding":
        spec["input"] = {"kind": "integers", "high": int(items[0].layer.params["input_dim"])}
    return spec


def check_reproduces(what: str, ours: np.ndarray, theirs: np.ndarray, dtype: str) -> None:
    """The harness's build of the imported spec and weights must give the model's own output
    (inference mode, one seeded input), judged by the tolerance table of ``parity.compare``."""
    from parity import compare

    if ours.shape != theirs.shape:
        raise ImportRefused(f"{what}: the imported spec gives output shape {ours.shape[1:]}, the model "
                           f"{theirs.shape[1:]} (an operation the importer did not see?)")
    j = compare.judge(ours, theirs, dtype, "output", 0)
    if not j.passed:
        raise ImportRefused(f"{what}: the imported spec and weights do not reproduce the model's output "
                           f"(max relative difference {j.metrics.max_rel:.3g}): its forward does something the "
                           "importer did not see")


def seeded_input(spec: dict, seed: int = 0) -> np.ndarray:
    """The input ``check_reproduces`` feeds both: standard normal (token ids for an embedding)."""
    rng = np.random.default_rng([seed, 19])
    shape = tuple(spec["input_shape"])
    if spec.get("input", {}).get("kind") == "integers":
        return rng.integers(0, spec["input"]["high"], size=shape).astype(np.int64)
    return rng.standard_normal(shape).astype(spec["dtype"])
