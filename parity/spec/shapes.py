"""Shapes before anything is built: each layer constructed in scratchnet and asked for its output
shape, plus the constraints of the other frameworks that scratchnet's shape rule does not express."""
from __future__ import annotations

import json
import math

import numpy as np

import scratchnet
from parity.spec.cases import CaseSpec, LayerSpec
from parity.spec.checks import _is_int
from parity.spec.errors import SpecError, _fail
from parity.spec.vocabulary import _ACTIVATION_LAYERS, SCRATCH_CLASSES


def scratch_layer(layer_spec: LayerSpec, name: str | None = None, rng: np.random.Generator | None = None):
    """The scratchnet layer for ``layer_spec`` (unbuilt). Its constructor keywords are the spec's
    fields; activation types become ``scratchnet.Activation(type, **params)``. Raises
    NotImplementedError when scratchnet has no class for the type yet; the constructor's own
    ValueError propagates."""
    class_name = SCRATCH_CLASSES[layer_spec.type]
    cls = getattr(scratchnet, class_name, None)
    if cls is None:
        raise NotImplementedError(f"scratchnet has no {class_name} (for {layer_spec.type!r}) yet")
    params = dict(layer_spec.params)
    if layer_spec.type == "activation":
        return cls(params["activation"], name=name, rng=rng)
    if layer_spec.type in _ACTIVATION_LAYERS:
        return cls(layer_spec.type, name=name, rng=rng, **params)
    return cls(name=name, rng=rng, **params)


def infer_shapes(spec: CaseSpec) -> list[tuple[int, ...]]:
    """Per-layer output shapes without the batch axis, from ``input_shape[1:]``, using each
    scratchnet layer's ``compute_output_shape``. A misfit raises SpecError at ``layers[i]``."""
    src = spec.source
    shape = tuple(spec.input_shape[1:])
    shapes = []
    for i, layer in enumerate(spec.layers):
        path = f"layers[{i}]"
        _check_layer_input(spec, i, layer, shape)
        try:
            out = tuple(scratch_layer(layer, name=layer.type).compute_output_shape(shape))
        except NotImplementedError as exc:
            raise SpecError(src, f"{path}.type", f"expected a layer type scratchnet implements, "
                            f"got {json.dumps(layer.type)} ({exc})") from None
        except ValueError as exc:
            raise SpecError(src, path, str(exc)) from None
        if any(not _is_int(d) or d < 1 for d in out):
            _fail(src, path, f"expected a non-empty output from {layer.type} on input {shape}",
                  list(out))
        shape = tuple(int(d) for d in out)
        shapes.append(shape)
    return shapes


def _check_layer_input(spec: CaseSpec, i: int, layer: LayerSpec, shape: tuple[int, ...]) -> None:
    """Constraints of the other frameworks that scratchnet's shape rule does not express."""
    src, path = spec.source, f"layers[{i}]"
    if layer.type == "dense" and len(shape) >= 3:
        _fail(src, path, "dense expects (F,) or (T, F) input: flatten an image first "
              "(torch's NCHW layout would put W last)", shape)
    if layer.type in ("softmax", "log_softmax"):
        rank = len(shape) + 1  # Keras axes count the batch axis
        axis = layer.params["axis"]
        if not -rank < axis < rank or axis % rank == 0:
            _fail(src, f"{path}.axis", f"expected a non-batch axis of the {rank}-d input (N, "
                  f"{', '.join(map(str, shape))}): in [1, {rank - 1}] or [{1 - rank}, -1]", axis)
    if layer.type == "batch_normalization" and spec.training and shape:
        per_channel = spec.input_shape[0] * math.prod(shape[:-1])
        if per_channel < 2:
            _fail(src, path, "expected more than one value per channel in training mode (torch "
                  f"refuses; batch {spec.input_shape[0]} x input {shape})", per_channel)
