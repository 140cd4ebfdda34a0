"""What a table build measures and when a key is settled: build settings
and the lowest-pass rule shared by the table build and the calibration
chains."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from pxnas_tf.latency.model.table import LatencyTable


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """Passes and batching of a build.

    Attributes:
        min_passes: separate passes every key gets.
        probe_passes: the passes of a kernel probe (at most `min_passes`):
            with 1, one pass that the runner did not flag settles it. Two
            by default, like the keys: a single pass taken in a slow spell
            of a shared machine sets the probe high (fresh builds of
            2026-12-06: probes with one pass lay a median 3-6% above the
            previous build's, the space's blocks with two 0-3%), and a
            second pass over all probes costs about 15 s.
        max_passes: passes at most for a key whose passes disagree.
        agree_tol: the two lowest pass values must agree within this (relative).
        batch_size: models handed to the runner at once (interleaved on the
            host; one push per batch on a phone).
        max_measurements: stop after this many measurements in this session
            (a budget; run again to resume). None: no limit.
        weight_streaming: once the keys are done, measure the target's
            weight-streaming rate (`pxnas_tf.latency.model.streaming`) where the runner
            knows its cache sizes.
        footprint: once the keys are done, record each key's resident
            memory where the runner can tell (`pxnas_tf.latency.measure.footprint`;
            a few seconds on the host).
        context: with `footprint`, calibrate the context term of the
            groups of buffer-heavy blocks (`pxnas_tf.latency.model.context`;
            minutes: about 30 s per group on the host).
    """

    min_passes: int = 2
    probe_passes: int = 2
    max_passes: int = 4
    agree_tol: float = 0.03
    batch_size: int = 8
    max_measurements: int | None = None
    weight_streaming: bool = True
    footprint: bool = True
    context: bool = True

    def __post_init__(self):
        if self.min_passes < 1 or self.max_passes < self.min_passes:
            raise ValueError(f"need 1 <= min_passes <= max_passes, got {self.min_passes}, "
                             f"{self.max_passes}")
        if self.probe_passes < 1:
            raise ValueError(f"probe_passes must be >= 1, got {self.probe_passes}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.agree_tol > 0:
            raise ValueError(f"agree_tol must be > 0, got {self.agree_tol}")

    def for_probes(self) -> "BuildSettings":
        """The pass rule of the kernel probes."""
        return dataclasses.replace(self, min_passes=min(self.min_passes, self.probe_passes))


def best_run(runs: Sequence[float]) -> int:
    """Pure: the index of the pass a key takes its value from: the lowest.
    Other processes, on this machine or (invisibly) on the host, only ever
    add time, so the lowest pass is the closest to the quiet machine."""
    return min(range(len(runs)), key=lambda i: runs[i])


def is_confirmed(runs: Sequence[float], tol: float) -> bool:
    """Pure: another pass came within `tol` (relative) of the lowest one."""
    low = sorted(runs)[:2]
    return len(low) == 2 and low[1] <= low[0] * (1.0 + tol)


def needs_run(runs: Sequence[float], best_flags: Sequence[str], settings: BuildSettings) -> bool:
    """Pure stop rule: does a key with these pass values need another pass?"""
    if len(runs) < settings.min_passes:
        return True
    if len(runs) >= settings.max_passes:
        return False
    return not is_settled(runs, best_flags, settings)


def measure_until_settled(runner, runs: dict[str, list[float]], model_of: Callable[[str], Any],
                          settings: BuildSettings, on_run: Callable[[], None]) -> None:
    """Measures the models named in `runs` on `runner` (`model_of(name)`: its
    `BenchModel`) until each meets the pass rule (`needs_run`), appending
    every pass to its list in `runs` and calling `on_run` after each (to save
    it): the measuring loop of the calibrations that time whole nets."""
    def todo() -> list[str]:
        return [name for name, values in runs.items() if needs_run(values, (), settings)]

    while todo():
        for model, m in runner.measure([model_of(name) for name in todo()]):
            runs[model.name].append(round(m.value_ms, 6))
            on_run()


def is_settled(runs: Sequence[float], best_flags: Sequence[str], settings: BuildSettings) -> bool:
    """Pure: enough passes, a confirmed value (with one pass required: any
    value), and its pass is clean."""
    return (len(runs) >= settings.min_passes and not best_flags
            and (settings.min_passes == 1 or is_confirmed(runs, settings.agree_tol)))


@dataclasses.dataclass
class BuildReport:
    """What one `build_table` call did.

    Attributes:
        table: the table as saved.
        path: where.
        measured: measurements taken in this call (passes included).
        reused: keys that were already complete in the file.
        complete: every key has its passes.
        unstable: keys flagged unstable.
        elapsed_s, convert_s: wall time in all and converting models.
        stages_s: wall time of each calibration stage after the keys
            (``"keys"``: converting and timing the keys), in build order.
    """

    table: LatencyTable
    path: str
    measured: int = 0
    reused: int = 0
    complete: bool = False
    unstable: list[str] = dataclasses.field(default_factory=list)
    elapsed_s: float = 0.0
    convert_s: float = 0.0
    stages_s: dict[str, float] = dataclasses.field(default_factory=dict)
