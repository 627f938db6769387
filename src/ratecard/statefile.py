"""The state file of `ratecard bill --state`: locked for a whole run, replaced in one step.

A run reads the account saved in STATE, feeds it a journal, prints the bills and saves the
account back. Two runs on one state file at the same time would both read the same account and
the second to save would drop the first one's usage, so a run holds an exclusive lock from
before it reads the state until after it has saved it: `flock` on `STATE.lock`, an empty file
beside the state (the state's real path, a symlink followed), created on first use and left in
place. A second run waits for the lock, up to a bound, and then gives up with an error naming
the lock; it never reads a state that another run is about to replace.

The new state is written to a temporary file of a unique name in the state's directory, flushed
to the disk (`fsync`), and renamed over the state (`os.replace`, atomic), and the directory is
synced so the rename itself survives a crash: a reader, or a crash at any instant, sees the old
state or the new one whole. The lock is advisory: it keeps ratecard runs apart, not other
programs, and it is only as good as the file system's `flock` (local disks; some network file
systems ignore it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_SUFFIX = ".lock"
POLL_SECONDS = 0.02

if sys.platform == "win32":  # pragma: no cover - the lock of Windows, for completeness
    import msvcrt

    def _try_lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

_BUSY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK})


class StateFileError(Exception):
    """The state file cannot be locked or written; the message names the file and why."""


def lock_path(state: str | os.PathLike[str]) -> Path:
    """The lock file of a state file: `STATE.lock` beside the state's real path."""
    target = Path(os.path.realpath(state))
    return target.with_name(target.name + LOCK_SUFFIX)


def _shown(state: str | os.PathLike[str], path: Path) -> str:
    """The lock's path as the user would write it: beside the state as named, unless the state
    is reached through a symlink (then the real one)."""
    given = os.fspath(state)
    if os.path.realpath(given) == os.path.abspath(given):
        return given + LOCK_SUFFIX
    return str(path)


@contextlib.contextmanager
def locked(state: str | os.PathLike[str], timeout: float) -> Iterator[Path]:
    """Hold the state's lock for the block (waiting up to `timeout` seconds for another run to
    let it go); yields the state's real path, where it is read and replaced."""
    path = lock_path(state)
    shown = _shown(state, path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise StateFileError(f"cannot create the lock {shown}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                _try_lock(fd)
                break
            except OSError as exc:
                if exc.errno not in _BUSY:
                    raise StateFileError(f"cannot lock {shown}: {exc.strerror or exc}") from None
            if time.monotonic() >= deadline:
                raise StateFileError(
                    f"{os.fspath(state)} is in use: another ratecard run holds its lock {shown} "
                    f"(waited {timeout:g} s; wait longer with --lock-timeout SECONDS)")
            time.sleep(POLL_SECONDS)
        yield path.with_name(path.name[: -len(LOCK_SUFFIX)])
    finally:
        os.close(fd)  # closing the descriptor lets the lock go


def replace(target: Path, data: bytes, shown: str) -> None:
    """Replace the file `target` with `data` in one step: a unique temporary file beside it,
    synced to the disk, renamed over it, and the directory synced. The file keeps its mode (a
    new one gets the default mode of the user's umask)."""
    directory = target.parent
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise StateFileError(f"cannot write {shown}: {exc.strerror or exc}") from None
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _mode(target))
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise StateFileError(f"cannot write {shown}: {exc.strerror or exc}") from None
    _sync_directory(directory)


def _mode(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (where directories can be opened and synced)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows, where a directory cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - a file system that cannot sync a directory
        pass
    finally:
        os.close(fd)
