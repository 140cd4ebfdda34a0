"""Export a trained derived net to TFLite, verified in LiteRT.

usage:
  %s --model=TRAIN_WORKDIR|MODEL.keras [--mode=int8] [--out=net_int8.tflite]
     [--arch=ARCH.json] [--dataset=fashion_mnist] [--calibration_examples=500]
     [--verify_examples=N] [--min_agreement=0.98] [--latency_table=TABLE]
     [--qat_epochs=2 --qat_examples=10000]          (--mode=qat)

Modes: float32, fp16 (float16 weights), dynamic (int8 weights, float
activations), int8 (full integer, int8 input/output, calibrated on training
images), qat (quantization-aware fine-tuning with tfmot in a tf_keras child
process, then full integer). Batch 1, static shapes.

Given a `pxnas train` workdir, its best.keras, arch.json and dataset are
used. The file carries metadata (arch, input normalisation, int8 scales,
class names; read it with `pxnas_tf.export.read_metadata`) and gets a
sidecar OUT.json with the verification report. The file is written under a
temporary name, run in LiteRT on the test split (accuracy beside the Keras
model's, top-1 agreement, op list, host latency; an int8 file with any
float op is refused) and only then renamed into place.
"""

from __future__ import annotations

import json
import os

from absl import flags

from pxnas_tf import fileio
from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_export_flags()


def locate(model: str, arch: str | None) -> tuple[str, str | None, dict]:
    """(model file, arch file or zoo name or None, the train run record or {})
    from --model / --arch: a train workdir gives its best (else last) model,
    its arch.json and run.json; a model file the arch.json beside it."""
    from pxnas_tf.train import checkpoints

    folder = model if os.path.isdir(model) else os.path.dirname(os.path.abspath(model))
    files = checkpoints.paths(folder)
    if os.path.isdir(model):
        found = [files[k] for k in ("best", "last") if os.path.exists(files[k])]
        if not found:
            raise UsageError(f"--model={model!r} is a directory without best.keras or last.keras "
                             "(is it a `pxnas train` workdir?)")
        model = found[0]
    if arch is None and os.path.exists(files["arch"]):
        arch = files["arch"]
    run = {}
    if os.path.exists(files["run"]):
        with open(files["run"], encoding="utf-8") as f:
            run = json.load(f)
    return model, arch, run


def _data(run: dict, needs_train: bool):
    """The dataset splits for calibration / fine-tuning / verification, or
    None when no dataset is known and none is needed."""
    from pxnas_tf import data

    source = run.get("source", {})
    name = FLAGS.dataset or source.get("dataset") or run.get("data", {}).get("name")
    if name is None:
        if needs_train:
            raise UsageError(f"--mode={FLAGS.mode} calibrates on training images: pass --dataset "
                             "(and --data_dir if the data is not in its default place)")
        return None
    same = name == source.get("dataset")
    pick = lambda flag, key: flag if flag is not None else (source.get(key) if same else None)
    limit = FLAGS.calibration_examples
    if FLAGS.mode == "qat":
        limit = max(limit, FLAGS.qat_examples)
    return data.load(name, pick(FLAGS.data_dir, "data_dir"), batch_size=256,
                     image_size=pick(FLAGS.image_size, "image_size"),
                     channels=pick(FLAGS.channels, "channels"), holdout_examples=0, seed=FLAGS.seed,
                     augment=False, drop_remainder=False, train_examples=limit,
                     val_examples=FLAGS.verify_examples)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; use --model=... --mode=...")
    if not FLAGS.model:
        raise UsageError("--model is required: a `pxnas train` workdir or a .keras file")
    for name in ("calibration_examples", "verify_examples", "qat_examples"):
        value = getattr(FLAGS, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name}={value}: expected >= 1 (leave --verify_examples unset "
                             "for the whole test split)")
    model_path, arch_ref, run = locate(FLAGS.model, FLAGS.arch)

    from pxnas_tf.export import QatOptions, export_tflite, load_keras_model
    from pxnas_tf.export.samples import take_arrays
    from pxnas_tf.models import zoo

    model = load_keras_model(model_path)
    arch = zoo.resolve_arch(arch_ref) if arch_ref else None
    if arch is not None and tuple(model.input_shape[1:]) != tuple(arch.space.input_shape):
        arch = zoo.resolve_arch(arch_ref, input_shape=list(model.input_shape[1:]),
                                num_classes=int(model.output_shape[-1]))
    splits = _data(run, FLAGS.mode in ("int8", "qat"))
    kwargs = {}
    if splits is not None:
        if tuple(splits.input_shape) != tuple(model.input_shape[1:]):
            raise UsageError(f"the dataset gives images of shape {list(splits.input_shape)}, the "
                             f"model takes {list(model.input_shape[1:])}: set --image_size / "
                             "--channels")
        train_x, train_y = take_arrays(splits.train, max(FLAGS.calibration_examples,
                                                         FLAGS.qat_examples if FLAGS.mode == "qat" else 0))
        kwargs["calibration_images"] = train_x[:FLAGS.calibration_examples]
        if FLAGS.verify:
            kwargs["eval_images"], kwargs["eval_labels"] = take_arrays(splits.validation,
                                                                       FLAGS.verify_examples)
        if FLAGS.mode == "qat":
            kwargs["qat_images"], kwargs["qat_labels"] = train_x[:FLAGS.qat_examples], \
                train_y[:FLAGS.qat_examples]
        kwargs["normalization"] = splits.normalization.to_dict()
        kwargs["class_names"] = list(splits.class_names)
    out = FLAGS.out or os.path.join(os.path.dirname(os.path.abspath(model_path)),
                                    f"net_{FLAGS.mode}.tflite")
    print(f"export {model_path} ({arch.arch_string if arch else 'no arch'}) as {FLAGS.mode}",
          flush=True)
    with fileio.exclusive(out, "--out", folder=False):  # one writer per file
        result = export_tflite(
            model, out, FLAGS.mode, arch=arch, verify=FLAGS.verify,
            latency_table=FLAGS.latency_table, latency_threads=FLAGS.latency_threads,
            latency=FLAGS.latency, min_agreement=FLAGS.min_agreement,
            int8_scheme=FLAGS.int8_scheme,
            qat_options=QatOptions(epochs=FLAGS.qat_epochs, batch_size=FLAGS.qat_batch_size,
                                   lr=FLAGS.qat_lr, seed=FLAGS.seed), **kwargs)
    if result.int8_scheme is not None:
        s = result.int8_scheme
        extra = "" if "agreement" not in s else " (auto: " + ", ".join(
            f"{k} {s['bytes'][k]:,} B, agreement {s['agreement'][k]:.2%}" for k in s["bytes"]) + ")"
        print(f"  int8 weight scales: {s['scheme']}{extra}")
    if result.report is not None:
        for line in result.report.summary_lines():
            print(f"  {line}")
    print(f"wrote {result.path}\n  and {result.sidecar}")
