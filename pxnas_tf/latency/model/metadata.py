"""A latency table's metadata: where and how it was measured, its typed
calibration records, and the rules for whether a table speaks for a target
(`table_problems`) or may be mixed with another (`compat_differences`).
The table document itself is `pxnas_tf.latency.model.table`."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from pxnas_tf.knobs import PRECISIONS
from pxnas_tf.latency.model import context as context_lib
from pxnas_tf.latency.model.entries import LatencyTableError
from pxnas_tf.latency.model.streaming import BYTES_PER_WEIGHT

# Metadata fields that must agree before two tables' entries may be mixed.
COMPAT_FIELDS = ("device", "threads", "precision", "delegate", "batch", "xla")


# Typed fields beyond the target's names: what a build records about how it
# measured, and the calibration terms of the predictor (docs/formats.md).
# Each calibration record is an object that names its own format
# (``pxnas_tf.weight_streaming/v2`` or ``v1``, ``pxnas_tf.footprint/v1``,
# ``pxnas_tf.context/v3``, ``v2`` or ``v1``, ``pxnas_tf.net_scale/v1``, ``pxnas_tf.in_net/v1`` and
# ``/v2``), checked on load: the formats each field accepts, the newest last (a context v1
# or v2 record is fitted again as v3 on load: `context.upgrade`).
_FIELD_TYPES = {
    "threads": int, "runner": str, "os": str, "cpu_mask": str, "caches": dict, "stat": str,
    "stem_kernel": int, "space_spec": dict, "input_shape": list, "build": dict,
    "complete": bool, "extra_archs": list, "probes": int, "overhead": dict,
    "weight_streaming": dict, "footprint": dict, "context": dict, "batch": int, "xla": bool,
    "net_scale": dict, "reference_ms": float, "in_net": dict,
}
CALIBRATION_FORMATS = {"weight_streaming": ("pxnas_tf.weight_streaming/v1",
                                            "pxnas_tf.weight_streaming/v2"),
                       "footprint": ("pxnas_tf.footprint/v1",),
                       "context": ("pxnas_tf.context/v1", "pxnas_tf.context/v2",
                                   "pxnas_tf.context/v3"),
                       "net_scale": ("pxnas_tf.net_scale/v1",),
                       "in_net": ("pxnas_tf.in_net/v1", "pxnas_tf.in_net/v2")}
# Recorded by a build once and kept when the build resumes.
CALIBRATION_FIELDS = ("overhead", "weight_streaming", "footprint", "context", "extra_archs",
                      "probes", "net_scale", "reference_ms", "in_net")


@dataclasses.dataclass
class TableMetadata:
    """Where and how a table was measured. Unknown fields are None.

    Attributes:
        device: e.g. ``"Pixel 1"``, ``"host: AMD EPYC 7B13"``.
        runtime, runtime_version: e.g. ``"tflite benchmark_model"``, ``"2.21.0"``.
        threads: inference threads.
        precision: ``"float32"``, ``"float16"``, ``"int8"``.
        delegate: ``"none"``, ``"xnnpack"``, ``"gpu"``, ...
        date: ISO 8601 date of the measurement.
        space: name of the search space the table was built for.
        runner: ``"host"``, ``"adb"``, ``"linux"``, ``"tf"``... (tables built here).
        os, cpu_mask, caches: the target's OS, CPU affinity and cache sizes
            (bytes by level).
        stat: the statistic a built table's values use (``"median"``).
        stem_kernel, space_spec, input_shape: the space the table was built
            for (a custom space's table stands alone).
        build: the pass rule (min_passes, max_passes, agree_tol).
        complete: False while a build is unfinished.
        extra_archs: nets whose layers were added (`--extra_archs`).
        probes: version of the single-op probe set measured (`--probes`).
        overhead: the per-invoke overhead per input shape (ms, and the runs).
        weight_streaming, footprint, context: the predictor's calibration
            records (`pxnas_tf.latency.model.streaming`, `.footprint`,
            `.context`), each naming its own format.
        batch, xla: the inference batch size and whether XLA compiled the
            graph (tables of the tf runner; None elsewhere: batch 1, no XLA).
        net_scale: the tf runner's whole-net factor, already applied to the
            entries (`pxnas_tf.latency.build.net_scale`).
        reference_ms: the tf runner's reference net time that every value
            was scaled to (`pxnas_tf.latency.measure.tf_runner`).
        in_net: random mobile nets timed whole, which the op model's in-net
            factors are fit to (`pxnas_tf.latency.build.in_net`; tables built
            with `--probes`).
        extra: any further fields, kept as they are.
    """

    device: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    threads: int | None = None
    precision: str | None = None
    delegate: str | None = None
    date: str | None = None
    space: str | None = None
    runner: str | None = None
    os: str | None = None
    cpu_mask: str | None = None
    caches: dict[str, int] | None = None
    stat: str | None = None
    stem_kernel: int | None = None
    space_spec: dict[str, Any] | None = None
    input_shape: list[int] | None = None
    build: dict[str, Any] | None = None
    complete: bool | None = None
    extra_archs: list[str] | None = None
    probes: int | None = None
    overhead: dict[str, Any] | None = None
    weight_streaming: dict[str, Any] | None = None
    footprint: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    batch: int | None = None
    xla: bool | None = None
    net_scale: dict[str, Any] | None = None
    in_net: dict[str, Any] | None = None
    reference_ms: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "extra" and (f.name in _BASE_FIELDS or getattr(self, f.name) is not None)}
        return {**d, **self.extra}

    @classmethod
    def from_dict(cls, d: Any, where: str = "metadata") -> "TableMetadata":
        """Reads metadata, checking every known field's type and each
        calibration record's format.

        Raises:
            LatencyTableError: naming the field, what was expected and the fix.
        """
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise LatencyTableError(f"{where}: expected an object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        fields = {k: d[k] for k in known if k in d}
        for name, value in fields.items():
            expected = _FIELD_TYPES.get(name, str)
            if value is None:
                continue
            if expected is int and (isinstance(value, bool) or not isinstance(value, int)
                                    or value < 1):
                raise LatencyTableError(f"{where}: field '{name}': expected an integer >= 1, "
                                        f"got {value!r}")
            if expected is float and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not value > 0):
                raise LatencyTableError(f"{where}: field '{name}': expected a number > 0, "
                                        f"got {value!r}")
            if expected is float:
                continue
            if not isinstance(value, expected):
                raise LatencyTableError(f"{where}: field '{name}': expected "
                                        f"{_TYPE_WORDS[expected]}, got {value!r}")
        for name, formats in CALIBRATION_FORMATS.items():
            record = fields.get(name)
            if record is not None and record.get("format", formats[-1]) not in formats:
                raise LatencyTableError(
                    f"{where}: field '{name}' has format {record.get('format')!r}, expected "
                    f"{' or '.join(map(repr, formats))}: the table was written by another "
                    "version of pxnas; rebuild its "
                    "calibration with the same `pxnas latency build` command (the entries are "
                    "kept, only the calibration is measured again) after deleting that field")
        meta = cls(**fields, extra={k: v for k, v in d.items() if k not in known})
        if meta.context and meta.precision in BYTES_PER_WEIGHT:
            try:
                meta.context = context_lib.upgrade(meta.context, meta.weight_streaming,
                                                   meta.caches, meta.precision,
                                                   meta.stem_kernel or 3)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise LatencyTableError(
                    f"{where}: field 'context': an older context record whose groups lack "
                    f"what fitting it again needs ({type(e).__name__}: {e}); delete that field "
                    "and rerun the same `pxnas latency build` command (only the calibration is "
                    "measured again)") from None
        return meta

    def describe(self) -> str:
        """One line naming the compat fields, for messages."""
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in COMPAT_FIELDS)


_BASE_FIELDS = ("device", "runtime", "runtime_version", "threads", "precision", "delegate",
                "date", "space")
_TYPE_WORDS = {str: "a string", dict: "an object", list: "a list", bool: "true or false"}

def check_precision(precision: str) -> str:
    """Canonical precision name (``float16`` -> ``fp16``).

    Raises:
        LatencyTableError: for anything else.
    """
    name = {"float16": "fp16", "fp32": "float32"}.get(str(precision).lower(),
                                                      str(precision).lower())
    if name not in PRECISIONS:
        raise LatencyTableError(f"unknown precision {precision!r}: expected one of "
                                f"{list(PRECISIONS)}")
    return name


def table_problems(metadata: "TableMetadata", precision: str | None = None,
                   threads: int | None = None, xnnpack: bool | None = None,
                   runner: str | None = None, device: str | None = None,
                   batch: int | None = None, xla: bool | None = None) -> list[str]:
    """The one rule for whether a table measured under `metadata` speaks for
    a target: why it cannot (empty: it can), one phrase per difference.
    Used by the demo, `pxnas search`, `pxnas export` and `pxnas latency
    validate` alike.

    Each argument names the target's setting (None: not checked): its
    precision, thread count, XNNPACK delegate, runner (``host``,
    ``linux:PATH``, ``adb``...) and device string (for the host runner,
    this machine's: a table timed on another CPU is another target), and the
    tf runner's inference batch size and XLA setting. Unknown (None)
    fields of an imported table do not count against it (`unknown_target`
    says whether the table names its target at all)."""
    problems = []
    measured = metadata.precision
    if precision is not None and measured is not None \
            and check_precision(measured) != check_precision(precision):
        problems.append(f"precision {measured!r}, not {precision!r}")
    if threads is not None and metadata.threads is not None \
            and int(metadata.threads) != int(threads):
        problems.append(f"{metadata.threads} thread(s), not {threads}")
    if xnnpack is not None and metadata.delegate is not None:
        delegate = "xnnpack" if xnnpack else "none"
        if str(metadata.delegate).lower() != delegate:
            problems.append(f"delegate {metadata.delegate!r}, not {delegate!r}"
                            + (" (--noxnnpack)" if not xnnpack else ""))
    if runner is not None:
        kind = runner.split(":", 1)[0]
        measured_kind = metadata.runner
        if measured_kind is not None and str(measured_kind) != kind:
            problems.append(f"the {measured_kind!r} runner, not {kind!r}")
    if device is not None and metadata.device is not None \
            and _norm(str(metadata.device)) != _norm(device):
        problems.append(f"device {metadata.device!r}, not {device!r}")
    if batch is not None and (metadata.batch or 1) != batch:
        problems.append(f"batch {metadata.batch or 1}, not {batch}")
    if xla is not None and bool(metadata.xla) != bool(xla):
        problems.append(f"xla {bool(metadata.xla)}, not {bool(xla)}")
    return problems


def unknown_target(metadata: "TableMetadata") -> bool:
    """True for a table that names neither its device nor its runner (an
    imported table without --metadata): what it was measured on is unknown."""
    return metadata.device is None and metadata.runner is None


def today() -> str:
    """Today's date in ISO 8601 (UTC), for `TableMetadata.date`."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def _norm(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def compat_differences(a: TableMetadata, b: TableMetadata) -> list[str]:
    """The compat fields (device, threads, precision, delegate, batch, xla)
    where `a` and `b` differ, as ``"name: a != b"`` lines. Strings compare case-insensitively;
    an unknown (None) value differs from any known one."""
    return [f"{name}: {getattr(a, name)!r} != {getattr(b, name)!r}"
            for name in COMPAT_FIELDS if _norm(getattr(a, name)) != _norm(getattr(b, name))]
