"""The spec reference (docs/spec.md) and its JSON Schema (docs/spec.schema.json), generated from
the vocabulary tables the parser fills specs from (``parity.spec.vocabulary``: every type, field,
default and check), so that a type or field added there appears here without anyone writing it.

    python -m parity schema          > docs/spec.md
    python -m parity schema --json   > docs/spec.schema.json     (or: make docs)

What a field accepts is its check's ``desc`` (the words the parser's error messages use) and its
``schema`` (the JSON Schema fragment of the same values; a check without one accepts any value in
the schema and is described in words only). The checks that span fields (an embedding only first,
a final softmax for crossentropies from probabilities, ...) are prose in ``parity/spec/__init__.py``;
the JSON Schema cannot express them, so ``parity run`` remains the judge.
"""
from __future__ import annotations

import json
from typing import Any

from parity.spec import vocabulary as vocab
from parity.spec.checks import _BOOL, _NONNEG, _name_check, _shape_check
from parity.spec.errors import _REQUIRED

REGENERATE = ("PYTHONPATH=. python -m parity schema > docs/spec.md && "
              "PYTHONPATH=. python -m parity schema --json > docs/spec.schema.json   (or: make docs)")

EXAMPLE = {
    "name": "cnn-same-stride2", "seed": 0, "dtype": "float64", "input_shape": [4, 9, 11, 2],
    "input": {"kind": "normal"},
    "layers": [{"type": "conv2d", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                "activation": "relu"},
               {"type": "max_pool2d", "pool_size": 2}, {"type": "flatten"}, {"type": "dense", "units": 5}],
    "loss": {"type": "categorical_crossentropy", "from_logits": True},
    "optimizer": {"type": "adam", "learning_rate": 0.01, "beta_1": 0.875, "beta_2": 0.9375},
    "steps": 3,
}

# The top-level keys: (default or _REQUIRED, what it accepts, its JSON Schema or None). The parser's
# own order and key list is vocabulary._TOP_KEYS; a key there without an entry here is still
# listed, described as "see parity/spec/__init__.py".
_INPUT_SCHEMA = {"oneOf": [
    {"type": "object", "properties": {"kind": {"enum": ["normal", "uniform"]}}, "required": ["kind"],
     "additionalProperties": False},
    {"type": "object", "properties": {"kind": {"const": "integers"}, "high": {"type": "integer", "minimum": 1},
                                      "low": {"type": "integer", "minimum": 0}},
     "required": ["kind", "high"], "additionalProperties": False}]}
_TOP: dict[str, tuple[Any, str, dict | None]] = {
    "name": (_REQUIRED, _name_check().desc, _name_check().schema),
    "seed": (0, "an int >= 0: every random draw of the case (input, targets, weights, masks)", _NONNEG.schema),
    "dtype": ("float64", "one of " + ", ".join(json.dumps(d) for d in vocab.DTYPES) + " (`--dtype` overrides it)",
              {"enum": list(vocab.DTYPES)}),
    "input_shape": (_REQUIRED, _shape_check().desc + "; images (N, H, W, C), sequences (N, T, F), token ids "
                    "(N, T); implied [4, 3] for data \"xor\"", _shape_check().schema),
    "input": ({"kind": "normal"}, 'how the input is drawn: {"kind": "normal"}, {"kind": "uniform"} or '
              '{"kind": "integers", "high": V, "low": 0} (token ids in [low, high), for an embedding first layer)',
              _INPUT_SCHEMA),
    "layers": (_REQUIRED, "a non-empty list of layer objects (below), applied in order", None),
    "loss": (_REQUIRED, "a loss object (below)", None),
    "optimizer": (_REQUIRED, "an optimizer object (below)", None),
    "steps": (1, "an int >= 0: optimizer steps compared one by one (0: forward and gradients only)",
              _NONNEG.schema),
    "training": (True, "true or false: training mode (batch statistics, the dropout mask) or inference mode",
                 _BOOL.schema),
    "data": (None, "null, " + ", ".join(json.dumps(d) for d in vocab.DATASETS) + ": a data set replaces the "
             "generated input (xor: the seed tutorial's four rows; digits: scikit-learn's 8x8 digits, "
             "input_shape [N, 64] or [N, 8, 8, 1])", {"enum": [None, *vocab.DATASETS]}),
}


def _default(value: Any) -> str:
    if value is _REQUIRED:
        return "**required**"
    return "`" + json.dumps(_jsonable(value)) + "`"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _compact(spec: dict) -> str:
    """A spec as JSON with one top-level key and one layer per line."""
    lines = []
    for key, value in spec.items():
        if key == "layers":
            inner = ",\n".join("    " + json.dumps(layer) for layer in value)
            lines.append(f'  "layers": [\n{inner}\n  ]')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_table(table: dict, heading: str, intro: str) -> list[str]:
    lines = [f"## {heading}", "", intro, "",
             "| type | field | default | accepts |", "|---|---|---|---|"]
    for kind, fields in table.items():
        if not fields:
            lines.append(f"| `{kind}` | (no fields) | | |")
        for i, f in enumerate(fields):
            lines.append(f"| {'`' + kind + '`' if i == 0 else ''} | `{f.name}` | {_default(f.default)} | "
                         f"{_cell(f.check.desc)} |")
    return lines + [""]


def markdown() -> str:
    """docs/spec.md: every key, type and field the parser accepts, with defaults and checks."""
    layers = {k: v for k, v in vocab._LAYERS.items() if k not in vocab.ACTIVATION_LAYER_TYPES}
    acts = {k: vocab._LAYERS[k] for k in vocab.ACTIVATION_LAYER_TYPES}
    lines = ["# The spec format", "",
             "<!-- Generated by `python -m parity schema` from parity/spec/vocabulary.py: do not edit by hand. -->", "",
             "A case is one JSON file (or TOML with the same keys): a model, its input, its loss and optimizer. "
             "`parity run case.json` builds it in scratchnet, PyTorch and Keras with the same weights and data and "
             "compares every tensor. Unknown keys are errors (with a did-you-mean hint); every field left out is "
             "filled in with the default below, and the filled-in spec is what the reports show. Types are checked "
             "exactly: a bool is not an int, and `3.0` is not an int. Hyperparameters mean what the Keras docs say "
             "they mean; the harness translates them for torch.", "",
             "Contents: [top-level keys](#top-level-keys) · [layers](#layers) · [activation layers](#activation-layers)"
             " · [losses](#losses) · [optimizers](#optimizers) · [schedules](#learning-rate-schedules) · [checks across fields](#checks-across-fields) · "
             "[JSON Schema](#json-schema)", "",
             "```json", _compact(EXAMPLE), "```", "",
             "## Top-level keys", "", "| key | default | accepts |", "|---|---|---|"]
    for key in vocab._TOP_KEYS:
        default, desc, _ = _TOP.get(key, (None, "see `parity/spec/__init__.py`", None))
        lines.append(f"| `{key}` | {_default(default)} | {_cell(desc)} |")
    lines.append("")
    lines += _type_table(layers, "Layers", "Each entry of `layers` is `{\"type\": T, field: value, ...}`. Names "
                         "and fields follow Keras's snake_case vocabulary. Sizes, strides and dilations are an int "
                         "or an `[h, w]` pair; images are channels-last.")
    lines += ["### Graph keys of every layer", "",
              "A model is a graph of layers: any layer may also carry these keys. A spec without them is a stack "
              "and keeps its tensor keys (`0_dense/kernel`).", "",
              "| key | default | accepts |", "|---|---|---|"]
    lines += [f"| `{key}` | {default} | {_cell(desc)} |" for key, (default, desc, _) in vocab.LAYER_GRAPH_KEYS.items()]
    lines.append("")
    lines += _type_table(acts, "Activation layers", "Every activation is also a layer type of its own "
                         "(`{\"type\": \"relu\"}`); the `activation` field of a layer takes the same names.")
    lines += _type_table(vocab._LOSSES, "Losses", "`loss` is `{\"type\": T, ...}`. Targets are generated to fit "
                         "the loss from the case's seed (or taken from the data set).")
    lines += _type_table(vocab._OPTIMIZERS, "Optimizers", "`optimizer` is `{\"type\": T, ...}`, with Keras's "
                         "defaults; `steps` optimizer steps are compared one by one. Every optimizer also takes "
                         "`clipnorm`, `clipvalue`, `global_clipnorm` (at most one) and `exclude_from_weight_decay` "
                         "(strings found by `re.search` in a parameter's name; one that matches no parameter of the "
                         "model is refused).")
    lines += _type_table(vocab._SCHEDULES, "Learning-rate schedules", "`learning_rate` may be `{\"schedule\": T, "
                         "...}` instead of a number: evaluated at every optimizer step, the update of step t using "
                         "the schedule at t - 1 (Keras's counting).")
    lines += ["## Checks across fields", "",
              "Some rules involve more than one field (an embedding only as the first layer; a final softmax for a "
              "crossentropy from probabilities; nesterov needs momentum; no steps without trainable parameters; "
              "shapes that fit, inferred layer by layer). They are listed in the docstring of "
              "[`parity/spec/__init__.py`](../parity/spec/__init__.py); a spec that breaks one is refused by "
              "`parity run` with one line naming the file, the field and what was expected (exit 2).", "",
              "## JSON Schema", "",
              "[`docs/spec.schema.json`](spec.schema.json) (`parity schema --json`) describes the same keys for "
              "editors (completion and checks as you type). It cannot express the checks across fields, nor tell "
              "`3.0` from `3`.", ""]
    return "\n".join(lines)


def _object(kind: str, fields, extra: dict | None = None) -> dict:
    props: dict[str, Any] = {"type": {"const": kind}, **(extra or {})}
    for f in fields:
        prop = dict(f.check.schema or {})
        prop["description"] = f.check.desc
        if f.default is not _REQUIRED:
            prop["default"] = _jsonable(f.default)
        props[f.name] = prop
    return {"type": "object", "properties": props, "additionalProperties": False,
            "required": ["type", *(f.name for f in fields if f.default is _REQUIRED)]}


def _one_of(table: dict, what: str, extra: dict | None = None) -> dict:
    return {"description": f"a {what} object: one of {', '.join(table)}",
            "type": "object", "required": ["type"],
            "properties": {"type": {"enum": list(table)}},
            "allOf": [{"if": {"properties": {"type": {"const": k}}}, "then": _object(k, fields, extra)}
                      for k, fields in table.items()]}


def json_schema() -> dict:
    """A JSON Schema (draft 2020-12) of a spec file, from the same tables as ``markdown``."""
    props: dict[str, Any] = {}
    for key in vocab._TOP_KEYS:
        default, desc, schema = _TOP.get(key, (None, "see parity/spec/__init__.py", None))
        prop = dict(schema or {})
        prop["description"] = desc
        if default is not _REQUIRED:
            prop["default"] = _jsonable(default)
        props[key] = prop
    props["layers"].update({"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}})
    props["loss"].update({"$ref": "#/$defs/loss"})
    props["optimizer"].update({"$ref": "#/$defs/optimizer"})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://scratchnet-parity.invalid/spec.schema.json",
            "title": "scratchnet + parity case spec",
            "description": "Generated by `python -m parity schema --json` from parity/spec/vocabulary.py; see docs/spec.md.",
            "type": "object", "additionalProperties": False,
            "required": [k for k in vocab._TOP_KEYS if _TOP.get(k, (None,))[0] is _REQUIRED and k != "input_shape"],
            "properties": props,
            "$defs": {"layer": _one_of(vocab._LAYERS, "layer", {key: {**schema, "description": desc} for key, (_, desc, schema)
                                                                in vocab.LAYER_GRAPH_KEYS.items()}), "loss": _one_of(vocab._LOSSES, "loss"),
                      "optimizer": _one_of(vocab._OPTIMIZERS, "optimizer")}}


def json_text() -> str:
    return json.dumps(json_schema(), indent=1) + "\n"
