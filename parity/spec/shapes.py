"""Shapes before anything is built: each layer constructed in scratchnet and asked for its output
shape, plus the constraints of the other frameworks that scratchnet's shape rule does not express,
and a size limit (MAX_ELEMENTS) on the input, every output and every large parameter."""
from __future__ import annotations

import json
import math

import numpy as np

import scratchnet
from parity.spec.cases import CaseSpec, LayerSpec
from parity.spec.checks import _is_int
from parity.spec.errors import SpecError, _fail
from parity.spec.vocabulary import _ACTIVATION_LAYERS, SCRATCH_CLASSES

# The most elements one tensor may have (batch included): 2**26, about 64M, 512 MiB in float64.
# The harness keeps several float64 copies of every tensor per framework (outputs, gradients,
# per-step weights, the report's tensors.npz), so a spec past this cannot be held in memory and is
# refused as bad input instead of failing deep inside numpy.
MAX_ELEMENTS = 2**26
# Every framework keeps the weights after each optimizer step (the trajectory the report plots),
# so steps x parameter elements is bounded too: 2**27, 1 GiB of float64 per framework.
MAX_TRAJECTORY = 2**27


def _recurrent(k: int):
    """k gates: kernel (F, k*U) and recurrent kernel (U, k*U)."""
    return lambda p, s: [("kernel", (s[-1], k * p["units"])), ("recurrent_kernel", (p["units"], k * p["units"]))]


# layer type -> (params, input shape without batch) -> [(name, shape)] of its large parameters,
# from the spec's fields alone (nothing is allocated). Other types have at most per-channel
# parameters, no larger than their input.
_PARAMETER_SHAPES = {
    "dense": lambda p, s: [("kernel", (s[-1], p["units"]))],
    "conv2d": lambda p, s: [("kernel", (*p["kernel_size"], s[-1] // p["groups"], p["filters"]))],
    "depthwise_conv2d": lambda p, s: [("kernel", (*p["kernel_size"], s[-1], p["depth_multiplier"]))],
    "embedding": lambda p, s: [("embeddings", (p["input_dim"], p["output_dim"]))],
    "simple_rnn": _recurrent(1), "lstm": _recurrent(4), "gru": _recurrent(3),
}


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
    scratchnet layer's ``compute_output_shape``. A misfit, or a tensor over MAX_ELEMENTS, raises
    SpecError at ``layers[i]`` (``input_shape`` for the input)."""
    src = spec.source
    _check_size(src, "input_shape", "the input", spec.input_shape)
    shape = tuple(spec.input_shape[1:])
    shapes, parameters = [], 0
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
        parameter_shapes = _PARAMETER_SHAPES.get(layer.type)
        for name, param_shape in parameter_shapes(layer.params, shape) if parameter_shapes else []:
            _check_size(src, path, f"the {name}", param_shape)
            parameters += math.prod(param_shape)
        shape = tuple(int(d) for d in out)
        _check_size(src, path, "the output (batch included)", (spec.input_shape[0], *shape))
        shapes.append(shape)
    if spec.steps * parameters > MAX_TRAJECTORY:
        raise SpecError(src, "steps", f"expected steps x parameter elements <= {MAX_TRAJECTORY} (MAX_TRAJECTORY: "
                        f"every framework keeps the weights after each step), got {spec.steps} x "
                        f"{_count(parameters)} = {_count(spec.steps * parameters)}")
    return shapes


def _check_size(src: str, path: str, what: str, shape: tuple[int, ...]) -> None:
    """SpecError when a tensor of ``shape`` would have more than MAX_ELEMENTS elements."""
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise SpecError(src, path, f"expected at most {MAX_ELEMENTS} elements per tensor (MAX_ELEMENTS, "
                        f"to fit in memory), got {what} of shape ({' x '.join(map(_count, shape))}) = "
                        f"{_count(size)} elements")


def _count(n: int) -> str:
    """``n`` as digits, or ``~10^k`` when it is too long to read."""
    text = str(n)
    return text if len(text) <= 12 else f"~10^{len(text) - 1}"


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
