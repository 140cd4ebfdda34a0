"""Latency lookup tables: per-layer latencies measured on one target.

The JSON document (what `LatencyTable.save` writes):

    {
      "format": "pxnas_tf.latency_table/v1",
      "metadata": {
        "device": "Pixel 7 (Tensor G2), big core", "runtime": "tflite benchmark_model",
        "runtime_version": "2.21.0", "threads": 1, "precision": "float32",
        "delegate": "xnnpack", "date": "2026-01-31T12:00:00Z", "space": "proxyless_imagenet",
        ...any further fields (kept as `extra`)
      },
      "entries": {
        "Conv-input:224x224x3-output:112x112x32":
            {"mean": 4.08, "median": 4.05, "std": 0.5, "count": 50},
        ...
      }
    }

Every number is in milliseconds; `count` is how many measurements an entry
summarises. Keys follow `pxnas_tf.latency.model.keys`. Tables built by
`pxnas_tf.latency.build.builder` add to an entry ``runs`` (the value of every
measurement pass) and, where a value is doubtful, ``flags``
(``"unstable"``, ``"contended"``); their metadata names the statistic to
use (``"stat": "median"``, see `LatencyTable.default_stat`) and the
per-invoke overhead that was taken out (``"overhead"``).

The published ProxylessNAS table (YAML: ``key: {count, mean, var}``) is read
with `LatencyTable.from_yaml` and written with `LatencyTable.to_yaml`. That
format has no median: imported entries have ``median=None`` and
`LatencyTable.value` uses the mean unless asked otherwise.

The metadata (`TableMetadata`, its calibration records, and the rules for
mixing tables and matching a target) is `pxnas_tf.latency.model.metadata`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Iterator, Mapping

import yaml

from pxnas_tf import fileio
from pxnas_tf.latency.model import keys as keys_lib
from pxnas_tf.latency.model.entries import (
    STATS, IncompatibleTablesError, LatencyEntry, LatencyTableError, MissingKeysError,
    _entry_from_dict, _is_number,
)
from pxnas_tf.latency.model.metadata import TableMetadata, compat_differences

TABLE_FORMAT = "pxnas_tf.latency_table/v1"


@dataclasses.dataclass
class LatencyTable:
    """Per-layer latencies (ms) keyed by `pxnas_tf.latency.model.keys` strings.

    Attributes:
        metadata: device, runtime, threads, precision, delegate, ...
        entries: key -> `LatencyEntry`, in insertion order.
        source: the file it was read from (for messages), if any.
    """

    metadata: TableMetadata = dataclasses.field(default_factory=TableMetadata)
    entries: dict[str, LatencyEntry] = dataclasses.field(default_factory=dict)
    source: str | None = None

    # Access -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def keys(self) -> list[str]:
        return list(self.entries)

    @property
    def name(self) -> str:
        """The source file, or a short description, for messages."""
        return self.source or f"<latency table, device={self.metadata.device!r}>"

    @property
    def default_stat(self) -> str:
        """The statistic predictions use unless told otherwise: the one the
        metadata names (``stat``, set by `pxnas latency build` to
        ``"median"``), where every entry has it; else ``"mean"``."""
        stat = self.metadata.stat
        if stat in STATS and all(e.stat(stat) is not None for e in self.entries.values()):
            return stat
        return "mean"

    def get(self, key: str) -> LatencyEntry | None:
        return self.entries.get(key)

    def entry(self, key: str) -> LatencyEntry:
        """The entry of `key`.

        Raises:
            MissingKeysError: if the table has no such key.
        """
        try:
            return self.entries[key]
        except KeyError:
            raise MissingKeysError(
                f"{self.name}: no entry for key {key!r} ({len(self)} entries)", [key]) from None

    def value(self, key: str, stat: str = "mean") -> float:
        """Latency of `key` in ms: its mean (default), median or std.

        Raises:
            MissingKeysError: if the table has no such key.
            LatencyTableError: if the entry did not record `stat` (the published
                YAML has no median).
        """
        value = self.entry(key).stat(stat)
        if value is None:
            raise LatencyTableError(
                f"{self.name}: entry {key!r} has no {stat} (the published YAML format records "
                "only mean, var and count); use stat='mean'")
        return float(value)

    # Updates ----------------------------------------------------------------

    def set(self, key: str, entry: LatencyEntry | Mapping[str, Any] | float) -> None:
        """Adds or replaces the entry of `key` (normalised, checked against the
        key grammar). A bare number is a mean with count 1."""
        try:
            canonical = keys_lib.normalize_key(key)
        except keys_lib.LatencyKeyError as e:
            raise LatencyTableError(f"{self.name}: {e}") from None
        if not isinstance(entry, LatencyEntry):
            entry = _entry_from_dict(dict(entry) if isinstance(entry, Mapping) else entry,
                                     f"{self.name}: entry {key!r}")
        self.entries[canonical] = entry

    def update(self, entries: Mapping[str, LatencyEntry | Mapping[str, Any] | float]) -> None:
        """`set` for every item of `entries`."""
        for key, entry in entries.items():
            self.set(key, entry)

    def check_compatible(self, other: "LatencyTable") -> None:
        """Refuses tables measured under different device, threads, precision
        or delegate.

        Raises:
            IncompatibleTablesError: listing every differing field.
        """
        diffs = compat_differences(self.metadata, other.metadata)
        if diffs:
            raise IncompatibleTablesError(
                f"cannot mix latency tables {self.name} and {other.name}: they were measured "
                f"under different conditions ({'; '.join(diffs)}); build one table per target")

    def merge(self, other: "LatencyTable", on_conflict: str = "replace") -> list[str]:
        """Copies `other`'s entries into this table after `check_compatible`.

        Args:
            other: the table to merge in.
            on_conflict: for a key both tables hold: ``"replace"`` (take
                `other`'s), ``"keep"`` (keep this one's) or ``"error"``.

        Returns:
            The keys that were added or replaced.

        Raises:
            IncompatibleTablesError: if the tables' conditions differ.
            LatencyTableError: on a conflict with ``on_conflict="error"``.
        """
        if on_conflict not in ("replace", "keep", "error"):
            raise ValueError(f"on_conflict must be 'replace', 'keep' or 'error', got {on_conflict!r}")
        self.check_compatible(other)
        both = [k for k in other.entries if k in self.entries]
        if both and on_conflict == "error":
            raise LatencyTableError(
                f"{other.name} and {self.name} both hold {len(both)} key(s), e.g. {both[0]!r}; "
                "pass on_conflict='replace' or 'keep'")
        changed = [k for k in other.entries if k not in self.entries or on_conflict == "replace"]
        for key in changed:
            self.entries[key] = other.entries[key]
        return changed

    # JSON -------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": TABLE_FORMAT,
            "metadata": self.metadata.to_dict(),
            "entries": {k: e.to_dict() for k, e in self.entries.items()},
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = "<latency table>") -> "LatencyTable":
        """Validates a table document.

        Raises:
            LatencyTableError: naming `source` and the problem.
        """
        if not isinstance(d, dict):
            raise LatencyTableError(f"{source}: not a latency table: expected a JSON object with "
                                    f"'metadata' and 'entries', got {type(d).__name__}")
        fmt = d.get("format", TABLE_FORMAT)
        if fmt != TABLE_FORMAT:
            raise LatencyTableError(f"{source}: not a latency table: 'format' is {fmt!r}, "
                                    f"expected {TABLE_FORMAT!r}")
        if "entries" not in d:
            hint = (" (it looks like the published YAML format: use LatencyTable.from_yaml)"
                    if d and all(isinstance(v, dict) and "mean" in v for v in d.values()) else "")
            raise LatencyTableError(f"{source}: not a latency table: missing field 'entries'{hint}")
        unknown = set(d) - {"format", "metadata", "entries"}
        if unknown:
            raise LatencyTableError(f"{source}: unknown top-level field(s) {sorted(unknown)}; "
                                    "expected format, metadata, entries")
        entries = d["entries"]
        if not isinstance(entries, dict):
            raise LatencyTableError(f"{source}: field 'entries': expected an object key -> entry")
        table = cls(TableMetadata.from_dict(d.get("metadata"), f"{source}: field 'metadata'"),
                    source=source)
        for key, raw in entries.items():
            try:
                keys_lib.parse_key(key)
            except keys_lib.LatencyKeyError as e:
                raise LatencyTableError(f"{source}: field 'entries': {e}") from None
            table.set(key, _entry_from_dict(raw, f"{source}: entry {key!r}"))
        return table

    def save(self, path: str) -> None:
        """Writes the JSON document atomically (safe to call after every
        measured block)."""
        fileio.atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str) -> "LatencyTable":
        """Reads a table JSON file (``.yaml``/``.yml`` files go through `from_yaml`).

        Raises:
            LatencyTableError: naming the file and the problem.
        """
        if path.endswith((".yaml", ".yml")):
            return cls.from_yaml(path)
        text = _read_text(path)
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise LatencyTableError(f"{path}: not a latency table: not valid JSON ({e})") from None
        return cls.from_dict(d, source=path)

    # The published YAML format ----------------------------------------------

    @classmethod
    def from_yaml(cls, path: str, metadata: TableMetadata | Mapping[str, Any] | None = None
                  ) -> "LatencyTable":
        """Imports the published ProxylessNAS / once-for-all YAML table
        (``key: {count, mean, var}``): std = sqrt(var), median = None.

        Args:
            path: the YAML file.
            metadata: what is known about how it was measured (the file says
                nothing about it).

        Raises:
            LatencyTableError: naming the file and the problem.
        """
        text = _read_text(path)
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise LatencyTableError(f"{path}: not a latency table: not valid YAML ({e})") from None
        if not isinstance(metadata, TableMetadata):
            metadata = TableMetadata.from_dict(dict(metadata or {}), f"{path}: metadata")
        if not isinstance(doc, dict) or not doc:
            raise LatencyTableError(f"{path}: not a latency table: expected a mapping "
                                    "'key: {count, mean, var}', got "
                                    f"{'an empty file' if doc is None else type(doc).__name__}")
        if "entries" in doc and "format" in doc:
            raise LatencyTableError(f"{path}: this is a pxnas_tf JSON table, not the published "
                                    "YAML format: use LatencyTable.load")
        table = cls(metadata, source=path)
        for key, raw in doc.items():
            where = f"{path}: entry {key!r}"
            if not isinstance(key, str):
                raise LatencyTableError(f"{where}: keys must be strings")
            if not isinstance(raw, dict) or "mean" not in raw:
                raise LatencyTableError(f"{where}: expected a mapping with count, mean, var, got {raw!r}")
            unknown = set(raw) - {"count", "mean", "var"}
            if unknown:
                raise LatencyTableError(f"{where}: unknown field(s) {sorted(unknown)}; "
                                        "expected count, mean, var")
            var = raw.get("var")
            if var is not None and (not _is_number(var) or var < 0):
                raise LatencyTableError(f"{where}: 'var' must be a number >= 0, got {var!r}")
            try:
                keys_lib.parse_key(key)
            except keys_lib.LatencyKeyError as e:
                raise LatencyTableError(f"{path}: {e}") from None
            std = None if var is None else math.sqrt(var)
            table.set(key, _entry_from_dict(
                {"mean": raw["mean"], "std": std, "count": raw.get("count", 1)}, where))
        return table

    def to_yaml(self, path: str) -> None:
        """Exports to the published YAML format (count, mean, var = std**2),
        atomically. Medians and metadata are not part of that format: the
        metadata goes into a leading comment only; an unknown std is written
        as ``var: null``."""
        doc = {
            key: {"count": e.count, "mean": float(e.mean),
                  "var": None if e.std is None else float(e.std) ** 2}
            for key, e in self.entries.items()
        }
        header = "".join(f"# {k}: {json.dumps(v)}\n"
                         for k, v in self.metadata.to_dict().items() if v is not None)
        body = yaml.safe_dump(doc, default_flow_style=False, sort_keys=True)
        fileio.atomic_write_text(path, header + body)


def _read_text(path: str) -> str:
    if not os.path.exists(path):
        raise LatencyTableError(f"latency table file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise LatencyTableError(f"{path}: cannot read latency table ({e})") from None


def load_table(path: str) -> LatencyTable:
    """Reads a JSON table, or a published-format YAML table by its extension."""
    return LatencyTable.load(path)
