"""LiteRT checks: logits, the int8-only op rule (it must catch a float op
the converter leaves behind), latency timing."""

import numpy as np
import pytest

import keras

from pxnas_tf.tflite import convert
from pxnas_tf.export.errors import VerificationError
from pxnas_tf.export.prepare import inference_model
from pxnas_tf.export.verify import (
    check_integer_only, compare, latency_settings, measure_latency, tflite_logits,
)


def _sin_model():
    """A net whose int8 conversion keeps SIN in float: TFLite has no int8
    SIN kernel, so the converter wraps it in DEQUANTIZE / QUANTIZE."""
    inputs = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Lambda(keras.ops.sin, name="sine")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def test_int8_check_names_the_float_op_the_converter_left():
    calib = convert.random_representative_data((1, 8, 8, 1), num=8)
    content = convert.to_tflite(_sin_model(), "int8", calib)
    with pytest.raises(VerificationError) as err:
        check_integer_only(content)
    message = str(err.value)
    assert "SIN (op #" in message and "float32" in message
    assert "DEQUANTIZE" in message and "QUANTIZE" in message


def test_int8_check_catches_a_float_and_a_dynamic_range_model(trained):
    arch, model, *_ = trained
    b1 = inference_model(model, arch)
    with pytest.raises(VerificationError, match="CONV_2D"):
        check_integer_only(convert.to_tflite(b1, "float32"))
    with pytest.raises(VerificationError, match="not integer-only"):
        check_integer_only(convert.to_tflite(b1, "dynamic"))  # int8 weights, float activations


def test_int8_check_passes_a_full_integer_model(trained):
    arch, model, x, *_ = trained
    ops = check_integer_only(convert.to_tflite(inference_model(model, arch), "int8",
                                               lambda: iter(x[:32])))
    assert {op.name for op in ops} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD"}


def test_float_logits_match_keras_and_report(trained):
    arch, model, _, _, tx, ty = trained
    content = convert.to_tflite(inference_model(model, arch), "float32")
    keras_logits = np.asarray(model.predict(tx, verbose=0))
    logits = tflite_logits(content, tx)
    np.testing.assert_allclose(logits, keras_logits, atol=1e-4, rtol=1e-4)
    report = compare("float32", content, keras_logits, logits, ty)
    assert report.agreement == 1.0 and report.tflite_top1 == report.keras_top1 > 0.9
    assert report.examples == 200 and report.size_bytes == len(content)
    assert not report.integer_only and report.ops["CONV_2D"] == 7


def test_wrong_image_shape_is_a_clear_error(trained):
    arch, model, *_ = trained
    content = convert.to_tflite(inference_model(model, arch), "float32")
    with pytest.raises(VerificationError, match=r"expects \(16, 16, 1\)"):
        tflite_logits(content, np.zeros((2, 8, 8, 1), np.float32))


def test_latency_is_measured_by_the_host_runner(trained, tmp_path):
    arch, model, *_ = trained
    path = tmp_path / "net.tflite"
    path.write_bytes(convert.to_tflite(inference_model(model, arch), "float32"))
    settings = latency_settings(max_wait_s=1.0, warmup_runs=2, runs=5, min_rounds=2,
                                max_rounds=3, min_quiet=2)
    stats = measure_latency(str(path), num_threads=1, settings=settings)
    assert stats.threads == 1 and 2 <= stats.rounds <= 3 and stats.invokes >= 5
    assert stats.median_ms > 0 and stats.mean_ms > 0 and stats.device.startswith("host: ")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
