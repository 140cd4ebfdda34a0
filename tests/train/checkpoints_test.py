"""The epoch-end backup survives a kill in the middle of its own write."""

import json
import os

import keras
import numpy as np
import pytest

from pxnas_tf.train import checkpoints


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.MeanSquaredError())
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")


class _KilledAt(keras.callbacks.Callback):
    """Stops the process (as a signal handler's exception would) after
    `epoch` epochs, half-way through the backup's weights file."""

    def __init__(self, backup: checkpoints.AtomicBackup, epoch: int):
        super().__init__()
        self.backup, self.epoch = backup, epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 != self.epoch:
            return
        real = self.model.save_weights

        def cut_short(path, overwrite=True):
            real(path, overwrite=overwrite)
            with open(path, "r+b") as f:  # what a kill leaves: half the bytes
                f.truncate(os.path.getsize(path) // 2)
            raise KeyboardInterrupt

        self.model.save_weights = cut_short


def test_a_kill_during_the_backup_write_resumes_from_the_epoch_before(tmp_path):
    x, y = _data()
    backup_dir = str(tmp_path / "backup")
    model = _model()
    backup = checkpoints.backup_callback(backup_dir)
    with pytest.raises(KeyboardInterrupt):
        # The killer runs before the backup in the same epoch end.
        model.fit(x, y, epochs=5, batch_size=8, verbose=0, shuffle=False,
                  callbacks=[_KilledAt(backup, 3), backup])
    assert checkpoints.completed_epochs(backup_dir) == 2
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["weights"] == "epoch-2.weights.h5"
    assert sorted(os.listdir(backup_dir)) == ["epoch-2.weights.h5", "training_metadata.json"]

    # The uninterrupted run's weights after epoch 2, for comparison.
    reference = _model()
    reference.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)

    resumed = _model()
    start = {}

    class Start(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            start.setdefault("epoch", epoch)
            start.setdefault("weights", [w.copy() for w in self.model.get_weights()])

    resumed.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False,
                callbacks=[checkpoints.backup_callback(backup_dir), Start()])
    assert start["epoch"] == 2
    for got, want in zip(start["weights"], reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert int(resumed.optimizer.iterations.numpy()) == 3 * 4  # the step counter came back
    assert checkpoints.completed_epochs(backup_dir) == 3
    assert sorted(os.listdir(backup_dir)) == ["epoch-3.weights.h5", "training_metadata.json"]


def test_a_backup_written_by_keras_own_callback_still_resumes(tmp_path):
    x, y = _data()
    backup_dir = str(tmp_path / "backup")
    _model().fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False,
                 callbacks=[keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False)])
    resumed = _model()
    seen = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    resumed.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False,
                callbacks=[checkpoints.backup_callback(backup_dir), Epochs()])
    assert seen == [2]
    assert checkpoints.completed_epochs(backup_dir) == 3
