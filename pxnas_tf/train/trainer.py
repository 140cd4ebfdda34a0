"""Retraining a derived net with Keras `fit`.

    result = train(arch, splits, "runs/net", TrainConfig(epochs=5))

Keras does the loop, the progress bar, mixed-precision loss scaling, the
distribution over replicas (the model and optimizer are created under the
strategy's scope) and the backup of weights + optimizer + epoch
(`checkpoints.AtomicBackup`); this module chooses the pieces (see `checkpoints` for
the workdir layout, `tensorboard` for the event files).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Sequence

import keras
import tensorflow as tf

from pxnas_tf import fileio, run_identity
from pxnas_tf.distribute import is_chief, task_info
from pxnas_tf.search_space import Arch
from pxnas_tf.train import checkpoints, model_setup
from pxnas_tf.train.config import TrainConfig, TrainError
from pxnas_tf.train.schedules import WarmupCosine
from pxnas_tf.train.tensorboard import ScalarLogger
from pxnas_tf.train.warm_start import warm_start as do_warm_start

RUN_FORMAT = "pxnas_tf.train_run/v1"


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """The outcome of `train`.

    Attributes:
        val_top1: validation accuracy after the last epoch.
        best_val_top1, best_epoch: the best epoch (1-based) and its accuracy.
        epochs: epochs completed in all (over restarts).
        resumed_from: epochs already done when this call started.
        history: one dict of metrics per epoch.
        mixed_precision: the dtype policy trained in.
        warm_start: what the warm start copied, or None.
        seconds: wall time of this call.
        files: what the workdir holds.
    """

    val_top1: float | None
    best_val_top1: float | None
    best_epoch: int | None
    epochs: int
    resumed_from: int
    history: list[dict]
    mixed_precision: str
    warm_start: str | None
    seconds: float
    files: dict[str, str]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def run_record(arch: Arch, config: TrainConfig, data: dict, source: dict | None = None) -> dict:
    """What must stay the same for a workdir to be resumed (arch, config,
    data), plus how the data was loaded (`source`, not compared: data may
    move between restarts)."""
    return {"format": RUN_FORMAT, "arch": arch.to_dict(inline_space=True),
            "config": config.to_dict(), "data": data, "source": source or {}}


def _upgrade(part: str, value):
    """A stored record's part under today's field names."""
    if part == "config" and isinstance(value, dict) and "precision" in value \
            and "mixed_precision" not in value:
        value = dict(value)
        value["mixed_precision"] = value.pop("precision")  # the field's name before 2026-12-05
    return value


RUN_KIND = run_identity.RecordKind(RUN_FORMAT, "training run", ("arch", "config", "data"),
                                   TrainError, _upgrade)


def check_or_write_run(path: str, record: dict) -> None:
    """Writes run.json, or checks that the workdir's matches `record`.

    Raises:
        TrainError: naming the differences.
    """
    run_identity.check_or_write(path, record, RUN_KIND)


def finished_results(workdir: str, record: dict, epochs: int) -> dict | None:
    """The results of a training of `record`'s settings that completed
    `epochs` epochs in `workdir`; None when none did.

    Raises:
        TrainError: the workdir holds a run of other settings.
    """
    files = checkpoints.paths(workdir)
    if not (os.path.exists(files["run"]) and os.path.exists(files["results"])
            and checkpoints.completed_epochs(files["backup"]) >= epochs):
        return None
    check_or_write_run(files["run"], record)
    with open(files["results"], encoding="utf-8") as f:
        return json.load(f)


def _one_hot(dataset: tf.data.Dataset, classes: int) -> tf.data.Dataset:
    return dataset.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), classes)),
                       num_parallel_calls=tf.data.AUTOTUNE)


def train(arch: Arch, splits, workdir: str, config: TrainConfig = TrainConfig(), *,
          strategy: tf.distribute.Strategy | None = None, warm_start=None,
          data_source: dict | None = None, verbose: int | str = "auto",
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> TrainResult:
    """Trains the derived net of `arch` on `splits`, resuming the run in
    `workdir` if there is one.

    Args:
        arch: the arch; its space must match the data (input shape, classes).
        splits: `pxnas_tf.data.load(...)` output, batched with
            `config.batch_size`; train and validation splits are used.
        workdir: where checkpoints, models and logs go.
        config: hyperparameters.
        strategy: tf.distribute strategy (default: the current one).
        warm_start: a search workdir, `.keras` / `.npz` file or model whose
            layers the net inherits by name (ignored when resuming).
        data_source: how the data was loaded (e.g. `data.load` arguments),
            kept in run.json for `pxnas export`.
        verbose: Keras fit verbosity ("auto": a progress bar on a terminal).
        callbacks: more Keras callbacks.

    Returns:
        A `TrainResult`; results.json holds the same.

    Raises:
        TrainError: bad settings, data that does not fit the arch, or a
            workdir holding a run with other settings.
    """
    start = time.time()
    strategy = strategy or tf.distribute.get_strategy()
    _check_data(arch, splits, config)
    if isinstance(warm_start, str) and not os.path.exists(warm_start):
        raise TrainError(f"warm start {warm_start!r} does not exist: give a search workdir or a "
                         ".keras / .npz weights file")  # before the workdir is made
    workdir = os.path.abspath(workdir)
    files = checkpoints.paths(_own_workdir(workdir, strategy))
    os.makedirs(os.path.dirname(files["run"]), exist_ok=True)
    fileio.remove_stale_temporaries(os.path.dirname(files["run"]))  # a killed run's leftovers
    data = {"name": splits.name, "input_shape": list(splits.input_shape),
            "num_classes": splits.num_classes, "sizes": dict(splits.sizes)}
    check_or_write_run(files["run"], run_record(arch, config, data, data_source))
    arch.save(files["arch"])
    done = checkpoints.completed_epochs(files["backup"])
    policy = model_setup.resolve_precision(config.mixed_precision, strategy)
    steps = config.steps_per_epoch or splits.steps("train")
    if steps < 1:
        raise TrainError(f"the training split gives no full batch of {config.batch_size}")

    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = model_setup.training_model(arch, config, policy)
        warm = None
        if warm_start is not None and done == 0:
            warm = do_warm_start(model, warm_start).describe()
        compile_model(model, config, steps)
    train_ds = _one_hot(splits.train, splits.num_classes)
    if config.steps_per_epoch:
        train_ds = train_ds.repeat()
    # The backup goes last: an epoch counts as done only once history.json,
    # last.keras and best.keras have it (a kill in between redoes it).
    callbacks = [checkpoints.LearningRateLogger(), checkpoints.EpochRecorder(files),
                 ScalarLogger(files["tensorboard"]), *callbacks,
                 checkpoints.backup_callback(files["backup"])]
    model.fit(train_ds, epochs=config.epochs, steps_per_epoch=config.steps_per_epoch,
              validation_data=_one_hot(splits.validation, splits.num_classes),
              callbacks=callbacks, verbose=verbose, shuffle=False)  # tf.data shuffles
    return _finish(files, policy, done, warm, time.time() - start)


def compile_model(model: keras.Model, config: TrainConfig, steps_per_epoch: int) -> None:
    """SGD (Nesterov) on the warm-up + cosine schedule, label-smoothed
    cross-entropy on one-hot labels, top-1 accuracy. Call it under the
    strategy's scope; Keras adds loss scaling for mixed_float16."""
    schedule = WarmupCosine(config.lr, config.epochs * steps_per_epoch,
                            int(round(config.warmup_epochs * steps_per_epoch)), config.min_lr)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=config.momentum,
                                       nesterov=config.nesterov),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                  label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])


def _own_workdir(workdir: str, strategy: tf.distribute.Strategy) -> str:
    """`workdir` for the chief; a private folder inside it for other workers
    of a multi-worker run (they must save too, but not over the chief)."""

    if is_chief(strategy):
        return workdir
    task_type, task_id = task_info(strategy)
    return os.path.join(workdir, f".{task_type}-{task_id}")


def _check_data(arch: Arch, splits, config: TrainConfig) -> None:
    space = arch.space
    if tuple(splits.input_shape) != tuple(space.input_shape):
        raise TrainError(f"the data has input shape {list(splits.input_shape)} but the arch's "
                         f"space {space.name!r} expects {list(space.input_shape)}; adapt the "
                         "space (--input_shape) or the data (--image_size, --channels)")
    if splits.num_classes != space.num_classes:
        raise TrainError(f"the data has {splits.num_classes} classes but the arch's space "
                         f"{space.name!r} has {space.num_classes}; adapt it (--num_classes)")
    if splits.batch_size != config.batch_size:
        raise TrainError(f"the data is batched by {splits.batch_size}, the config says "
                         f"batch_size={config.batch_size}")


def _finish(files: dict[str, str], policy: str, resumed_from: int, warm: str | None,
            seconds: float) -> TrainResult:
    history = checkpoints.load_history(files["history"])
    epochs = history["epochs"]
    best = history.get("best") or {}
    result = TrainResult(
        val_top1=epochs[-1].get("val_accuracy") if epochs else None,
        best_val_top1=best.get("value"), best_epoch=best.get("epoch"),
        epochs=len(epochs), resumed_from=resumed_from, history=epochs, mixed_precision=policy,
        warm_start=warm, seconds=round(seconds, 1),
        files={k: v for k, v in files.items() if os.path.exists(v) or k == "results"})
    fileio.atomic_write_json(files["results"], result.to_dict())
    return result
