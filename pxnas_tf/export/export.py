"""The one export function: a trained Keras model -> a verified `.tflite`
file with metadata, in one of five modes.

    float32   float weights and activations.
    fp16      float16 weights, float32 compute.
    dynamic   int8 weights, float activations (dynamic-range quantization).
    int8      full integer: int8 weights, activations, input and output,
              calibrated on images from the training split.
    qat       quantization-aware fine-tuning (tfmot, in a tf_keras child
              process), then full integer like int8.

Every export writes to a temporary name beside the output, runs the file in
LiteRT (verification, on by default) and only then renames it into place,
so a good file is never replaced by a broken one. A sidecar JSON
(``OUT.json``) holds the metadata, the verification report and the file's
SHA-256. The old sidecar is removed before the new file takes its place
and the new sidecar written after, so a reader finds either no sidecar or
the one of the file beside it (`read_sidecar` checks the hash).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import re
import tempfile
from typing import Callable, Sequence

import numpy as np

from pxnas_tf import fileio
from pxnas_tf.export import metadata as metadata_lib
from pxnas_tf.export import prepare
from pxnas_tf.export import verify as verify_lib
from pxnas_tf.export.errors import ExportError
from pxnas_tf.export.qat import QatOptions, run_qat
from pxnas_tf.knobs import EXPORT_MODES
from pxnas_tf.latency.measure.tf_runner import time_keras_files_in_child
from pxnas_tf.latency.model.metadata import table_problems
from pxnas_tf.latency.model.predictor import predict
from pxnas_tf.latency.model.table import load_table
from pxnas_tf.search_space import Arch
from pxnas_tf.tflite import convert

# Images run through LiteRT when no evaluation images are given.
DEFAULT_CHECK_IMAGES = 16
# int8 weight scales: "auto" converts both and keeps per-tensor (the smaller
# file) unless its top-1 agreement with the Keras model on the calibration
# images (training split, never the test split) is more than
# AUTO_TOLERANCE below per-channel's.
INT8_SCHEMES = ("auto", "per_channel", "per_tensor")
AUTO_TOLERANCE = 0.005


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export_tflite` wrote.

    Attributes:
        path: the `.tflite` file.
        sidecar: the JSON file beside it.
        mode: the export mode.
        metadata: the metadata stored in the file.
        report: the verification report (None with ``verify=False``).
        qat_log: the QAT child's log (history, seconds, versions), qat only.
        int8_scheme: int8 only: the weight-scale scheme kept and, with
            ``"auto"``, both candidates' sizes and agreements.
        sha256: the hex SHA-256 of the file's bytes.
        source_sha256: the hex SHA-256 of the `.keras` file it was made from
            (None for a model passed as an object): what a rerun compares to
            tell whether the file is still current (`current_export`).
    """

    path: str
    sidecar: str
    mode: str
    metadata: dict
    report: verify_lib.VerificationReport | None
    qat_log: dict | None = None
    int8_scheme: dict | None = None
    sha256: str | None = None
    source_sha256: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "mode": self.mode, "metadata": self.metadata,
                "verification": None if self.report is None else self.report.to_dict(),
                "qat": self.qat_log, "int8_scheme": self.int8_scheme, "sha256": self.sha256,
                "source_sha256": self.source_sha256}


def check_export_mode(mode: str) -> str:
    """Canonical mode name.

    Raises:
        ExportError: for an unknown mode, listing the valid ones.
    """
    if mode == "qat":
        return mode
    try:
        return convert.check_mode(mode)
    except convert.ConversionError:
        raise ExportError(f"unknown export mode {mode!r}: valid modes are "
                          f"{list(EXPORT_MODES)}") from None


def sidecar_path(path: str) -> str:
    """``net.tflite`` -> ``net.tflite.json``."""
    return path + ".json"


def read_sidecar(path: str) -> dict | None:
    """The sidecar of the `.tflite` file at `path` when both exist and the
    sidecar describes this very file (its SHA-256 matches); else None."""
    side = sidecar_path(path)
    if not (os.path.isfile(path) and os.path.isfile(side)):
        return None
    try:
        with open(side, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("sha256") != _sha256_file(path):
        return None
    return doc


def current_export(path: str, model_path: str, mode: str) -> dict | None:
    """The sidecar of the `.tflite` file at `path` when the file is intact,
    was verified, has `mode`, and was made from the `.keras` file at
    `model_path` as it is now (same SHA-256); else None (export again).
    Content, not file dates, decides: a retrained model of the same name is
    new, a copied workdir is not."""
    doc = read_sidecar(path)
    if (doc is None or doc.get("verification") is None or doc.get("mode") != mode
            or not os.path.isfile(model_path)
            or doc.get("source_sha256") != _sha256_file(model_path)):
        return None
    return doc


def _sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def export_tflite(
    model,
    out_path: str,
    mode: str = "int8",
    *,
    arch: Arch | None = None,
    calibration_images: np.ndarray | None = None,
    eval_images: np.ndarray | None = None,
    eval_labels: Sequence[int] | np.ndarray | None = None,
    qat_images: np.ndarray | None = None,
    qat_labels: Sequence[int] | np.ndarray | None = None,
    qat_options: QatOptions = QatOptions(),
    normalization: dict | None = None,
    class_names: Sequence[str] | None = None,
    verify: bool = True,
    latency: bool = True,
    latency_table=None,
    latency_threads: int = 1,
    latency_settings=None,
    min_agreement: float | None = None,
    int8_scheme: str = "auto",
) -> ExportResult:
    """Converts, verifies and writes a TFLite file.

    Args:
        model: a trained `keras.Model` or the path of a `.keras` file.
        out_path: the `.tflite` file to write.
        mode: one of `pxnas_tf.knobs.EXPORT_MODES`.
        arch: the arch the model was built from: the derived net is rebuilt
            from it with batch 1 (which checks that the model fits it), and
            it goes into the metadata. Needed by ``qat``; without it the
            model's own config is rebuilt with batch 1.
        calibration_images: `(N, H, W, C)` normalised float32 images from the
            training split; needed by ``int8`` and ``qat``.
        eval_images, eval_labels: the test split (or part of it) for the
            verification; without them a few calibration images (or random
            ones) are compared and no accuracy is reported.
        qat_images, qat_labels: fine-tuning data for ``qat``.
        qat_options: fine-tuning settings for ``qat``.
        normalization: the input normalisation (``Normalization.to_dict()``),
            for the metadata.
        class_names: one name per class, for the metadata.
        verify: run the file in LiteRT before writing it.
        latency: time the file on this host (`pxnas_tf.latency`'s host
            runner) as part of the verification.
        latency_table: a `LatencyTable` (or its path): its prediction for
            `arch` is reported beside the measured latency. A table of the
            TensorFlow runtime (``runner: tf``) makes the check time the Keras
            model there instead of the file in LiteRT, at the table's batch,
            XLA, threads and reference speed: what that server target runs.
        latency_threads: interpreter threads when timing.
        latency_settings: the host runner's `MeasureSettings` (default:
            `verify.latency_settings()`).
        min_agreement: fail unless this fraction of top-1 predictions agree
            with the Keras model.
        int8_scheme: ``int8``: weight scales ``"per_channel"``,
            ``"per_tensor"`` or ``"auto"`` (see `INT8_SCHEMES`).

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: bad model file, model not fitting `arch`, missing data,
            or a layer TFLite cannot convert (naming the op and layer).
        VerificationError: the file failed its check; nothing was written.
    """
    mode = check_export_mode(mode)
    if int8_scheme not in INT8_SCHEMES:
        raise ExportError(f"unknown int8 scheme {int8_scheme!r}: valid ones are "
                          f"{list(INT8_SCHEMES)}")
    source_sha256 = None
    if isinstance(model, str):
        source_sha256 = _sha256_file(model) if os.path.isfile(model) else None
        model = prepare.load_keras_model(model)
    if mode == "qat" and arch is None:
        raise ExportError("mode 'qat' rebuilds the net in tf_keras from its arch: pass the arch "
                          "(--arch, or the train workdir's arch.json)")
    if mode in verify_lib.INTEGER_MODES and _empty(calibration_images):
        raise ExportError(f"mode {mode!r} needs calibration images from the training split "
                          "(--dataset, or calibration_images=...); none were given")
    _check_out_path(out_path)
    _check_finite_weights(model)
    # A table of another target, or one that misses keys, fails early.
    if isinstance(latency_table, str):
        latency_table = load_table(latency_table)
    predicted = _predicted_latency(arch, latency_table, mode, latency_threads)
    reference = prepare.inference_model(model, arch, batch_size=None)
    qat_log = scheme = None
    if mode == "qat":
        if _empty(qat_images) or qat_labels is None:
            raise ExportError("mode 'qat' needs fine-tuning images and labels from the training "
                              "split (--dataset, or qat_images=/qat_labels=)")
        content, qat_log = run_qat(arch, reference, np.asarray(qat_images),
                                   np.asarray(qat_labels), np.asarray(calibration_images),
                                   qat_options)
    elif mode == "int8":
        content, scheme = _convert_int8(prepare.inference_model(model, arch, batch_size=1),
                                        reference, calibration_images, int8_scheme)
    else:
        content = _convert(prepare.inference_model(model, arch, batch_size=1), mode,
                           calibration_images)
    doc = metadata_lib.build_metadata(
        content, mode=mode, arch=arch, normalization=normalization, class_names=class_names)
    if scheme is not None:
        doc["int8_scheme"] = scheme["scheme"]
    content = metadata_lib.add_metadata(content, doc)
    tmp = _temporary_path(out_path)
    try:
        fileio.atomic_write_bytes(tmp, content)
        report = None
        if verify:
            with open(tmp, "rb") as f:
                written = f.read()
            timer = None
            if latency and _is_tf(latency_table):
                timer = functools.partial(_time_on_tf, reference, latency_table)
            elif latency:
                timer = functools.partial(verify_lib.measure_latency, tmp, latency_threads,
                                          latency_settings)
            report = _verify(written, mode, reference, calibration_images, eval_images,
                             eval_labels, predicted, timer, min_agreement)
        result = ExportResult(os.path.abspath(out_path), sidecar_path(os.path.abspath(out_path)),
                              mode, doc, report, qat_log, scheme,
                              hashlib.sha256(content).hexdigest(), source_sha256)
        # No moment with the new file beside the old sidecar (module doc).
        if os.path.exists(result.sidecar):
            os.remove(result.sidecar)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    fileio.atomic_write_json(result.sidecar, result.to_dict())
    return result


def _empty(images) -> bool:
    return images is None or len(images) == 0


def _check_out_path(path: str) -> None:
    if not path or os.path.isdir(path):
        raise ExportError(f"output path {path!r} is a directory or empty; name a .tflite file")
    if not path.endswith(".tflite"):
        raise ExportError(f"output path {path!r} must end with .tflite")


def _temporary_path(path: str) -> str:
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f".{name}.unverified-{os.getpid()}")


def _convert_int8(model, reference, calibration_images, scheme: str) -> tuple[bytes, dict]:
    """int8 conversion with the weight-scale scheme asked for, or with
    "auto" the per-tensor file unless it agrees worse with the Keras model
    (see `AUTO_TOLERANCE`)."""
    if scheme != "auto":
        return (_convert(model, "int8", calibration_images, per_channel=scheme == "per_channel"),
                {"scheme": scheme})
    images = np.asarray(calibration_images, np.float32)
    keras_top1 = np.argmax(_keras_logits(reference, images), -1)
    files, agreement = {}, {}
    for name in ("per_channel", "per_tensor"):
        files[name] = _convert(model, "int8", calibration_images,
                               per_channel=name == "per_channel")
        top1 = np.argmax(verify_lib.tflite_logits(files[name], images), -1)
        agreement[name] = float(np.mean(top1 == keras_top1))
    keep = ("per_tensor" if agreement["per_tensor"] >= agreement["per_channel"] - AUTO_TOLERANCE
            else "per_channel")
    return files[keep], {"scheme": keep, "asked": "auto", "check_images": int(len(images)),
                         "agreement": agreement,
                         "bytes": {k: len(v) for k, v in files.items()}}


def _convert(model, mode: str, calibration_images, per_channel: bool = True) -> bytes:
    data = None
    if calibration_images is not None:
        images = np.asarray(calibration_images, np.float32)
        data = lambda: iter(images)
    try:
        # Keras' SavedModel export prints its signatures to stdout: keep them
        # out of the user's output.
        with contextlib.redirect_stdout(io.StringIO()):
            return convert.to_tflite(model, mode, data, per_channel=per_channel)
    except convert.ConversionError as e:
        raise ExportError(explain_conversion_error(e, mode)) from e


_SELECT_OPS = re.compile(r"TF Select ops: ([^\n]+)")
_TF_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_LOCATION = re.compile(r'fused\["(\w+):", "([^"@]+)@')


def explain_conversion_error(error: Exception, mode: str) -> str:
    """A one-paragraph cause from a converter failure: the TensorFlow ops
    without a TFLite builtin kernel and the layers they come from, when the
    converter's log names them."""
    text = "\n".join(str(e) for e in (error, error.__cause__) if e is not None)
    ops = []
    for match in _SELECT_OPS.finditer(text):
        ops += [op.strip() for op in match.group(1).split(",") if op.strip()]
    ops += _TF_OP.findall(text)
    ops = list(dict.fromkeys(ops))
    layers = list(dict.fromkeys(
        "/".join(path.split("/")[1:-1]) or path for op, path in _LOCATION.findall(text)
        if op in ops))
    if not ops:
        return str(error)
    where = f" in layer(s) {', '.join(layers)}" if layers else ""
    return (f"TFLite cannot convert the model in mode {mode!r}: TensorFlow op(s) "
            f"{', '.join(ops)}{where} have no TFLite builtin kernel"
            f"{' with int8 support' if mode == 'int8' else ''}. Replace those layers with "
            "conv, depthwise conv, dense, pooling, add, BN or ReLU6 (the derived nets use only "
            "these)")


def _verify(content: bytes, mode: str, reference, calibration_images, eval_images,
            eval_labels, predicted: tuple[float | None, str | None],
            timer: Callable[[], verify_lib.LatencyStats] | None,
            min_agreement: float | None) -> verify_lib.VerificationReport:
    if mode in verify_lib.INTEGER_MODES:
        verify_lib.check_integer_only(content)
    labels = None
    if not _empty(eval_images):
        images = np.asarray(eval_images, np.float32)
        labels = None if eval_labels is None else np.asarray(eval_labels).reshape(-1)
    elif not _empty(calibration_images):
        images = np.asarray(calibration_images, np.float32)[:DEFAULT_CHECK_IMAGES]
    else:
        shape = (DEFAULT_CHECK_IMAGES, *reference.input_shape[1:])
        images = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    keras_logits = _keras_logits(reference, images)
    tflite_out = verify_lib.tflite_logits(content, images)
    latency = None if timer is None else timer()
    report = verify_lib.compare(mode, content, keras_logits, tflite_out, labels, latency,
                                *predicted)
    verify_lib.check_report(report, min_agreement)
    return report


def _keras_logits(model, images: np.ndarray) -> np.ndarray:
    """Logits of `model` in inference mode, in batches (a direct call: no
    new tf.function per exported model)."""
    batch = model.input_shape[0] or 256
    out = [np.asarray(model(images[i:i + batch], training=False), np.float32)
           for i in range(0, len(images), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def _check_finite_weights(model) -> None:
    """Refuses a model whose weights hold NaN or infinity (a run that
    diverged): its logits would be NaN, and NaN agrees with NaN."""
    bad = [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w)))]
    if bad:
        raise ExportError(
            f"the model's weights hold NaN or infinity in {len(bad)} of {len(model.weights)} "
            f"arrays (first: {bad[0]}): the training diverged. Train it again with a lower "
            "learning rate, then export")


def _is_tf(table) -> bool:
    return table is not None and table.metadata.runner == "tf"


def _time_on_tf(reference, table) -> verify_lib.LatencyStats:
    """The Keras model timed in the TensorFlow runtime of a tf table's
    target (its device kind, batch, XLA, threads, precision and reference
    speed), in a child process: TensorFlow takes thread counts only before
    it starts."""
    meta = table.metadata
    device = "gpu" if str(meta.device or "").startswith("tf:gpu") else "cpu"
    threads = meta.threads or 1
    with tempfile.TemporaryDirectory(prefix="pxnas_tf_export_") as folder:
        path = os.path.join(folder, "net.keras")
        reference.save(path)
        stats = time_keras_files_in_child(
            {"net": path}, device, threads=threads, batch=meta.batch or 8, xla=bool(meta.xla),
            precision="fp16" if meta.precision == "fp16" else "float32",
            reference_ms=meta.reference_ms)["net"]
    return verify_lib.LatencyStats(stats["median_ms"], stats["mean_ms"], stats["std_ms"],
                                   stats["invokes"], stats["rounds"], threads,
                                   tuple(stats["flags"]),
                                   f"{stats['device']}, batch {stats['batch']}")


def _predicted_latency(arch: Arch | None, table, mode: str, threads: int
                       ) -> tuple[float | None, str | None]:
    if table is None:
        return None, None
    if isinstance(table, str):
        table = load_table(table)
    if arch is None:
        raise ExportError("a latency table predicts the latency of an arch: pass the arch too")
    meta = table.metadata
    if _is_tf(table):  # the target runs the Keras model, whatever the file's mode
        return float(predict(arch, table).total_ms), f"{meta.device}, batch {meta.batch}"
    # Dynamic range quantization has no table precision of its own.
    precision = {"qat": "int8", "dynamic": None}.get(mode, mode)
    problems = table_problems(meta, precision=precision, threads=threads)
    if problems:
        raise ExportError(f"latency table {table.name} cannot predict this {mode} export with "
                          f"{threads} thread(s): the table has {', '.join(problems)}; pass a "
                          "table of this target (or none)")
    name = ", ".join(str(v) for v in (meta.device, meta.precision) if v) or "unnamed table"
    return float(predict(arch, table).total_ms), name


__all__ = ["EXPORT_MODES", "ExportResult", "QatOptions", "check_export_mode",
           "explain_conversion_error", "export_tflite", "read_sidecar", "sidecar_path"]
