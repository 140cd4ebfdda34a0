"""The Keras 3 side of quantization-aware training: prepares a job folder,
runs `qat_worker.py` (tf_keras + tfmot) in a child process and returns the
int8 flatbuffer. This process never imports tfmot or tf_keras and never
changes its own environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from pxnas_tf.export.errors import ExportError
from pxnas_tf.search_space import Arch
from pxnas_tf.models import weights as weights_lib

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qat_worker.py")
# Images whose logits the worker must reproduce after rebuilding the net.
REFERENCE_IMAGES = 8


@dataclasses.dataclass(frozen=True)
class QatOptions:
    """Fine-tuning settings of the `qat` mode.

    Attributes:
        epochs: passes over the fine-tuning images.
        batch_size: batch size of the fine-tuning.
        lr: initial learning rate (cosine decay to 0), small: the float
            weights are already trained.
        label_smoothing: as in training.
        seed: shuffling seed.
        timeout_s: limit for the child process, None for none.
        verbose: Keras fit verbosity in the child (0, 1 or 2).
    """

    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    label_smoothing: float = 0.1
    seed: int = 0
    timeout_s: float | None = None
    verbose: int = 2

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ExportError(f"bad QAT options {self}: epochs and batch_size must be >= 1 and "
                              "lr > 0")


def child_environment() -> dict[str, str]:
    """The worker's environment: ours plus TF_USE_LEGACY_KERAS=1 and this
    package on PYTHONPATH (a copy; `os.environ` is left alone)."""
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = os.path.dirname(os.path.dirname(os.path.dirname(WORKER)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def write_job(job_dir: str, arch: Arch, model, train_images: np.ndarray,
              train_labels: np.ndarray, calibration: np.ndarray, options: QatOptions) -> None:
    """Writes everything the worker reads into `job_dir`."""
    weights_lib.save_npz(weights_lib.layer_weights(model), os.path.join(job_dir, "weights.npz"))
    np.savez(os.path.join(job_dir, "train.npz"), x=train_images.astype(np.float32),
             y=np.asarray(train_labels).astype(np.int64))
    np.savez(os.path.join(job_dir, "calibration.npz"), x=calibration.astype(np.float32))
    ref = train_images[:REFERENCE_IMAGES].astype(np.float32)
    np.savez(os.path.join(job_dir, "reference.npz"), x=ref,
             logits=np.asarray(model.predict(ref, verbose=0), np.float32))
    job = {"arch": arch.to_dict(inline_space=True), **dataclasses.asdict(options)}
    job.pop("timeout_s")
    with open(os.path.join(job_dir, "job.json"), "w", encoding="utf-8") as f:
        json.dump(job, f, indent=2)


def run_qat(arch: Arch, model, train_images: np.ndarray, train_labels: np.ndarray,
            calibration: np.ndarray, options: QatOptions = QatOptions(),
            python: str = sys.executable) -> tuple[bytes, dict]:
    """Fine-tunes `model` (a float Keras 3 derived net of `arch`) with QAT in
    a child process and converts it to full int8.

    Args:
        arch: the arch the model was built from (the child rebuilds it).
        model: the trained float model (any batch size).
        train_images, train_labels: fine-tuning data, `(N, H, W, C)` float32
            normalised images and `(N,)` integer labels.
        calibration: `(M, H, W, C)` images for the int8 ranges of the
            input and of anything QAT does not cover.
        options: fine-tuning settings.
        python: the interpreter that runs the child.

    Returns:
        (the int8 flatbuffer, the child's log: history, seconds, versions).

    Raises:
        ExportError: missing data, or the child failed (its last error
            lines are quoted).
    """
    if train_images is None or len(train_images) == 0:
        raise ExportError("qat needs fine-tuning images from the training split; none given")
    if len(train_images) != len(train_labels):
        raise ExportError(f"qat: {len(train_images)} images but {len(train_labels)} labels")
    if calibration is None or len(calibration) == 0:
        raise ExportError("qat needs calibration images from the training split; none given")
    expected = tuple(arch.space.input_shape)
    for what, images in (("fine-tuning", train_images), ("calibration", calibration)):
        if tuple(images.shape[1:]) != expected:
            raise ExportError(f"qat: {what} images have shape {tuple(images.shape[1:])}, the "
                              f"arch takes {expected}")
    with tempfile.TemporaryDirectory(prefix="pxnas_qat_") as job_dir:
        write_job(job_dir, arch, model, train_images, train_labels, calibration, options)
        err_path = os.path.join(job_dir, "stderr.txt")
        with open(err_path, "w") as err:
            try:
                proc = subprocess.run([python, WORKER, job_dir], env=child_environment(),
                                      stderr=err, stdout=None, timeout=options.timeout_s)
            except subprocess.TimeoutExpired:
                raise ExportError(f"qat: the fine-tuning process ran past {options.timeout_s} s"
                                  ) from None
        if proc.returncode != 0:
            with open(err_path, encoding="utf-8", errors="replace") as f:
                tail = _error_tail(f.read())
            raise ExportError(f"qat: the tf_keras fine-tuning process failed "
                              f"(exit {proc.returncode}):\n{tail}")
        with open(os.path.join(job_dir, "model.tflite"), "rb") as f:
            content = f.read()
        with open(os.path.join(job_dir, "log.json"), encoding="utf-8") as f:
            log = json.load(f)
    return content, log


def _error_tail(stderr: str, lines: int = 15) -> str:
    """The end of the child's stderr without TensorFlow's start-up noise."""
    keep = [line for line in stderr.splitlines()
            if line.strip() and not line.startswith(("WARNING: All log", "I0000", "W0000", "E0000"))]
    return "\n".join(keep[-lines:])
