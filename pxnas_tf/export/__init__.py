"""TFLite export: one conversion function with an explicit set of modes."""

from pxnas_tf.export.errors import ExportError, VerificationError
from pxnas_tf.export.export import (
    EXPORT_MODES, ExportResult, check_export_mode, current_export, export_tflite, read_sidecar,
    sidecar_path,
)
from pxnas_tf.export.metadata import METADATA_NAME, add_metadata, read_metadata
from pxnas_tf.export.prepare import inference_model, load_keras_model
from pxnas_tf.export.qat import QatOptions
from pxnas_tf.export.verify import (
    LatencyStats, VerificationReport, check_integer_only, measure_latency, tflite_logits,
)
from pxnas_tf.tflite import (
    CONVERSION_MODES, ConversionError, OpInfo, TFLiteFileError, check_mode, io_tensors, list_ops,
    random_representative_data, save_tflite, to_tflite,
)
