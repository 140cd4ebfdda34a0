"""What `benchmark_model` output parses into: run statistics, per-op and
per-node-type profiles, the whole result."""

from __future__ import annotations

import dataclasses

from pxnas_tf.errors import PxnasError

DEFAULT_SECTION = "Regular Benchmark Runs"
INIT_SECTION = "Benchmark Initialization"


class BenchmarkOutputError(PxnasError, ValueError):
    """The output holds no inference timing (typically a crash or a model
    that failed to load); the message ends with the output's last lines."""


@dataclasses.dataclass(frozen=True)
class RunStats:
    """One ``count=.. first=.. curr=.. min=.. max=.. avg=.. std=..`` line, in
    microseconds. Fields the line lacks are None (``count=0``: all of them)."""

    count: int
    first_us: float | None = None
    curr_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    avg_us: float | None = None
    std_us: float | None = None


@dataclasses.dataclass(frozen=True)
class OpRow:
    """One row of a ``Run Order`` / ``Top by ...`` table (times in ms).

    Attributes:
        node_type: e.g. ``"CONV_2D"``, ``"TfLiteXNNPackDelegate"``.
        name: the node's name column, e.g. ``"[model/conv/Relu6]:0"``.
        avg_ms, first_ms, start_ms: average, first-run and (older tools) start time.
        percent, cdf_percent: share of the total and cumulative share.
        mem_kb: memory column.
        times_called: per run.
    """

    node_type: str
    name: str
    avg_ms: float
    first_ms: float | None = None
    start_ms: float | None = None
    percent: float | None = None
    cdf_percent: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None


@dataclasses.dataclass(frozen=True)
class NodeTypeSummary:
    """One row of ``Summary by node type`` (times in ms).

    Attributes:
        node_type: e.g. ``"CONV_2D"``.
        count: number of nodes of that type.
        avg_ms: their summed average time per run.
        percent, cdf_percent, mem_kb, times_called: as in the table.
    """

    node_type: str
    avg_ms: float
    count: int | None = None
    percent: float | None = None
    cdf_percent: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None


@dataclasses.dataclass(frozen=True)
class OpProfile:
    """One ``... Profiling Info for <title>:`` section.

    Attributes:
        title: ``"Regular Benchmark Runs"`` or ``"Benchmark Initialization"``.
        run_order, top_by_time, top_by_memory: per-node rows.
        by_node_type: per node type.
        timings: the section's ``Timings (microseconds): count=...`` line.
        nodes_executed: from ``Number of nodes executed: N``.
        nodes_observed: from ``N nodes observed``.
    """

    title: str
    run_order: tuple[OpRow, ...] = ()
    top_by_time: tuple[OpRow, ...] = ()
    top_by_memory: tuple[OpRow, ...] = ()
    by_node_type: tuple[NodeTypeSummary, ...] = ()
    timings: RunStats | None = None
    nodes_executed: int | None = None
    nodes_observed: int | None = None

    def node_type_ms(self) -> dict[str, float]:
        """Node type -> avg ms per run (from the summary, else summed over the run order)."""
        if self.by_node_type:
            return {s.node_type: s.avg_ms for s in self.by_node_type}
        out: dict[str, float] = {}
        for row in self.run_order:
            out[row.node_type] = out.get(row.node_type, 0.0) + row.avg_ms
        return out


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """Everything found in one ``benchmark_model`` output.

    Attributes:
        inference_avg_us: mean time of a regular run, microseconds (from the
            summary line, else from the regular runs' statistics).
        inference: statistics of the regular runs, if printed.
        warmup: statistics of the warmup runs, if printed.
        init_us, first_inference_us, warmup_avg_us: from the summary line
            (init falls back to ``Initialized session in Nms``).
        memory_init_mb, memory_overall_mb: the memory footprint delta.
        peak_memory_mb: the periodic-monitoring peak.
        model_size_mb: the input model file size.
        params: the echoed parameters, e.g. ``{"Num threads": "1"}``.
        profiles: op-profiling sections by title.
        summary_format: ``"current"``, ``"legacy"`` or ``"stats"`` (no summary line).
        errors: lines that started with ``ERROR:``.
    """

    inference_avg_us: float
    inference: RunStats | None = None
    warmup: RunStats | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    peak_memory_mb: float | None = None
    model_size_mb: float | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    profiles: dict[str, OpProfile] = dataclasses.field(default_factory=dict)
    summary_format: str = "current"
    errors: tuple[str, ...] = ()

    @property
    def inference_avg_ms(self) -> float:
        return self.inference_avg_us / 1000.0

    @property
    def inference_std_ms(self) -> float | None:
        std = self.inference.std_us if self.inference else None
        return None if std is None else std / 1000.0

    @property
    def inference_min_ms(self) -> float | None:
        v = self.inference.min_us if self.inference else None
        return None if v is None else v / 1000.0

    @property
    def inference_max_ms(self) -> float | None:
        v = self.inference.max_us if self.inference else None
        return None if v is None else v / 1000.0

    @property
    def inference_count(self) -> int | None:
        return self.inference.count if self.inference else None

    @property
    def op_profile(self) -> OpProfile | None:
        """The regular runs' op profile (``--enable_op_profiling=true``)."""
        return self.profiles.get(DEFAULT_SECTION)

    @property
    def init_profile(self) -> OpProfile | None:
        return self.profiles.get(INIT_SECTION)
