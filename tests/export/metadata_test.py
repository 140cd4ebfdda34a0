"""Metadata inside the .tflite file: what a phone app needs, round-tripped."""

import json

import pytest

from pxnas_tf.data import Normalization
from pxnas_tf.export import metadata
from pxnas_tf.tflite import convert
from pxnas_tf.export.prepare import inference_model
from pxnas_tf.search_space import arch_from_dict


def test_round_trip_int8(trained, tmp_path):
    arch, model, x, *_ = trained
    content = convert.to_tflite(inference_model(model, arch), "int8", lambda: iter(x[:16]))
    norm = Normalization((0.2860,), (0.3530,)).to_dict()
    doc = metadata.build_metadata(content, mode="int8", arch=arch, normalization=norm,
                                  class_names=["a", "b", "c", "d"])
    tagged = metadata.add_metadata(content, doc)
    path = tmp_path / "m.tflite"
    path.write_bytes(tagged)
    read = metadata.read_metadata(str(path))
    assert read == json.loads(json.dumps(doc))
    assert read["format"] == metadata.METADATA_FORMAT and read["mode"] == "int8"
    assert read["arch_string"] == arch.arch_string == "k3_e3,zero|k5_e6"
    assert arch_from_dict(read["arch"]).ops == arch.ops  # the arch document is complete
    assert read["input"]["normalization"] == {"mean": [0.286], "std": [0.353], "scale": 255.0}
    assert read["input"]["shape"] == [1, 16, 16, 1] and read["input"]["dtype"] == "int8"
    assert read["input"]["scale"] > 0 and read["output"]["dtype"] == "int8"
    assert read["class_names"] == ["a", "b", "c", "d"]


def test_file_without_metadata(trained):
    arch, model, *_ = trained
    assert metadata.read_metadata(convert.to_tflite(inference_model(model, arch))) is None


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
