"""Stage 1: build, resume or reuse the latency table of the space on the
target."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Callable

from pxnas_tf import fileio
from pxnas_tf.latency import IncompatibleTablesError, load_table, table_coverage
from pxnas_tf.latency.build.settings import BuildSettings
from pxnas_tf.latency.measure.devices import make_runner
from pxnas_tf.latency.measure.host_runner import cpu_description
from pxnas_tf.latency.measure.runner import MeasureSettings, RunnerError
from pxnas_tf.latency.model.metadata import table_problems
from pxnas_tf.pipeline.config import PipelineConfig, TableStage


def ensure_table(space, config: PipelineConfig, log: Callable[[str], None] = print) -> TableStage:
    """The latency table of `space` on the target: reused when the file
    exists and covers the space at this precision and thread count, else
    built (or resumed: the builder saves after every measurement).

    Raises:
        IncompatibleTablesError: the file holds a table of another
            precision, thread count, device or space.
        RunnerError: the target failed (what was measured is kept).
    """
    from pxnas_tf.latency.build.builder import build_table

    t0 = time.monotonic()
    path = config.path("table")
    if os.path.exists(path):
        table = load_table(path)
        tf = config.runner.startswith("tf:")
        this_machine = (f"host: {cpu_description()}" if config.runner == "host" else
                        f"tf:cpu: {cpu_description()}" if config.runner == "tf:cpu" else None)
        problems = table_problems(table.metadata, config.precision, config.threads,
                                  None if tf else config.xnnpack, config.runner, this_machine,
                                  batch=config.tf_batch if tf else None,
                                  xla=config.tf_xla if tf else None)
        if problems:
            raise IncompatibleTablesError(
                f"latency table {path} was measured with {' and '.join(problems)}; use another "
                "--latency_table (or --workdir) for this target, or the table's own settings")
        coverage = table_coverage(space, table)
        if coverage.complete and (table.metadata.complete is not False):
            log(f"    reusing {path}: {len(table)} entries ({table.metadata.device}, "
                f"{table.metadata.precision}, {table.metadata.threads} thread(s))")
            return TableStage(path, True, len(table), 0, (), 0.0, str(table.metadata.device),
                              time.monotonic() - t0)
        log(f"    resuming {path}: {len(coverage.missing)} of the space's keys still missing")
    if config.runner.startswith("tf:"):
        return _build_in_child(space, config, path, log, t0)
    settings = MeasureSettings(max_wait_s=config.max_wait_s)
    with make_runner(config.runner, threads=config.threads, xnnpack=config.xnnpack,
                     settings=settings, benchmark_model=config.benchmark_model,
                     cpu_mask=config.cpu_mask) as runner:
        try:
            report = build_table(space, runner, path, config.precision,
                                 # The demo's predictions are table sums; the context
                                 # calibration (minutes) is left to `pxnas latency build`.
                                 BuildSettings(min_passes=config.table_passes,
                                               max_passes=config.table_passes, context=False),
                                 progress=config.progress)
        except IncompatibleTablesError as e:
            raise IncompatibleTablesError(f"{e} (here: another --latency_table or --workdir)"
                                          ) from None
        waited = float(getattr(runner, "waited_s", 0.0))
    table = report.table
    log(f"    measured {report.measured} block models in {report.elapsed_s:.0f} s (converting "
        f"{report.convert_s:.0f} s, waiting for a quiet CPU {waited:.0f} s); "
        f"{len(table)} entries, {len(report.unstable)} flagged unstable")
    if report.unstable:
        log("    (unstable: the passes disagreed, or ran while other processes loaded the CPU "
            "past --max_wait_s; a quiet machine or a longer wait gives firmer values)")
    return TableStage(path, False, len(table), report.measured, tuple(report.unstable), waited,
                      str(table.metadata.device), time.monotonic() - t0)


def _build_in_child(space, config: PipelineConfig, path: str, log: Callable[[str], None],
                    t0: float) -> TableStage:
    """The table of a TensorFlow-runtime target, built by `pxnas latency
    build` in a process of its own: TensorFlow takes its thread counts only
    before it starts, and this process trains with its own.

    Raises:
        RunnerError: the build failed (its last error line is named; what
            was measured is kept for the next run).
    """
    before = len(load_table(path)) if os.path.exists(path) else 0
    space_path = os.path.join(os.path.abspath(config.workdir), "latency_space.json")
    fileio.atomic_write_json(space_path, space.to_dict())
    cmd = [sys.executable, "-m", "pxnas_tf.cli.main", "latency", "build", f"--space={space_path}",
           f"--device={config.runner}", f"--precision={config.precision}",
           f"--threads={config.threads}", f"--tf_batch={config.tf_batch}",
           "--tf_xla" if config.tf_xla else "--notf_xla", f"--min_passes={config.table_passes}",
           f"--max_passes={config.table_passes}", f"--max_wait_s={config.max_wait_s}",
           "--nocontext", "--progress" if config.progress else "--noprogress", f"--out={path}"]
    log(f"    building {path} on {config.runner} (batch {config.tf_batch}) in a child process")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        lines = [x for x in (proc.stdout or "").splitlines() if x.strip()]
        raise RunnerError(f"the {config.runner} table build failed (exit status "
                          f"{proc.returncode}{': ' + lines[-1] if lines else ''}); run the demo "
                          "again to resume it")
    table = load_table(path)
    unstable = tuple(k for k, e in table.entries.items() if "unstable" in e.flags)
    return TableStage(path, False, len(table), len(table) - before, unstable, 0.0,
                      str(table.metadata.device), time.monotonic() - t0)


def latency_model(space, table_path: str, precision: str):
    """The search's latency model from the table (its own statistic)."""
    from pxnas_tf.search import LatencyModel

    stat = load_table(table_path).default_stat
    return LatencyModel.from_table(space, table_path, stat, precision)
