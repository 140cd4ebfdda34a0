"""`train`: a few steps on real Fashion-MNIST images, the files it writes,
resume after an interruption, refusal of another run's workdir."""

import json
import os
import subprocess
import sys

import pytest

import keras

from pxnas_tf.train import TrainConfig, TrainError, train
from pxnas_tf.train.schedules import warmup_cosine


class _StopAt(keras.callbacks.Callback):
    """Raises at the start of epoch `epoch` (0-based): an interruption."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_train_writes_models_history_and_results(tiny_arch, splits, tmp_path):
    config = TrainConfig(epochs=2, batch_size=32, lr=0.1, warmup_epochs=0.5)
    result = train(tiny_arch, splits, str(tmp_path), config, verbose=0)
    assert result.epochs == 2 and result.resumed_from == 0 and result.mixed_precision == "float32"
    assert 0.0 <= result.val_top1 <= 1.0 and result.best_epoch in (1, 2)
    for key in ("best", "last", "arch", "run", "history", "results", "tensorboard"):
        assert os.path.exists(result.files[key]), key
    assert os.listdir(result.files["tensorboard"])
    saved = json.load(open(result.files["results"]))
    assert saved["val_top1"] == result.val_top1 and len(saved["history"]) == 2
    model = keras.saving.load_model(result.files["best"])
    assert model.input_shape == (None, 16, 16, 1) and model.output_shape == (None, 10)
    # The saved nets load where pxnas_tf is not importable (no compile config
    # naming pxnas_tf's lr schedule).
    check = ("import sys; sys.modules['pxnas_tf'] = None; import keras; "
             "m = keras.saving.load_model(sys.argv[1]); print(m.output_shape)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for key in ("best", "last"):
        out = subprocess.run([sys.executable, "-c", check, result.files[key]], env=env,
                             capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().endswith("(None, 10)")
    # The lr logged after epoch 1 is the schedule's value at step 8 (8 steps per epoch).
    assert saved["history"][0]["learning_rate"] == pytest.approx(
        warmup_cosine(8, 0.1, 16, 4), rel=1e-5)


def test_resume_after_an_interruption(tiny_arch, splits, tmp_path):
    config = TrainConfig(epochs=3, batch_size=32, lr=0.1)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_arch, splits, str(tmp_path), config, verbose=0, callbacks=[_StopAt(2)])
    result = train(tiny_arch, splits, str(tmp_path), config, verbose=0)
    assert result.resumed_from == 2 and result.epochs == 3
    assert [e["epoch"] for e in result.history] == [1, 2, 3]
    # The optimizer's step counter was restored: the schedule went on from step 16.
    assert result.history[-1]["learning_rate"] == pytest.approx(0.0, abs=1e-7)
    assert result.history[1]["learning_rate"] == pytest.approx(warmup_cosine(16, 0.1, 24, 8))
    again = train(tiny_arch, splits, str(tmp_path), config, verbose=0)  # finished: no-op
    assert again.resumed_from == 3 and again.epochs == 3


def test_workdir_of_another_run_is_refused(tiny_arch, splits, tmp_path):
    train(tiny_arch, splits, str(tmp_path), TrainConfig(epochs=1, batch_size=32), verbose=0)
    with pytest.raises(TrainError, match=r"config.lr: 0.05 in the workdir, 0.1 now"):
        train(tiny_arch, splits, str(tmp_path), TrainConfig(epochs=1, batch_size=32, lr=0.1),
              verbose=0)


def test_data_that_does_not_fit_the_arch(tiny_arch, make_splits, tmp_path):
    wrong = make_splits(batch_size=32)
    arch = type(tiny_arch)(tiny_arch.space.replace(input_shape=[20, 20, 1]), tiny_arch.ops)
    with pytest.raises(TrainError, match=r"input shape \[16, 16, 1\] but the arch's space"):
        train(arch, wrong, str(tmp_path), TrainConfig(epochs=1, batch_size=32))
    with pytest.raises(TrainError, match="batched by 32"):
        train(tiny_arch, wrong, str(tmp_path), TrainConfig(epochs=1, batch_size=64))


def test_steps_per_epoch_and_mirrored_strategy(tiny_arch, splits, tmp_path):
    import tensorflow as tf
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    config = TrainConfig(epochs=2, batch_size=32, steps_per_epoch=3, mixed_precision="float32")
    result = train(tiny_arch, splits, str(tmp_path), config, strategy=strategy, verbose=0)
    assert result.epochs == 2


def test_mixed_precision_when_asked(tiny_arch, splits, tmp_path):
    config = TrainConfig(epochs=1, batch_size=32, steps_per_epoch=2, mixed_precision="mixed_float16")
    result = train(tiny_arch, splits, str(tmp_path), config, verbose=0)
    assert result.mixed_precision == "mixed_float16"
    model = keras.saving.load_model(result.files["last"])
    assert model.get_layer("stem_conv").compute_dtype == "float16"
    assert model.get_layer("logits").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
