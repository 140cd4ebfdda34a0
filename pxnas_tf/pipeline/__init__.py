"""The main job as a library: latency table -> target -> search -> derive ->
train -> export -> verify -> plots -> report, in one workdir.

    from pxnas_tf import pipeline
    result = pipeline.run(pipeline.PipelineConfig(workdir="runs/demo"))
    print("\\n".join(pipeline.summary_lines(result.summary)))

`pxnas demo` is a thin layer over `run`. Every stage is a function of its
own that reuses the library (`latency.build_table`, `search.run_search`,
`train.train`, `export.export_tflite`, `viz`) and returns what it wrote:

    ensure_table    build, resume or reuse the latency table of the space on
                    the target (LiteRT on this CPU, or a phone over adb ...)
    choose_target   pure: a latency target between the fastest and the
                    slowest arch of the space: MobileNetV2's block pattern
                    (k3_e6 in every block) in the space unless told
    search          the latency-aware search (hard budget: the derived arch
                    fits the target), resumed from its checkpoints
    train           the derived net, warm-started from the supernet
    export          TFLite (int8 by default), verified in LiteRT: accuracy,
                    agreement with Keras, int8-only, host latency vs table
    plots           the derived net and the search dynamics
    write_report    summary.json and report.md

Workdir layout (rerunning in the same workdir reuses every finished stage;
a stage whose stored settings differ from the new ones is refused, naming
the differences):

    latency_table.json      (+ latency_table.models/: the block models)
    search/                 a `pxnas search` workdir: history.json, arch.json, ...
    train/                  a `pxnas train` workdir: best.keras, results.json, ...
    net_int8.tflite         (+ net_int8.tflite.json: metadata and verification)
    net.png, search_dynamics.png, summary.json, report.md
"""

from __future__ import annotations

import os
import time
from typing import Callable

from pxnas_tf import fileio
from pxnas_tf.pipeline.config import (
    FILES, LOSSES, SUMMARY_FORMAT, ExportStage, PipelineConfig, PipelineResult, SearchStage,
    TableStage, Target, TrainStage, adapted_space, busy, load_search_data,
)
from pxnas_tf.pipeline.export_stage import export, plots
from pxnas_tf.pipeline.report import (
    _pct, convergence_line, make_summary, predicted_ms, report_markdown, summary_lines,
    write_report,
)
from pxnas_tf.pipeline.search_stage import search, search_config, search_data
from pxnas_tf.pipeline.table_stage import ensure_table, latency_model, table_problems
from pxnas_tf.pipeline.target import REFERENCE_OP, arch_loss, choose_target, reference_latency
from pxnas_tf.pipeline.train_stage import train, train_config

# The whole job ------------------------------------------------------------------------

def run(config: PipelineConfig, log: Callable[[str], None] = print) -> PipelineResult:
    """Runs every stage in `config.workdir`, reusing finished ones.

    Raises:
        DataError, SpaceError, LatencyTableError, RunnerError, SearchError,
        TrainError, ExportError: bad input or a failed target, with the cause.
        BusyError: another process is running in the workdir.
    """
    with fileio.exclusive(config.workdir):  # one process per workdir
        fileio.remove_stale_temporaries(os.path.abspath(config.workdir))
        return _run(config, log)


def _run(config: PipelineConfig, log: Callable[[str], None]) -> PipelineResult:
    import keras

    from pxnas_tf.distribute import make_strategy

    start = time.monotonic()
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy)  # one for the search and the training
    if strategy.num_replicas_in_sync > 1:
        log(f"{config.strategy} strategy: {strategy.num_replicas_in_sync} replicas (batch sizes "
            "are global)")

    def step(n: int, text: str) -> None:
        log(f"\n[{n}] {text}")

    splits = load_search_data(config)
    search_data(splits, config.search_steps_per_epoch)  # a subset too small fails before the table
    space = adapted_space(config, splits)
    step(1, f"Latency table of {space.name} at {list(space.input_shape)} on {config.runner} "
            f"({config.precision}, {config.threads} thread(s))")
    table = ensure_table(space, config, log)

    step(2, "Latency target")
    latency = latency_model(space, table.path, config.precision)
    fastest, slowest = latency.bounds()
    target = choose_target(fastest, slowest, config.target_ms, config.target_fraction,
                           reference_latency(space, latency))
    log(f"    fastest arch {fastest:.3f} ms, slowest {slowest:.3f} ms -> target "
        f"{target.target:.3f} ms ({target.how})")

    step(3, f"Search on {splits.name} (subset: {splits.sizes['train']} training images, "
            f"holdout {splits.sizes['arch']}) and derive")
    found = search(space, splits, latency, target, config, log, strategy)
    s = found.summary
    log(f"    derived {s['arch']} ({s['derived_by']}): {predicted_ms(s):.3f} ms predicted, "
        f"holdout top-1 {_pct(s['holdout_accuracy'])} on supernet weights")
    log("    " + convergence_line(s, target.target))

    step(4, "Train the derived net")
    trained = train(found.arch, config, config.path("search"), log, strategy)
    log(f"    val top-1 {_pct(trained.results.get('val_top1'))} after "
        f"{trained.results.get('epochs')} epoch(s) -> {trained.model}")

    step(5, f"Export to {config.precision} TFLite and verify in LiteRT")
    exported = export(found.arch, trained.model, config, table.path, log)
    report = exported.doc.get("verification") or {}
    log(f"    {report.get('size_bytes', 0):,} bytes, {config.precision}-only ops: "
        f"{'yes' if report.get('integer_only') else 'no'}, top-1 tflite "
        f"{_pct(report.get('tflite_top1'))} / keras {_pct(report.get('keras_top1'))}")

    step(6, "Plots")
    figures = plots(found.arch, found.files["history"], config, target)
    for name, path in figures.items():
        log(f"    {name}: {path}")

    summary = make_summary(config, table, target, found, trained, exported, figures,
                           dict(splits.sizes), time.monotonic() - start,
                           strategy.num_replicas_in_sync)
    write_report(summary)
    return PipelineResult(summary, table, target, found, trained, exported, figures)


__all__ = ["ExportStage", "FILES", "LOSSES", "PipelineConfig",
           "PipelineResult", "REFERENCE_OP", "SUMMARY_FORMAT", "SearchStage",
           "TableStage", "Target", "TrainStage", "adapted_space", "arch_loss", "busy",
           "choose_target", "convergence_line", "ensure_table", "export", "latency_model",
           "load_search_data", "make_summary", "plots", "predicted_ms", "reference_latency",
           "report_markdown", "run", "search", "search_config", "search_data", "summary_lines",
           "table_problems", "train", "train_config", "write_report"]
