"""SpecError, the one-line error every spec problem becomes, and the helpers that word it."""
from __future__ import annotations

import json
from typing import Any

import numpy as np


def printable(text: str) -> str:
    """``text`` with every character that is not printable (a newline, a tab, other control
    characters, an undecodable byte of a file name) written as its Python escape (``\\n``,
    ``\\x1b``, ``\\udcff``), so that a path or value always prints as one line."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


class SpecError(ValueError):
    """A spec that cannot be used, in one line: ``<source>: <path>: <expected>, got <found>``.

    Attributes: ``source`` (the file, or what the caller named the dict), ``path`` (the field path,
    e.g. ``layers[2].kernel_size``; None for file-level problems) and ``message`` (the rest).
    """

    def __init__(self, source: str, path: str | None, message: str):
        self.source = str(source)
        self.path = path
        self.message = " ".join(str(message).split())  # one line, whatever the inner text was
        shown = printable(self.source)  # a newline in a file name must not split the line
        where = printable(path) if path else None
        super().__init__(f"{shown}: {where}: {self.message}" if where else f"{shown}: {self.message}")

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
    if isinstance(value, int) and abs(value).bit_length() > 64:  # str() of a huge int is slow or refused
        return f"an int of about {int(abs(value).bit_length() * 0.30103) + 1} digits"
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
