"""The entries of a latency table (one layer's measured statistics) and the
errors of reading and using tables."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable

from pxnas_tf.errors import PxnasError

STATS = ("mean", "median", "std")


class LatencyTableError(PxnasError, ValueError):
    """A latency table is malformed or cannot be used as asked; the message
    names the file (where there is one) and the problem."""


class IncompatibleTablesError(LatencyTableError):
    """Two tables were measured under different conditions."""


class MissingKeysError(LatencyTableError, KeyError):
    """A table lacks keys that were asked for.

    Attributes:
        missing: the missing keys, all of them.
    """

    def __init__(self, message: str, missing: Iterable[str] = ()):
        super().__init__(message)
        self.missing = tuple(missing)

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class LatencyEntry:
    """Latency of one layer, in milliseconds.

    Attributes:
        mean: mean over the measurements.
        median: median, None where the source did not record it.
        std: standard deviation, None where unknown.
        count: number of measurements summarised.
        flags: marks of doubtful values, e.g. ``"unstable"`` (repeated
            measurements kept disagreeing) or ``"contended"`` (other
            processes were busy); empty for a clean measurement.
        runs: the value of each separate measurement pass (ms, before any
            overhead correction), when the builder recorded them.
    """

    mean: float
    median: float | None = None
    std: float | None = None
    count: int = 1
    flags: tuple[str, ...] = ()
    runs: tuple[float, ...] = ()

    def __post_init__(self):
        problem = _entry_problem(self)
        if problem:
            raise LatencyTableError(f"invalid latency entry: {problem}")

    def stat(self, name: str) -> float | None:
        if name not in STATS:
            raise ValueError(f"unknown statistic {name!r}: expected one of {list(STATS)}")
        return getattr(self, name)

    def to_dict(self) -> dict:
        d = {"mean": self.mean, "median": self.median, "std": self.std, "count": self.count}
        if self.flags:
            d["flags"] = list(self.flags)
        if self.runs:
            d["runs"] = list(self.runs)
        return d


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entry_problem(entry: LatencyEntry) -> str | None:
    if not _is_number(entry.mean) or entry.mean < 0:
        return f"'mean' must be a finite number >= 0, got {entry.mean!r}"
    for name in ("median", "std"):
        value = getattr(entry, name)
        if value is not None and (not _is_number(value) or value < 0):
            return f"'{name}' must be a finite number >= 0 or null, got {value!r}"
    if isinstance(entry.count, bool) or not isinstance(entry.count, int) or entry.count < 1:
        return f"'count' must be an integer >= 1, got {entry.count!r}"
    if not isinstance(entry.flags, tuple) or not all(isinstance(f, str) and f for f in entry.flags):
        return f"'flags' must be a list of non-empty strings, got {entry.flags!r}"
    if not isinstance(entry.runs, tuple) or not all(_is_number(r) and r >= 0 for r in entry.runs):
        return f"'runs' must be a list of finite numbers >= 0, got {entry.runs!r}"
    return None


def _entry_from_dict(d: Any, where: str) -> LatencyEntry:
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        d = {"mean": d}
    if not isinstance(d, dict):
        raise LatencyTableError(f"{where}: expected an object {{mean, median, std, count}}, got {d!r}")
    unknown = set(d) - {"mean", "median", "std", "count", "flags", "runs"}
    if unknown:
        raise LatencyTableError(
            f"{where}: unknown field(s) {sorted(unknown)}; an entry has mean, median, std, count "
            "(ms) and optionally flags, runs")
    if "mean" not in d:
        raise LatencyTableError(f"{where}: missing field 'mean'")
    flags, runs = d.get("flags", ()), d.get("runs", ())
    try:
        return LatencyEntry(d["mean"], d.get("median"), d.get("std"), d.get("count", 1),
                            tuple(flags) if isinstance(flags, list) else flags,
                            tuple(runs) if isinstance(runs, list) else runs)
    except LatencyTableError as e:
        raise LatencyTableError(f"{where}: {str(e).removeprefix('invalid latency entry: ')}") from None
