"""Quantization-aware fine-tuning in its own process (tf_keras + tfmot).

tensorflow-model-optimization works only with tf_keras (Keras 2) and sets
``TF_USE_LEGACY_KERAS=1`` when imported, so it never runs in the Keras 3
process: `pxnas_tf.export.qat.run_qat` starts this file as a script,

    python .../pxnas_tf/export/qat_worker.py JOB_DIR

with JOB_DIR holding ``job.json`` (the arch document and the options),
``weights.npz`` (the trained float weights by layer name), ``train.npz``
(``x`` images, ``y`` labels), ``calibration.npz`` (``x``) and
``reference.npz`` (``x`` images and the Keras 3 model's ``logits``). It

1. rebuilds the derived net of the arch in tf_keras with the library's own
   builder (`pxnas_tf.models.derived` run with ``keras`` bound to tf_keras:
   the same stock layers and layer names), sets the weights by layer name
   and checks that it reproduces the Keras 3 logits;
2. wraps it with ``tfmot.quantization.keras.quantize_model`` and fine-tunes
   it (SGD Nesterov, cosine decay, label smoothing);
3. converts it with batch 1 to a full-integer model (int8 input and output,
   builtin int8 ops only) and writes ``model.tflite`` and ``log.json``.

It is run by file path, not as ``-m pxnas_tf.export.qat_worker``, so that
the ``pxnas_tf.export`` package (Keras 3) is never imported here.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Rebuilds must match the Keras 3 model to float precision.
REBUILD_TOLERANCE = 1e-3


def _use_tf_keras():
    """Binds ``keras`` to tf_keras for every module imported from here on."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras
    sys.modules["keras"] = tf_keras
    return tf_keras


def _rebuild(job: dict, job_dir: str):
    import numpy as np

    from pxnas_tf.models.derived import build_model
    from pxnas_tf.search_space import arch_from_dict
    from pxnas_tf.models import weights as weights_lib

    arch = arch_from_dict(job["arch"], source="job.json:arch")
    model = build_model(arch, dropout=0.0)
    weights_lib.transfer_weights(weights_lib.load_npz(os.path.join(job_dir, "weights.npz")),
                                 model, strict=True)
    with np.load(os.path.join(job_dir, "reference.npz")) as ref:
        logits = model.predict(ref["x"], verbose=0)
        diff = float(np.max(np.abs(logits - ref["logits"]))) if len(ref["x"]) else 0.0
    if diff > REBUILD_TOLERANCE:
        raise RuntimeError(f"the tf_keras rebuild does not reproduce the Keras 3 model: max "
                           f"|logit difference| {diff:.3g} > {REBUILD_TOLERANCE}")
    return arch, model, diff


def _fine_tune(qmodel, keras2, job: dict, job_dir: str) -> dict:
    import numpy as np
    import tensorflow as tf

    with np.load(os.path.join(job_dir, "train.npz")) as data:
        x, y = data["x"], data["y"].astype("int64")
    classes = int(qmodel.output_shape[-1])
    batch = min(int(job["batch_size"]), len(x))
    steps = max(1, (len(x) // batch) * int(job["epochs"]))
    lr = keras2.optimizers.schedules.CosineDecay(float(job["lr"]), steps)
    qmodel.compile(
        optimizer=keras2.optimizers.SGD(lr, momentum=0.9, nesterov=True),
        loss=keras2.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=float(job["label_smoothing"])),
        metrics=[keras2.metrics.CategoricalAccuracy(name="accuracy")])
    ds = (tf.data.Dataset.from_tensor_slices((x, tf.one_hot(y, classes)))
          .shuffle(len(x), seed=int(job["seed"])).batch(batch, drop_remainder=True)
          .prefetch(tf.data.AUTOTUNE))
    history = qmodel.fit(ds, epochs=int(job["epochs"]), verbose=int(job.get("verbose", 2)))
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def _convert(qmodel, job_dir: str) -> bytes:
    import numpy as np
    import tensorflow as tf

    with np.load(os.path.join(job_dir, "calibration.npz")) as data:
        calib = data["x"].astype("float32")
    shape = [1, *qmodel.input_shape[1:]]
    fn = tf.function(lambda t: qmodel(t, training=False)).get_concrete_function(
        tf.TensorSpec(shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], qmodel)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([calib[i:i + 1]] for i in range(len(calib)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def run(job_dir: str) -> dict:
    """Runs the job in `job_dir`; returns what it writes to ``log.json``."""
    start = time.time()
    keras2 = _use_tf_keras()
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    tf.random.set_seed(int(job["seed"]))
    arch, model, diff = _rebuild(job, job_dir)
    qmodel = tfmot.quantization.keras.quantize_model(model)
    history = _fine_tune(qmodel, keras2, job, job_dir)
    content = _convert(qmodel, job_dir)
    with open(os.path.join(job_dir, "model.tflite"), "wb") as f:
        f.write(content)
    log = {"arch_string": arch.arch_string, "rebuild_max_abs_diff": diff, "history": history,
           "tf_keras_version": keras2.__version__,
           "tfmot_version": getattr(tfmot, "__version__", "unknown"),
           "seconds": round(time.time() - start, 1)}
    with open(os.path.join(job_dir, "log.json"), "w", encoding="utf-8") as f:
        json.dump(log, f, indent=2)
    return log


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    # Run by path, Python puts this folder first on sys.path: drop it so its
    # module names (errors, metadata, ...) cannot shadow others.
    sys.path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if len(sys.argv) != 2:
        print(f"usage: python {sys.argv[0]} JOB_DIR", file=sys.stderr)
        raise SystemExit(2)
    run(sys.argv[1])
