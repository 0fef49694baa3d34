"""The frozen dataclasses a parsed spec becomes, and their read-only ``params``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from parity.spec.errors import _fail
from parity.spec.checks import _listing
from parity.spec.vocabulary import DTYPES


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
    if isinstance(value, _TypedSpec):  # a nested layer (bidirectional's)
        return value.to_dict()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


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
class _TypedSpec:
    """A ``type`` and its filled-in ``params``: the shape of a layer, a loss and an optimizer."""

    type: str
    params: FrozenDict = field(default_factory=FrozenDict)

    def to_dict(self) -> dict:
        return {"type": self.type, **_jsonable(dict(self.params))}


@dataclass(frozen=True)
class LayerSpec(_TypedSpec):
    """One layer: its spec ``type`` and every field (defaults filled in, normalised), whose names
    are the scratchnet constructor keywords; its ``name`` and the names of its ``inputs``
    (DESIGN.md "Graphs"; the parser fills in the defaults ``<index>_<type>`` and the layer before,
    None means the same)."""

    name: str | None = None
    inputs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LossSpec(_TypedSpec):
    """The loss: ``type`` and its filled-in parameters."""


@dataclass(frozen=True)
class OptimizerSpec(_TypedSpec):
    """The optimizer: ``type`` and its filled-in hyperparameters (Keras meanings)."""


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
    plan: Any = field(default=None, compare=False, repr=False)  # parity.spec.plan.CasePlan, by the parser

    def to_dict(self) -> dict:
        """The filled-in spec as JSON-able data (what reports show); parses back to an equal spec."""
        return {
            "name": self.name,
            "seed": self.seed,
            "dtype": self.dtype,
            "input_shape": list(self.input_shape),
            "input": self.input.to_dict(),
            "layers": [self._layer_dict(i) for i in range(len(self.layers))],
            "loss": self.loss.to_dict(),
            "optimizer": self.optimizer.to_dict(),
            "steps": self.steps,
            "training": self.training,
            "data": self.data,
        }

    def _layer_dict(self, i: int) -> dict:
        """Layer ``i``'s filled-in fields, with its ``name`` and ``inputs`` where they are not the
        defaults (so a stack's layers read as they always did)."""
        layer = self.layers[i]
        out = layer.to_dict()
        default = f"{i}_{layer.type}"
        if layer.name is not None and layer.name != default:
            out["name"] = layer.name
        previous = (self.layers[i - 1].name or f"{i - 1}_{self.layers[i - 1].type}") if i else "input"
        if layer.inputs is not None and tuple(layer.inputs) != (previous,):
            out["inputs"] = list(layer.inputs)
        return out

    def with_dtype(self, dtype: str) -> "CaseSpec":
        """A copy with another dtype ("float32" | "float64"), e.g. for ``--dtype``."""
        if not isinstance(dtype, str) or dtype not in DTYPES:
            _fail(self.source, "dtype", f"expected one of {_listing(DTYPES)}", dtype, typed=not isinstance(dtype, str))
        return dataclasses.replace(self, dtype=dtype)
