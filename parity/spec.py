"""Spec files: parse, validate, fill in every default, and infer shapes before anything is built.

A spec file (JSON, or TOML with the same keys) describes one case: a Sequential model, its input,
its loss and optimizer. DESIGN.md's "Spec files" section is the contract; this module is its
strict reading. ``load_spec(path)`` / ``parse_spec(data, source)`` return a frozen ``CaseSpec``
whose every field is filled in, or raise ``SpecError`` with ONE line::

    <file>: <field path>: <what was expected>, got <what was found>
    case.json: layers[2].kernel_size: expected a positive int or an [h, w] pair of them, got 0
    case.json: layers[1]: conv2d: input_shape: expected an image (H, W, C) ..., got (10,)

(file-level problems, e.g. a file that does not exist, have no field path.)

Strictness
----------
- Unknown keys anywhere are errors (with a "did you mean" hint); so are missing required keys.
- Types are checked exactly: a bool is not an int, and an integral float (``3.0``) is not an int.
  A float field accepts an int and stores it as a float. Numbers must be finite.
- A JSON object with the same key twice is an error (json would silently keep the last).

Top-level keys (default in brackets)
------------------------------------
``name`` (required: a non-empty one-line string), ``seed`` [0] (int >= 0), ``dtype``
["float64"] ("float32" | "float64"), ``input_shape`` (batch first, positive ints; required unless
``data`` is "xor"), ``input`` [{"kind": "normal"}], ``layers`` (required, non-empty), ``loss``
(required), ``optimizer`` (required), ``steps`` [1] (int >= 0), ``training`` [true], ``data``
[null] (null | "xor" | "digits").

``input``: ``{"kind": "normal"}`` (standard normal), ``{"kind": "uniform"}`` (the generator's
documented range), or ``{"kind": "integers", "high": V, "low": 0}``: token ids in [low, high),
``high`` required and > low >= 0. Integer input is allowed only when the first layer is an
``embedding`` (and then required), with ``high <= input_dim``; an embedding may only be first.

Datasets (``data``): the input comes from the data set, so ``input`` may only be the default.
- "xor": the seed tutorial's four rows of three features: ``input_shape`` is [4, 3] (implied when
  left out, an error when different) and the model's output must be (1,) per sample.
- "digits": scikit-learn's 8x8 digits (1797 images). ``input_shape`` is required and must be
  [N, 64] (flat) or [N, 8, 8, 1] (images) with 1 <= N <= 1797 (the first N images). Targets are
  one-hot over 10 classes (class ids for sparse_categorical_crossentropy), so the model's output
  must be (10,) per sample, whatever the loss.

Layers (``type`` and fields; every field is filled in with the Keras default)
-----------------------------------------------------------------------------
=======================  ===================================================================
dense                    units, activation="linear", use_bias=true
conv2d                   filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                         groups=1, activation="linear", use_bias=true
depthwise_conv2d         kernel_size, depth_multiplier=1, strides=1, padding="valid",
                         dilation_rate=1, activation="linear", use_bias=true
max_pool2d               pool_size=2, strides=null (-> pool_size, as Keras), padding="valid"
average_pool2d           as max_pool2d
global_average_pool2d    (none)
flatten                  (none)
reshape                  target_shape (positive ints, at most one -1; no batch axis)
dropout                  rate (in [0, 1))
batch_normalization      momentum=0.99 (in [0, 1), Keras meaning), epsilon=0.001 (> 0)
layer_normalization      epsilon=0.001 (> 0), axis=-1 (nonzero int or list of them)
embedding                input_dim, output_dim
simple_rnn               units, return_sequences=false, activation="tanh"
lstm                     units, return_sequences=false
gru                      units, return_sequences=false, reset_after=true
activation               activation (a name)
sigmoid, tanh, relu, selu, softplus, silu, hard_sigmoid   (none)
leaky_relu               negative_slope=0.2
elu                      alpha=1.0
gelu                     approximate=false
softmax, log_softmax     axis=-1 (a nonzero int: Keras counts the batch axis as 0)
=======================  ===================================================================

- Sizes, strides and dilations: an int or an [h, w] pair of positive ints; stored as an (h, w)
  tuple. ``padding``: "valid", "same", or a non-negative int / [h, w] pair (explicit symmetric
  padding, stored as a tuple).
- ``activation`` fields take a name from ``scratchnet.activations.NAMES`` (null means "linear",
  as in Keras); a parametrised activation used this way gets its default parameters.
- leaky_relu's default slope is 0.2, the ``keras.activations.leaky_relu`` default; torch's
  ``LeakyReLU`` defaults to 0.01 and the Keras ``LeakyReLU`` *layer* to 0.3. Set it explicitly.

Extra checks made here, each because a backend would refuse or misread the model:
- conv2d / depthwise_conv2d: strides > 1 together with dilation_rate > 1 (Keras refuses it).
- pooling with int padding: at most half the pool size per axis (torch refuses more).
- dense on an image (a 3-d per-sample input): Keras applies it to the channel axis but torch's
  NCHW layout would put W last, so flatten first. Dense on (F,) or (T, F) is fine.
- softmax / log_softmax ``axis`` must name a non-batch axis of the layer's input.
- batch_normalization in training mode needs more than one value per channel (torch refuses).
- sgd ``nesterov`` needs ``momentum > 0`` (torch refuses).

Losses: sum_squared_error, mean_squared_error, binary_crossentropy(from_logits=false),
categorical_crossentropy(from_logits=false), sparse_categorical_crossentropy(from_logits=false),
huber(delta=1.0, > 0). Targets must fit: the categorical losses need a final class axis of size
>= 2. With ``from_logits`` false the output must be probabilities: the last layer that changes
values (flatten, reshape and pooling are looked through) must end in softmax, sigmoid or
hard_sigmoid (otherwise scratchnet's and torch's losses refuse, or Keras silently clips).

Optimizers (Keras defaults filled in; ``learning_rate`` finite > 0):
sgd(learning_rate=0.01, momentum=0.0 in [0, 1], nesterov=false, weight_decay=0.0 >= 0),
rmsprop(learning_rate=0.001, rho=0.9 in [0, 1), momentum=0.0 in [0, 1], epsilon=1e-7 >= 0,
centered=false), adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999 (in [0, 1)), epsilon=1e-7,
weight_decay=0.0), adamw(same, weight_decay=0.004), adagrad(learning_rate=0.001,
initial_accumulator_value=0.1 >= 0, epsilon=1e-7).

Shapes: ``infer_shapes(spec)`` constructs each layer in scratchnet (``scratch_layer``) and asks
its ``compute_output_shape``; the layer's ValueError becomes a SpecError naming ``layers[i]``,
with scratchnet's text kept. ``parse_spec`` runs it, so a misfit model never reaches a backend.

The dataclasses are frozen and their ``params`` are read-only dicts (``FrozenDict``); ``to_dict``
gives the filled-in, JSON-able form (tuples become lists) that reports show, and
``parse_spec(spec.to_dict())`` gives back an equal spec.
"""
from __future__ import annotations

import re

import dataclasses
import difflib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

import scratchnet
from scratchnet import activations as _activations

__all__ = [
    "SpecError", "FrozenDict", "InputSpec", "LayerSpec", "LossSpec", "OptimizerSpec", "CaseSpec",
    "load_spec", "parse_spec", "infer_shapes", "scratch_layer", "catalog_dir", "load_catalog",
    "LAYER_TYPES", "ACTIVATION_LAYER_TYPES", "LOSS_TYPES", "OPTIMIZER_TYPES", "DTYPES", "DATASETS",
    "INPUT_KINDS", "SCRATCH_CLASSES", "DIGITS_SAMPLES",
]


# ==== errors =====================================================================================
class SpecError(ValueError):
    """A spec that cannot be used, in one line: ``<source>: <path>: <expected>, got <found>``.

    Attributes: ``source`` (the file, or what the caller named the dict), ``path`` (the field path,
    e.g. ``layers[2].kernel_size``; None for file-level problems) and ``message`` (the rest).
    """

    def __init__(self, source: str, path: str | None, message: str):
        self.source = str(source)
        self.path = path
        self.message = " ".join(str(message).split())  # one line, whatever the inner text was
        super().__init__(f"{self.source}: {path}: {self.message}" if path else f"{self.source}: {self.message}")

    def __reduce__(self):  # pickles (e.g. across worker processes) with all three parts
        return (type(self), (self.source, self.path, self.message))


_MISSING = object()   # a key the document leaves out
_REQUIRED = object()  # a field default meaning "must be given"


class _Bad(Exception):
    """Raised by a field check; the caller adds the file and the field path."""

    def __init__(self, expected: str | None = None, typed: bool = False):
        self.expected, self.typed = expected, typed


def _kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "a bool"
    if isinstance(value, (int, np.integer)):
        return "an int"
    if isinstance(value, (float, np.floating)):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _show(value: Any, typed: bool = False) -> str:
    """How a found value is quoted in a message: as the document spells it (JSON), shortened."""
    if value is _MISSING:
        return "nothing"
    try:
        text = json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_kind(value)})" if typed and value is not None else text


def _join(prefix: str, key: Any) -> str:
    return str(key) if not prefix else f"{prefix}.{key}"


def _fail(source: str, path: str | None, expected: str, value: Any = _MISSING, typed: bool = False):
    raise SpecError(source, path, f"{expected}, got {_show(value, typed)}")


# ==== read-only params ===========================================================================
class FrozenDict(dict):
    """A dict that refuses to change: the ``params`` of the spec dataclasses. It is still a dict
    (``**params``, ``json.dumps`` and ``==`` with a plain dict work), it hashes, pickles and
    deep-copies; ``dict(params)`` or ``params.copy()`` gives a mutable copy."""

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError("spec params are read-only; use dict(params) for a mutable copy")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def copy(self) -> dict:
        return dict(self)

    def __reduce__(self):
        return (type(self), (dict(self),))

    def __hash__(self) -> int:  # values are scalars, strings and tuples
        return hash(tuple(sorted(self.items())))

    def __repr__(self) -> str:
        return dict.__repr__(self)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# ==== the dataclasses ============================================================================
@dataclass(frozen=True)
class InputSpec:
    """How the input is generated: ``kind`` "normal" | "uniform" | "integers"; for integers, token
    ids are drawn from [low, high). ``high`` and ``low`` are None for the float kinds."""

    kind: str = "normal"
    high: int | None = None
    low: int | None = None

    def to_dict(self) -> dict:
        if self.kind == "integers":
            return {"kind": self.kind, "high": self.high, "low": self.low}
        return {"kind": self.kind}


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its spec ``type`` and every field (defaults filled in, normalised), whose names
    are the scratchnet constructor keywords."""

    type: str
    params: FrozenDict = field(default_factory=FrozenDict)

    def to_dict(self) -> dict:
        return {"type": self.type, **_jsonable(dict(self.params))}


@dataclass(frozen=True)
class LossSpec:
    """The loss: ``type`` and its filled-in parameters."""

    type: str
    params: FrozenDict = field(default_factory=FrozenDict)

    def to_dict(self) -> dict:
        return {"type": self.type, **_jsonable(dict(self.params))}


@dataclass(frozen=True)
class OptimizerSpec:
    """The optimizer: ``type`` and its filled-in hyperparameters (Keras meanings)."""

    type: str
    params: FrozenDict = field(default_factory=FrozenDict)

    def to_dict(self) -> dict:
        return {"type": self.type, **_jsonable(dict(self.params))}


@dataclass(frozen=True)
class CaseSpec:
    """One case, fully filled in. ``source`` (the file it came from) is not part of equality: the
    JSON and the TOML spelling of the same case are equal."""

    name: str
    seed: int
    dtype: str
    input_shape: tuple[int, ...]
    input: InputSpec
    layers: tuple[LayerSpec, ...]
    loss: LossSpec
    optimizer: OptimizerSpec
    steps: int
    training: bool
    data: str | None
    source: str = field(default="<spec>", compare=False)

    def to_dict(self) -> dict:
        """The filled-in spec as JSON-able data (what reports show); parses back to an equal spec."""
        return {
            "name": self.name,
            "seed": self.seed,
            "dtype": self.dtype,
            "input_shape": list(self.input_shape),
            "input": self.input.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "loss": self.loss.to_dict(),
            "optimizer": self.optimizer.to_dict(),
            "steps": self.steps,
            "training": self.training,
            "data": self.data,
        }

    def with_dtype(self, dtype: str) -> "CaseSpec":
        """A copy with another dtype ("float32" | "float64"), e.g. for ``--dtype``."""
        if not isinstance(dtype, str) or dtype not in DTYPES:
            _fail(self.source, "dtype", f"expected one of {_listing(DTYPES)}", dtype, typed=not isinstance(dtype, str))
        return dataclasses.replace(self, dtype=dtype)


# ==== field checks ===============================================================================
@dataclass(frozen=True)
class _Check:
    """A field check: ``desc`` says what is expected; ``fn`` returns the normalised value or
    raises ``_Bad`` (with its own text, or none to use ``desc``)."""

    desc: str
    fn: Callable[[Any], Any]

    def __call__(self, value: Any) -> Any:
        return self.fn(value)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v: Any) -> bool:
    return _is_int(v) or isinstance(v, (float, np.floating))


def _int_check(low: int, desc: str) -> _Check:
    def fn(v):
        if not _is_int(v):
            raise _Bad(typed=True)
        if v < low:
            raise _Bad()
        return int(v)
    return _Check(desc, fn)


def _float_check(desc: str, ok: Callable[[float], bool]) -> _Check:
    def fn(v):
        if not _is_number(v):
            raise _Bad(typed=True)
        v = float(v)
        if not math.isfinite(v) or not ok(v):
            raise _Bad()
        return v
    return _Check(desc, fn)


def _bool_check() -> _Check:
    def fn(v):
        if not isinstance(v, (bool, np.bool_)):
            raise _Bad(typed=True)
        return bool(v)
    return _Check("true or false", fn)


def _listing(options) -> str:
    return ", ".join(json.dumps(o) for o in options)


def _choice_check(options: tuple[str, ...]) -> _Check:
    def fn(v):
        if not isinstance(v, str):
            raise _Bad(typed=True)
        if v not in options:
            raise _Bad()
        return v
    return _Check(f"one of {_listing(options)}", fn)


def _pair_of(v: Any, low: int) -> tuple[int, int] | None:
    if _is_int(v) and v >= low:
        return int(v), int(v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) and x >= low for x in v):
        return int(v[0]), int(v[1])
    return None


def _size_check() -> _Check:
    def fn(v):
        out = _pair_of(v, 1)
        if out is None:
            raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple))))
        return out
    return _Check("a positive int or an [h, w] pair of them", fn)


def _padding_check() -> _Check:
    def fn(v):
        if v in ("valid", "same"):
            return v
        out = _pair_of(v, 0)
        if out is None:
            raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple, str))))
        return out
    return _Check('"valid", "same", a non-negative int or an [h, w] pair of them', fn)


def _optional(check: _Check) -> _Check:
    return _Check(f"{check.desc}, or null", lambda v: None if v is None else check(v))


def _activation_check() -> _Check:
    def fn(v):
        if v is None:
            return "linear"
        if not isinstance(v, str):
            raise _Bad(typed=True)
        if v not in _activations.NAMES:
            raise _Bad()
        return v
    return _Check(f"an activation name ({', '.join(_activations.NAMES)}) or null", fn)


def _axis_check() -> _Check:
    def fn(v):
        if not _is_int(v):
            raise _Bad(typed=True)
        if v == 0:
            raise _Bad()
        return int(v)
    return _Check("a nonzero int axis (Keras counts the batch axis as 0; negative counts from the end)", fn)


def _axes_check() -> _Check:
    def fn(v):
        if _is_int(v) and v != 0:
            return int(v)
        if (isinstance(v, (list, tuple)) and v and all(_is_int(a) and a != 0 for a in v)
                and len(set(int(a) for a in v)) == len(v)):
            return tuple(int(a) for a in v)
        raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple))))
    return _Check("a nonzero int axis or a non-empty list of distinct ones (the batch axis is 0)", fn)


def _target_shape_check() -> _Check:
    def fn(v):
        if (not isinstance(v, (list, tuple)) or not v
                or not all(_is_int(t) and (t >= 1 or t == -1) for t in v)
                or sum(1 for t in v if t == -1) > 1):
            raise _Bad(typed=not isinstance(v, (list, tuple)))
        return tuple(int(t) for t in v)
    return _Check("a non-empty list of positive ints (no batch axis) with at most one -1", fn)


def _name_check() -> _Check:
    def fn(v):
        if not isinstance(v, str):
            raise _Bad(typed=True)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise _Bad()
        return v
    return _Check("a name of letters, digits, '.', '_' and '-' (it names files)", fn)


def _shape_check() -> _Check:
    def fn(v):
        if not isinstance(v, (list, tuple)):
            raise _Bad(typed=True)
        if not v or not all(_is_int(d) and d >= 1 for d in v):
            raise _Bad()
        return tuple(int(d) for d in v)
    return _Check("a non-empty list of positive ints, batch first", fn)


_POS = _int_check(1, "a positive int")
_NONNEG = _int_check(0, "an int >= 0")
_BOOL = _bool_check()
_SIZE = _size_check()
_PADDING = _padding_check()
_ACTIVATION = _activation_check()
_POSITIVE = _float_check("a finite number > 0", lambda x: x > 0)
_NONNEG_F = _float_check("a finite number >= 0", lambda x: x >= 0)
_FINITE = _float_check("a finite number", lambda x: True)
_UNIT_OPEN = _float_check("a number in [0, 1)", lambda x: 0 <= x < 1)
_UNIT_CLOSED = _float_check("a number in [0, 1]", lambda x: 0 <= x <= 1)


@dataclass(frozen=True)
class _Field:
    name: str
    check: _Check
    default: Any = _REQUIRED


_F = _Field


# ==== vocabulary =================================================================================
_CONV_WINDOW = (_F("strides", _SIZE, (1, 1)), _F("padding", _PADDING, "valid"),
                _F("dilation_rate", _SIZE, (1, 1)))
_POOL = (_F("pool_size", _SIZE, (2, 2)), _F("strides", _optional(_SIZE), None), _F("padding", _PADDING, "valid"))

# Activations usable as a layer type, with their parameters (defaults = scratchnet.activations'
# and keras.activations').
_ACTIVATION_LAYERS: dict[str, tuple[_Field, ...]] = {
    "sigmoid": (), "tanh": (), "relu": (),
    "leaky_relu": (_F("negative_slope", _FINITE, 0.2),),
    "elu": (_F("alpha", _FINITE, 1.0),),
    "selu": (),
    "gelu": (_F("approximate", _BOOL, False),),
    "softplus": (), "silu": (), "hard_sigmoid": (),
    "softmax": (_F("axis", _axis_check(), -1),),
    "log_softmax": (_F("axis", _axis_check(), -1),),
}

_LAYERS: dict[str, tuple[_Field, ...]] = {
    "dense": (_F("units", _POS), _F("activation", _ACTIVATION, "linear"), _F("use_bias", _BOOL, True)),
    "conv2d": (_F("filters", _POS), _F("kernel_size", _SIZE), *_CONV_WINDOW, _F("groups", _POS, 1),
               _F("activation", _ACTIVATION, "linear"), _F("use_bias", _BOOL, True)),
    "depthwise_conv2d": (_F("kernel_size", _SIZE), _F("depth_multiplier", _POS, 1), *_CONV_WINDOW,
                         _F("activation", _ACTIVATION, "linear"), _F("use_bias", _BOOL, True)),
    "max_pool2d": _POOL,
    "average_pool2d": _POOL,
    "global_average_pool2d": (),
    "flatten": (),
    "reshape": (_F("target_shape", _target_shape_check()),),
    "dropout": (_F("rate", _UNIT_OPEN),),
    "batch_normalization": (_F("momentum", _UNIT_OPEN, 0.99), _F("epsilon", _POSITIVE, 1e-3)),
    "layer_normalization": (_F("epsilon", _POSITIVE, 1e-3), _F("axis", _axes_check(), -1)),
    "embedding": (_F("input_dim", _POS), _F("output_dim", _POS)),
    "simple_rnn": (_F("units", _POS), _F("return_sequences", _BOOL, False),
                   _F("activation", _ACTIVATION, "tanh")),
    "lstm": (_F("units", _POS), _F("return_sequences", _BOOL, False)),
    "gru": (_F("units", _POS), _F("return_sequences", _BOOL, False), _F("reset_after", _BOOL, True)),
    "activation": (_F("activation", _ACTIVATION),),
    **_ACTIVATION_LAYERS,
}

_LOSSES: dict[str, tuple[_Field, ...]] = {
    "sum_squared_error": (),
    "mean_squared_error": (),
    "binary_crossentropy": (_F("from_logits", _BOOL, False),),
    "categorical_crossentropy": (_F("from_logits", _BOOL, False),),
    "sparse_categorical_crossentropy": (_F("from_logits", _BOOL, False),),
    "huber": (_F("delta", _POSITIVE, 1.0),),
}

_LR = _POSITIVE
_OPTIMIZERS: dict[str, tuple[_Field, ...]] = {
    "sgd": (_F("learning_rate", _LR, 0.01), _F("momentum", _UNIT_OPEN, 0.0), _F("nesterov", _BOOL, False),
            _F("weight_decay", _NONNEG_F, 0.0)),
    "rmsprop": (_F("learning_rate", _LR, 0.001), _F("rho", _UNIT_OPEN, 0.9), _F("momentum", _UNIT_OPEN, 0.0),
                _F("epsilon", _NONNEG_F, 1e-7), _F("centered", _BOOL, False)),
    "adam": (_F("learning_rate", _LR, 0.001), _F("beta_1", _UNIT_OPEN, 0.9), _F("beta_2", _UNIT_OPEN, 0.999),
             _F("epsilon", _NONNEG_F, 1e-7), _F("weight_decay", _NONNEG_F, 0.0)),
    "adamw": (_F("learning_rate", _LR, 0.001), _F("beta_1", _UNIT_OPEN, 0.9), _F("beta_2", _UNIT_OPEN, 0.999),
              _F("epsilon", _NONNEG_F, 1e-7), _F("weight_decay", _NONNEG_F, 0.004)),
    "adagrad": (_F("learning_rate", _LR, 0.001), _F("initial_accumulator_value", _NONNEG_F, 0.1),
                _F("epsilon", _NONNEG_F, 1e-7)),
}

LAYER_TYPES: tuple[str, ...] = tuple(_LAYERS)
ACTIVATION_LAYER_TYPES: tuple[str, ...] = tuple(_ACTIVATION_LAYERS)
LOSS_TYPES: tuple[str, ...] = tuple(_LOSSES)
OPTIMIZER_TYPES: tuple[str, ...] = tuple(_OPTIMIZERS)
DTYPES: tuple[str, ...] = ("float32", "float64")
DATASETS: tuple[str, ...] = ("xor", "digits")
INPUT_KINDS: tuple[str, ...] = ("normal", "uniform", "integers")
DIGITS_SAMPLES = 1797  # images in scikit-learn's load_digits
XOR_INPUT_SHAPE = (4, 3)

# spec type -> scratchnet class name (constructor keywords = the spec's field names)
SCRATCH_CLASSES: dict[str, str] = {
    "dense": "Dense", "conv2d": "Conv2D", "depthwise_conv2d": "DepthwiseConv2D",
    "max_pool2d": "MaxPool2D", "average_pool2d": "AveragePool2D",
    "global_average_pool2d": "GlobalAveragePool2D", "flatten": "Flatten", "reshape": "Reshape",
    "dropout": "Dropout", "batch_normalization": "BatchNormalization",
    "layer_normalization": "LayerNormalization", "embedding": "Embedding",
    "simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU", "activation": "Activation",
    **{name: "Activation" for name in _ACTIVATION_LAYERS},
}

_TOP_KEYS = ("name", "seed", "dtype", "input_shape", "input", "layers", "loss", "optimizer", "steps",
             "training", "data")
_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "hard_sigmoid")
_VALUE_PRESERVING = ("flatten", "reshape", "max_pool2d", "average_pool2d", "global_average_pool2d")


# ==== parsing ====================================================================================
def _check_keys(source: str, raw: dict, path: str, allowed: tuple[str, ...], noun: str) -> None:
    """Every key of ``raw`` must be in ``allowed``; the first that is not is the error."""
    for key in raw:
        if key in allowed:
            continue
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" (did you mean {json.dumps(hint[0])}?)" if hint else ""
        expected = (f"expected one of the {noun} keys ({', '.join(allowed)})" if allowed
                    else f"expected no keys for {noun}")
        raise SpecError(source, _join(path, key), f"{expected}, got unknown key {json.dumps(str(key))}{hint}")


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
                   what: str) -> tuple[str, dict]:
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
    return kind, _fill(source, raw, path, table[kind], kind)


def _parse_layer(source: str, raw: Any, path: str) -> LayerSpec:
    kind, params = _typed_section(source, raw, path, _LAYERS, "layer")
    if kind in ("conv2d", "depthwise_conv2d"):
        if max(params["strides"]) > 1 and max(params["dilation_rate"]) > 1:
            _fail(source, _join(path, "dilation_rate"),
                  "expected 1 when strides > 1 (Keras refuses strides > 1 with dilation_rate > 1)",
                  list(params["dilation_rate"]))
    if kind in ("max_pool2d", "average_pool2d"):
        if params["strides"] is None:
            params["strides"] = params["pool_size"]
        pad = params["padding"]
        if isinstance(pad, tuple) and any(p > k // 2 for p, k in zip(pad, params["pool_size"])):
            _fail(source, _join(path, "padding"),
                  f"expected at most half of pool_size {list(params['pool_size'])} per axis "
                  "(torch refuses more)", list(pad))
    return LayerSpec(kind, FrozenDict(params))


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
    layers = tuple(_parse_layer(source, raw, f"layers[{i}]") for i, raw in enumerate(raw_layers))

    loss_raw, opt_raw = get("loss", _MISSING), get("optimizer", _MISSING)
    if loss_raw is _MISSING:
        _fail(source, "loss", f'expected a loss object {{"type": ...}}, one of {", ".join(_LOSSES)} (required)')
    loss_type, loss_params = _typed_section(source, loss_raw, "loss", _LOSSES, "loss")
    loss = LossSpec(loss_type, FrozenDict(loss_params))
    if opt_raw is _MISSING:
        _fail(source, "optimizer",
              f'expected an optimizer object {{"type": ...}}, one of {", ".join(_OPTIMIZERS)} (required)')
    opt_type, opt_params = _typed_section(source, opt_raw, "optimizer", _OPTIMIZERS, "optimizer")
    optimizer = OptimizerSpec(opt_type, FrozenDict(opt_params))
    if optimizer.type == "sgd" and optimizer.params["nesterov"] and optimizer.params["momentum"] == 0:
        _fail(source, "optimizer.nesterov", "expected false when momentum is 0 (torch refuses Nesterov "
              "without momentum)", True)

    steps = _value(source, "steps", _NONNEG, get("steps", 1))
    training = _value(source, "training", _BOOL, get("training", True))

    spec = CaseSpec(name=name, seed=seed, dtype=dtype, input_shape=input_shape, input=input_spec,
                    layers=layers, loss=loss, optimizer=optimizer, steps=steps, training=training,
                    data=dataset, source=source)
    _check_input_kind(spec)
    shapes = infer_shapes(spec)
    _check_targets(spec, shapes)
    return spec


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


def _final_activation(spec: CaseSpec) -> tuple[int, str | None]:
    """(index, activation name) of the last layer that changes values: flatten, reshape and the
    pools are looked through; None when that layer is not an activation (e.g. an LSTM)."""
    for i in range(len(spec.layers) - 1, -1, -1):
        layer = spec.layers[i]
        if layer.type in _VALUE_PRESERVING:
            continue
        if layer.type in _ACTIVATION_LAYERS:
            return i, layer.type
        return i, layer.params.get("activation")
    return 0, None  # only shape layers: the raw input is not probabilities


def _check_targets(spec: CaseSpec, shapes: list[tuple[int, ...]]) -> None:
    """The loss (and the data set) must fit the model's output."""
    src, out, loss = spec.source, shapes[-1], spec.loss
    found = f"output {out} from layers[{len(spec.layers) - 1}] ({spec.layers[-1].type})"
    if loss.type in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if not out or out[-1] < 2:
            raise SpecError(src, "loss.type", f"expected a final output with a class axis of size >= 2 "
                            f"for {loss.type}, got {found}")
    if loss.params.get("from_logits") is False:
        i, act = _final_activation(spec)
        if act not in _PROBABILITY_ACTIVATIONS:
            raise SpecError(src, "loss.from_logits", f"expected true, or a model that outputs probabilities "
                            f"(a final softmax, sigmoid or hard_sigmoid) for {loss.type}, got false with "
                            f"layers[{i}] ({spec.layers[i].type}) ending in {act or 'no activation'}")
    if spec.data == "xor" and out != (1,):
        raise SpecError(src, "data", f'expected a model output of (1,) per sample for "xor" (one target '
                        f"per row), got {found}")
    if spec.data == "digits" and out != (10,):
        raise SpecError(src, "data", f'expected a model output of (10,) per sample for "digits" (one-hot '
                        f"over 10 classes), got {found}")


# ==== shapes =====================================================================================
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
        _fail(src, path, f"dense expects (F,) or (T, F) input: flatten an image first "
              f"(torch's NCHW layout would put W last)", shape)
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


# ==== files ======================================================================================
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    pass


def load_spec(path: str | Path) -> CaseSpec:
    """Read a ``.json`` or ``.toml`` spec file and ``parse_spec`` it, naming the file (as given)
    in errors."""
    return _load_file(Path(path), str(path))


def _load_file(p: Path, source: str) -> CaseSpec:
    suffix = p.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise SpecError(source, None, f"expected a .json or .toml spec file, got {suffix or 'no extension'!r}")
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SpecError(source, None, f"expected a readable file, got {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(source, None, f"expected UTF-8 text, got {exc.reason} at byte {exc.start}") from None
    if suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise SpecError(source, f"line {exc.lineno} column {exc.colno}",
                            f"expected valid JSON, got {exc.msg}") from None
        except _DuplicateKey as exc:
            raise SpecError(source, str(exc.args[0]), "expected each key once per object, got it twice") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(source, None, f"expected valid TOML, got {exc}") from None
    return parse_spec(data, source)


def catalog_dir() -> Path:
    """The built-in catalog folder (package data: ``parity/catalog``)."""
    return Path(__file__).resolve().parent / "catalog"


def load_catalog() -> list[CaseSpec]:
    """Every ``*.json`` / ``*.toml`` in the catalog, parsed, sorted by name (empty if none).
    Two files with the same case name are an error (their results would collide)."""
    folder = catalog_dir()
    if not folder.is_dir():
        return []
    root = folder.parent.parent
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".toml"))
    specs: list[CaseSpec] = []
    seen: dict[str, str] = {}
    for p in files:
        try:
            shown = str(p.relative_to(root))
        except ValueError:
            shown = str(p)
        spec = _load_file(p, shown)
        if spec.name in seen:
            _fail(shown, "name", f"expected a name unique in the catalog (also used by {seen[spec.name]})",
                  spec.name)
        seen[spec.name] = shown
        specs.append(spec)
    return sorted(specs, key=lambda s: s.name)
