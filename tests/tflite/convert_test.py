"""Tests of `pxnas_tf.tflite.convert.to_tflite`: every mode, checked in the
real LiteRT interpreter, and its errors."""

import numpy as np
import pytest

import keras
from ai_edge_litert.interpreter import Interpreter

from pxnas_tf.tflite import convert
from pxnas_tf.models import build_model


def _interp(data: bytes) -> Interpreter:
    interp = Interpreter(model_content=data, num_threads=1)
    interp.allocate_tensors()
    return interp


def _run(interp: Interpreter, x: np.ndarray) -> np.ndarray:
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    if inp["dtype"] == np.int8:
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    y = interp.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y


@pytest.fixture(scope="module")
def net(tiny_arch):
    keras.utils.set_random_seed(0)
    return build_model(tiny_arch, batch_size=1)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).standard_normal((4, 1, 16, 16, 1)).astype(np.float32)


def test_float32_matches_keras(net, images):
    interp = _interp(convert.to_tflite(net, "float32"))
    for x in images:
        np.testing.assert_allclose(_run(interp, x), net(x, training=False).numpy(),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["fp16", "dynamic"])
def test_fp16_and_dynamic_stay_close(net, images, mode):
    data = convert.to_tflite(net, mode)
    interp = _interp(data)
    assert interp.get_input_details()[0]["dtype"] == np.float32
    for x in images:
        ref = net(x, training=False).numpy()
        np.testing.assert_allclose(_run(interp, x), ref, atol=0.05 * np.abs(ref).max() + 1e-3)
    # Weights are stored smaller than float32.
    assert len(data) < len(convert.to_tflite(net, "float32"))


def test_int8_is_full_integer(net, images):
    data = convert.to_tflite(net, "int8", convert.random_representative_data((16, 16, 1), 16))
    interp = _interp(data)
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert interp.get_output_details()[0]["dtype"] == np.int8
    ops = {op["op_name"] for op in interp._get_ops_details()}
    assert "CONV_2D" in ops and "DEPTHWISE_CONV_2D" in ops
    assert not ops & {"QUANTIZE", "DEQUANTIZE"}  # int8 end to end
    for x in images:
        ref = net(x, training=False).numpy()
        assert np.abs(_run(interp, x) - ref).max() < 0.25 * np.abs(ref).max() + 0.05


def test_representative_data_forms(net):
    """An iterable of (H, W, C) arrays and a function of (1, H, W, C) ones both work."""
    rng = np.random.default_rng(1)
    items = [rng.standard_normal((16, 16, 1)).astype(np.float32) for _ in range(3)]
    a = convert.to_tflite(net, "int8", items)
    b = convert.to_tflite(net, "int8", lambda: (x[None] for x in items))
    assert a == b


def test_random_representative_data_is_repeatable():
    gen = convert.random_representative_data((4, 4, 2), num=3, seed=5)
    first, second = list(gen()), list(gen())
    assert len(first) == 3 and first[0].shape == (4, 4, 2) and first[0].dtype == np.float32
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_errors_name_cause_and_fix(tiny_arch, net):
    free = build_model(tiny_arch)  # batch dimension free
    with pytest.raises(convert.ConversionError, match="batch_size=1"):
        convert.to_tflite(free, "float32")
    with pytest.raises(convert.ConversionError, match="valid modes are"):
        convert.to_tflite(net, "int4")
    with pytest.raises(convert.ConversionError, match="representative_data"):
        convert.to_tflite(net, "int8")
    with pytest.raises(convert.ConversionError, match="calibration item 0 has shape"):
        convert.to_tflite(net, "int8", [np.zeros((8, 8, 1), np.float32)])
    with pytest.raises(convert.ConversionError, match="no calibration images"):
        convert.to_tflite(net, "int8", [])
    assert convert.check_mode("float16") == "fp16"


def test_save_is_atomic(tmp_path, net):
    path = tmp_path / "sub" / "m.tflite"
    data = convert.to_tflite(net, "float32")
    convert.save_tflite(data, str(path))
    assert path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == ["m.tflite"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
