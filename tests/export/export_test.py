"""`export_tflite`: every non-QAT mode on a tiny net, checked in LiteRT
against Keras; metadata and sidecar; the never-overwrite rule; bad input."""

import json
import os

import keras
import numpy as np
import pytest

from pxnas_tf.export import (
    ExportError, VerificationError, export_tflite, read_metadata, tflite_logits,
)
from pxnas_tf.export.verify import check_integer_only, latency_settings

FAST = latency_settings(max_wait_s=1.0, warmup_runs=2, runs=5, min_rounds=2, max_rounds=3,
                        min_quiet=2)

# Max |logit difference| allowed, relative to the logits' range, per mode.
TOLERANCE = {"float32": 1e-5, "fp16": 5e-3, "dynamic": 5e-2, "int8": 5e-2}


@pytest.mark.parametrize("mode", ["float32", "fp16", "dynamic", "int8"])
def test_mode_matches_keras_in_litert(mode, trained, tmp_path):
    arch, model, x, _, tx, ty = trained
    out = str(tmp_path / f"net_{mode}.tflite")
    result = export_tflite(model, out, mode, arch=arch, calibration_images=x[:256],
                           eval_images=tx, eval_labels=ty, latency_settings=FAST,
                           normalization={"mean": [0.5], "std": [0.25], "scale": 255.0},
                           class_names=["w", "x", "y", "z"])
    with open(out, "rb") as f:
        content = f.read()
    keras_logits = np.asarray(model.predict(tx, verbose=0))
    logits = tflite_logits(content, tx)
    span = float(keras_logits.max() - keras_logits.min())
    assert np.max(np.abs(logits - keras_logits)) <= TOLERANCE[mode] * span
    report = result.report
    assert report.agreement >= (1.0 if mode in ("float32", "fp16") else 0.97)
    assert abs(report.tflite_top1 - report.keras_top1) <= 0.03 and report.keras_top1 > 0.9
    assert report.integer_only == (mode == "int8") and report.size_bytes == len(content)
    assert report.latency.median_ms > 0
    meta = read_metadata(out)
    assert meta["mode"] == mode and meta["arch_string"] == arch.arch_string
    assert meta["input"]["dtype"] == ("int8" if mode == "int8" else "float32")
    assert meta["class_names"] == ["w", "x", "y", "z"]
    sidecar = json.loads(open(result.sidecar).read())
    assert sidecar["metadata"] == meta and sidecar["verification"]["agreement"] == report.agreement
    assert not [f for f in os.listdir(tmp_path) if ".unverified-" in f]


def test_int8_file_is_smaller_and_integer_only(trained, tmp_path):
    arch, model, x, *_ = trained
    sizes = {}
    for mode in ("float32", "int8"):
        r = export_tflite(model, str(tmp_path / f"{mode}.tflite"), mode, arch=arch,
                          calibration_images=x[:32], latency=False)
        sizes[mode] = r.report.size_bytes
        assert r.report.examples == 16  # compared on calibration images when no test split
    check_integer_only(open(tmp_path / "int8.tflite", "rb").read())
    assert sizes["int8"] < sizes["float32"]


def test_int8_schemes(trained, tmp_path):
    """per_tensor drops the per-channel scale and zero-point arrays (a
    smaller file with one scale per weight tensor); auto converts both,
    records both, and keeps per_tensor unless it agrees clearly worse."""
    arch, model, x, *_ = trained
    files = {}
    for scheme in ("per_channel", "per_tensor", "auto"):
        r = export_tflite(model, str(tmp_path / f"{scheme}.tflite"), "int8", arch=arch,
                          calibration_images=x[:64], latency=False, int8_scheme=scheme)
        files[scheme] = r
        assert r.metadata["int8_scheme"] == r.int8_scheme["scheme"]
        check_integer_only(open(r.path, "rb").read())
    size = {k: os.path.getsize(r.path) for k, r in files.items()}
    assert size["per_tensor"] < size["per_channel"]
    auto = files["auto"].int8_scheme
    assert auto["check_images"] == 64 and set(auto["agreement"]) == {"per_channel", "per_tensor"}
    assert auto["bytes"]["per_channel"] > auto["bytes"]["per_tensor"]
    tensor_ok = auto["agreement"]["per_tensor"] >= auto["agreement"]["per_channel"] - 0.005
    assert auto["scheme"] == ("per_tensor" if tensor_ok else "per_channel")
    # Per-tensor: every int8 weight tensor has a single scale.
    from ai_edge_litert.interpreter import Interpreter
    details = Interpreter(model_path=files["per_tensor"].path).get_tensor_details()
    assert all(len(d["quantization_parameters"]["scales"]) <= 1 for d in details)
    assert any(len(d["quantization_parameters"]["scales"]) > 1 for d in
               Interpreter(model_path=files["per_channel"].path).get_tensor_details())
    with pytest.raises(ExportError, match="unknown int8 scheme 'per_row'"):
        export_tflite(model, str(tmp_path / "n.tflite"), "int8", arch=arch,
                      calibration_images=x[:8], int8_scheme="per_row")


def test_a_failed_verification_keeps_the_good_file(trained, tmp_path):
    arch, model, x, _, tx, ty = trained
    out = str(tmp_path / "net.tflite")
    export_tflite(model, out, "float32", arch=arch, eval_images=tx, eval_labels=ty,
                  latency=False)
    good = open(out, "rb").read()
    # A different model that must not replace it: agreement can't reach 101%.
    broken = keras.models.clone_model(model)
    with pytest.raises(VerificationError, match="below the required"):
        export_tflite(broken, out, "int8", arch=arch, calibration_images=x[:32],
                      eval_images=tx, eval_labels=ty, latency=False, min_agreement=1.01)
    assert open(out, "rb").read() == good
    assert sorted(os.listdir(tmp_path)) == ["net.tflite", "net.tflite.json"]


def test_the_sidecar_always_describes_the_file_beside_it(trained, tmp_path, monkeypatch):
    """The sidecar holds the file's SHA-256; the old one goes before the new
    file takes its place, so a fault between the two steps leaves a file
    without a sidecar, never a file with another file's sidecar."""
    import hashlib

    from pxnas_tf.export import export as export_module
    from pxnas_tf.export import read_sidecar
    arch, model, x, _, tx, ty = trained
    out = str(tmp_path / "net.tflite")
    first = export_tflite(model, out, "float32", arch=arch, eval_images=tx, eval_labels=ty,
                          latency=False)
    assert first.sha256 == hashlib.sha256(open(out, "rb").read()).hexdigest()
    assert read_sidecar(out)["sha256"] == first.sha256
    real_replace = os.replace

    def fault(src, dst):  # the process dies as the new file would take its place
        if dst == out:
            raise OSError(5, "Input/output error", dst)
        real_replace(src, dst)

    monkeypatch.setattr(export_module.os, "replace", fault)
    with pytest.raises(OSError):
        export_tflite(model, out, "fp16", arch=arch, eval_images=tx, eval_labels=ty,
                      latency=False)
    assert read_metadata(out)["mode"] == "float32"  # the old file stays ...
    assert read_sidecar(out) is None and sorted(os.listdir(tmp_path)) == ["net.tflite"]
    monkeypatch.undo()
    with open(out, "ab") as f:  # ... and a sidecar never vouches for other bytes
        f.write(b"\0")
    export_module.fileio.atomic_write_json(out + ".json", first.to_dict())
    assert read_sidecar(out) is None


def test_model_file_path_and_no_arch(trained, tmp_path):
    _, model, _, _, tx, ty = trained
    path = str(tmp_path / "net.keras")
    model.save(path)
    result = export_tflite(path, str(tmp_path / "n.tflite"), "float32", eval_images=tx,
                           eval_labels=ty, latency=False)
    assert result.report.agreement == 1.0 and "arch" not in result.metadata


def test_a_file_is_current_while_its_model_file_is_unchanged(trained, tmp_path):
    """`current_export` compares the model file's content, not file dates."""
    from pxnas_tf.export import current_export
    _, model, _, _, tx, ty = trained
    path, out = str(tmp_path / "net.keras"), str(tmp_path / "n.tflite")
    model.save(path)
    result = export_tflite(path, out, "float32", eval_images=tx, eval_labels=ty, latency=False)
    assert current_export(out, path, "float32")["source_sha256"] == result.source_sha256
    os.utime(path, (1e9 + 7, 1e9 + 7))  # a later date alone (a copied workdir) changes nothing
    os.utime(out + ".json", (1e9, 1e9))
    assert current_export(out, path, "float32") is not None
    assert current_export(out, path, "int8") is None  # another mode
    weights = model.get_weights()
    model.set_weights([w + 1.0 for w in weights])
    model.save(path)  # retrained: new content under the same name
    model.set_weights(weights)
    assert current_export(out, path, "float32") is None
    in_memory = export_tflite(model, str(tmp_path / "m.tflite"), "float32", eval_images=tx,
                              eval_labels=ty, latency=False)
    assert in_memory.source_sha256 is None


def test_int8_without_calibration_data(trained, tmp_path):
    arch, model, *_ = trained
    with pytest.raises(ExportError, match="needs calibration images from the training split"):
        export_tflite(model, str(tmp_path / "n.tflite"), "int8", arch=arch)


def test_qat_needs_the_arch_and_data(trained, tmp_path):
    arch, model, x, *_ = trained
    with pytest.raises(ExportError, match="rebuilds the net in tf_keras from its arch"):
        export_tflite(model, str(tmp_path / "n.tflite"), "qat", calibration_images=x)
    with pytest.raises(ExportError, match="needs fine-tuning images"):
        export_tflite(model, str(tmp_path / "n.tflite"), "qat", arch=arch, calibration_images=x)


def test_unknown_mode_and_bad_output_path(trained, tmp_path):
    arch, model, *_ = trained
    with pytest.raises(ExportError, match="valid modes are .*'qat'"):
        export_tflite(model, str(tmp_path / "n.tflite"), "int4", arch=arch)
    with pytest.raises(ExportError, match="must end with .tflite"):
        export_tflite(model, str(tmp_path / "n.bin"), "float32", arch=arch)


def test_a_layer_without_int8_kernel_is_named(tmp_path):
    inputs = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Lambda(keras.ops.arctan, name="arctan_layer")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    calib = np.random.default_rng(0).standard_normal((8, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ExportError) as err:
        export_tflite(model, str(tmp_path / "n.tflite"), "int8", calibration_images=calib)
    assert "op(s) Atan in layer(s) arctan_layer" in str(err.value)
    assert not os.path.exists(tmp_path / "n.tflite")


def test_latency_table_prediction_beside_the_measurement(trained, tmp_path):
    from pxnas_tf.latency import LatencyTable, TableMetadata, predict, space_keys
    from pxnas_tf.latency.model.table import MissingKeysError
    arch, model, *_ = trained
    keys = space_keys(arch.space)
    table = LatencyTable(TableMetadata(device="test phone", precision="float32"))
    table.update({k: 0.01 * (i + 1) for i, k in enumerate(keys)})
    result = export_tflite(model, str(tmp_path / "n.tflite"), "float32", arch=arch,
                           latency_table=table, latency_settings=FAST)
    report = result.report
    assert report.predicted_latency_ms == pytest.approx(predict(arch, table).total_ms)
    assert report.latency_table == "test phone, float32" and report.latency.median_ms > 0
    assert any("table test phone, float32 predicts" in line for line in report.summary_lines())
    partial = LatencyTable(table.metadata)
    partial.update({k: 0.01 for k in keys[:3]})
    with pytest.raises(MissingKeysError):
        export_tflite(model, str(tmp_path / "m.tflite"), "float32", arch=arch,
                      latency_table=partial)
    assert not os.path.exists(tmp_path / "m.tflite")


@pytest.mark.timing
def test_a_tensorflow_runtime_table_times_the_keras_model_there(trained, tmp_path):
    """A table of the tf runner: the check times the Keras model in the
    TensorFlow runtime at the table's batch (not the file in LiteRT), scaled
    to the table's reference speed, whatever the file's mode."""
    from pxnas_tf.latency import LatencyTable, TableMetadata, predict, space_keys
    arch, model, *_ = trained
    keys = space_keys(arch.space)
    table = LatencyTable(TableMetadata(device="tf:cpu: a test CPU", precision="float32",
                                       runner="tf", threads=1, batch=2, xla=False,
                                       reference_ms=1000.0))
    table.update({k: 0.01 * (i + 1) for i, k in enumerate(keys)})
    result = export_tflite(model, str(tmp_path / "n.tflite"), "dynamic", arch=arch,
                           latency_table=table, latency_settings=FAST)
    report = result.report
    assert report.predicted_latency_ms == pytest.approx(predict(arch, table).total_ms)
    assert report.latency_table == "tf:cpu: a test CPU, batch 2"
    assert report.latency.device.startswith("tf:cpu: ") and report.latency.device.endswith(
        "batch 2")
    # Scaled to a reference of 1000 ms: a net of a few reference nets' cost.
    assert 50.0 < report.latency.median_ms < 50000.0
    assert any("ms median on tf:cpu" in line for line in report.summary_lines())


def test_a_diverged_model_is_refused_before_conversion(trained, tmp_path):
    arch, model, *_ = trained
    broken = keras.models.clone_model(model)
    weights = [w.copy() for w in model.get_weights()]
    weights[0][...] = np.nan
    broken.set_weights(weights)
    with pytest.raises(ExportError, match="NaN or infinity in 1 of"):
        export_tflite(broken, str(tmp_path / "nan.tflite"), "float32", arch=arch)
    assert not os.path.exists(tmp_path / "nan.tflite")

if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
