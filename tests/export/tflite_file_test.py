"""Reading and re-packing TFLite flatbuffers (`pxnas_tf.tflite.file`) of an
exported net: ops, tensor types, metadata entries, buffer alignment."""

import numpy as np
import pytest

from pxnas_tf.tflite import convert
from pxnas_tf.tflite import file as tflite_file
from pxnas_tf.export.prepare import inference_model
from pxnas_tf.export.verify import tflite_logits


@pytest.fixture(scope="module")
def float_and_int8(trained):
    arch, model, x, *_ = trained
    b1 = inference_model(model, arch, batch_size=1)
    return (convert.to_tflite(b1, "float32"),
            convert.to_tflite(b1, "int8", lambda: iter(x[:32])))


def test_ops_of_the_tiny_net(float_and_int8):
    float_file, int8_file = float_and_int8
    for content in (float_file, int8_file):
        counts = tflite_file.op_counts(tflite_file.list_ops(content))
        # stem + first block (dw, project) + k3_e3 (3) + k5_e6 (3) + head: 7 convs, 3 dw.
        assert counts["CONV_2D"] == 7 and counts["DEPTHWISE_CONV_2D"] == 3
        assert counts["FULLY_CONNECTED"] == 1 and counts["MEAN"] == 1
    assert not tflite_file.non_integer_ops(tflite_file.list_ops(int8_file))
    floats = tflite_file.non_integer_ops(tflite_file.list_ops(float_file))
    assert {op.name for op in floats} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert all("float32" in op.float_types for op in floats)


def test_io_tensors(float_and_int8):
    float_file, int8_file = float_and_int8
    (inp,), (out,) = tflite_file.io_tensors(float_file)
    assert inp.shape == (1, 16, 16, 1) and inp.dtype == "float32" and inp.scale is None
    assert out.shape == (1, 4) and out.dtype == "float32"
    (inp,), (out,) = tflite_file.io_tensors(int8_file)
    assert inp.dtype == out.dtype == "int8"
    assert inp.scale > 0 and -128 <= inp.zero_point <= 127 and out.scale > 0


def test_metadata_entry_round_trip_keeps_the_model_identical(float_and_int8, trained):
    x = trained[2][:8]
    for content in float_and_int8:
        tagged = tflite_file.set_metadata_entry(content, "pxnas_test", b'{"a": 1}')
        entries = tflite_file.metadata_entries(tagged)
        assert entries["pxnas_test"] == b'{"a": 1}'
        assert "min_runtime_version" in entries  # the converter's own entries survive
        again = tflite_file.set_metadata_entry(tagged, "pxnas_test", b"second")
        assert tflite_file.metadata_entries(again)["pxnas_test"] == b"second"
        np.testing.assert_array_equal(tflite_logits(content, x), tflite_logits(again, x))


def test_repacked_buffers_stay_16_byte_aligned(float_and_int8):
    tagged = tflite_file.set_metadata_entry(float_and_int8[0], "x", b"1")
    from ai_edge_litert import schema_py_generated as schema
    model = schema.Model.GetRootAs(bytearray(tagged), 0)
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength() > 0:
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, (i, start)


def test_not_a_flatbuffer():
    with pytest.raises(tflite_file.TFLiteFileError, match="not a TFLite flatbuffer"):
        tflite_file.read_model(b"PK\x03\x04 this is a zip, not a model")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
