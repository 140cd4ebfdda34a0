"""TFLite files: conversion from Keras (every quantization mode) and reading
the flatbuffer (ops, tensors, metadata). Used by both the latency tables and
the export, so it sits below both."""

from pxnas_tf.tflite.convert import (
    CONVERSION_MODES, ConversionError, check_mode, random_representative_data, save_tflite,
    to_tflite,
)
from pxnas_tf.tflite.file import OpInfo, TFLiteFileError, io_tensors, list_ops
