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

import contextlib
import dataclasses
import json
import math
import os
import sys
import threading
import time
from typing import Callable

PRECISIONS = ("int8", "float32", "fp16")  # the table's precision and the export mode
LOSSES = ("auto", "abs#target", "mul#log", "add#linear")
STRATEGIES = ("default", "mirrored")
BUDGETS = ("band", "hard", "soft")
REFERENCE_OP = "k3_e6"  # MobileNetV2's block: 3x3 depthwise, expand 6
SUMMARY_FORMAT = "pxnas_tf.pipeline/v1"
FILES = {"table": "latency_table.json", "search": "search", "train": "train",
         "net_figure": "net.png", "dynamics": "search_dynamics.png",
         "summary": "summary.json", "report": "report.md"}


class _Skip(Exception):
    """A stage's stored result cannot be reused (run the stage)."""


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every knob of the pipeline (`pxnas demo` flags map 1:1 onto these).

    Example limits of 0 mean "all examples".

    Attributes:
        workdir: where everything goes.
        dataset, data_dir, image_size, channels: the data (`pxnas_tf.data.load`).
        space: search-space preset or JSON file, adapted to the data.
        runner: the latency target: ``host`` (LiteRT on this CPU),
            ``linux:PATH`` or ``adb[:SERIAL,...]`` (`latency.make_runner`).
        threads: inference threads (table and host timing).
        precision: ``int8``, ``float32`` or ``fp16``: of the table and the export.
        xnnpack: keep LiteRT's XNNPACK delegate.
        benchmark_model, cpu_mask: passed to the runner (adb / pinning).
        latency_table: the table file (default: in the workdir); reused when
            it covers the space at this precision and thread count, else
            built or resumed.
        max_wait_s: how long one batch of measurements waits for other
            processes to leave the CPU (table build and host timing).
        table_passes: passes per table key (keys whose passes disagree are
            flagged unstable, not measured again: the time stays bounded).
        target_ms: the latency target; default: the table's latency of
            MobileNetV2's block pattern in the space (k3_e6 in every block,
            none skipped): "as fast as MobileNetV2, more accurate", the
            paper's own claim; the geometric middle of the fastest and the
            slowest arch where the space has no k3_e6 op.
        target_fraction: instead, where the target lies between the
            fastest (0) and the slowest (1) arch, on a log scale.
        loss: arch loss; "auto": abs#target, which pulls the expected
            latency towards the target from both sides (mul#log and
            add#linear push it down everywhere; mul#log also needs
            latencies above 1 ms, as it takes their log).
        search_examples, holdout_examples: search training subset and arch
            holdout (carved out of the training split).
        search_batch_size, search_warmup_epochs, search_epochs,
        search_steps_per_epoch, arch_lr, arch_every, arch_temperature: the
            search schedule (None: `search.make_config`'s small-dataset
            defaults). The demo's: an arch step after every weight step at
            lr 0.05, the logits' temperature falling to 0.2, so that the
            distribution decides within its 96 arch steps.
        latency_budget: how the arch is derived: "band" (default: the
            argmax arch when it lies in [0.9 T, T], else the most probable
            arch there), "hard" (the most probable within T when the argmax
            exceeds it) or "soft" (the argmax).
        candidate_weights: "shared" (default here: a supernet of
            independent candidates does not train within the demo's few
            hundred steps) or "independent" (the paper's).
        train_examples, val_examples: training subset and test subset
            (validation, and the export's verification).
        epochs, batch_size, lr: training of the derived net.
        warm_start: start it from the supernet's weights of its ops.
        calibration_examples: training images for int8 calibration.
        seed: data order, initialisation, path sampling.
        strategy: tf.distribute strategy of the search and the training:
            "default" (one device) or "mirrored" (every local GPU; the
            batch sizes are global). The pipeline runs on one host: for
            several, run `pxnas search` / `pxnas train` with
            --strategy=multi_worker.
        progress: progress bars.
    """

    workdir: str = "runs/demo"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    image_size: int | None = None
    channels: int | None = None
    space: str = "proxyless_small"
    runner: str = "host"
    threads: int = 1
    precision: str = "int8"
    xnnpack: bool = True
    benchmark_model: str | None = None
    cpu_mask: str | None = None
    latency_table: str | None = None
    max_wait_s: float = 5.0
    table_passes: int = 2
    target_ms: float | None = None
    target_fraction: float | None = None
    loss: str = "auto"
    search_examples: int = 2048
    holdout_examples: int = 512
    search_batch_size: int = 64
    search_warmup_epochs: int = 1
    search_epochs: int = 3
    search_steps_per_epoch: int | None = None
    arch_lr: float | None = 0.05
    arch_every: int | None = 1
    arch_temperature: float | None = 0.2
    latency_budget: str = "band"
    candidate_weights: str = "shared"
    train_examples: int = 6000
    val_examples: int = 1000
    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.05
    warm_start: bool = True
    calibration_examples: int = 256
    seed: int = 0
    strategy: str = "default"
    progress: bool = True

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {self.strategy!r} "
                             "(the pipeline runs on one host: for several, run `pxnas search` "
                             "and `pxnas train` with --strategy=multi_worker)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.latency_budget not in BUDGETS:
            raise ValueError(f"latency_budget must be one of {list(BUDGETS)}, got "
                             f"{self.latency_budget!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}, got {self.loss!r}")
        if not self.workdir:
            raise ValueError("workdir must not be empty")
        for name in ("threads", "table_passes", "search_batch_size", "epochs", "batch_size",
                     "calibration_examples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("search_examples", "holdout_examples", "train_examples", "val_examples",
                     "search_warmup_epochs", "search_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0: all / none), got {getattr(self, name)}")
        if self.holdout_examples == 0:
            raise ValueError("holdout_examples must be >= 1: the arch steps learn on the holdout")
        if self.search_warmup_epochs + self.search_epochs < 1:
            raise ValueError("the search needs at least one epoch (search_warmup_epochs + "
                             "search_epochs >= 1)")
        if self.max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s}")
        if self.target_ms is not None and self.target_fraction is not None:
            raise ValueError("give target_ms or target_fraction, not both")
        if self.target_ms is not None and not self.target_ms > 0:
            raise ValueError(f"target_ms must be > 0, got {self.target_ms}")
        if self.target_fraction is not None and not 0.0 <= self.target_fraction <= 1.0:
            raise ValueError(f"target_fraction must be in [0, 1], got {self.target_fraction}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def path(self, name: str) -> str:
        """A file or folder of the workdir (see `FILES`); the table may live
        elsewhere (`latency_table`)."""
        if name == "table" and self.latency_table:
            return os.path.abspath(self.latency_table)
        if name == "tflite":
            return os.path.join(os.path.abspath(self.workdir), f"net_{self.precision}.tflite")
        return os.path.join(os.path.abspath(self.workdir), FILES[name])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _limit(n: int) -> int | None:
    return n or None


# Stage results ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TableStage:
    """The latency table: its file, whether it was reused, what the build did."""

    path: str
    reused: bool
    entries: int
    measured: int
    unstable: tuple[str, ...]
    waited_s: float
    device: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class Target:
    """The latency target and the range of the space it was chosen in."""

    fastest: float
    slowest: float
    target: float
    how: str
    unit: str = "ms"


@dataclasses.dataclass(frozen=True)
class SearchStage:
    """The search: the derived arch, its summary (`SearchResult.summary()`)
    and files (arch, history, summary, checkpoints, ...)."""

    arch: object  # search_space.Arch
    summary: dict
    files: dict
    loss: str
    reused: bool
    seconds: float


@dataclasses.dataclass(frozen=True)
class TrainStage:
    """The trained derived net: `TrainResult.to_dict()` and its model file."""

    results: dict
    model: str
    reused: bool
    seconds: float


@dataclasses.dataclass(frozen=True)
class ExportStage:
    """The exported file and its sidecar (`ExportResult.to_dict()`)."""

    path: str
    sidecar: str
    doc: dict
    reused: bool
    seconds: float


@dataclasses.dataclass(frozen=True)
class PipelineResult:
    """Everything `run` did; `summary` is what summary.json holds."""

    summary: dict
    table: TableStage
    target: Target
    search: SearchStage
    train: TrainStage
    export: ExportStage
    figures: dict


# Progress for steps without their own bar ---------------------------------------

@contextlib.contextmanager
def busy(desc: str, enabled: bool = True):
    """A one-line progress display with the elapsed time, refreshed every
    second while the body runs (for steps with no natural count)."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed} elapsed", file=sys.stderr,
               disable=not enabled, dynamic_ncols=True)
    stop = threading.Event()

    def tick():
        while not stop.wait(1.0):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join()
        bar.close()


# Data and space -------------------------------------------------------------

def load_search_data(config: PipelineConfig):
    """The search's splits: a training subset, the arch holdout, repeated."""
    from pxnas_tf import data

    return data.load(config.dataset, config.data_dir, batch_size=config.search_batch_size,
                     image_size=config.image_size, channels=config.channels,
                     holdout_size=config.holdout_examples, seed=config.seed, deterministic=True,
                     augment=True, repeat=True, train_limit=_limit(config.search_examples))


def adapted_space(config: PipelineConfig, splits):
    """The search space with the data's input shape and classes."""
    from pxnas_tf.search_space import load_space

    return load_space(config.space, input_shape=list(splits.input_shape),
                      num_classes=splits.num_classes)


# 1. The latency table ---------------------------------------------------------

def table_problems(metadata, precision: str, threads: int) -> list[str]:
    """Pure: why a table measured under `metadata` cannot serve a pipeline
    at this precision and thread count (empty: it can)."""
    from pxnas_tf.latency.builder import check_precision

    problems = []
    measured = metadata.precision
    if measured is not None and check_precision(str(measured).lower()) != check_precision(precision):
        problems.append(f"precision {measured!r}, not {precision!r}")
    if metadata.threads is not None and int(metadata.threads) != int(threads):
        problems.append(f"{metadata.threads} thread(s), not {threads}")
    return problems


def ensure_table(space, config: PipelineConfig, log: Callable[[str], None] = print) -> TableStage:
    """The latency table of `space` on the target: reused when the file
    exists and covers the space at this precision and thread count, else
    built (or resumed: the builder saves after every measurement).

    Raises:
        IncompatibleTablesError: the file holds a table of another
            precision, thread count, device or space.
        RunnerError: the target failed (what was measured is kept).
    """
    from pxnas_tf.latency import (
        BuildSettings, IncompatibleTablesError, MeasureSettings, build_table, load_table,
        make_runner, table_coverage,
    )

    t0 = time.monotonic()
    path = config.path("table")
    if os.path.exists(path):
        table = load_table(path)
        problems = table_problems(table.metadata, config.precision, config.threads)
        if problems:
            raise IncompatibleTablesError(
                f"latency table {path} was measured with {' and '.join(problems)}; use another "
                "--latency_table (or --workdir) for this target, or the table's own settings")
        coverage = table_coverage(space, table)
        if coverage.complete and table.metadata.extra.get("complete", True):
            log(f"    reusing {path}: {len(table)} entries ({table.metadata.device}, "
                f"{table.metadata.precision}, {table.metadata.threads} thread(s))")
            return TableStage(path, True, len(table), 0, (), 0.0, str(table.metadata.device),
                              time.monotonic() - t0)
        log(f"    resuming {path}: {len(coverage.missing)} of the space's keys still missing")
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


def latency_model(space, table_path: str, precision: str):
    """The search's latency model from the table (its own statistic)."""
    from pxnas_tf.latency import load_table
    from pxnas_tf.search import LatencyModel

    stat = load_table(table_path).default_stat
    return LatencyModel.from_table(space, table_path, stat, precision)


# 2. The target ------------------------------------------------------------------

def reference_latency(space, latency) -> float | None:
    """The latency model's value of MobileNetV2's block pattern in `space`
    (`REFERENCE_OP`, k3_e6, in every block, none skipped); None where a
    block lacks that op."""
    indices = []
    for block in space.blocks():
        if REFERENCE_OP not in block.candidates:
            return None
        indices.append(list(block.candidates).index(REFERENCE_OP))
    return latency.arch_latency(indices)


def choose_target(fastest: float, slowest: float, target_ms: float | None = None,
                  fraction: float | None = None, reference: float | None = None) -> Target:
    """Pure: the latency target. `target_ms` as given (it must lie in
    [fastest, slowest]); else `fraction` of the way from the fastest to the
    slowest arch on a log scale; else `reference`, the latency of
    MobileNetV2's block pattern in the space (`reference_latency`), when it
    lies inside the range; else the geometric middle sqrt(fastest * slowest).

    Why MobileNetV2's pattern: the paper's claim is "as fast as MobileNetV2,
    more accurate", and the target then sits where the space has a real
    trade-off. The geometric middle of a heavy-tailed table (int8 XNNPACK
    7x7 depthwise blocks cost 10-100x a 5x5 one on these hosts) lies where
    only nets with 7x7 blocks reach it.

    Raises:
        SearchError: a target outside the space's range, or a bad range.
    """
    from pxnas_tf.search.errors import SearchError

    if not 0 < fastest <= slowest:
        raise SearchError(f"cannot choose a target: the space's latencies run from {fastest:.4g} "
                          f"to {slowest:.4g} ms (need 0 < fastest <= slowest)")
    if target_ms is not None:
        if not fastest <= target_ms <= slowest:
            raise SearchError(f"--target_ms={target_ms:g} lies outside the space: its fastest arch "
                              f"takes {fastest:.4g} ms and its slowest {slowest:.4g} ms on this "
                              "target; pick a target in between (or use --target_fraction)")
        return Target(fastest, slowest, float(target_ms), "given (--target_ms)")
    if fraction is None:
        if reference is not None and fastest <= reference <= slowest:
            return Target(fastest, slowest, float(reference),
                          f"MobileNetV2's block pattern in this space: {REFERENCE_OP} in every "
                          "block")
        return Target(fastest, slowest, math.sqrt(fastest * slowest),
                      "geometric middle of fastest and slowest")
    if not 0.0 <= fraction <= 1.0:
        raise SearchError(f"--target_fraction={fraction:g} must lie in [0, 1] (0: the fastest "
                          "arch, 1: the slowest)")
    value = fastest * (slowest / fastest) ** fraction
    return Target(fastest, slowest, value, f"{fraction:g} of the way from fastest to slowest "
                  "(log scale)")


def arch_loss(loss: str) -> str:
    """Pure: the arch loss to use. "auto" -> abs#target, which works at any
    latency scale (mul#log is refused by the search where it would take the
    log of a latency at or below 1)."""
    return "abs#target" if loss == "auto" else loss


# 3. Search and derive ---------------------------------------------------------------

def search_config(config: PipelineConfig, target: Target, loss: str):
    """The `SearchConfig` of the pipeline's search: the dataset's defaults,
    the pipeline's short schedule, arch steps from the first search epoch,
    and the pipeline's latency budget (band: the derived arch lies in
    [0.9 T, T])."""
    from pxnas_tf.search import SearchError, make_config

    try:
        return make_config(
            config.dataset, warmup_epochs=config.search_warmup_epochs,
            epochs=config.search_epochs, batch_size=config.search_batch_size,
            steps_per_epoch=config.search_steps_per_epoch, arch_lr=config.arch_lr,
            arch_every=config.arch_every, arch_temperature=config.arch_temperature,
            arch_delay_epochs=0, loss=loss, candidate_weights=config.candidate_weights,
            target_latency=target.target, latency_budget=config.latency_budget,
            seed=config.seed)
    except ValueError as e:
        raise SearchError(f"search settings: {e}") from None


def search_data(splits, steps_per_epoch: int | None = None):
    """The search's `SearchData`.

    Raises:
        SearchError: a subset smaller than one batch.
    """
    from pxnas_tf.search import SearchData, SearchError

    try:
        return SearchData.from_splits(splits, steps_per_epoch)
    except ValueError as e:
        raise SearchError(f"{e}: raise search_examples / holdout_examples or lower "
                          "search_batch_size") from None


def _finished_search(files: dict, record: dict, total_steps: int) -> dict:
    """The summary of a finished search of the same settings in the workdir.

    Raises:
        _Skip: none finished; SearchError: one of other settings.
    """
    from pxnas_tf.search import records

    if not all(os.path.exists(files[k]) for k in ("run", "summary", "arch")):
        raise _Skip()
    records.check_or_write_run(files["run"], record, write=False)
    with open(files["summary"], encoding="utf-8") as f:
        summary = json.load(f)
    if summary.get("weight_steps", 0) < total_steps:
        raise _Skip()
    return summary


def search(space, splits, latency, target: Target, config: PipelineConfig,
           log: Callable[[str], None] = print, strategy=None) -> SearchStage:
    """Runs (or resumes, or reuses) the latency-aware search in
    ``WORKDIR/search`` and derives the arch.

    Raises:
        SearchError: the workdir holds a search of other settings.
    """
    from pxnas_tf.search import records, run_search
    from pxnas_tf.search_space import load_arch

    t0 = time.monotonic()
    loss = arch_loss(config.loss)
    cfg = search_config(config, target, loss)
    workdir = config.path("search")
    data = search_data(splits, cfg.steps_per_epoch)
    files = records.paths(workdir)
    record = records.run_record(space.to_dict(), data.identity(), cfg.to_dict(),
                                latency.to_dict() if latency else None)
    try:
        summary = _finished_search(files, record, cfg.total_epochs * data.steps_per_epoch)
        arch = load_arch(files["arch"])
        log(f"    reusing the finished search in {workdir}")
        return SearchStage(arch, summary, files, loss, True, time.monotonic() - t0)
    except _Skip:
        pass
    log(f"    {cfg.warmup_epochs} warm-up + {cfg.epochs} search epoch(s) of "
        f"{data.steps_per_epoch} steps (batch {cfg.batch_size}), an arch step every "
        f"{cfg.arch_every} weight step(s) (Adam lr {cfg.arch_lr:g}, temperature 1 -> "
        f"{cfg.arch_temperature:g}), loss {loss}, {cfg.latency_budget} budget at "
        f"{target.target:.4g} ms")
    log("    (the first step builds the supernet's step functions: 1-3 min on 2 cores)")
    result = run_search(space, data, cfg, workdir, latency, strategy, progress=config.progress)
    return SearchStage(result.arch, result.summary(), files, loss, False, time.monotonic() - t0)


# 4. Train ----------------------------------------------------------------------------

def train_config(config: PipelineConfig):
    """The `TrainConfig` of the derived net (no lr warm-up after a warm start)."""
    from pxnas_tf.train import TrainConfig

    return TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                       warmup_epochs=0.0 if config.warm_start else min(1.0, config.epochs),
                       seed=config.seed)


def train(arch, config: PipelineConfig, search_workdir: str | None = None,
          log: Callable[[str], None] = print, strategy=None) -> TrainStage:
    """Trains (or resumes, or reuses) the derived net in ``WORKDIR/train``,
    warm-started from the search's supernet when `search_workdir` is given.

    Raises:
        TrainError: the workdir holds a run of other settings.
    """
    from pxnas_tf import data
    from pxnas_tf.train import checkpoints, trainer
    from pxnas_tf.train.warm_start import is_search_workdir

    t0 = time.monotonic()
    cfg = train_config(config)
    splits = data.load(config.dataset, config.data_dir, batch_size=cfg.batch_size,
                       image_size=config.image_size, channels=config.channels, holdout_size=0,
                       seed=cfg.seed, augment=True, train_limit=_limit(config.train_examples),
                       val_limit=_limit(config.val_examples))
    source = {"dataset": config.dataset, "data_dir": config.data_dir,
              "image_size": config.image_size, "channels": config.channels}
    workdir = config.path("train")
    files = checkpoints.paths(workdir)
    sizes = {"name": splits.name, "input_shape": list(splits.input_shape),
             "num_classes": splits.num_classes, "sizes": dict(splits.sizes)}
    if (os.path.exists(files["run"]) and os.path.exists(files["results"])
            and checkpoints.completed_epochs(files["backup"]) >= cfg.epochs):
        trainer.check_or_write_run(files["run"], trainer.run_record(arch, cfg, sizes, source))
        with open(files["results"], encoding="utf-8") as f:
            results = json.load(f)
        log(f"    reusing the finished training in {workdir}")
        return TrainStage(results, _model_file(files), True, time.monotonic() - t0)
    warm = search_workdir if (config.warm_start and search_workdir
                              and is_search_workdir(search_workdir)) else None
    log(f"    {cfg.epochs} epoch(s) on {splits.sizes['train']} images (batch {cfg.batch_size}, "
        f"lr {cfg.lr} cosine), validation on {splits.sizes['validation']}"
        + (f"; warm start from the supernet in {warm}" if warm else ""))
    result = trainer.train(arch, splits, workdir, cfg, strategy=strategy, warm_start=warm,
                           data_source=source, verbose=1 if config.progress else 2)
    if result.warm_start:
        log(f"    warm start: {result.warm_start}")
    return TrainStage(result.to_dict(), _model_file(files), False, time.monotonic() - t0)


def _model_file(files: dict) -> str:
    return files["best"] if os.path.exists(files["best"]) else files["last"]


# 5-6. Export and verify -------------------------------------------------------------------

def export(arch, model_path: str, config: PipelineConfig, table_path: str | None = None,
           log: Callable[[str], None] = print) -> ExportStage:
    """Exports the trained net to ``WORKDIR/net_PRECISION.tflite`` and
    verifies it in LiteRT on the test subset (accuracy beside the Keras
    model's, agreement, int8-only, and, on the host runner, the measured
    latency beside the table's prediction). Reused while the file is newer
    than the model.

    Raises:
        ExportError, VerificationError: the file could not be made or failed
            its check (nothing is written then).
    """
    from pxnas_tf import data
    from pxnas_tf.export import export_tflite
    from pxnas_tf.export.samples import take_arrays
    from pxnas_tf.export.verify import latency_settings

    t0 = time.monotonic()
    out = config.path("tflite")
    sidecar = out + ".json"
    if (os.path.exists(out) and os.path.exists(sidecar)
            and os.path.getmtime(sidecar) >= os.path.getmtime(model_path)):
        with open(sidecar, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("verification") is not None:
            log(f"    reusing {out} (newer than {model_path})")
            return ExportStage(out, sidecar, doc, True, time.monotonic() - t0)
    splits = data.load(config.dataset, config.data_dir, batch_size=256,
                       image_size=config.image_size, channels=config.channels, holdout_size=0,
                       seed=config.seed, augment=False, drop_remainder=False,
                       train_limit=config.calibration_examples,
                       val_limit=_limit(config.val_examples))
    calibration, _ = take_arrays(splits.train, config.calibration_examples)
    images, labels = take_arrays(splits.validation, _limit(config.val_examples))
    measure = config.runner == "host"
    log(f"    {config.precision}: calibrated on {len(calibration)} training images, verified on "
        f"{len(images)} test images" + (f", timed with {config.threads} thread(s)"
                                        if measure else ""))
    with busy(f"export {config.precision} + verify in LiteRT", config.progress):
        result = export_tflite(
            model_path, out, config.precision, arch=arch, calibration_images=calibration,
            eval_images=images, eval_labels=labels, normalization=splits.normalization.to_dict(),
            class_names=list(splits.class_names), verify=True, latency=measure,
            latency_table=table_path, latency_threads=config.threads,
            latency_settings=latency_settings(max_wait_s=config.max_wait_s))
    return ExportStage(result.path, result.sidecar, result.to_dict(), False,
                       time.monotonic() - t0)


# 7. Plots -------------------------------------------------------------------------------

def plots(arch, history_path: str, config: PipelineConfig, target: Target | None = None
          ) -> dict[str, str]:
    """The derived-net figure and the search-dynamics figure; returns their paths."""
    from pxnas_tf.viz import save_arch_figure
    from pxnas_tf.viz.search_plot import block_titles, save_search_figure

    goal = f", target {target.target:.3g} {target.unit}" if target else ""
    net = save_arch_figure(arch, config.path("net_figure"),
                           title=f"searched for {config.runner} {config.precision}{goal}: "
                                 f"{arch.arch_string}")
    dynamics = save_search_figure(history_path, config.path("dynamics"),
                                  title=f"search dynamics ({arch.space.name}, "
                                        f"{config.dataset}{goal})",
                                  block_names=block_titles(arch.space),
                                  target_latency=target.target if target else None)
    return {"net figure": net, "search dynamics": dynamics}


# 8. Summary and report ----------------------------------------------------------------------

def make_summary(config: PipelineConfig, table: TableStage, target: Target, found: SearchStage,
                 trained: TrainStage, exported: ExportStage, figures: dict,
                 search_sizes: dict, seconds: float, replicas: int = 1) -> dict:
    """The summary.json document (pure: only reads its arguments);
    `replicas`: of the strategy the search and the training ran under."""
    s = found.summary
    verification = exported.doc.get("verification") or {}
    lat = verification.get("latency") or {}
    files = {"latency table": table.path, "arch": found.files["arch"],
             "search history": found.files["history"], "keras model": trained.model,
             "tflite": exported.path, "tflite report": exported.sidecar, **figures,
             "summary": config.path("summary"), "report": config.path("report")}
    return {
        "format": SUMMARY_FORMAT,
        "config": config.to_dict(),
        "replicas": replicas,
        "target": {"runner": config.runner, "device": table.device,
                   "precision": config.precision, "threads": config.threads},
        "latency": {"table": table.path, "fastest_ms": target.fastest,
                    "slowest_ms": target.slowest, "target_ms": target.target,
                    "target_how": target.how, "entries": table.entries,
                    "unstable_keys": len(table.unstable)},
        "search": {"arch": s.get("arch"), "derived_by": s.get("derived_by"), "loss": found.loss,
                   "predicted_ms": s.get("latency"), "expected_ms": s.get("expected_latency"),
                   "holdout_top1": s.get("holdout_accuracy"), "params": s.get("params"),
                   "macs": s.get("macs"), "weight_steps": s.get("weight_steps"),
                   "arch_steps": s.get("arch_steps"), "decided": s.get("decided"),
                   "temperature": s.get("temperature"), "sizes": search_sizes},
        "train": {"epochs": trained.results.get("epochs"),
                  "val_top1": trained.results.get("val_top1"),
                  "best_val_top1": trained.results.get("best_val_top1"),
                  "warm_start": trained.results.get("warm_start")},
        "export": {"mode": exported.doc.get("mode"),
                   "size_bytes": verification.get("size_bytes"),
                   "integer_only": verification.get("integer_only"),
                   "examples": verification.get("examples"),
                   "float_top1": verification.get("keras_top1"),
                   "tflite_top1": verification.get("tflite_top1"),
                   "agreement": verification.get("agreement"),
                   "predicted_ms": verification.get("predicted_latency_ms"),
                   "measured_ms": lat.get("median_ms"),
                   "measured_flags": list(lat.get("flags") or []),
                   "measured_on": lat.get("device")},
        "stages": {name: {"seconds": round(stage.seconds, 1), "reused": stage.reused}
                   for name, stage in (("table", table), ("search", found), ("train", trained),
                                       ("export", exported))},
        "seconds": round(seconds, 1),
        "files": files,
    }


def convergence_line(search_summary: dict, target: float) -> str:
    """Pure: E[LAT], the target, the derived net's latency and the mean
    largest op probability in one line (how to tell that the search
    decided: E[LAT] and the derived net near the target, p_max near 1)."""
    s = search_summary
    expected, derived, decided = s.get("expected_latency"), s.get("latency"), s.get("decided")

    def rel(v):
        return "n/a" if v is None else f"{v:.3f} ms ({(v - target) / target:+.1%})"
    return (f"E[LAT] {rel(expected)}, derived {rel(derived)} against the target {target:.3f} "
            f"ms; mean largest op probability "
            f"{'n/a' if decided is None else f'{decided:.2f}'}")


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _ms(v) -> str:
    return "n/a" if v is None else f"{v:.3f} ms"


def summary_lines(summary: dict) -> list[str]:
    """Pure: the short human-readable summary of a summary.json document."""
    lat, s, t, e = summary["latency"], summary["search"], summary["train"], summary["export"]
    tgt = summary["target"]
    error = ""
    if e.get("measured_ms") and e.get("predicted_ms"):
        error = (f" (prediction error "
                 f"{(e['predicted_ms'] - e['measured_ms']) / e['measured_ms']:+.1%})")
    measured = (f"measured {_ms(e.get('measured_ms'))} on this host"
                + (f" [{', '.join(e['measured_flags'])}]" if e.get("measured_flags") else "")
                if e.get("measured_ms") is not None else "not measured (not the host runner)")
    lines = [
        f"target          {tgt['device']}, {tgt['precision']}, {tgt['threads']} thread(s)",
        f"latency range   {lat['fastest_ms']:.3f} .. {lat['slowest_ms']:.3f} ms over the space; "
        f"target {lat['target_ms']:.3f} ms ({lat['target_how']})",
        f"derived arch    {s['arch']}  ({s['derived_by']}, loss {s['loss']})",
        "search          " + convergence_line(
            {"expected_latency": s.get("expected_ms"), "latency": s.get("predicted_ms"),
             "decided": s.get("decided")}, lat["target_ms"]),
        f"cost            {s['params']:,} params, {s['macs'] / 1e6:.2f}M MACs",
        f"latency         table predicts {_ms(e.get('predicted_ms') or s.get('predicted_ms'))}, "
        f"{measured}{error}",
        f"accuracy        float {_pct(e.get('float_top1'))}, {e.get('mode')} "
        f"{_pct(e.get('tflite_top1'))} on {e.get('examples')} test images "
        f"(agreement {_pct(e.get('agreement'))}"
        + (f"; int8-only ops: {'yes' if e.get('integer_only') else 'no'})"
           if e.get("mode") in ("int8", "qat") else ")"),
        f"search holdout  {_pct(s.get('holdout_top1'))} (supernet weights); trained "
        f"{t.get('epochs')} epoch(s), val top-1 {_pct(t.get('val_top1'))}",
        "time            " + ", ".join(
            f"{name} {v['seconds']:.0f} s" + (" (reused)" if v["reused"] else "")
            for name, v in summary["stages"].items()) + f"; total {summary['seconds']:.0f} s",
    ]
    lines.append("files")
    lines += [f"  {name:<16} {path}" for name, path in summary["files"].items()]
    return lines


def report_markdown(summary: dict) -> str:
    """Pure: report.md, a short markdown account of the run."""
    s, lat, e = summary["search"], summary["latency"], summary["export"]
    cfg = summary["config"]
    rows = "\n".join(f"| {name} | {v['seconds']:.0f} s | {'reused' if v['reused'] else 'ran'} |"
                     for name, v in summary["stages"].items())
    files = "\n".join(f"- {name}: `{path}`" for name, path in summary["files"].items())
    sizes = s.get("sizes") or {}
    arch_cell = str(s["arch"]).replace("|", "\\|")  # a | inside a table cell must be escaped
    return f"""# pxnas pipeline report

Dataset `{cfg['dataset']}`, space `{cfg['space']}`; target {summary['target']['device']}, \
{summary['target']['precision']}, {summary['target']['threads']} thread(s).

Subsets for speed: search on {sizes.get('train')} training images with an arch holdout of \
{sizes.get('arch')}, {cfg['search_warmup_epochs']} warm-up + {cfg['search_epochs']} search \
epoch(s); training on {cfg['train_examples'] or 'all'} images for {cfg['epochs']} epoch(s); \
verification on {e.get('examples')} test images. A smoke run of the whole job, not a benchmark.

## Result

| | |
|---|---|
| latency range of the space | {lat['fastest_ms']:.3f} .. {lat['slowest_ms']:.3f} ms |
| target | {lat['target_ms']:.3f} ms ({lat['target_how']}) |
| derived arch | `{arch_cell}` ({s['derived_by']}) |
| search | {convergence_line({"expected_latency": s.get("expected_ms"), "latency": s.get("predicted_ms"), "decided": s.get("decided")}, lat["target_ms"])} |
| params, MACs | {s['params']:,}, {s['macs'] / 1e6:.2f}M |
| predicted latency (table) | {_ms(e.get('predicted_ms') or s.get('predicted_ms'))} |
| measured latency (host, LiteRT) | {_ms(e.get('measured_ms'))} |
| float top-1 | {_pct(e.get('float_top1'))} |
| {e.get('mode')} top-1 | {_pct(e.get('tflite_top1'))} |
| top-1 agreement | {_pct(e.get('agreement'))} |

![derived net]({os.path.basename(summary['files'].get('net figure', ''))})

![search dynamics]({os.path.basename(summary['files'].get('search dynamics', ''))})

## Stages

| stage | wall time | |
|---|---|---|
{rows}

Total {summary['seconds']:.0f} s.

## Files

{files}
"""


def write_report(summary: dict) -> tuple[str, str]:
    """Writes summary.json and report.md (the paths the summary names)."""
    from pxnas_tf import fileio

    fileio.atomic_write_json(summary["files"]["summary"], summary)
    fileio.atomic_write_text(summary["files"]["report"], report_markdown(summary))
    return summary["files"]["summary"], summary["files"]["report"]


# The whole job ------------------------------------------------------------------------

def run(config: PipelineConfig, log: Callable[[str], None] = print) -> PipelineResult:
    """Runs every stage in `config.workdir`, reusing finished ones.

    Raises:
        DataError, SpaceError, LatencyTableError, RunnerError, SearchError,
        TrainError, ExportError: bad input or a failed target, with the cause.
    """
    import keras

    from pxnas_tf.distribute import make_strategy

    start = time.monotonic()
    os.makedirs(os.path.abspath(config.workdir), exist_ok=True)
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
    log(f"    derived {s['arch']} ({s['derived_by']}): {s['latency']:.3f} ms predicted, "
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


__all__ = ["ExportStage", "FILES", "PipelineConfig", "PipelineResult", "SearchStage", "TableStage",
           "Target", "TrainStage", "adapted_space", "arch_loss", "busy", "choose_target",
           "convergence_line", "ensure_table", "reference_latency", "export", "latency_model", "load_search_data", "make_summary", "plots",
           "report_markdown", "run", "search", "search_config", "search_data", "summary_lines",
           "table_problems",
           "train", "train_config", "write_report"]
