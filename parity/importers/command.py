"""``parity import torch|keras MODULE:FACTORY --input-shape ... [--loss ...] [--optimizer ...]
[--steps N] [--weights out.npz] [--out spec.json]``: the spec file of an existing model.

``MODULE:FACTORY`` names a callable (``mypackage.models:make_net``; the current folder is on the
import path) that returns the model, built (a Keras model with its input) and holding the weights
to export. ``--input-shape`` is the spec's: batch first, channels-last (``4,28,28,1`` or
``[4, 28, 28, 1]``), required for torch; for Keras the model's own input with batch 2 by
default. ``--loss`` / ``--optimizer``: a type name (``categorical_crossentropy``) or a JSON object
(``'{"type": "adam", "learning_rate": 0.01}'``). Without ``--out`` the spec is printed.

Exit 0: written. Exit 2: bad input (one line naming the argument or the layer, no traceback,
nothing written): a factory that does not import or raises, a layer no mapping reads, an invalid
loss or optimizer. The spec file and the weights are written atomically (each to a temporary file
in its folder, both renamed into place only once both are complete).
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

from parity.cli_checks import UsageError


def add_arguments(p) -> None:
    p.add_argument("framework", choices=["torch", "keras"], help="the model's framework")
    p.add_argument("factory", metavar="MODULE:FACTORY", help="a callable returning the model, e.g. mymodels:make_net")
    p.add_argument("--input-shape", help="batch first, channels-last: 4,28,28,1 (required for torch)")
    p.add_argument("--loss", help="a loss type, or a JSON object (default mean_squared_error)")
    p.add_argument("--optimizer", help="an optimizer type, or a JSON object (default sgd)")
    p.add_argument("--steps", type=int, default=0, help="optimizer steps the spec compares (default 0)")
    p.add_argument("--name", help="the spec's name (default: the model's class or name)")
    p.add_argument("--weights", metavar="FILE.npz", help="also write the model's weights, canonical layout")
    p.add_argument("--out", metavar="SPEC.json", help="write the spec here (default: print it)")


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        value = json.loads(text) if text.strip().startswith("[") else [int(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        value = None
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                           for v in value):
        raise UsageError(f"--input-shape: expected positive ints, batch first (4,28,28,1), got {text!r}")
    return tuple(value)


def _typed(option: str, text: str | None) -> dict | None:
    if text is None:
        return None
    if text.strip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{option}: not a JSON object ({exc})") from None
        if not isinstance(value, dict) or "type" not in value:
            raise UsageError(f"{option}: expected a JSON object with a \"type\", got {text!r}")
        return value
    return {"type": text}


def load_factory(text: str):
    """The model ``MODULE:FACTORY()`` returns (UsageError, one line, for each way it can fail)."""
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"MODULE:FACTORY: expected a module and a callable separated by ':', got {text!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(f"{text}: cannot import {module_name}: {type(exc).__name__}: {_first(exc)}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UsageError(f"{text}: {module_name} has no callable {attr!r}")
    try:
        return factory()
    except Exception as exc:
        raise UsageError(f"{text}: {attr}() raised {type(exc).__name__}: {_first(exc)}") from None


def _first(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def cmd_import(args) -> int:
    from parity.importers import ImportRefused, from_keras, from_torch
    from parity.spec import parse_spec

    shape = _shape(args.input_shape)
    loss, optimizer = _typed("--loss", args.loss), _typed("--optimizer", args.optimizer)
    if args.steps < 0:
        raise UsageError(f"--steps: expected an int >= 0, got {args.steps}")
    targets = [Path(p) for p in (args.out, args.weights) if p]
    for path in targets:
        if path.is_dir() or not path.resolve().parent.is_dir():
            raise UsageError(f"{path}: expected a file in an existing folder")
    if args.framework == "torch" and shape is None:
        raise UsageError("--input-shape: required for a torch model (batch first, channels-last)")
    model = load_factory(args.factory)
    options = dict(name=args.name, loss=loss, optimizer=optimizer, steps=args.steps)
    try:
        if args.framework == "torch":
            import torch.nn as nn

            if not isinstance(model, nn.Module):
                raise UsageError(f"{args.factory}: returned a {type(model).__name__}, not a torch.nn.Module")
            spec, weights = from_torch(model, shape, **options)
        else:
            import keras

            if not isinstance(model, keras.Model):
                raise UsageError(f"{args.factory}: returned a {type(model).__name__}, not a keras.Model")
            spec, weights = from_keras(model, shape, **options)
    except ImportRefused as exc:
        raise UsageError(f"{args.factory}: {exc}") from None
    parse_spec(json.loads(json.dumps(spec)), f"{args.factory} (--loss/--optimizer/--steps)")  # SpecError: exit 2
    text = json.dumps(spec, indent=2) + "\n"
    if not args.out:
        sys.stdout.write(text)
    items = []
    if args.out:
        items.append((Path(args.out), lambda f: f.write(text.encode())))
    if args.weights:
        items.append((Path(args.weights), lambda f: _savez(f, weights)))
    _write_all(items)
    return 0


def _savez(f, weights) -> None:
    import numpy as np

    np.savez(f, **weights)


def _write_all(items) -> None:
    """Each (path, write) to a temporary file beside its path; all renamed into place once every
    one is complete (a failure leaves the targets as they were)."""
    staged = []
    try:
        for path, write in items:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                write(f)
        for tmp, path in staged:
            os.replace(tmp, path)
        staged = []
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
