"""Small file helpers: atomic writes, so that nothing computed is lost to a
crash half-way through a write."""

from __future__ import annotations

import json
import math
import os
from typing import Any


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
