"""The main job, end to end on Fashion-MNIST.

usage:
  %s [--workdir=runs/demo] [--train_examples=6000] [--epochs=1]

What it runs today (the search, latency and export stages join as they land):
  1. profiles the model zoo (params, MACs) and writes zoo_profile.json;
  2. adapts the `proxyless_small` space to Fashion-MNIST (28x28x1, 10
     classes) and writes an arch file (a seeded sample of the space);
  3. builds the derived Keras net from that file and trains it briefly on a
     subset of Fashion-MNIST (read from the Debian package's IDX files);
  4. saves it as .keras and checks, in a fresh Python process that never
     imports pxnas_tf, that the saved file loads and predicts the same.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

from absl import flags

from pxnas_tf import fileio
from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.models import build_model, profile, zoo
from pxnas_tf.search_space import Arch, load_space

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_demo_flags()


def _step(n: int, text: str) -> None:
    print(f"\n[{n}] {text}", flush=True)


def profile_zoo(path: str) -> dict:
    rows = {}
    for name in zoo.list_names():
        p = profile.profile_arch(zoo.get_arch(name))
        rows[name] = p.to_dict()
        print(f"    {name:<22} {p.params:>10,} params {p.macs / 1e6:8.1f}M MACs")
    fileio.atomic_write_json(path, rows)
    return rows


def sample_arch(space, seed: int) -> Arch:
    """A seeded uniform sample of the space (the search replaces this)."""
    rng = random.Random(seed)
    return Arch(space, tuple(rng.choice(b.candidates) for b in space.blocks()),
                f"proxyless_small_sample_{seed}")


_CHECK = r"""
import json, sys
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
pred = np.argmax(keras.ops.convert_to_numpy(model(x, training=False)), -1)
print(json.dumps({"pxnas_imported": any(m.startswith("pxnas_tf") for m in sys.modules),
                  "pred": pred.tolist()}))
"""


def check_fresh_load(model_path: str, images, expected) -> bool:
    """Loads the .keras file in a fresh process without pxnas_tf and compares
    its top-1 predictions with `expected`."""
    import numpy as np

    x_path = model_path + ".check.npy"
    np.save(x_path, images)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        out = subprocess.run([sys.executable, "-c", _CHECK, model_path, x_path], env=env,
                             capture_output=True, text=True, cwd=os.path.dirname(model_path),
                             timeout=300)
    finally:
        os.remove(x_path)
    if out.returncode != 0:
        raise RuntimeError(f"loading {model_path} in a fresh process failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return (not result["pxnas_imported"]) and result["pred"] == list(map(int, expected))


def main(argv: list[str]) -> None:
    import keras
    import numpy as np

    from pxnas_tf import data

    start = time.time()
    workdir = os.path.abspath(FLAGS.workdir)
    os.makedirs(workdir, exist_ok=True)
    keras.utils.set_random_seed(FLAGS.seed)
    written = {}

    _step(1, "Model zoo: parameters and multiply-accumulates (224x224 ImageNet inputs)")
    written["zoo profile"] = os.path.join(workdir, "zoo_profile.json")
    profile_zoo(written["zoo profile"])

    _step(2, "Fashion-MNIST from the Debian package (a subset: this demo runs on 2 cores)")
    splits = data.load("fashion_mnist", data_dir=FLAGS.data_dir, batch_size=FLAGS.batch_size,
                       seed=FLAGS.seed, holdout_size=1000,
                       train_limit=FLAGS.train_examples, val_limit=FLAGS.val_examples)
    print(f"    input {list(splits.input_shape)}, {splits.num_classes} classes, "
          f"examples used: {splits.sizes}")

    _step(3, "Arch: a seeded sample of proxyless_small adapted to Fashion-MNIST")
    space = load_space("proxyless_small", input_shape=list(splits.input_shape),
                       num_classes=splits.num_classes)
    arch = sample_arch(space, FLAGS.seed)
    written["arch"] = os.path.join(workdir, "arch.json")
    arch.save(written["arch"])
    cost = profile.profile_arch(arch)
    print(f"    {arch.arch_string}\n    {cost.params:,} params, {cost.macs / 1e6:.2f}M MACs")

    _step(4, f"Build the derived net from {written['arch']} and train it "
             f"({FLAGS.epochs} epoch(s) on {splits.sizes['train']} examples)")
    model = build_model(arch, dropout=0.1)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    model.fit(splits.train, epochs=FLAGS.epochs, verbose=1, shuffle=False)  # tf.data shuffles
    _, accuracy = model.evaluate(splits.validation, verbose=0)
    print(f"    validation top-1: {accuracy:.4f} on {splits.sizes['validation']} images")

    _step(5, "Save as .keras and reload it in a fresh process without pxnas_tf")
    written["model"] = os.path.join(workdir, "net.keras")
    tmp = os.path.join(workdir, f".net.tmp-{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, written["model"])
    images = np.concatenate([x for x, _ in splits.validation.take(1)])[:32]
    expected = np.argmax(model.predict(images, verbose=0), -1)
    same = check_fresh_load(written["model"], images, expected)
    print(f"    loads without pxnas_tf and predicts the same: {same}")
    if not same:
        raise RuntimeError("the saved model does not reproduce its predictions")

    summary = {
        "arch": arch.arch_string, "params": cost.params, "macs": cost.macs,
        "val_top1": float(accuracy), "examples": splits.sizes, "epochs": FLAGS.epochs,
        "seconds": round(time.time() - start, 1), "files": written,
    }
    written["summary"] = os.path.join(workdir, "summary.json")
    fileio.atomic_write_json(written["summary"], summary)
    print("\nSummary")
    print(f"  arch            {arch.arch_string}")
    print(f"  cost            {cost.params:,} params, {cost.macs / 1e6:.2f}M MACs")
    print(f"  val top-1       {accuracy:.4f} (subset of {splits.sizes['train']} training "
          f"images, {FLAGS.epochs} epoch(s): a smoke run, not a benchmark)")
    print(f"  time            {summary['seconds']} s")
    for what, path in written.items():
        print(f"  {what:<15} {path}")
