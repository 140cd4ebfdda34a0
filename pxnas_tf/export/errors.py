"""The exception types of the export package."""

from pxnas_tf.errors import PxnasError


class ExportError(PxnasError, ValueError):
    """An export cannot be done as asked: the model file is not a Keras
    model, it does not fit the arch, calibration or fine-tuning data is
    missing, or a layer has no TFLite (int8) kernel. The message names the
    cause and, where there is one, the fix."""


class VerificationError(ExportError):
    """The converted file failed its check in the interpreter (a float op in
    an int8 model, a file that does not run, too little agreement with the
    Keras model). Nothing was written to the output path."""
