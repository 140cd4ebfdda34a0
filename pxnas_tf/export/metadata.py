"""What a phone app needs to feed and read an exported model, stored inside
the `.tflite` file and in a sidecar JSON beside it.

The file carries a custom entry of the flatbuffer's ``metadata`` table named
``pxnas_tf`` whose buffer is UTF-8 JSON:

    {"format": "pxnas_tf.tflite_metadata/v1",
     "mode": "int8",
     "arch": {...the arch document, search space inlined...},
     "arch_string": "k3_e3,zero|...",
     "input": {"shape": [1, 28, 28, 1], "dtype": "int8", "scale": 0.02, "zero_point": -1,
               "normalization": {"mean": [0.286], "std": [0.353], "scale": 255.0},
               "layout": "NHWC"},
     "output": {"shape": [1, 10], "dtype": "int8", "scale": 0.1, "zero_point": 3,
                "kind": "logits"},
     "class_names": ["T-shirt/top", ...],
     "created": "2025-01-01T00:00:00Z", "pxnas_tf_version": "0.1.0"}

To feed the model: ``x = (pixel / normalization.scale - mean) / std`` per
channel, then for an int8 input ``q = round(x / input.scale) +
input.zero_point``. Any flatbuffer reader finds the entry by name (C++:
``model->metadata()``; Python: `read_metadata`).
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Sequence

from pxnas_tf.tflite import file as tflite_file

METADATA_NAME = "pxnas_tf"
METADATA_FORMAT = "pxnas_tf.tflite_metadata/v1"


def build_metadata(content: bytes, *, mode: str, arch=None, normalization: dict | None = None,
                   class_names: Sequence[str] | None = None,
                   extra: dict[str, Any] | None = None) -> dict:
    """The metadata document of a converted model.

    Args:
        content: the converted flatbuffer (input / output tensors are read
            from it).
        mode: the export mode.
        arch: the `Arch` the model was built from, if known.
        normalization: ``Normalization.to_dict()`` of the input pipeline.
        class_names: one name per output class.
        extra: more JSON-ready fields.
    """
    inputs, outputs = tflite_file.io_tensors(content)
    doc: dict[str, Any] = {"format": METADATA_FORMAT, "mode": mode}
    if arch is not None:
        doc["arch"] = arch.to_dict(inline_space=True)
        doc["arch_string"] = arch.arch_string
    doc["input"] = {**inputs[0].to_dict(), "layout": "NHWC"}
    if normalization is not None:
        doc["input"]["normalization"] = dict(normalization)
    doc["output"] = {**outputs[0].to_dict(), "kind": "logits"}
    if class_names:
        doc["class_names"] = [str(c) for c in class_names]
    doc["created"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["pxnas_tf_version"] = _version()
    doc.update(extra or {})
    return doc


def add_metadata(content: bytes, doc: dict) -> bytes:
    """A copy of the flatbuffer carrying `doc` as the ``pxnas_tf`` entry."""
    data = json.dumps(doc, sort_keys=False, separators=(",", ":")).encode("utf-8")
    return tflite_file.set_metadata_entry(content, METADATA_NAME, data)


def read_metadata(source: bytes | str) -> dict | None:
    """The ``pxnas_tf`` metadata of a model (bytes or a file path), or None
    when the file has none.

    Raises:
        TFLiteFileError: when `source` is not a TFLite flatbuffer.
    """
    if isinstance(source, str):
        with open(source, "rb") as f:
            source = f.read()
    raw = tflite_file.metadata_entries(source).get(METADATA_NAME)
    return None if raw is None else json.loads(raw.decode("utf-8"))


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("pxnas_tf")
    except metadata.PackageNotFoundError:
        return "unknown"
