"""Small file helpers: atomic writes, so that nothing computed is lost to a
crash half-way through a write."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from typing import Any

from pxnas_tf.errors import PxnasError


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file in the same folder,
    fsync and rename: readers see the old file or the new one, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _finite(obj: Any) -> Any:
    """`obj` with NaN and infinite floats as None (JSON has no NaN: a bare
    ``NaN`` makes the file unreadable to strict parsers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def atomic_write_json(path: str, obj: Any) -> None:
    """Writes `obj` as JSON atomically; non-finite floats become null."""
    atomic_write_text(path, json.dumps(_finite(obj), indent=2, sort_keys=False,
                                       allow_nan=False) + "\n")


class BusyError(PxnasError, RuntimeError):
    """Another process holds the lock of a workdir or output file."""


@contextlib.contextmanager
def exclusive(path: str, what: str = "--workdir", folder: bool = True):
    """Holds an exclusive lock on a workdir (a folder) or an output file for
    the duration of the block, so that two processes never write one run:
    the second gets a `BusyError` naming the first's pid. The lock is an
    flock on a hidden file beside the path (removed on release), released by
    the OS when the process ends however it ends (a killed holder leaves the
    file, which locks nothing). `folder`:
    `path` is a workdir (else an output file)."""
    import fcntl

    target = os.path.abspath(path)
    if folder:
        os.makedirs(target, exist_ok=True)
        lock_path = os.path.join(target, ".pxnas.lock")
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        lock_path = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.lock")
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise BusyError(f"{path} is in use by another pxnas process (pid {holder}); wait "
                            f"for it to finish or give another {what}") from None
        try:
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                break  # the lock file is still the one on disk
        except FileNotFoundError:
            pass
        os.close(fd)  # its holder removed it while we waited: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        try:
            os.remove(lock_path)  # while still held, so no one else holds this file
        except FileNotFoundError:
            pass
        os.close(fd)  # closing the descriptor releases the lock


_TEMPORARY = re.compile(r"^\..+\.tmp-(?P<pid>\d+)(?:\.\w+)*$")


def remove_stale_temporaries(directory: str) -> list[str]:
    """Removes the temporary files (``.NAME.tmp-PID[.EXT...]``, as the atomic
    writes here make them) that a killed process left in `directory`: those
    whose process no longer runs. A kill by SIGTERM or SIGKILL runs no
    cleanup, so a resume calls this. Returns what was removed."""
    removed = []
    if not os.path.isdir(directory):
        return removed
    for name in os.listdir(directory):
        match = _TEMPORARY.match(name)
        if not match or _alive(int(match["pid"])):
            continue
        try:
            os.remove(os.path.join(directory, name))
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
