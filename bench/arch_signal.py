"""How much accuracy signal do the arch steps get? The CE part of the logit
gradient against its noise, by warm-up length, holdout batch size and
candidate weights (shared / independent).

    python bench/arch_signal.py [--warmups=32,64,128] [--batches=64,256] [--draws=16]

For each kind of candidate weights, one supernet of the demo's space and
data (proxyless_small, 28x28 Fashion-MNIST, 2048 training images; the
holdout is larger here, 4096, so that every draw sees new images) is
warmed up on uniformly sampled paths; after each warm-up length, `--draws`
holdout batches of each size give the CE gradient of every logit (a path
drawn per batch as an arch step draws it, BN on batch statistics, nothing
applied). Per logit: mean and standard deviation over the draws; the
signal-to-noise ratio |mean| / std (per arch step: how reliably one step
moves the logit the right way), and the share of draws whose sign is the
mean's. The report gives the median over the logits.

Decided before the run: the demo's defaults (warm-up length, holdout
batch, candidate weights) follow the largest median SNR per unit of
search time.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The flags (defined only when run as a script: the tests import this
    module beside others that define flags of the same names)."""
    flags.DEFINE_list("warmups", ["32", "64", "128"], "Warm-up weight steps after which to measure.")
    flags.DEFINE_list("batches", ["64", "256"], "Holdout batch sizes.")
    flags.DEFINE_list("kinds", ["shared", "independent"], "Candidate weights.")
    flags.DEFINE_integer("draws", 32, "Holdout batches (gradient draws) per measurement.")
    flags.DEFINE_integer("holdout_examples", 4096, "Holdout images.")
    flags.DEFINE_integer("seed", 0, "Seed.")
    flags.DEFINE_string("workdir", "runs/bench_arch_signal", "Work dir (supernet checkpoints).")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "arch_signal.md"),
                        "The report.")


def null_snr(draws: int) -> float:
    """The median |mean| / std of `draws` draws of a gradient with no
    signal at all (mean 0): |t| / sqrt(n) with t Student's with n - 1
    degrees of freedom, whose median is the t's 75th percentile. Measured
    SNRs near this floor are noise."""
    from scipy.stats import t
    return float(t.ppf(0.75, draws - 1) / np.sqrt(draws))


def signal_stats(grads: np.ndarray) -> dict:
    """(draws, logits) gradients -> median over logits of |mean| / std and
    of the share of draws with the mean's sign; logits whose gradient is
    always 0 (e.g. a zero op never compared) are left out."""
    grads = np.asarray(grads, np.float64)
    mean, std = grads.mean(0), grads.std(0, ddof=1)
    live = std > 0
    snr = np.abs(mean[live]) / std[live]
    agree = (np.sign(grads[:, live]) == np.sign(mean[live])).mean(0)
    return {"snr": float(np.median(snr)), "sign_agreement": float(np.median(agree)),
            "mean_abs": float(np.median(np.abs(mean[live]))),
            "std": float(np.median(std[live])), "logits": int(live.sum())}


def probe_search(kind: str, seed: int, workdir: str, steps: int, holdout_examples: int):
    """A demo-space search set up for probing, not run: its candidate
    weights `kind`, seed `seed`, CE loss only and room for `steps` warm-up
    weight steps. Returns (search, its training stream, the holdout's
    images unbatched)."""
    import dataclasses

    from pxnas_tf import pipeline
    from pxnas_tf.search import Search

    config = pipeline.PipelineConfig(workdir=workdir, holdout_examples=holdout_examples,
                                     candidate_weights=kind, seed=seed, progress=False)
    splits = pipeline.load_search_data(config)
    space = pipeline.adapted_space(config, splits)
    data = pipeline.search_data(splits)
    target = pipeline.Target(0.0, 1.0, 1.0, "unused")
    cfg = pipeline.search_config(config, target, "ce")
    cfg = dataclasses.replace(cfg, loss="ce", latency_budget="soft", target_latency=None,
                              warmup_epochs=1, epochs=0, steps_per_epoch=steps)
    search = Search(space, dataclasses.replace(data, steps_per_epoch=cfg.steps_per_epoch), cfg,
                    os.path.join(workdir, f"{kind}_seed{seed}"), None, progress=False)
    return search, search._stream(data.train, 0), splits.arch.unbatch()


def measure(kind: str) -> list[dict]:
    import tensorflow as tf

    from pxnas_tf.search.inputs import endless

    search, train, holdout = probe_search(kind, FLAGS.seed, FLAGS.workdir,
                                          max(int(w) for w in FLAGS.warmups),
                                          FLAGS.holdout_examples)
    rows, done = [], 0
    for warm in sorted(int(w) for w in FLAGS.warmups):
        t0 = time.monotonic()
        while done < warm:
            search.steps.weight_step(train, tf.constant(True))
            done += 1
        train_s = time.monotonic() - t0
        for batch in (int(b) for b in FLAGS.batches):
            stream = iter(endless(holdout.batch(batch, drop_remainder=True)))
            t0 = time.monotonic()
            grads = [np.concatenate(search.steps.arch_gradient(next(stream), 1000 * warm + d))
                     for d in range(FLAGS.draws)]
            stats = signal_stats(np.stack(grads))
            rows.append({"kind": kind, "warmup": warm, "batch": batch, **stats,
                         "grad_s": (time.monotonic() - t0) / FLAGS.draws,
                         "train_s": train_s})
            print(rows[-1], flush=True)
    return rows


def report(rows: list[dict]) -> str:
    import datetime

    from bench.common import machine
    lines = ["# Arch-gradient signal: CE part of the logit gradient against its noise", "",
             f"Date: {datetime.date.today()}. Command: `python bench/arch_signal.py "
             f"{' '.join(sys.argv[1:])}`.", "",
             f"Machine: {machine()}. Demo space and data (proxyless_small, 28x28 Fashion-MNIST, "
             f"2048 training images, holdout {FLAGS.holdout_examples}), warm-up on uniformly "
             f"sampled paths (batch 64), then {FLAGS.draws} holdout batches per cell; paths "
             "drawn from the (still uniform) distribution, BN on batch statistics. Medians "
             f"over the logits. With no signal at all, the median SNR of {FLAGS.draws} draws "
             f"would be {null_snr(FLAGS.draws):.3f} (|t| / sqrt(n)): the floor below which a "
             "figure is noise.", "",
             "| candidate weights | warm-up steps | holdout batch | SNR median abs(mean)/std | "
             "sign agreement | median abs(mean) | median std | s per gradient |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['warmup']} | {r['batch']} | {r['snr']:.3f} | "
                     f"{r['sign_agreement']:.2f} | {r['mean_abs']:.2e} | {r['std']:.2e} | "
                     f"{r['grad_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv) -> None:
    del argv
    from pxnas_tf import fileio
    rows = []
    for kind in FLAGS.kinds:
        rows += measure(kind)
    text = report(rows)
    fileio.atomic_write_text(FLAGS.out, text)
    print(text)


if __name__ == "__main__":
    define_flags()
    app.run(main)
