"""Is there one answer for the search to find? Whether supernets of
different seeds prefer the same ops, by warm-up length.

    python bench/signal_consistency.py [--seeds=0,1,2,3] [--warmups=32,128,512]
        [--draws=32] [--workdir=runs/bench_consistency]

Seed agreement (bench/seed_agreement.py) stays near chance. Two causes
give that result and need different fixes: each arch step's accuracy
signal is too noisy to be followed (then averaging more draws per step
helps), or the supernets of different seeds really prefer different ops
(then no search of them agrees, however long it runs). This probe tells
the two apart without a search: for each seed, a supernet of the demo's
space, data and candidate weights is warmed up on uniformly sampled
paths; after each warm-up length, `--draws` holdout batches give the CE
part of every logit's gradient (arch_signal's probe). Per block, the op an
arch step would favour is the one with the most negative mean gradient.
Reported per warm-up length:

- *within a seed*: how often the two halves of the draws name the same
  favoured op (the agreement that noise alone leaves at draws / 2 per
  estimate);
- *within a seed*, too: the reliability of the mean gradients (the
  correlation of the two halves' means, stepped up to all draws);
- *across seeds*: how often two seeds' supernets name the same op (all
  draws), the median correlation of their per-block mean gradients, and
  that correlation divided by the reliability (what noise-free probes of
  two seeds would share);
- chance: one over the number of ops.

Decided before the run: if within-seed agreement is well above chance and
across-seed agreement is near chance, the supernets disagree and a
search's seed agreement is capped by its supernet, not by its noise.

Every seed's gradients are saved in the work dir (a rerun reuses them).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import arch_signal  # noqa: E402  (the gradient probe's set-up)

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The flags (only when run as a script)."""
    flags.DEFINE_list("seeds", ["0", "1", "2", "3"], "Supernet seeds.")
    flags.DEFINE_list("warmups", ["32", "128", "512"], "Warm-up weight steps to probe after.")
    flags.DEFINE_integer("draws", 32, "Holdout batches (gradient draws) per probe.")
    flags.DEFINE_integer("batch", 64, "Holdout batch size (the demo's).")
    flags.DEFINE_string("kind", "shared", "Candidate weights: shared or independent.")
    flags.DEFINE_integer("holdout_examples", 4096, "Holdout images.")
    flags.DEFINE_string("workdir", "runs/bench_consistency", "Work dir.")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "signal_consistency.md"),
                        "The report.")


def favoured(grads: list[np.ndarray]) -> list[int]:
    """Per block, the op an arch step on these mean CE gradients favours
    (the most negative)."""
    return [int(np.argmin(g)) for g in grads]


def halves_agreement(draws: list[list[np.ndarray]]) -> float:
    """Share of blocks whose favoured op is the same in the first and the
    second half of `draws` (each a per-block list of gradients)."""
    half = len(draws) // 2
    first = favoured([np.mean(b, 0) for b in zip(*draws[:half])])
    second = favoured([np.mean(b, 0) for b in zip(*draws[half:])])
    return float(np.mean([a == b for a, b in zip(first, second)]))


def across_agreement(means: list[list[np.ndarray]]) -> tuple[float, float]:
    """Over pairs of seeds: the mean share of blocks with the same favoured
    op, and the median per-block correlation of their mean gradients."""
    same, corr = [], []
    for a, b in itertools.combinations(means, 2):
        same.append(np.mean([x == y for x, y in zip(favoured(a), favoured(b))]))
        corr += [float(np.corrcoef(x, y)[0, 1]) for x, y in zip(a, b) if x.std() and y.std()]
    return float(np.mean(same)), float(np.median(corr))


def reliability(*seeds: list[list[np.ndarray]]) -> float:
    """How far mean gradients over all of a seed's draws are from noise:
    the median, over every seed's blocks, of the correlation of the two
    halves' means, stepped up to the full count of draws (Spearman-Brown:
    2r / (1 + r)). 1: noise-free."""
    corr = []
    for draws in seeds:
        half = len(draws) // 2
        first = [np.mean(b, 0) for b in zip(*draws[:half])]
        second = [np.mean(b, 0) for b in zip(*draws[half:])]
        corr += [np.corrcoef(a, b)[0, 1] for a, b in zip(first, second) if a.std() and b.std()]
    r = float(np.median(corr))
    return 2 * r / (1 + r)


def probe_seed(seed: int) -> dict:
    """{warm-up: per-draw per-block gradients} for one seed, from its
    saved file when there is one."""
    path = os.path.join(FLAGS.workdir, f"{FLAGS.kind}_seed{seed}.json")
    if os.path.exists(path):
        with open(path) as f:
            return {int(w): [[np.asarray(g) for g in d] for d in draws]
                    for w, draws in json.load(f).items()}
    import tensorflow as tf

    from pxnas_tf import fileio
    from pxnas_tf.search.inputs import endless

    warmups = sorted(int(w) for w in FLAGS.warmups)
    search, train, holdout = arch_signal.probe_search(FLAGS.kind, seed, FLAGS.workdir,
                                                      warmups[-1], FLAGS.holdout_examples)
    stream = iter(endless(holdout.batch(FLAGS.batch, drop_remainder=True)))
    out, done, t0 = {}, 0, time.monotonic()
    for warm in warmups:
        while done < warm:
            search.steps.weight_step(train, tf.constant(True))
            done += 1
        out[warm] = [search.steps.arch_gradient(next(stream), 1000 * warm + d)
                     for d in range(FLAGS.draws)]
        print(f"seed {seed}: warm-up {warm} probed ({time.monotonic() - t0:.0f} s)", flush=True)
    fileio.atomic_write_text(path, json.dumps(
        {str(w): [[g.tolist() for g in d] for d in draws] for w, draws in out.items()}))
    return out


def summarise(per_seed: dict[int, dict]) -> list[dict]:
    rows = []
    for warm in sorted(next(iter(per_seed.values()))):
        draws = [per_seed[s][warm] for s in sorted(per_seed)]
        means = [[np.mean(b, 0) for b in zip(*d)] for d in draws]
        same, corr = across_agreement(means)
        ops = [len(g) for g in means[0]]
        rel = reliability(*draws)
        rows.append({"warmup": warm,
                     "within": float(np.mean([halves_agreement(d) for d in draws])),
                     "reliability": rel, "across": same, "corr": corr,
                     # The across-seed correlation the noise leaves of a noise-free one.
                     "true_corr": corr / rel if rel > 0 else float("nan"),
                     "chance": float(np.mean([1.0 / n for n in ops]))})
    return rows


def report(rows: list[dict], seeds: list[int]) -> str:
    import datetime

    from bench.common import machine
    lines = ["# Signal consistency: do supernets of different seeds prefer the same ops?", "",
             f"Date: {datetime.date.today()}. Command: `python bench/signal_consistency.py "
             f"{' '.join(sys.argv[1:])}`.", "",
             f"Machine: {machine()}. Demo space and data, {FLAGS.kind} candidate weights, "
             f"seeds {seeds}; after each warm-up (weight steps on uniformly sampled paths, "
             f"batch 64), {FLAGS.draws} holdout batches of {FLAGS.batch} give each logit's CE "
             "gradient. Favoured op per block: the most negative mean gradient.", "",
             "| warm-up steps | within a seed: halves agree | within a seed: reliability of "
             "the mean gradients | across seeds: same op | chance | across seeds: median corr. "
             "of mean gradients | the same, noise removed |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['warmup']} | {r['within']:.0%} | {r['reliability']:.2f} | "
                     f"{r['across']:.0%} | {r['chance']:.0%} | {r['corr']:+.2f} | "
                     f"{r['true_corr']:+.2f} |")
    lines += ["", "Reliability: the median per-block correlation of the two halves' mean "
              "gradients, stepped up to all draws (Spearman-Brown); 1 is noise-free. Noise "
              "removed: the across-seed correlation divided by the reliability (the "
              "correlation two noise-free probes of different seeds would show)."]
    return "\n".join(lines) + "\n"


def main(argv) -> None:
    del argv
    from pxnas_tf import fileio
    os.makedirs(FLAGS.workdir, exist_ok=True)
    seeds = [int(s) for s in FLAGS.seeds]
    per_seed = {s: probe_seed(s) for s in seeds}
    text = report(summarise(per_seed), seeds)
    fileio.atomic_write_text(FLAGS.out, text)
    print(text)


if __name__ == "__main__":
    define_flags()
    app.run(main)
