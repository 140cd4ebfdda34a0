"""The training model: L2 on kernels only (unless asked), dropout,
precision policies."""

import numpy as np
import pytest

import keras

from pxnas_tf.train.config import TrainConfig
from pxnas_tf.train.model_setup import (
    decayed_weight_names, resolve_precision, training_model, with_weight_decay,
)


def _kernels(model):
    return [v for v in model.trainable_variables if v.path.endswith("kernel")]


def test_decay_on_kernels_only(tiny_arch):
    model = training_model(tiny_arch, TrainConfig(weight_decay=4e-5), "float32")
    decayed = decayed_weight_names(model)
    assert sorted(decayed) == sorted(v.path for v in _kernels(model))
    # 7 convs + 3 depthwise + 1 dense in the tiny arch with one skipped block.
    assert len(decayed) == 11
    assert not any("bn" in name or "bias" in name for name in decayed)
    model(np.zeros((1, 16, 16, 1), np.float32))
    expected = sum(2e-5 * float(np.sum(np.square(v.numpy()))) for v in _kernels(model))
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)


def test_decay_bn_and_bias_when_asked(tiny_arch):
    model = training_model(tiny_arch, TrainConfig(decay_bn_bias=True), "float32")
    decayed = decayed_weight_names(model)
    assert any(n.endswith("gamma") for n in decayed) and any(n.endswith("beta") for n in decayed)
    assert "logits/bias" in decayed
    assert len(decayed) == len(model.trainable_variables)


def test_no_decay(tiny_arch):
    assert decayed_weight_names(training_model(tiny_arch, TrainConfig(weight_decay=0.0))) == []


def test_dropout_before_the_classifier(tiny_arch):
    model = training_model(tiny_arch, TrainConfig(dropout=0.3), "float32")
    names = [layer.name for layer in model.layers]
    assert names[-2:] == ["dropout", "logits"] and model.get_layer("dropout").rate == 0.3


def test_mixed_precision_keeps_the_classifier_in_float32(tiny_arch):
    model = training_model(tiny_arch, TrainConfig(), "mixed_float16")
    assert model.get_layer("stem_conv").compute_dtype == "float16"
    assert model.get_layer("logits").compute_dtype == "float32"
    assert model(np.zeros((2, 16, 16, 1), np.float32)).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # global policy restored


def test_auto_precision_on_this_cpu_is_float32():
    assert resolve_precision("auto") == "float32"
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"


def test_with_weight_decay_leaves_its_input_alone(tiny_arch):
    from pxnas_tf.models import build_model
    config = build_model(tiny_arch).get_config()
    before = repr(config)
    with_weight_decay(config, 1e-4, True, ("logits",))
    assert repr(config) == before


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
