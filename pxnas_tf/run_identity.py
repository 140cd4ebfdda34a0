"""A workdir's identity (its run.json): what a run is, written when it starts
and compared before it is resumed, so that no workdir is ever continued
under other settings. The search and the training each describe their
record with a `RecordKind`; the comparison and its one-line error are here.

    kind = RecordKind("pxnas_tf.train_run/v1", "training run", ("arch", "config", "data"),
                      TrainError)
    resumed = check_or_write(path, {"format": kind.format, "arch": ..., ...}, kind)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable

from pxnas_tf import fileio


@dataclasses.dataclass(frozen=True)
class RecordKind:
    """One kind of run record.

    Attributes:
        format: the record's "format" value; a run.json of another is refused.
        what: the run in words ("search run").
        compared: the record's parts that must match for a resume (the rest,
            e.g. where the data was loaded from, may change).
        error: the exception raised on a mismatch.
        upgrade: maps a stored part (name, value) to its current form, for
            fields renamed or added since runs were stored.
    """

    format: str
    what: str
    compared: tuple[str, ...]
    error: type[Exception]
    upgrade: Callable[[str, Any], Any] = lambda part, value: value


def differences(stored: Any, current: Any, where: str) -> list[str]:
    """Nested dict comparison: one ``"where.key: a in the workdir, b now"``
    line per differing leaf."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(stored) | set(current)):
            out += differences(stored.get(key), current.get(key), f"{where}.{key}")
        return out
    if stored != current:
        return [f"{where}: {stored!r} in the workdir, {current!r} now"]
    return []


def check_or_write(path: str, record: dict, kind: RecordKind, write: bool = True) -> bool:
    """Compares `record` with the workdir's run.json, or writes it there
    (atomically, when `write`).

    Returns:
        True when a run.json existed and matched (a resumption).

    Raises:
        kind.error: the file holds another kind of run, or a run whose
            compared parts differ (the first differences are named).
    """
    workdir = os.path.dirname(path)
    if not os.path.exists(path):
        if write:
            fileio.atomic_write_json(path, record)
        return False
    try:
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
    except (OSError, ValueError) as e:
        raise kind.error(f"workdir {workdir}: its run.json cannot be read ({e}); use another "
                         "--workdir, or delete the file to start this run afresh") from None
    found = stored.get("format") if isinstance(stored, dict) else None
    if found != kind.format:
        raise kind.error(f"workdir {workdir} holds no {kind.what} (its run.json is "
                         f"{found or 'of an unknown format'}, not {kind.format}); use another "
                         "--workdir")
    current = _normalise(record)
    diffs = []
    for part in kind.compared:
        diffs += differences(kind.upgrade(part, _normalise(stored.get(part))),
                             kind.upgrade(part, current.get(part)), part)
    if diffs:
        more = f"; and {len(diffs) - 6} more" if len(diffs) > 6 else ""
        raise kind.error(f"workdir {workdir} holds a {kind.what} of other settings, refusing to "
                         f"resume it ({'; '.join(diffs[:6])}{more}); use another --workdir, or "
                         "the stored run's settings")
    return True


def _normalise(value: Any) -> Any:
    """JSON round trip: tuples become lists, so stored and current compare."""
    return json.loads(json.dumps(value, sort_keys=True))
