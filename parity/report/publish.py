"""A report folder replaced as a whole: staged beside ``--out``, swapped in by one atomic step,
guarded by a lock, with what the run does not own left in place.

A reader of ``--out`` sees the previous complete report or the new complete one, never a mix,
whenever the run is stopped (Ctrl-C, SIGKILL, a full disk), and a later run cleans up what a
killed one left. Everything this module creates lives in the PARENT of ``--out``
(``<parent>/<name>`` is ``--out``), under names the project's ``.gitignore`` covers
(``.*.parity-*``):

- ``.<name>.parity-lock``: the lock file. A run holds ``fcntl.flock(LOCK_EX)`` on it from before
  its first case until its report is in place (the kernel drops it when the process dies, however
  it dies); a second run into the same folder is refused at once (``Busy``). The holder's pid is
  written in it for the message. The file itself stays (removing a lock file races with its next
  taker).
- ``.<name>.parity-stage-<pid>-<random>``: a staging folder. Any such folder found while holding
  the lock is a dead run's (the lock admits one run at a time), and ``recover`` finishes or undoes
  it.

Which names the run owns in ``--out`` (and replaces or removes): the FIRM artifacts (``OWNED``:
results.csv, tensors.npz, environment.json, report.md, report.html), the manifest
``.parity-report.json`` and every path the manifest of the report being replaced lists (its
plots). A folder without a manifest (written before manifests, or by hand) owns, besides
``OWNED``, the ``plots/`` files its own report.md links to. Everything else in ``--out`` is the
user's: a ``notes.txt``, their own files inside ``plots/``, ``atlas.md`` or ``benchmarks.md``
written by other commands. It is carried into the new folder under the same path, untouched,
unless the new report writes that very path (then the report's file wins).

The steps of ``publish``:

1. stage: make the staging folder S, mark it partial (``.parity-staging``), let the caller write
   the report into it;
2. seal: write the manifest (every file in S), then remove the partial mark;
3. swap: ``renameat2(S, OUT, RENAME_EXCHANGE)`` (Linux >= 3.15, glibc >= 2.28; ext4, xfs, btrfs,
   tmpfs): one atomic step after which OUT is the new report and S the old folder. Where the
   exchange is not supported (another OS or file system) two renames, OUT -> S-old then S -> OUT:
   between them OUT is missing for an instant (never mixed), and ``recover`` rolls forward if the
   run dies there. A first run (no OUT yet) renames S to OUT;
4. carry over: the user's entries of the old folder moved into OUT, one rename each (a run killed
   here leaves them in S, and the next run's ``recover`` moves them);
5. remove S (the old report's own files): renamed ``...-trash`` first, then deleted, so that a
   half-deleted folder is never mistaken for one to carry files from.

SIGINT and SIGTERM are held back during steps 3 to 5 in the main thread, so Ctrl-C there takes
effect just after the new report is in place. A staging folder that is still partial is removed
whole; a sealed one, or the old folder after a swap, has its user entries carried into OUT (a
sealed new report has none: all its files are in its manifest) and is removed; if OUT is missing
(the fallback's instant) the sealed folder becomes OUT.

Test hook: with ``PARITY_PAUSE_AT=<point>`` in the environment the run prints ``paused at
<point>`` on stderr and sleeps at that point (``sealed``, ``swapped``, ``carried``, ``trashed``),
so a test can kill it there.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

OWNED = ("results.csv", "tensors.npz", "environment.json", "report.md", "report.html")
MANIFEST = ".parity-report.json"
PARTIAL = ".parity-staging"
SUFFIXES = (".parity-lock", ".parity-stage-")
# The longest name this module adds to ``.<name>``: ".parity-stage-<pid>-<16 hex>-old-trash".
LONGEST_SUFFIX = len(".parity-stage-") + 10 + 1 + 16 + len("-old") + len("-trash") + 1
TRASH = "-trash"


class PublishError(ValueError):
    """The folder cannot take a report (the message names the path, as given, in one line)."""


class Busy(PublishError):
    """Another run holds the folder's lock."""


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.parity-lock"


def _stages(out: Path) -> list[Path]:
    prefix = f".{out.name}.parity-stage-"
    try:
        # only folders: a file of that name is not a stage this module made, and is never removed
        return sorted(p for p in out.parent.iterdir()
                      if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink())
    except FileNotFoundError:
        return []


class OutputFolder:
    """The lock on ``out`` (an absolute, resolved path) for one run, taken by ``__enter__`` and
    released by ``__exit__``; entering also ``recover``s what dead runs left."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self._fd: int | None = None

    def __enter__(self) -> "OutputFolder":
        path = lock_path(self.out)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise PublishError(f"cannot create files in its parent folder ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise Busy(f"another parity run{who} is writing a report there; wait for it to finish "
                           "or choose another --out") from None
            raise PublishError(f"cannot lock {path.name} ({exc.strerror})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        try:
            recover(self.out)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # releases the flock

    def publish(self, write: Callable[[Path], None]) -> None:
        """Stage a report with ``write(folder)`` and swap it in as ``out`` (see the module doc)."""
        if self._fd is None:
            raise RuntimeError("publish needs the lock: use `with OutputFolder(out) as folder:`")
        publish(self.out, write)


def publish(out: Path, write: Callable[[Path], None]) -> None:
    """Steps 1-5 of the module doc; the caller holds the lock."""
    if os.path.lexists(out) and (out.is_symlink() or not out.is_dir()):
        # the swap exchanges whatever is at ``out``: a user's file would end up as a stage
        raise PublishError("exists and is not a folder")
    stage = out.parent / f".{out.name}.parity-stage-{os.getpid()}-{secrets.token_hex(8)}"
    stage.mkdir()
    with contextlib.suppress(OSError):  # the new folder keeps the old one's permissions
        os.chmod(stage, stat.S_IMODE(os.stat(out).st_mode))
    try:
        (stage / PARTIAL).write_text("a report being written: removed whole by the next run\n")
        write(stage)
        files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*")
                       if p.is_file() and p.name != PARTIAL)
        _write_json(stage / MANIFEST, {"written_by": "parity run", "files": files + [MANIFEST]})
        (stage / PARTIAL).unlink()
        _pause("sealed")
        with _signals_held():
            old = _swap(stage, out)
            _pause("swapped")
            if old is not None:
                carry_over(old, out)
                _pause("carried")
                _discard(old)
    except OSError as exc:  # a full disk, a quota: named by its reason, not by the staging path
        recover(out)
        raise PublishError(f"cannot write the report there ({exc.strerror or exc})") from None
    except BaseException:
        recover(out)  # whatever the step: a partial stage removed, a swapped one finished
        raise


def _swap(stage: Path, out: Path) -> Path | None:
    """Put ``stage`` at ``out``; return where the old folder now is (None: there was none)."""
    if not out.exists():
        os.rename(stage, out)
        return None
    if _exchange(stage, out):
        return stage
    old = stage.with_name(stage.name + "-old")
    os.rename(out, old)
    os.rename(stage, out)
    return old


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def owned_paths(folder: Path) -> set[str]:
    """The relative paths of ``folder`` that a report run owns (the module doc's rule)."""
    owned = {*OWNED, MANIFEST, PARTIAL}
    try:
        listed = json.loads((folder / MANIFEST).read_text())["files"]
        owned |= {str(f) for f in listed if isinstance(f, str)}
    except (OSError, ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError, UnicodeDecodeError):  # no manifest: the plots report.md links
            text = (folder / "report.md").read_text(encoding="utf-8")
            owned |= set(re.findall(r"\]\((plots/[^)/\s]+)\)", text))
    return owned


def carry_over(old: Path, out: Path) -> None:
    """Move every entry of ``old`` that a report does not own into ``out`` under the same path,
    unless ``out`` already has that path (the new report's file wins)."""
    owned = owned_paths(old)
    owned_dirs = {str(Path(p).parent) for p in owned}
    owned_dirs |= {str(d) for p in owned_dirs for d in Path(p).parents}

    def walk(rel: Path) -> None:
        with os.scandir(old / rel) as entries:
            names = sorted(e.name for e in entries)
        for name in names:
            r = rel / name
            key, src, dst = str(r), old / r, out / r
            if key in owned:
                continue
            if src.is_dir() and not src.is_symlink():
                if not os.path.lexists(dst) and key not in owned_dirs:
                    os.rename(src, dst)  # nothing of the report inside: the folder moves whole
                    continue
                if not os.path.lexists(dst):
                    dst.mkdir()
                if dst.is_dir() and not dst.is_symlink():
                    walk(r)  # a folder both have (plots/): entry by entry
                continue
            if not os.path.lexists(dst):
                os.rename(src, dst)

    walk(Path("."))


def recover(out: Path) -> None:
    """Finish or undo what runs that died left beside ``out`` (the module doc); the caller holds
    the lock, so every staging folder found is a dead run's."""
    for stage in _stages(out):
        if stage.name.endswith(TRASH) or (stage / PARTIAL).exists():
            _discard(stage)
        elif not os.path.lexists(out):  # the fallback's instant: a sealed report (or the old folder) goes back
            if (stage / MANIFEST).exists() or stage.name.endswith("-old"):
                os.rename(stage, out)
            else:  # made but not yet marked: empty
                _discard(stage)
        else:
            carry_over(stage, out)
            _discard(stage)


def _discard(folder: Path) -> None:
    """Remove a staging folder: renamed to ``...-trash`` first (one atomic step), so that a run
    killed while removing it leaves a folder the next run removes whole, never a half-removed
    one whose remains (a manifest gone, plots left) would pass for a user's files."""
    if not folder.name.endswith(TRASH):
        trash = folder.with_name(folder.name + TRASH)
        os.rename(folder, trash)
        folder = trash
        _pause("trashed")
    shutil.rmtree(folder)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM delivered after the block, not inside it (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


def _pause(point: str) -> None:
    """The test hook (module doc): sleep up to PARITY_PAUSE_S seconds (default 60), less when a
    signal arrives (one held back by ``_signals_held`` ends the pause too)."""
    if os.environ.get("PARITY_PAUSE_AT") != point:
        return
    print(f"paused at {point}", file=sys.stderr, flush=True)
    end = time.monotonic() + float(os.environ.get("PARITY_PAUSE_S", "60"))
    while time.monotonic() < end and not signal.sigpending():
        time.sleep(0.02)
