"""Keras model -> TFLite flatbuffer, in one of four precisions.

Modes:

    float32   plain conversion, float weights and activations.
    fp16      float16 weights (``target_spec.supported_types=[tf.float16]``);
              the CPU kernels compute in float32 after dequantizing.
    dynamic   dynamic-range quantization: int8 weights, float activations
              (``optimizations=[Optimize.DEFAULT]`` without calibration data).
    int8      full-integer quantization: int8 weights and activations, int8
              input and output, builtin int8 ops only; needs calibration
              images (`representative_data`).

The model must have a static input shape with batch 1 (build it with
``batch_size=1``): benchmark tools and phones run fixed shapes, and the
latency of a model with a free batch dimension is undefined.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Callable, Iterable, Iterator

import numpy as np

from pxnas_tf import fileio
from pxnas_tf.errors import PxnasError
from pxnas_tf.knobs import CONVERSION_MODES

RepresentativeData = Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]]


class ConversionError(PxnasError, ValueError):
    """A model cannot be converted as asked; the message names the cause and
    the fix."""


def check_mode(mode: str) -> str:
    """Canonical mode name (``float16`` is accepted for ``fp16``).

    Raises:
        ConversionError: for an unknown mode, listing the valid ones.
    """
    name = {"float16": "fp16", "fp32": "float32", "float": "float32"}.get(mode, mode)
    if name not in CONVERSION_MODES:
        raise ConversionError(f"unknown conversion mode {mode!r}: valid modes are "
                              f"{list(CONVERSION_MODES)}")
    return name


def random_representative_data(input_shape: Iterable[int], num: int = 8, seed: int = 0
                               ) -> Callable[[], Iterator[np.ndarray]]:
    """Calibration images drawn from a standard normal distribution.

    Good enough where only the op graph matters (latency: int8 kernels take
    the same time whatever the values and scales), not for accuracy.
    """
    shape = tuple(int(x) for x in input_shape)

    def gen() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(seed)
        for _ in range(num):
            yield rng.standard_normal(shape).astype(np.float32)

    return gen


def _check_static_batch1(model) -> tuple[int, ...]:
    inputs = model.inputs
    if len(inputs) != 1:
        raise ConversionError(f"model {model.name!r} has {len(inputs)} inputs; only single-input "
                              "image models are supported")
    shape = tuple(inputs[0].shape)
    if shape[0] != 1 or any(d is None for d in shape):
        raise ConversionError(
            f"model {model.name!r} has input shape {shape}; a TFLite model for benchmarking needs "
            "a static shape with batch 1: rebuild it with batch_size=1 (e.g. "
            "`build_model(arch, batch_size=1)` or `pxnas build --batch_size=1`)")
    return shape


def _calibration(representative_data: RepresentativeData, shape: tuple[int, ...]):
    """A generator function yielding ``[float32 array of shape `shape`]``."""
    source = representative_data

    def gen():
        items = source() if callable(source) else source
        n = 0
        for item in items:
            x = np.asarray(item[0] if isinstance(item, (list, tuple)) else item, np.float32)
            if x.shape == shape[1:]:
                x = x[None]
            if x.shape != shape:
                raise ConversionError(f"calibration item {n} has shape {x.shape}; expected "
                                      f"{shape} or {shape[1:]}")
            n += 1
            yield [x]
        if n == 0:
            raise ConversionError("representative_data yielded no calibration images")

    return gen


def to_tflite(model, mode: str = "float32",
              representative_data: RepresentativeData | None = None,
              per_channel: bool = True) -> bytes:
    """Converts a Keras 3 model to a TFLite flatbuffer.

    Args:
        model: a `keras.Model` with a static batch-1 input.
        mode: ``"float32"``, ``"fp16"``, ``"dynamic"`` or ``"int8"``.
        representative_data: for ``int8``: calibration images, ``(H, W, C)``
            or ``(1, H, W, C)`` float32 arrays, as an iterable or a function
            returning one (called once). Ignored by other modes.
        per_channel: ``int8``: one scale per output channel of each conv
            kernel (the converter's default) or, when False, one per tensor
            (smaller files: no per-channel scale and zero-point arrays).

    Returns:
        The ``.tflite`` file contents.

    Raises:
        ConversionError: bad mode, dynamic shape, missing calibration data,
            or a model that TFLite cannot convert (the converter's message
            is quoted).
    """
    import tensorflow as tf

    mode = check_mode(mode)
    shape = _check_static_batch1(model)
    if mode == "int8" and representative_data is None:
        raise ConversionError(
            "int8 conversion needs representative_data (calibration images); pass real images "
            "for accuracy, or `random_representative_data(input_shape)` where only latency matters")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _calibration(representative_data, shape)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        # The converter's own switch (a private attribute in TF 2.21).
        converter._experimental_disable_per_channel = not per_channel
    try:
        with warnings.catch_warnings():
            # Int8 input/output without input statistics: expected here.
            warnings.filterwarnings("ignore", "Statistics for quantized inputs")
            return bytes(_quiet(converter.convert))
    except _ConverterFailed as failed:
        if isinstance(failed.error, ConversionError):
            raise failed.error from None
        message = str(failed.error).strip()
        first = message.splitlines()[0] if message else type(failed.error).__name__
        log = _last_lines(failed.log)
        raise ConversionError(
            f"TFLite could not convert model {model.name!r} in mode {mode!r}: {first}\n"
            + (f"  converter log (last lines):\n{log}\n" if log else "")
            + "Only stock Keras layers with TFLite builtin kernels convert (conv, depthwise "
            "conv, dense, pooling, add, BN, ReLU6); PXNAS_VERBOSE=1 shows the whole log."
        ) from failed.error


class _ConverterFailed(Exception):
    def __init__(self, error: BaseException, log: str):
        super().__init__(str(error))
        self.error, self.log = error, log


def _quiet(fn):
    """Runs `fn` with the converter's chatter silenced: Keras' "Saved artifact
    at ..." listing on stdout and the C++ log on fd 2, which
    TF_CPP_MIN_LOG_LEVEL does not reach (PXNAS_VERBOSE=1 keeps both). On
    failure raises `_ConverterFailed` carrying the captured log."""
    if os.environ.get("PXNAS_VERBOSE"):
        try:
            return fn()
        except Exception as e:
            raise _ConverterFailed(e, "") from e
    import contextlib
    import io
    import sys
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log, contextlib.redirect_stdout(io.StringIO()):
        os.dup2(log.fileno(), 2)
        try:
            return fn()
        except Exception as e:
            log.seek(0)
            raise _ConverterFailed(e, log.read().decode("utf-8", "replace")) from e
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _last_lines(text: str, n: int = 6) -> str:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join("    " + line for line in lines[-n:])


def save_tflite(data: bytes, path: str) -> None:
    """Writes a flatbuffer atomically."""
    fileio.atomic_write_bytes(path, data)
