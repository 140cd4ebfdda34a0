"""The demo's settings (one dataclass), what each stage returns, and the
helpers every stage uses (data, space, a progress line)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading

from pxnas_tf import limits
from pxnas_tf.knobs import (
    CANDIDATE_WEIGHTS, LATENCY_BUDGETS, ONE_HOST_STRATEGIES, PRECISIONS, WEIGHT_PATHS, knob,
)
from pxnas_tf.latency.measure.tf_runner import RunnerError, parse_tf_device
from pxnas_tf.search_space import load_space

LOSSES = ("auto", "abs#target", "mul#log", "add#linear")


SUMMARY_FORMAT = "pxnas_tf.pipeline/v1"


FILES = {"table": "latency_table.json", "search": "search", "train": "train",
         "net_figure": "net.png", "dynamics": "search_dynamics.png",
         "summary": "summary.json", "report": "report.md"}


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every knob of the pipeline; `pxnas demo`'s flags are generated from
    these fields (name, default, help). The defaults fit the whole job into
    about 10 minutes on 2 cores (subsets, few epochs). Example limits of 0
    mean "all examples"."""

    workdir: str = knob("runs/demo", "Where everything goes; re-running in the same workdir "
                        "reuses the finished stages.")
    dataset: str = knob("fashion_mnist", "Dataset name (see pxnas_tf.data.list_datasets).")
    data_dir: str | None = knob(None, "Where the dataset is (default: the dataset's own place).")
    image_size: int | None = knob(None, "Resize images to this size (default: the dataset's).")
    channels: int | None = knob(None, "1 or 3 image channels (default: the dataset's).")
    space: str = knob("proxyless_small", "Search-space preset or JSON file; its input shape and "
                      "classes are set from the dataset.")
    runner: str = knob("host", "Latency target: host (LiteRT on this CPU), tf:cpu or "
                       "tf:gpu[:N] (the TensorFlow runtime, batched: a server; float32, fp16 "
                       "on a GPU), linux:PATH (a local benchmark_model) or adb[:SERIAL,...] "
                       "(phones; needs --benchmark_model).")
    threads: int = knob(1, "Inference threads (table and host timing).")
    precision: str = knob("int8", "Precision of the table and of the exported TFLite file.",
                          PRECISIONS)
    xnnpack: bool = knob(True, "Use the XNNPACK delegate (--noxnnpack: builtin kernels).")
    tf_batch: int = knob(8, "tf: inference batch size of the table and the timing (the "
                         "paper timed its GPU net at 8).")
    tf_xla: bool = knob(False, "tf: compile the timed graphs with XLA.")
    benchmark_model: str | None = knob(None, "adb: the Android benchmark_model binary here.")
    cpu_mask: str | None = knob(None, "CPU affinity as a hex mask (see `pxnas latency`).")
    latency_table: str | None = knob(None, "The latency table file (default: "
                                     "WORKDIR/latency_table.json): reused if it covers the space "
                                     "on this target, else built or resumed there.")
    max_wait_s: float = knob(5.0, "How long one batch of measurements may wait for other "
                             "processes to leave the CPU before it keeps (and flags) contended "
                             "rounds; bounds the table build on a busy machine.")
    table_passes: int = knob(2, "Passes per table key (keys whose passes disagree are flagged "
                             "unstable, not measured again).")
    target_ms: float | None = knob(None, "Latency target in ms (between the fastest and the "
                                   "slowest arch of the space; default: the table's latency of "
                                   "MobileNetV2's block pattern, k3_e6 in every block, in the "
                                   "space: 'as fast as MobileNetV2, more accurate').")
    target_fraction: float | None = knob(None, "Target this far from the fastest (0) to the "
                                         "slowest (1) arch, on a log scale (0.5: the geometric "
                                         "middle).")
    loss: str = knob("auto", "Arch loss; auto: abs#target (pulls the expected latency towards "
                     "the target from both sides; mul#log and add#linear push it down "
                     "everywhere).", LOSSES)
    search_examples: int = knob(2048, "Training examples the search uses (0: all).")
    holdout_examples: int = knob(512, "Training examples held out for the arch steps.")
    search_batch_size: int = knob(64, "Search batch size.")
    search_warmup_epochs: int = knob(1, "Search warm-up epochs (uniform paths).")
    search_epochs: int = knob(3, "Search epochs with arch steps.")
    search_steps_per_epoch: int | None = knob(None, "Weight steps per search epoch (default: one "
                                              "pass over the search subset).")
    arch_lr: float | None = knob(0.05, "Adam lr of the arch logits (raised for the short demo "
                                 "search; `pxnas search` uses 5e-3 on small datasets).")
    arch_every: int | None = knob(1, "Weight steps per arch step.")
    arch_beta1: float = knob(0.0, "Adam beta1 of the arch logits (0: the paper's). 0.9 "
                             "averages the noisy arch gradients over about 10 steps: seeds "
                             "agree more (38% of the ops against 25%), the known-answer check "
                             "does not (25 against 27 of 33 blocks); see "
                             "docs/benchmarks/seed_agreement.md.")
    arch_samples: int = knob(4, "Path draws averaged per arch step (1: the paper's). The "
                             "arch gradient's noise comes mostly from the paths drawn in the "
                             "other blocks; averaging 4 raised the known-answer check from 25 "
                             "to 32 of 33 blocks (2: 29) at about one more arch gradient per "
                             "draw: docs/benchmarks/known_answer.md.")
    arch_temperature: float | None = knob(0.2, "Temperature of the logits after the last arch "
                                          "step (p = softmax(alpha / tau), tau falling from 1): "
                                          "makes the distribution decide within a short "
                                          "search; 1: no annealing.")
    latency_budget: str = knob("band", "How the arch is derived: band: the most probable arch "
                               "in [0.9 T, T] when the argmax lies outside; hard: the most "
                               "probable within T when the argmax exceeds it; soft: the argmax.",
                               LATENCY_BUDGETS)
    candidate_weights: str = knob("shared", "Candidate ops of a block: slices of one shared "
                                  "block (trains within the demo's few hundred steps) or each "
                                  "its own weights (the paper's).", CANDIDATE_WEIGHTS)
    weight_paths: str = knob("p", "Paths of the search epochs' weight steps: p (from the "
                             "search's distribution, the paper's) or uniform (every op keeps "
                             "training).", WEIGHT_PATHS)
    fair_paths: bool = knob(False, "Uniform weight paths (the warm-up's) visit every op of a "
                            "block once per cycle, in a random order (strict fairness).")
    train_examples: int = knob(6000, "Training examples for the derived net (0: all).")
    val_examples: int = knob(1000, "Test examples for validation and the TFLite verification "
                             "(0: all).")
    epochs: int = knob(2, "Training epochs of the derived net.")
    batch_size: int = knob(128, "Training batch size.")
    lr: float = knob(0.05, "Peak learning rate of the training (cosine decay).")
    warm_start: bool = knob(True, "Start the derived net from the supernet's weights.")
    calibration_examples: int = knob(256, "Training images for int8 calibration.")
    seed: int = knob(0, "Seed of data order, initialisation and path sampling.")
    path_seed: int | None = knob(None, "Seed of the search's path sampling alone (default: "
                                 "--seed).")
    strategy: str = knob("default", "tf.distribute strategy of the search and the training: "
                         "mirrored uses every local GPU (batch sizes are global). Several "
                         "hosts: `pxnas search` / `pxnas train` with --strategy=multi_worker.",
                         ONE_HOST_STRATEGIES)
    progress: bool = knob(True, "Show progress bars.")

    def __post_init__(self):
        if self.strategy not in ONE_HOST_STRATEGIES:
            raise ValueError(f"strategy must be one of {list(ONE_HOST_STRATEGIES)}, got "
                             f"{self.strategy!r} "
                             "(the pipeline runs on one host: for several, run `pxnas search` "
                             "and `pxnas train` with --strategy=multi_worker)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.runner.startswith("tf:"):
            _check_tf_target(self.runner, self.precision)
        if self.latency_budget not in LATENCY_BUDGETS:
            raise ValueError(f"latency_budget must be one of {list(LATENCY_BUDGETS)}, got "
                             f"{self.latency_budget!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}, got {self.loss!r}")
        if not self.workdir:
            raise ValueError("workdir must not be empty")
        limits.check_fields(self)  # ranges: pxnas_tf.limits
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs}: expected >= 1 (the derived net is trained)")
        if self.search_warmup_epochs + self.search_epochs < 1:
            raise ValueError("the search needs at least one epoch (search_warmup_epochs + "
                             "search_epochs >= 1)")
        if self.target_ms is not None and self.target_fraction is not None:
            raise ValueError("give target_ms or target_fraction, not both")

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


def _check_tf_target(runner: str, precision: str) -> None:
    """A TensorFlow-runtime target times Keras models: float32, or mixed
    float16 on a GPU (the exported TFLite file has the same precision)."""
    try:
        kind, _ = parse_tf_device(runner.split(":", 1)[1])
    except RunnerError as e:
        raise ValueError(f"runner: {e}") from None
    allowed = ("float32", "fp16") if kind == "gpu" else ("float32",)
    if precision not in allowed:
        raise ValueError(f"runner={runner} times Keras models in {' or '.join(allowed)}, not "
                         f"precision={precision!r}: pass --precision=float32"
                         + (" (fp16: mixed float16 on tf:gpu)" if kind == "cpu" else ""))


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
                     holdout_examples=config.holdout_examples, seed=config.seed, deterministic=True,
                     augment=True, repeat=True, train_examples=_limit(config.search_examples))


def adapted_space(config: PipelineConfig, splits):
    """The search space with the data's input shape and classes."""
    return load_space(config.space, input_shape=list(splits.input_shape),
                      num_classes=splits.num_classes)
