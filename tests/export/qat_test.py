"""The qat mode end to end on a tiny net: tfmot fine-tunes a tf_keras
rebuild in a child process; this Keras 3 process stays as it was."""

import os
import sys

import numpy as np
import pytest

import keras

from pxnas_tf.export import export_tflite, read_metadata, tflite_logits
from pxnas_tf.export.errors import ExportError
from pxnas_tf.export.qat import QatOptions, child_environment, run_qat


@pytest.mark.slow
def test_qat_end_to_end_and_keras3_untouched(trained, tmp_path):
    arch, model, x, y, tx, ty = trained
    env_before = dict(os.environ)
    out = str(tmp_path / "net_qat.tflite")
    result = export_tflite(model, out, "qat", arch=arch, calibration_images=x[:128],
                           qat_images=x, qat_labels=y, eval_images=tx, eval_labels=ty,
                           qat_options=QatOptions(epochs=1, batch_size=32, lr=1e-3, verbose=0),
                           latency=False)
    # The file: full integer, agrees with the float Keras model.
    report = result.report
    assert report.integer_only and report.mode == "qat"
    assert report.agreement >= 0.97 and report.keras_top1 > 0.9
    assert abs(report.tflite_top1 - report.keras_top1) <= 0.03
    log = result.qat_log
    assert log["rebuild_max_abs_diff"] < 1e-3  # the tf_keras rebuild is the same net
    assert log["tf_keras_version"].startswith("2.") and len(log["history"]["loss"]) == 1
    logits = tflite_logits(open(out, "rb").read(), tx[:4])
    assert logits.shape == (4, 4)
    assert read_metadata(out)["mode"] == "qat"
    # This process: still Keras 3, no tfmot / tf_keras, environment unchanged.
    assert keras.__version__.startswith("3.")
    assert "TF_USE_LEGACY_KERAS" not in os.environ or (
        os.environ["TF_USE_LEGACY_KERAS"] == env_before.get("TF_USE_LEGACY_KERAS"))
    assert dict(os.environ) == env_before
    assert "tensorflow_model_optimization" not in sys.modules and "tf_keras" not in sys.modules
    fresh = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    fresh.compile("sgd", "mse")
    history = fresh.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert type(fresh).__module__.startswith("keras.")


def test_child_environment_is_a_copy():
    before = dict(os.environ)
    env = child_environment()
    assert env["TF_USE_LEGACY_KERAS"] == "1" and dict(os.environ) == before


def test_worker_failure_is_reported(trained, tiny_arch):
    _, model, x, y, *_ = trained
    # The child rebuilds another arch than the model's: its weights do not fit.
    other = type(tiny_arch)(tiny_arch.space, ("k5_e6", "k3_e3", "k5_e6"), "other")
    with pytest.raises(ExportError, match="fine-tuning process failed(.|\n)*b00_k5_e6"):
        run_qat(other, model, x[:32], y[:32], x[:8], QatOptions(epochs=1, verbose=0))


def test_images_of_the_wrong_shape(trained):
    arch, model, x, y, *_ = trained
    with pytest.raises(ExportError, match="calibration images have shape"):
        run_qat(arch, model, x[:32], y[:32], np.zeros((4, 8, 8, 1), np.float32))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
