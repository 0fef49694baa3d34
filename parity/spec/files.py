"""Spec files on disk: one ``.json`` / ``.toml`` file, and the built-in catalog."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from parity.spec.cases import CaseSpec
from parity.spec.errors import SpecError, _fail
from parity.spec.parse import parse_spec


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
    return Path(__file__).resolve().parent.parent / "catalog"


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
