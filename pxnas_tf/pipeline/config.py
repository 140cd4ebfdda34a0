"""The demo's settings (one dataclass), what each stage returns, and the
helpers every stage uses (data, space, a progress line)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading

PRECISIONS = ("int8", "float32", "fp16")  # the table's precision and the export mode


LOSSES = ("auto", "abs#target", "mul#log", "add#linear")


STRATEGIES = ("default", "mirrored")


BUDGETS = ("band", "hard", "soft")


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
