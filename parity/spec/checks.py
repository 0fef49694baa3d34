"""Field checks: each names what it expects and returns the normalised value or raises ``_Bad``."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from scratchnet import activations as _activations
from parity.spec.errors import _REQUIRED, _Bad


@dataclass(frozen=True)
class _Check:
    """A field check: ``desc`` says what is expected; ``fn`` returns the normalised value or
    raises ``_Bad`` (with its own text, or none to use ``desc``)."""

    desc: str
    fn: Callable[[Any], Any]
    schema: dict | None = None  # the JSON Schema of the accepted values (docs/spec.schema.json); None: any


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
    return _Check(desc, fn, {"type": "integer", "minimum": low})


# The largest number a spec field may hold: float32's largest finite value. Every framework may keep
# a hyperparameter in float32 (Keras's optimizer variables, ``--dtype float32``, the tf-rounding
# rerun's float32-exact values), where a larger one is inf; a spec that needs inf is no spec.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _representable(x: float) -> bool:
    """Finite, and finite in float32 too (``FLOAT32_MAX``)."""
    return math.isfinite(x) and abs(x) <= FLOAT32_MAX


def _float_check(desc: str, ok: Callable[[float], bool], schema: dict | None = None) -> _Check:
    def fn(v):
        if not _is_number(v):
            raise _Bad(typed=True)
        v = float(v)
        if math.isfinite(v) and not _representable(v) and ok(v):
            raise _Bad(f"expected {desc} of at most {FLOAT32_MAX:.4g} in size (float32's largest: the frameworks "
                       "may keep it in float32)")
        if not _representable(v) or not ok(v):
            raise _Bad()
        return v
    return _Check(desc, fn, {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX, **(schema or {})})


def _bool_check() -> _Check:
    def fn(v):
        if not isinstance(v, (bool, np.bool_)):
            raise _Bad(typed=True)
        return bool(v)
    return _Check("true or false", fn, {"type": "boolean"})


def _listing(options) -> str:
    return ", ".join(json.dumps(o) for o in options)


def _choice_check(options: tuple[str, ...]) -> _Check:
    def fn(v):
        if not isinstance(v, str):
            raise _Bad(typed=True)
        if v not in options:
            raise _Bad()
        return v
    return _Check(f"one of {_listing(options)}", fn, {"enum": list(options)})


def _pair_of(v: Any, low: int) -> tuple[int, int] | None:
    if _is_int(v) and v >= low:
        return int(v), int(v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) and x >= low for x in v):
        return int(v[0]), int(v[1])
    return None


def _int_or_pair(low: int) -> dict:
    item = {"type": "integer", "minimum": low}
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 2, "maxItems": 2}]}


def _size_check() -> _Check:
    def fn(v):
        out = _pair_of(v, 1)
        if out is None:
            raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple))))
        return out
    return _Check("a positive int or an [h, w] pair of them", fn, _int_or_pair(1))


def _padding_check() -> _Check:
    def fn(v):
        if v in ("valid", "same"):
            return v
        out = _pair_of(v, 0)
        if out is None:
            raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple, str))))
        return out
    return _Check('"valid", "same", a non-negative int or an [h, w] pair of them', fn,
                  {"anyOf": [{"enum": ["valid", "same"]}, *_int_or_pair(0)["anyOf"]]})



def _padding_1d_check() -> _Check:
    def fn(v):
        if v in ("valid", "same", "causal"):
            return v
        if _is_int(v) and v >= 0:
            return int(v)
        raise _Bad(typed=not (_is_int(v) or isinstance(v, str)))
    return _Check('"valid", "same", "causal" or a non-negative int', fn,
                  {"anyOf": [{"enum": ["valid", "same", "causal"]}, {"type": "integer", "minimum": 0}]})


def _window_padding_check() -> _Check:
    return _choice_check(("valid", "same"))


def _pair_check(low: int) -> _Check:
    def fn(v):
        out = _pair_of(v, low)
        if out is None:
            raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple))))
        return out
    return _Check(f"an int >= {low} or an [h, w] pair of them", fn, _int_or_pair(low))


def _zero_padding_check() -> _Check:
    """Keras ZeroPadding2D's padding: p, [h, w] or [[top, bottom], [left, right]] (ints >= 0),
    normalised to ((top, bottom), (left, right))."""
    def fn(v):
        pair = _pair_of(v, 0)
        if pair is not None:
            return (pair[0], pair[0]), (pair[1], pair[1])
        if isinstance(v, (list, tuple)) and len(v) == 2:
            sides = [_pair_of(x, 0) if isinstance(x, (list, tuple)) else None for x in v]
            if all(sides):
                return tuple(sides)
        raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple))))
    item = {"type": "integer", "minimum": 0}
    two = {"type": "array", "items": item, "minItems": 2, "maxItems": 2}
    return _Check("a non-negative int, an [h, w] pair or [[top, bottom], [left, right]] of them", fn,
                  {"anyOf": [item, two, {"type": "array", "items": two, "minItems": 2, "maxItems": 2}]})


def _layer_object_check(types: tuple[str, ...]) -> _Check:
    """A nested layer object; the parser fills it in as a layer of its own (``layers[i].<field>``)."""
    def fn(v):
        if not isinstance(v, dict):
            raise _Bad(typed=True)
        return v
    return _Check(f"a layer object {{\"type\": ...}} of type {_listing(types)}", fn,
                  {"type": "object", "properties": {"type": {"enum": list(types)}}, "required": ["type"]})

def _optional(check: _Check) -> _Check:
    schema = {"anyOf": [check.schema, {"type": "null"}]} if check.schema else None
    return _Check(f"{check.desc}, or null", lambda v: None if v is None else check(v), schema)


def _weights_check() -> _Check:
    """class_weight: a non-empty list of finite numbers >= 0 (one per class; the length is checked
    against the model's output once the shapes are known)."""
    def fn(v):
        if not isinstance(v, (list, tuple)) or not v:
            raise _Bad(typed=not isinstance(v, (list, tuple)))
        if not all(_is_number(x) and _representable(float(x)) and x >= 0 for x in v):
            raise _Bad()
        return tuple(float(x) for x in v)
    return _Check("a non-empty list of finite numbers >= 0, one per class", fn,
                  {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1})


def _activation_check() -> _Check:
    def fn(v):
        if v is None:
            return "linear"
        if not isinstance(v, str):
            raise _Bad(typed=True)
        if v not in _activations.NAMES:
            raise _Bad()
        return v
    return _Check(f"an activation name ({', '.join(_activations.NAMES)}) or null", fn,
                  {"enum": [*_activations.NAMES, None]})


def _axis_check() -> _Check:
    def fn(v):
        if not _is_int(v):
            raise _Bad(typed=True)
        if v == 0:
            raise _Bad()
        return int(v)
    return _Check("a nonzero int axis (Keras counts the batch axis as 0; negative counts from the end)", fn,
                  {"type": "integer", "not": {"const": 0}})


def _axes_check() -> _Check:
    def fn(v):
        if _is_int(v) and v != 0:
            return int(v)
        if (isinstance(v, (list, tuple)) and v and all(_is_int(a) and a != 0 for a in v)
                and len(set(int(a) for a in v)) == len(v)):
            return tuple(int(a) for a in v)
        raise _Bad(typed=not (_is_int(v) or isinstance(v, (list, tuple))))
    nonzero = {"type": "integer", "not": {"const": 0}}
    return _Check("a nonzero int axis or a non-empty list of distinct ones (the batch axis is 0)", fn,
                  {"anyOf": [nonzero, {"type": "array", "items": nonzero, "minItems": 1, "uniqueItems": True}]})


def _target_shape_check() -> _Check:
    def fn(v):
        if (not isinstance(v, (list, tuple)) or not v
                or not all(_is_int(t) and (t >= 1 or t == -1) for t in v)
                or sum(1 for t in v if t == -1) > 1):
            raise _Bad(typed=not isinstance(v, (list, tuple)))
        return tuple(int(t) for t in v)
    return _Check("a non-empty list of positive ints (no batch axis) with at most one -1", fn,
                  {"type": "array", "minItems": 1,
                   "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"const": -1}]}})


# A case name names files (plots/<name>-<dtype>.png, a user's <name>.junit.xml, ...): file systems
# hold 255 bytes a name (NAME_MAX on ext4, xfs, btrfs, tmpfs; 255 UTF-16 units on APFS, NTFS), and
# half of that is left for what the harness and its users add around the name.
MAX_NAME_LENGTH = 128
# A layer name is the first part of its tensor keys (``<name>/<param>``, ``<name>/query/kernel``):
# each is a member name in tensors.npz (a zip holds at most 65535 bytes a member name) and a cell of
# results.csv and the report. Room for the deepest import (fx names joined by ``_``) is left.
MAX_LAYER_NAME_LENGTH = 256


def _name_check() -> _Check:
    def fn(v):
        if not isinstance(v, str):
            raise _Bad(typed=True)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise _Bad()
        if len(v) > MAX_NAME_LENGTH:
            raise _Bad(f"expected a name of at most {MAX_NAME_LENGTH} characters (it names files; a file system "
                       f"holds 255 bytes a name, with the suffixes added; this one has {len(v)})")
        return v
    return _Check(f"a name of at most {MAX_NAME_LENGTH} letters, digits, '.', '_' and '-' (it names files)", fn,
                  {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$", "maxLength": MAX_NAME_LENGTH})


def _shape_check() -> _Check:
    def fn(v):
        if not isinstance(v, (list, tuple)):
            raise _Bad(typed=True)
        if not v or not all(_is_int(d) and d >= 1 for d in v):
            raise _Bad()
        return tuple(int(d) for d in v)
    return _Check("a non-empty list of positive ints, batch first", fn,
                  {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}})


def _strings_check() -> _Check:
    def fn(v):
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise _Bad(typed=not isinstance(v, (list, tuple)))
        if not v or not all(v):
            raise _Bad()
        return tuple(v)
    return _Check("a non-empty list of non-empty strings", fn,
                  {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}})


def _learning_rate_check(schedules: tuple[str, ...]) -> _Check:
    """A positive number, or a schedule object passed on as is (``parse`` checks its fields)."""
    def fn(v):
        if isinstance(v, dict):
            return v
        if not _is_number(v):
            raise _Bad(typed=True)
        if math.isfinite(float(v)) and not _representable(float(v)):
            raise _Bad(f"expected a number > 0 of at most {FLOAT32_MAX:.4g} (float32's largest: the frameworks keep "
                       "the learning rate in float32), or a schedule object")
        if not (_representable(float(v)) and float(v) > 0):
            raise _Bad()
        return float(v)
    return _Check(f'a finite number > 0, or a schedule object {{"schedule": {" | ".join(map(json.dumps, schedules))}, '
                  '...}', fn, {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                                         {"type": "object", "required": ["schedule"],
                                          "properties": {"schedule": {"enum": list(schedules)}}}]})


_POS = _int_check(1, "a positive int")
_NONNEG = _int_check(0, "an int >= 0")
_BOOL = _bool_check()
_SIZE = _size_check()
_PADDING = _padding_check()
_ACTIVATION = _activation_check()
_POSITIVE = _float_check("a finite number > 0", lambda x: x > 0, {"exclusiveMinimum": 0})
_NONNEG_F = _float_check("a finite number >= 0", lambda x: x >= 0, {"minimum": 0})
_FINITE = _float_check("a finite number", lambda x: True)
_UNIT_OPEN = _float_check("a number in [0, 1)", lambda x: 0 <= x < 1, {"minimum": 0, "exclusiveMaximum": 1})
_UNIT_CLOSED = _float_check("a number in [0, 1]", lambda x: 0 <= x <= 1, {"minimum": 0, "maximum": 1})
_WEIGHTS = _weights_check()


@dataclass(frozen=True)
class _Field:
    name: str
    check: _Check
    default: Any = _REQUIRED


_F = _Field
