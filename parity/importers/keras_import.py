"""``from_keras(model)``: a user's Keras 3 model read back as a spec and its weights.

A ``keras.Sequential`` is its chain of layers; a functional ``keras.Model`` is walked from its
output back to its one input, each layer called once (a shared layer is refused). Each layer goes to
the mappings' ``LayerMapping.from_keras`` hooks (``Dense``, ``Conv2D``, ``LSTM``, ``Add`` ... and
the harness's own layers); a nested ``keras.Sequential`` no mapping recognises is read as its
chain. Names: the Keras layer names (``dense_1``), any character other than letters, digits, ``_``
and ``-`` made ``_``. Keras's layout is the spec's (channels-last), so ``input_shape`` and the
weights need no conversion: weights are keyed ``<layer name>/<variable name>`` (Keras names its
variables as the spec does: ``kernel``, ``bias``, ``gamma``, ``moving_mean`` ...).
"""
from __future__ import annotations

import numpy as np

from parity.importers.common import (Imported, ImportRefused, assemble, check_reproduces, checked_arguments, claim, import_context,
                                     parse_layer, prune, refuse, seeded_input, spec_name)
from parity.mappings import REGISTRY
from parity.mappings.base import SAME

DEFAULT_BATCH = 2


def from_keras(model, input_shape=None, *, name: str | None = None, loss: dict | None = None,
               optimizer: dict | None = None, steps: int = 0, seed: int = 0, training: bool = True,
               check: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """(spec dict, weights) of a built Keras ``model``. ``input_shape``: batch first (canonical =
    Keras's channels-last layout); None: the model's own input shape with batch ``DEFAULT_BATCH``
    where the model leaves it open. ``loss``, ``optimizer``, ``steps``, ``seed``, ``training`` as in
    ``from_torch``. With ``check`` the harness's Keras build of the imported spec and weights must
    reproduce ``model`` on a seeded input (inference mode). Raises ``ImportRefused`` naming the
    layer and its class for anything it cannot map."""
    import keras

    input_shape, loss, optimizer = checked_arguments(input_shape, loss, optimizer, shape_required=False)
    if not isinstance(model, keras.Model):
        raise ImportRefused(f"model: expected a keras.Model, got {type(model).__name__}")
    if not model.built or not getattr(model, "inputs", None):
        raise ImportRefused(f"{model.name} ({type(model).__name__}): build the model first (an Input, or model.build)")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ImportRefused(f"{model.name}: {len(model.inputs)} inputs, {len(model.outputs)} outputs; parity's "
                            "model has one of each")
    shape = tuple(model.inputs[0].shape)
    if input_shape is None:
        input_shape = (shape[0] or DEFAULT_BATCH, *shape[1:])
    input_shape = tuple(int(d) for d in input_shape)
    if any(d is not None and d != g for d, g in zip(shape[1:], input_shape[1:])) or len(shape) != len(input_shape):
        raise ImportRefused(f"input_shape {list(input_shape)} does not fit the model's input {shape}")
    dtype = keras.backend.standardize_dtype(model.weights[0].dtype if model.weights else model.inputs[0].dtype)
    if dtype not in ("float32", "float64"):
        raise ImportRefused(f"{model.name}: variables of dtype {dtype}; parity runs float32 or float64")
    walker = _Walker(input_shape, dtype)
    output = walker.walk(model)
    items = prune(walker.items, output)
    if not items:
        raise ImportRefused(f"{model.name}: the model computes nothing the importer can map")
    weights = {}
    for item in items:
        weights.update(item.tensors)
    spec = assemble(items, input_shape, dtype, name or model.name, loss, optimizer, steps, seed, training)
    if check:
        _check(model, spec, weights)
    return spec, weights


class _Walker:
    def __init__(self, input_shape, dtype):
        self.dtype = dtype
        self.shapes = {"input": input_shape[1:]}
        self.items: list[Imported] = []
        self.taken: set[str] = set()
        self.seen: dict[int, str] = {}  # id(layer) -> its spec name

    def walk(self, model) -> str:
        import keras

        if isinstance(model, keras.Sequential):
            return self._chain(model, "input")
        return self._functional(model)

    def _chain(self, seq, value: str) -> str:
        import keras

        for layer in seq.layers:
            if isinstance(layer, keras.Sequential) and self._probe(layer) is None:
                value = self._chain(layer, value)
            else:
                value = self._layer(layer, [value])
        return value

    def _probe(self, layer):
        ictx = import_context([(1, 1, 1)], [SAME], self.dtype)
        try:
            return claim("from_keras", layer, ictx, layer.name, type(layer).__name__)
        except Exception:
            return True

    def _functional(self, model) -> str:
        """Every layer from the output back to the input, each visited once, then added in order."""
        import keras

        order, state = [], {}

        def visit(tensor):
            op, node_index, _ = tensor._keras_history
            if isinstance(op, keras.layers.InputLayer):
                return "input"
            key = id(op)
            if state.get(key) == "done":
                return key
            if state.get(key) == "busy":
                raise ImportRefused(f"{op.name}: a cycle")
            state[key] = "busy"
            node = op._inbound_nodes[node_index]
            parents = [visit(t) for t in node.input_tensors]
            if len(op._inbound_nodes) > 1 and any(n is not node for n in op._inbound_nodes if _in_model(n, model)):
                raise refuse(op.name, type(op).__name__, "called twice: shared weights have no spec")
            order.append((op, parents))
            state[key] = "done"
            return key

        out = visit(model.outputs[0])
        names = {}
        for op, parents in order:
            inputs = ["input" if p == "input" else names[p] for p in parents]
            if isinstance(op, keras.Sequential) and self._probe(op) is None:
                if len(inputs) != 1:
                    raise refuse(op.name, "Sequential", "a Sequential with several inputs")
                names[id(op)] = self._chain(op, inputs[0])
            elif isinstance(op, keras.Model) and not isinstance(op, keras.Sequential):
                raise refuse(op.name, type(op).__name__, "a nested functional model: call its layers in the outer model")
            else:
                names[id(op)] = self._layer(op, inputs)
        return "input" if out == "input" else names[out]

    def _layer(self, layer, inputs: list[str]) -> str:
        cls = type(layer).__name__
        ictx = import_context([self.shapes[n] for n in inputs], [SAME] * len(inputs), self.dtype)
        fields = claim("from_keras", layer, ictx, layer.name, cls)
        if fields is None:
            raise refuse(layer.name, cls, f"no parity mapping for Keras class {cls} (parity explain lists the types)")
        if fields["type"] == "flatten" and len(self.shapes[inputs[0]]) == 1:
            return inputs[0]  # flattening an (N, F) tensor changes nothing
        item = Imported(spec_name(layer.name, self.taken), dict(fields), list(inputs), f"{layer.name} ({cls})")
        item.in_layouts = (SAME,) * len(inputs)
        parse_layer(item, len(self.items), self.shapes)
        mapping = REGISTRY[item.layer.type]
        own = mapping.keras_weights(layer) if mapping.keras_weights else \
            {v.name: np.array(v.numpy(), copy=True) for v in layer.weights}
        item.tensors = {f"{item.name}/{k}": v for k, v in own.items()}
        self.items.append(item)
        self.shapes[item.name] = item.out_shape
        return item.name


def _in_model(node, model) -> bool:
    """Whether a layer call (a Keras node) is part of ``model``'s graph."""
    try:
        return any(n is node for nodes in model._nodes_by_depth.values() for n in nodes)
    except AttributeError:
        return True


def _check(model, spec: dict, weights: dict, x=None) -> None:
    from parity.backends import PreparedCase, keras_backend
    from parity.spec import parse_spec, plan_of

    parsed = parse_spec(spec, "<from_keras>")
    x = seeded_input(spec) if x is None else x
    case = PreparedCase(parsed, x, np.zeros(1), weights, plan_of(parsed))
    theirs = keras_backend._numpy(model(x, training=False))
    with keras_backend.keras_state(parsed.dtype):
        layers = keras_backend.build(case)
        ours = keras_backend._numpy(keras_backend.apply(case.plan, layers, x, False)[case.plan.output.name])
    check_reproduces(model.name, ours, theirs, parsed.dtype)
