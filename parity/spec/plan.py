"""The case plan: the model as a graph of layer plans, made once from a parsed spec and read by
every backend, the comparison and the report (DESIGN.md, "Graphs").

Each ``LayerPlan`` holds what every reader needs and would otherwise work out again: the layer's
index and name, its spec, the names it reads (``"input"`` is the model's input), the shapes of its
inputs and of its output (batch axis excluded) and the keys of its tensors (``<name>/<param>``).
Layers come in spec order, which is topological: a layer reads only the input and earlier layers.
The model's output is the last layer's.

Defaults (a spec without ``name``/``inputs`` means what it always meant): a layer's name is
``<index>_<type>``, and it reads the layer before it (the first reads the input); so a stack's
tensor keys are ``0_dense/kernel`` as before.

``plan_case(spec)`` refuses a bad graph with a SpecError naming the layer and the field: a
duplicate name (after defaults) or the reserved ``input``; an ``inputs`` name that is not the
input or an earlier layer; the wrong number of inputs for the type (the mapping's ``arity``); an
output no later layer reads; inputs whose shapes the layer cannot take (a merge of mismatched
shapes: Keras's broadcasting is not part of the contract); and every per-layer shape rule and size
limit of ``parity.spec.shapes``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from parity.spec.cases import CaseSpec, LayerSpec
from parity.spec.checks import _is_int
from parity.spec.errors import SpecError, _fail
from parity.spec.shapes import (MAX_TRAJECTORY, _check_layer_input, _check_layer_inputs, _check_size, _count,
                                scratch_layer)

INPUT = "input"  # the model's input, in ``inputs`` lists; no layer may have this name


def default_name(index: int, type_name: str) -> str:
    """The name of a layer the spec leaves unnamed, and its tensors' key prefix: ``"2_conv2d"``."""
    return f"{index}_{type_name}"


@dataclass(frozen=True)
class LayerPlan:
    """One layer of the graph: where it sits, what it reads, the shapes in and out."""

    index: int
    name: str
    spec: LayerSpec
    inputs: tuple[str, ...]  # names of earlier layers, or INPUT
    in_shapes: tuple[tuple[int, ...], ...]  # one per input, batch axis excluded
    out_shape: tuple[int, ...]

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def in_shape(self) -> tuple[int, ...]:
        """The (first) input's shape: the only one of a one-input layer."""
        return self.in_shapes[0]

    @property
    def path(self) -> str:
        """Where the layer is in the spec file, for messages: ``layers[3]``."""
        return f"layers[{self.index}]"

    def key(self, tensor: str) -> str:
        """The key of one of the layer's tensors everywhere (weights, gradients, steps)."""
        return f"{self.name}/{tensor}"


@dataclass(frozen=True)
class CasePlan:
    """The graph: ``layers`` in topological (spec) order; ``input_shape`` without the batch axis."""

    input_shape: tuple[int, ...]
    layers: tuple[LayerPlan, ...]
    made_from: tuple[LayerSpec, ...]  # the spec's layers this plan was made from (``plan_of``)

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def output(self) -> LayerPlan:
        return self.layers[-1]

    def layer(self, name: str) -> LayerPlan:
        """The layer named ``name`` (KeyError naming it otherwise)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} (have {self.names})")

    def owner(self, key: str) -> LayerPlan:
        """The layer a tensor key ``<name>/<param>`` (or an output key ``<name>``) belongs to."""
        return self.layer(key.rsplit("/", 1)[0] if key not in self.names else key)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape (batch excluded) of the tensor ``name``: the input or a layer's output."""
        return self.input_shape if name == INPUT else self.layer(name).out_shape

    def readers(self, name: str) -> list[LayerPlan]:
        """The layers that read the tensor ``name`` (more than one: a fan-out)."""
        return [layer for layer in self.layers if name in layer.inputs]


def _takes_list(type_name: str) -> bool:
    """Whether the type takes a list of inputs (its mapping's arity allows more than one)."""
    from parity.mappings import layer_mapping

    return layer_mapping(type_name).arity[1] != 1


def _check_arity(src: str, layer: LayerSpec, i: int, inputs: tuple[str, ...]) -> None:
    from parity.mappings import layer_mapping

    low, high = layer_mapping(layer.type).arity
    if low <= len(inputs) <= (high if high is not None else len(inputs)):
        return
    if high == 1:
        want = "1 input (only merge and attention layers take several)"
    elif high == low:
        want = f"{low} inputs"
    elif high is not None:
        want = f"{low} to {high} inputs"
    else:
        want = f"at least {low} inputs"
    raise SpecError(src, f"layers[{i}].inputs", f"expected {want} for {layer.type}, got {len(inputs)}: "
                    f"{json.dumps(list(inputs))}")


def _names(spec: CaseSpec) -> list[tuple[str, tuple[str, ...]]]:
    """(name, inputs) per layer, defaults filled in and every reference checked."""
    src, out, seen = spec.source, [], {}
    for i, layer in enumerate(spec.layers):
        name = layer.name or default_name(i, layer.type)
        given = " (its default name)" if name == default_name(i, layer.type) else ""
        if name == INPUT:
            _fail(src, f"layers[{i}].name", f'expected a name other than "{INPUT}" (reserved for the model\'s input)',
                  name)
        if name in seen:
            raise SpecError(src, f"layers[{i}].name", f"expected a name no other layer has, got {json.dumps(name)}"
                            f"{given}, already the name of layers[{seen[name]}]")
        inputs = tuple(layer.inputs) if layer.inputs is not None else ((out[-1][0],) if out else (INPUT,))
        for k, ref in enumerate(inputs):
            if ref == INPUT or ref in seen:
                continue
            later = [j for j, l in enumerate(spec.layers) if j >= i and (l.name or default_name(j, l.type)) == ref]
            why = (f"layers[{later[0]}] is not earlier" if later else "no layer has that name")
            raise SpecError(src, f"layers[{i}].inputs[{k}]", f'expected "{INPUT}" or the name of an earlier layer, '
                            f"got {json.dumps(ref)} ({why})")
        seen[name] = i
        out.append((name, inputs))
    return out


def plan_case(spec: CaseSpec) -> CasePlan:
    """The checked graph of ``spec`` (SpecError naming the layer and the field otherwise).

    Shapes come from each scratchnet layer's ``compute_output_shape`` (a misfit's ValueError keeps
    scratchnet's text, at ``layers[i]``, or ``layers[i].inputs`` for a layer reading several), with
    the other frameworks' constraints of ``shapes._check_layer_input`` and the size limits."""
    src = spec.source
    _check_size(src, "input_shape", "the input", spec.input_shape)
    named = _names(spec)
    shapes = {INPUT: tuple(spec.input_shape[1:])}
    plans, parameters = [], 0
    for i, (layer, (name, inputs)) in enumerate(zip(spec.layers, named)):
        path = f"layers[{i}]"
        _check_arity(src, layer, i, inputs)
        in_shapes = tuple(shapes[n] for n in inputs)
        takes_list = _takes_list(layer.type)
        _check_layer_input(spec, i, layer, in_shapes[0])
        try:
            out = tuple(scratch_layer(layer, name=layer.type).compute_output_shape(
                list(in_shapes) if takes_list else in_shapes[0]))
        except NotImplementedError as exc:
            raise SpecError(src, f"{path}.type", f"expected a layer type scratchnet implements, "
                            f"got {json.dumps(layer.type)} ({exc})") from None
        except ValueError as exc:
            raise SpecError(src, f"{path}.inputs" if takes_list else path, str(exc)) from None
        if takes_list:
            _check_layer_inputs(spec, i, layer, in_shapes)
        if any(not _is_int(d) or d < 1 for d in out):
            _fail(src, path, f"expected a non-empty output from {layer.type} on input {in_shapes[0]}", list(out))
        from parity.mappings import layer_mapping

        for pname, param_shape in layer_mapping(layer.type).parameter_shapes(layer.params, in_shapes[0]):
            _check_size(src, path, f"the {pname}", param_shape)
            parameters += math.prod(param_shape)
        out = tuple(int(d) for d in out)
        _check_size(src, path, "the output (batch included)", (spec.input_shape[0], *out))
        shapes[name] = out
        plans.append(LayerPlan(i, name, layer, inputs, in_shapes, out))
    read = {n for _, inputs in named for n in inputs}
    for plan in plans[:-1]:
        if plan.name not in read:
            raise SpecError(src, plan.path, f"expected an output some later layer reads (only the last layer's "
                            f"output is the model's), got {json.dumps(plan.name)}, which no layer's inputs name")
    if spec.steps * parameters > MAX_TRAJECTORY:
        raise SpecError(src, "steps", f"expected steps x parameter elements <= {MAX_TRAJECTORY} (MAX_TRAJECTORY: "
                        f"every framework keeps the weights after each step), got {spec.steps} x "
                        f"{_count(parameters)} = {_count(spec.steps * parameters)}")
    return CasePlan(tuple(spec.input_shape[1:]), tuple(plans), spec.layers)


def plan_of(spec: CaseSpec) -> CasePlan:
    """The plan the parser made for ``spec`` (kept on it), or a new one when the spec was built or
    changed (``dataclasses.replace``) without the parser."""
    plan = spec.plan
    if plan is not None and plan.made_from is spec.layers and plan.input_shape == tuple(spec.input_shape[1:]):
        return plan
    return plan_case(spec)


def infer_shapes(spec: CaseSpec) -> list[tuple[int, ...]]:
    """Per-layer output shapes without the batch axis, in spec order (the plan's)."""
    return [layer.out_shape for layer in plan_of(spec).layers]
