"""Which specs ``parity run`` runs: files, catalog case names, and ``-k`` glob patterns.

- A SPEC that is an existing file is loaded from it; otherwise a SPEC that is a catalog case's name
  (``parity run opt-adam``) is that case; anything else is bad input (exit 2), with the nearest
  catalog name suggested.
- ``-k PATTERN`` (repeatable; shell-style globs, ``fnmatch``, case-sensitive) keeps the specs whose
  name matches any pattern: the catalog's when no SPEC is given, the given SPECs' otherwise. A
  pattern matching nothing is bad input (a typo, not an empty run).
- Dtypes: a named or file SPEC runs in its own dtype; the catalog without SPEC (``-k`` included)
  runs in both; ``--dtype`` overrides either.
"""
from __future__ import annotations

import difflib
import fnmatch
from pathlib import Path


class SelectionError(ValueError):
    """A SPEC or pattern that selects nothing (the command line turns it into exit 2)."""


def resolve(specs: list[str], patterns: list[str] | None, dtype: str | None):
    from parity.spec import load_catalog, load_spec

    patterns = list(patterns or [])
    if specs:
        catalog = None
        loaded = []
        for arg in specs:
            path = Path(arg)
            if path.exists() or path.suffix in (".json", ".toml") or "/" in arg:
                loaded.append(load_spec(arg))  # its own one-line errors (missing file, bad field)
                continue
            catalog = catalog if catalog is not None else {s.name: s for s in load_catalog()}
            if arg not in catalog:
                near = difflib.get_close_matches(arg, list(catalog), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else " (see python -m parity list)"
                raise SelectionError(f"SPEC {arg!r}: no such file and no catalog case of that name{hint}")
            loaded.append(catalog[arg])
        loaded = _filter(loaded, patterns)
        return [s.with_dtype(dtype) if dtype else s for s in loaded]
    catalog = _filter(load_catalog(), patterns)
    dtypes = [dtype] if dtype else ["float64", "float32"]
    return [s.with_dtype(d) for d in dtypes for s in catalog]


def _filter(specs, patterns: list[str]):
    if not patterns:
        return list(specs)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(s.name, pattern) for s in specs):
            raise SelectionError(f"-k {pattern!r}: matches none of the {len(specs)} cases' names "
                                 "(globs: * any text, ? one character, [abc] one of them; see python -m parity list)")
    return [s for s in specs if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
