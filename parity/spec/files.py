"""Spec files on disk: one ``.json`` / ``.toml`` file, and the built-in catalog."""
from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from parity.spec.cases import CaseSpec
from parity.spec.errors import SpecError, _fail
from parity.spec.parse import MAX_DEPTH, MAX_INT, parse_spec


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    pass


# The largest spec file read: 1 MiB. A spec is a few hundred bytes to a few KB (the catalog's largest
# is under 1 KB; a 1000-layer model is ~100 KB), so this leaves room for generated specs while a 50 MB
# file (or /dev/zero) is refused after reading at most 1 MiB + 1 byte, in milliseconds.
MAX_SPEC_BYTES = 2**20

_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_capped(p: Path, source: str, limit: int = MAX_SPEC_BYTES) -> bytes:
    """The bytes of the regular file ``p``, at most ``limit`` of them, else SpecError. Opened with
    O_NONBLOCK (a FIFO never blocks the open) and checked with fstat before any read: a FIFO, a
    device (a symlink to /dev/zero), a socket or a folder is refused; at most ``limit + 1`` bytes
    are read, so a file that grows or lies about its size is refused too."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        raise SpecError(source, None, f"expected a readable file, got {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _FILE_KINDS if test(mode)), "not a regular file")
            raise SpecError(source, None, f"expected a regular file, got {kind}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise SpecError(source, None, f"expected a readable file, got {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise SpecError(source, None, f"expected a spec file of at most {limit} bytes (MAX_SPEC_BYTES), got a larger one")
    return b"".join(chunks)


def load_spec(path: str | Path) -> CaseSpec:
    """Read a ``.json`` or ``.toml`` spec file and ``parse_spec`` it, naming the file (as given)
    in errors."""
    return _load_file(Path(path), str(path))


def _load_file(p: Path, source: str) -> CaseSpec:
    suffix = p.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise SpecError(source, None, f"expected a .json or .toml spec file, got {suffix or 'no extension'!r}")
    try:
        text = read_capped(p, source).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(source, None, f"expected UTF-8 text, got {exc.reason} at byte {exc.start}") from None
    if suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise SpecError(source, f"line {exc.lineno} column {exc.colno}",
                            f"expected valid JSON, got {exc.msg}") from None
        except _DuplicateKey as exc:
            raise SpecError(source, str(exc.args[0])[:60], "expected each key once per object, got it twice") from None
        except (RecursionError, ValueError) as exc:
            raise SpecError(source, None, _unparsable("JSON", exc)) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(source, None, f"expected valid TOML, got {exc}") from None
        except (RecursionError, ValueError) as exc:
            raise SpecError(source, None, _unparsable("TOML", exc)) from None
    return parse_spec(data, source)


def _unparsable(language: str, exc: Exception) -> str:
    """What a parser's RecursionError (deep nesting) or ValueError (Python's limit on the digits of
    an int, 4300) means, in one line."""
    if isinstance(exc, RecursionError):
        return (f"expected {language} nested at most {MAX_DEPTH} deep, got nesting deeper than the parser "
                "follows")
    if "digits" in str(exc):
        return f"expected {language} integers of at most {MAX_INT} (int64), got one with thousands of digits"
    return f"expected valid {language}, got {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


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
