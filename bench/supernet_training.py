"""Does the supernet train on sampled paths? Independent vs shared candidate
weights, against a fixed path, side by side in one run.

    python bench/supernet_training.py [--steps=120] [--lr=0.05] [--train_examples=6000]

Every configuration trains a fresh `proxyless_small` supernet on Fashion-MNIST
(28x28) with the search's own weight step (`SearchSteps.weight_step`:
PathMaskedSGD, Nesterov momentum, weight decay, label smoothing 0.1), the
same seed, the same batches, the same constant learning rate:

    fixed_path          one path (every block k3_e6) on every step: a plain
                        net, the reference
    independent         a new uniformly sampled path every step (the paper's
                        warm-up), every candidate its own weights
    independent_resid   as `independent`, but sampled only in the residual
                        blocks (the first block of each stage fixed to k3_e6)
    independent_first   sampled only in the first block of each stage (the
                        ones without a residual), the others fixed
    shared              a new uniformly sampled path every step, candidates
                        sharing weights (`--candidate_weights=shared`)

Printed and written to docs/benchmarks/supernet.md: the mean training loss
(cross-entropy with label smoothing) over windows of 20 steps, and at the
end the last window's loss of each configuration as a ratio to the fixed
path's. Chance is ln 10 = 2.30.
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("steps", 120, "Weight steps per configuration.")
flags.DEFINE_integer("window", 20, "Steps per reported mean.")
flags.DEFINE_float("lr", 0.05, "Constant learning rate of every configuration.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("train_examples", 6000, "Training subset.")
flags.DEFINE_list("configs", ["fixed_path", "independent", "independent_resid",
                              "independent_first", "shared"], "Configurations to run.")
flags.DEFINE_integer("seed", 0, "Seed of weights, paths and data.")
flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "supernet.md"), "Report file.")
FLAGS = flags.FLAGS

FIXED_OP = "k3_e6"


def _paths_fn(name: str, net):
    """(step) -> int32 (blocks, 2) paths of configuration `name`."""
    import numpy as np

    fixed = np.array([op.candidates.index(FIXED_OP) for op in net.mixed_ops], np.int32)
    residual = np.array([op.residual for op in net.mixed_ops])
    counts = np.array([op.num_candidates for op in net.mixed_ops])
    rng = np.random.default_rng(FLAGS.seed)

    def paths(_step):
        drawn = (rng.random(len(counts)) * counts).astype(np.int32)
        if name == "fixed_path":
            active = fixed
        elif name == "independent_resid":
            active = np.where(residual, drawn, fixed)
        elif name == "independent_first":
            active = np.where(residual, fixed, drawn)
        else:
            active = drawn
        return np.stack([active, active], axis=1)
    return paths


def run_config(name: str, splits, space) -> list[float]:
    """Per-step training losses of configuration `name`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from pxnas_tf.search import SearchState, SearchSteps, make_config

    weights = "shared" if name == "shared" else "independent"
    config = make_config("fashion_mnist", batch_size=FLAGS.batch_size, warmup_epochs=1, epochs=1,
                         warmup_lr=FLAGS.lr, lr=FLAGS.lr, loss="ce", candidate_weights=weights,
                         seed=FLAGS.seed)
    strategy = tf.distribute.get_strategy()
    keras.utils.set_random_seed(FLAGS.seed)
    # A warm-up "epoch" of 10^6 steps: the cosine stays at lr (the schedule is
    # not under test; after 120 steps it has decayed by less than 1e-7).
    state = SearchState(space, config, strategy, steps_per_epoch=10**6)
    steps = SearchSteps(state, config, None, strategy, FLAGS.batch_size)
    paths = _paths_fn(name, state.supernet)
    weight_opt, net = state.weight_opt, state.supernet

    @tf.function
    def step(images, labels, path):
        weight_opt.set_paths(path)
        grads, stats = steps._weight_grads(images, labels, path)
        weight_opt.apply_gradients(zip(grads, steps._weight_vars))
        return stats["loss"] / stats["count"]

    losses = []
    it = iter(splits.train)
    t0 = time.monotonic()
    for s in range(FLAGS.steps):
        images, labels = next(it)
        losses.append(float(step(images, labels, tf.constant(paths(s)))))
        if (s + 1) % FLAGS.window == 0:
            print(f"  {name:18s} step {s + 1:4d}  loss {np.mean(losses[-FLAGS.window:]):.3f}  "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
    del net
    return losses


def report(results: dict[str, list[float]], command: str) -> str:
    import numpy as np

    from bench.common import section_head

    w = FLAGS.window
    windows = list(range(w, FLAGS.steps + 1, w))
    header = "| configuration | " + " | ".join(f"steps {e - w + 1}-{e}" for e in windows) + \
        " | last / fixed path |"
    rule = "|---|" + "---|" * (len(windows) + 1)
    ref = np.mean(results["fixed_path"][-w:]) if "fixed_path" in results else None
    rows = []
    for name, losses in results.items():
        means = [np.mean(losses[e - w:e]) for e in windows]
        ratio = f"{means[-1] / ref:.2f}x" if ref else "-"
        rows.append(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) + f" | {ratio} |")
    return "\n".join(section_head("Supernet training on sampled paths", command) + [
        f"Mean training loss (cross-entropy, label smoothing 0.1) per {w} weight steps of the "
        f"search's own weight step, `proxyless_small` on Fashion-MNIST 28x28, batch "
        f"{FLAGS.batch_size}, constant lr {FLAGS.lr}, {FLAGS.train_examples} training images, "
        "seed "
        f"{FLAGS.seed}; chance is 2.30. See the docstring of bench/supernet_training.py for the "
        "configurations.",
        "",
        header, rule, *rows, ""])


def main(argv) -> None:
    del argv
    from pxnas_tf import data, fileio
    from pxnas_tf.search_space import load_space

    splits = data.load("fashion_mnist", None, batch_size=FLAGS.batch_size, image_size=28,
                       channels=1, holdout_examples=512, seed=FLAGS.seed, deterministic=True,
                       augment=True, repeat=True, train_examples=FLAGS.train_examples)
    space = load_space("proxyless_small", input_shape=list(splits.input_shape),
                       num_classes=splits.num_classes)
    results = {}
    for name in FLAGS.configs:
        print(f"{name}:", flush=True)
        results[name] = run_config(name, splits, space)
    command = "python bench/supernet_training.py " + " ".join(sys.argv[1:])
    text = report(results, command.strip())
    print(text)
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    fileio.atomic_write_text(FLAGS.out, text)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
