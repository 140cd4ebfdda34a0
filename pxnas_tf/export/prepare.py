"""From a trained model (object or `.keras` file) to the float32 inference
models that conversion and verification need: one with batch 1 (static
shapes for the TFLite file) and one with a free batch (fast Keras reference
predictions), both without dropout and with float32 weights whatever
precision the model was trained in.
"""

from __future__ import annotations

import os
import zipfile

import keras

from pxnas_tf.export.errors import ExportError
from pxnas_tf.models import build_model
from pxnas_tf.search_space import Arch
from pxnas_tf.models import weights as weights_lib


def load_keras_model(path: str) -> keras.Model:
    """Loads a `.keras` (or legacy `.h5`) model file without compiling it.

    Raises:
        ExportError: when the file is missing or is not a Keras model.
    """
    if not os.path.exists(path):
        raise ExportError(f"model file {path!r} does not exist")
    if os.path.isdir(path):
        raise ExportError(f"{path!r} is a directory, not a Keras model file (.keras); a "
                          "SavedModel directory is not supported: save the model with "
                          "`model.save('net.keras')`")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ExportError(f"{path!r} is not a Keras model: a .keras file is a zip archive and "
                          "this one is not (truncated or another format)")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # keras raises ValueError, OSError, KeyError, ... by format
        raise ExportError(f"{path!r} is not a Keras model file Keras can load: "
                          f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                          ) from None
    if not isinstance(model, keras.Model):
        raise ExportError(f"{path!r} holds a {type(model).__name__}, not a Keras model")
    return model


def inference_model(model: keras.Model, arch: Arch | None = None,
                    batch_size: int | None = 1) -> keras.Model:
    """A float32 copy of `model` for inference with a fixed batch size.

    With `arch`, the derived net of `arch` is rebuilt (no dropout) and takes
    the weights of `model` by layer name: this also proves that the model
    fits the arch. Without it, `model` itself is returned when it already
    has that batch size and float32 layers, else its config is rebuilt with
    the new batch size and float32 layers.

    Raises:
        ExportError: when `model` does not fit `arch`, or its config cannot
            be rebuilt.
    """
    if arch is None and _usable_as_is(model, batch_size):
        return model
    with _float32_policy():
        if arch is not None:
            target = build_model(arch, batch_size=batch_size, dropout=0.0)
        else:
            target = _rebuild_from_config(model, batch_size)
    try:
        weights_lib.transfer_weights(weights_lib.layer_weights(model), target, strict=True)
    except ValueError as e:
        what = f"the arch {arch.arch_string!r} (space {arch.space.name!r})" if arch else "itself"
        raise ExportError(f"model {model.name!r} does not fit {what}: {e}. Pass the arch file the "
                          "model was trained from (the train workdir's arch.json)") from None
    return target


def _usable_as_is(model: keras.Model, batch_size: int | None) -> bool:
    """A float32 model whose input batch is already `batch_size` (any, for
    None: reference predictions) needs no copy (e.g. one with Lambda
    layers, whose config cannot be rebuilt)."""
    return ((batch_size is None or model.input_shape[0] == batch_size)
            and all(w.dtype == "float32" for w in model.weights)
            and getattr(model, "compute_dtype", "float32") == "float32")


def _rebuild_from_config(model: keras.Model, batch_size: int | None) -> keras.Model:
    if not isinstance(model, keras.Model) or not hasattr(model, "get_config"):
        raise ExportError(f"cannot rebuild {type(model).__name__}: not a functional Keras model")
    try:
        config = model.get_config()
        for layer in config.get("layers", []):
            cfg = layer.get("config", {})
            if layer.get("class_name") == "InputLayer":
                shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
                cfg["batch_shape"] = [batch_size, *list(shape)[1:]]
                cfg.pop("batch_input_shape", None)
            if "dtype" in cfg:
                cfg["dtype"] = "float32"
        return keras.Model.from_config(config)
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"cannot rebuild model {model.name!r} with batch size {batch_size}: "
                          f"{e}; pass its arch so the derived net is rebuilt instead") from None


class _float32_policy:
    """Builds under the float32 dtype policy, restoring the previous one."""

    def __enter__(self):
        self._saved = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float32")

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self._saved)
        return False
