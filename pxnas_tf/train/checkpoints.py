"""What a training run keeps in its workdir, and the callbacks that write it.

    workdir/
      arch.json          the arch trained (its space adapted to the data)
      run.json           settings and data of the run (checked on resume)
      backup/            weights + optimizer + epoch (`AtomicBackup`)
      history.json       per-epoch metrics, best epoch
      last.keras         the model after the latest epoch
      best.keras         the model of the best validation accuracy
      tensorboard/       scalars
      results.json       final accuracies

Kill the run at any moment and start the same command again: it restores
the last completed epoch from backup/ (the optimizer's step counter
included, so the schedule continues) and goes on. `.keras` and JSON files
are written to a temporary name and renamed, so a kill never leaves a
half-written one.
"""

from __future__ import annotations

import json
import math
import os

import keras

from pxnas_tf import fileio

FILES = {"arch": "arch.json", "run": "run.json", "backup": "backup", "history": "history.json",
         "last": "last.keras", "best": "best.keras", "tensorboard": "tensorboard",
         "results": "results.json"}


def paths(workdir: str) -> dict[str, str]:
    """The files of a run in `workdir` (see the module docstring)."""
    return {k: os.path.join(workdir, v) for k, v in FILES.items()}


class AtomicBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore at every epoch end, made safe against a kill
    at any instant. Keras writes the weights in place and keeps a copy of
    the previous ones, but falls back to the copy only on an OSError; a
    file cut short by a kill can load with a ValueError instead, and the
    copy itself can be cut short. Here each epoch's weights go to their own
    file through a temporary name and a rename, and then
    ``training_metadata.json`` (written the same way) names that file: the
    metadata and the weights it names always belong to the same epoch.
    Older files are removed once the metadata points past them. A workdir
    written by Keras' own callback (no ``weights`` key) still resumes."""

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)

    def _metadata(self) -> dict | None:
        if not os.path.exists(self._training_metadata_path):
            return None
        with open(self._training_metadata_path, encoding="utf-8") as f:
            return json.load(f)

    def _load_model(self):
        meta = self._metadata()
        weights = self._weights_path
        if meta is not None and meta.get("weights"):
            weights = os.path.join(self.backup_dir, meta["weights"])
        if meta is None or not os.path.exists(weights):
            return  # nothing completed yet: start from the beginning
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(weights)
        self.model._initial_epoch = int(meta["epoch"])  # what Keras' callback sets

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{self._current_epoch}.weights.h5"
        tmp = os.path.join(self.backup_dir, f".epoch-{self._current_epoch}.tmp-{os.getpid()}"
                                            ".weights.h5")
        try:
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, os.path.join(self.backup_dir, name))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        fileio.atomic_write_json(self._training_metadata_path,
                                 {"epoch": self._current_epoch, "batch": 0, "weights": name})
        for old in os.listdir(self.backup_dir):
            if old != name and old.endswith(".weights.h5") and not old.startswith("."):
                os.remove(os.path.join(self.backup_dir, old))
        fileio.remove_stale_temporaries(self.backup_dir)


def backup_callback(backup_dir: str) -> AtomicBackup:
    """The epoch-end backup that a resumed run restores (`AtomicBackup`)."""
    return AtomicBackup(backup_dir)


def completed_epochs(backup_dir: str) -> int:
    """Epochs a previous run of this workdir completed (0 if none)."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f).get("epoch", 0))


def load_history(path: str) -> dict:
    if not os.path.exists(path):
        return {"epochs": [], "best": None}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_model(model: keras.Model, path: str) -> None:
    """`model.save` of an uncompiled copy, through a temporary name and a
    rename. Uncompiled because the training compile config names
    pxnas_tf's learning-rate schedule: a file with it would not load where
    pxnas_tf is not installed (resuming uses the BackupAndRestore state,
    not this file)."""
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name[:-len('.keras')]}.tmp-{os.getpid()}.keras")
    plain = model
    if getattr(model, "compiled", False):
        plain = type(model).from_config(model.get_config())  # clone_model would compile it
        plain.set_weights(model.get_weights())
    try:
        plain.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the current learning rate to the epoch logs (TensorBoard and
    history pick it up)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))


class EpochRecorder(keras.callbacks.Callback):
    """At every epoch end: records the metrics in history.json, saves
    last.keras, and best.keras when `monitor` improved on the best epoch so
    far (which survives restarts, since it is read back from history.json).

    Args:
        files: `paths(workdir)`.
        monitor: the metric to maximise (e.g. "val_accuracy").
    """

    def __init__(self, files: dict[str, str], monitor: str = "val_accuracy"):
        super().__init__()
        self.files = files
        self.monitor = monitor
        self.history = load_history(files["history"])

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        # A restart redoes an epoch whose backup was not written: replace it.
        self.history["epochs"] = [e for e in self.history["epochs"] if e["epoch"] < epoch + 1]
        self.history["epochs"].append({"epoch": epoch + 1, **logs})
        save_model(self.model, self.files["last"])
        value = logs.get(self.monitor)
        best = self.history.get("best")
        if value is not None and not math.isnan(value) and (
                best is None or best["epoch"] > epoch or value > best["value"]):
            save_model(self.model, self.files["best"])
            self.history["best"] = {"epoch": epoch + 1, "metric": self.monitor, "value": value}
        fileio.atomic_write_json(self.files["history"], self.history)
