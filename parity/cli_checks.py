"""Checks of command-line arguments made before anything runs, each ending in a ``UsageError``
(one line naming the argument, exit 2).

``check_out`` decides whether ``--out`` can take a report: the report is staged beside the folder
and swapped in (``parity.report.publish``), so its parent must be a writable folder on the same
file system, with room in a file name for the staging suffix.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from parity.report.publish import LONGEST_SUFFIX, OutputFolder, PublishError
from parity.spec.errors import printable


class UsageError(Exception):
    """Bad input detected by the command line itself (exit 2)."""


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_out(value: str, flag: str = "--out") -> Path:
    """The folder ``value`` names, absolute with symlinks resolved, or UsageError."""
    shown = printable(value)
    if not value.strip():
        raise UsageError(f"{flag}: expected a folder path, got an empty string")
    out = Path(value).resolve()
    parent = out.parent
    if out == parent:
        raise UsageError(f"{flag} {shown}: expected a folder below the file system root (the report "
                         "is staged beside it)")
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise UsageError(f"{flag} {shown}: expected a folder that does not hold the current directory (the "
                         "folder is replaced whole, and the shell would be left in a removed one)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {shown}: exists and is not a folder")
    if not parent.is_dir():
        blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise UsageError(f"{flag} {shown}: {printable(str(blocker))} is a file, not a folder")
        raise UsageError(f"{flag} {shown}: parent folder {printable(str(parent))} does not exist")
    limit = _name_max(parent) - 1 - LONGEST_SUFFIX
    if len(os.fsencode(out.name)) > limit:
        raise UsageError(f"{flag} {shown}: expected a folder name of at most {limit} bytes (the staging "
                         f"folder beside it adds {1 + LONGEST_SUFFIX}), got {len(os.fsencode(out.name))}")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK | os.X_OK)):
        raise UsageError(f"{flag} {shown}: not writable")
    if out.exists() and os.stat(out).st_dev != os.stat(parent).st_dev:
        raise UsageError(f"{flag} {shown}: is a mount point (the report is staged in its parent, on "
                         "another file system): give a folder inside it")
    return out


@contextlib.contextmanager
def locked_out(out: Path, value: str, flag: str = "--out") -> Iterator[OutputFolder]:
    """``out``'s lock for one run (``publish.OutputFolder``: a second run is refused, what dead runs
    left is cleaned up); a ``PublishError`` then or while publishing becomes a UsageError naming
    ``flag`` and ``value`` as given."""
    folder = OutputFolder(out)
    try:
        folder.__enter__()
    except PublishError as exc:
        raise UsageError(f"{flag} {printable(value)}: {exc}") from None
    try:
        yield folder
    except PublishError as exc:
        raise UsageError(f"{flag} {printable(value)}: {exc}") from None
    finally:
        folder.__exit__()
