"""Known-answer check of the search: does it follow accuracy, with the
latency term on?

In every searchable block, one candidate keeps its weights at their random
initialisation (`SearchConfig.frozen_candidates`) and has a twin: another
candidate with the same latency in the model the search optimises. Nothing
but accuracy tells the twins apart, so a search whose choices carry
information about accuracy gives the trainable twin the larger probability
in (nearly) every block; one that follows latency alone, or noise, is right
in about half of them. The frozen candidate alternates between the first
two ops from block to block, so a preference for one kernel size cannot
pass the check.

    python bench/known_answer.py [--seeds=0,1,2] [--out=docs/benchmarks/known_answer.md]

The default size is the demo's (proxyless_small on 28x28 Fashion-MNIST,
2048 training images, 512 held out, the demo's search schedule) with the
candidates k3_e3, k5_e3 (the twins), k3_e6 and, where the block may be
skipped, zero; latencies from the MACs proxy with each twin set to the mean
of the pair. tests/search/known_answer_test.py runs the same function on a
tiny space.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TWINS = (0, 1)  # candidate indices of the twins in every block


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One search's verdict per block.

    Attributes:
        frozen: per block, the frozen twin's index.
        trainable_p, frozen_p: per block, the twins' final probabilities.
        decided: mean largest op probability.
        seconds: wall time of the search.
    """

    frozen: tuple[int, ...]
    trainable_p: tuple[float, ...]
    frozen_p: tuple[float, ...]
    decided: float
    seconds: float

    @property
    def wins(self) -> int:
        """Blocks where the trainable twin is the more probable."""
        return sum(t > f for t, f in zip(self.trainable_p, self.frozen_p))


def twin_latency(latency):
    """The latency model with each block's twins set to their mean."""
    blocks = []
    for row in latency.blocks:
        row = list(row)
        mean = 0.5 * (row[TWINS[0]] + row[TWINS[1]])
        row[TWINS[0]] = row[TWINS[1]] = mean
        blocks.append(tuple(row))
    return dataclasses.replace(latency, blocks=tuple(blocks), source=f"{latency.source} (twins)")


def frozen_pairs(num_blocks: int, seed: int) -> tuple[tuple[int, int], ...]:
    """(block, frozen twin): alternating from block to block, the first
    block's twin by the seed's parity."""
    return tuple((b, TWINS[(b + seed) % 2]) for b in range(num_blocks))


def pipeline_defaults() -> dict:
    """The demo's settings (the defaults of the flags above)."""
    from pxnas_tf.pipeline import PipelineConfig
    return {f.name: f.default for f in dataclasses.fields(PipelineConfig)}


def run_one(space, data, config, workdir: str, latency, progress: bool = False) -> Outcome:
    """One search with a frozen twin in every block (`config` gives the
    schedule, loss and target; its frozen_candidates are set here)."""
    from pxnas_tf.search import run_search

    pairs = frozen_pairs(space.num_blocks, config.seed)
    config = config.replace(frozen_candidates=pairs)
    t0 = time.monotonic()
    result = run_search(space, data, config, workdir, latency, progress=progress)
    frozen = tuple(j for _, j in pairs)
    probs = result.probabilities
    trainable = tuple(float(p[TWINS[1] if j == TWINS[0] else TWINS[0]])
                      for p, j in zip(probs, frozen))
    return Outcome(frozen, trainable, tuple(float(p[j]) for p, j in zip(probs, frozen)),
                   result.decided, time.monotonic() - t0)


def report(outcomes: dict, title: str, settings: str) -> str:
    """Markdown: per seed and in all, the share of blocks the trainable twin wins."""
    rows, wins, blocks = [], 0, 0
    for seed, o in outcomes.items():
        n = len(o.frozen)
        wins, blocks = wins + o.wins, blocks + n
        margins = np.array(o.trainable_p) - np.array(o.frozen_p)
        rows.append(f"| {seed} | {o.wins} / {n} | {np.median(margins):+.3f} | "
                    f"{min(margins):+.3f} | {o.decided:.2f} | {o.seconds:.0f} s |")
    share = wins / max(blocks, 1)
    verdict = "passes" if share >= 0.9 else "fails"
    import datetime

    from bench.common import machine
    head = (f"Date: {datetime.date.today()}. Machine: {machine()}. Command: `python "
            f"bench/known_answer.py {' '.join(sys.argv[1:])}`.")
    return (f"# {title}\n\n{head}\n\n{settings}\n\n"
            "| seed | blocks won by the trainable twin | median p(trainable) - p(frozen) | "
            "smallest | mean largest p | search |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows)
            + f"\n\nIn all: the trainable twin is the more probable in {wins} of {blocks} blocks "
              f"({share:.0%}); the check (at least 90%) {verdict}. Chance: 50%.\n")


def main(argv) -> None:
    from absl import flags

    from pxnas_tf import fileio, pipeline
    from pxnas_tf.search import LatencyModel

    FLAGS = flags.FLAGS
    seeds = [int(s) for s in FLAGS.seeds]
    base = pipeline.PipelineConfig(workdir=FLAGS.workdir, progress=False)
    splits = pipeline.load_search_data(base)
    space = pipeline.adapted_space(base, splits)
    space = space.replace(candidates=("k3_e3", "k5_e3", "k3_e6"))
    latency = twin_latency(LatencyModel.from_macs(space))
    data = pipeline.search_data(splits)
    outcomes = {}
    for seed in seeds:
        lo, hi = latency.bounds()
        target = lo + FLAGS.target_fraction * (hi - lo)
        config = pipeline.search_config(
            dataclasses.replace(base, seed=seed, candidate_weights=FLAGS.candidate_weights,
                                arch_samples=FLAGS.arch_samples, arch_beta1=FLAGS.arch_beta1),
            pipeline.Target(lo, hi, target, "fraction", "MMACs"), "abs#target")
        config = config.replace(latency_budget="soft")
        o = run_one(space, data, config, os.path.join(FLAGS.workdir, f"seed{seed}"), latency)
        print(f"seed {seed}: trainable twin wins {o.wins} of {len(o.frozen)} blocks "
              f"(decided {o.decided:.2f}, {o.seconds:.0f} s)", flush=True)
        outcomes[seed] = o
    text = report(outcomes, "Known-answer check: trainable vs frozen twins",
                  f"Space {space.name} at {list(space.input_shape)} with candidates "
                  f"{list(space.blocks()[0].candidates)}, {FLAGS.candidate_weights} candidate "
                  "weights (the frozen twin has its own); the demo's search schedule "
                  f"({config.warmup_epochs} warm-up + {config.epochs} search epochs of "
                  f"{data.steps_per_epoch} steps, arch lr {config.arch_lr:g}, beta1 "
                  f"{config.arch_beta1:g}, {config.arch_samples} path draw(s) per arch step, "
                  "temperature to "
                  f"{config.arch_temperature:g}), loss abs#target on the MACs proxy at "
                  f"{FLAGS.target_fraction:g} of its range, seeds {seeds}.")
    fileio.atomic_write_text(FLAGS.out, text)
    print(text)


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_list("seeds", ["0", "1", "2"], "Search seeds.")
    flags.DEFINE_enum("candidate_weights", "shared", ["shared", "independent"],
                      "Candidate weights of the supernet (the frozen twin always has its own).")
    demo = pipeline_defaults()
    flags.DEFINE_integer("arch_samples", demo["arch_samples"], "Path draws per arch step.")
    flags.DEFINE_float("arch_beta1", demo["arch_beta1"], "Adam beta1 of the arch logits.")
    flags.DEFINE_float("target_fraction", 0.3, "Target as a fraction of the proxy's range.")
    flags.DEFINE_string("workdir", "runs/bench_known_answer", "Where the searches go.")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "known_answer.md"),
                        "The report.")
    app.run(main)
