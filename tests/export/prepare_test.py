"""Loading model files and making batch-1 float32 inference copies."""

import numpy as np
import pytest

import keras

from pxnas_tf.export.errors import ExportError
from pxnas_tf.export.prepare import inference_model, load_keras_model
from pxnas_tf.models import build_model
from pxnas_tf.search_space import Arch


def test_inference_model_from_arch_has_batch_1_and_same_outputs(trained):
    arch, model, _, _, tx, _ = trained
    b1 = inference_model(model, arch, batch_size=1)
    assert b1.input_shape == (1, 16, 16, 1)
    assert "dropout" not in {layer.name for layer in b1.layers}
    np.testing.assert_allclose(b1(tx[:1]), model(tx[:1], training=False), atol=1e-5)


def test_inference_model_without_arch_rebuilds_the_config(trained):
    _, model, _, _, tx, _ = trained
    b1 = inference_model(model, None, batch_size=1)
    assert b1.input_shape == (1, 16, 16, 1)
    np.testing.assert_allclose(b1(tx[:1]), model(tx[:1], training=False), atol=1e-5)


def test_mixed_precision_model_gives_a_float32_copy(tiny_arch):
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = build_model(tiny_arch)
    finally:
        keras.config.set_dtype_policy(saved)
    b1 = inference_model(mixed, tiny_arch)
    assert all(w.dtype == "float32" for w in b1.weights)
    assert b1.get_layer("stem_conv").compute_dtype == "float32"


def test_model_not_fitting_the_arch_names_the_layers(trained, tiny_arch):
    _, model, *_ = trained
    other = Arch(tiny_arch.space, ("k5_e6", "k3_e3", "k5_e6"), "other")
    with pytest.raises(ExportError, match="does not fit the arch 'k5_e6,k3_e3|k5_e6'.*b00_k5_e6"):
        inference_model(model, other)


def test_files_that_are_not_keras_models(tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    with pytest.raises(ExportError, match="is not a Keras model: a .keras file is a zip"):
        load_keras_model(str(text))
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\x00" * 64)
    with pytest.raises(ExportError, match="is not a Keras model file Keras can load"):
        load_keras_model(str(other))
    with pytest.raises(ExportError, match="does not exist"):
        load_keras_model(str(tmp_path / "missing.keras"))
    with pytest.raises(ExportError, match="is a directory"):
        load_keras_model(str(tmp_path))


def test_saved_model_loads(trained, tmp_path):
    _, model, *_ = trained
    path = str(tmp_path / "net.keras")
    model.save(path)
    assert load_keras_model(path).count_params() == model.count_params()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
