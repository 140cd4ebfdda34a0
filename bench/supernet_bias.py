"""Why does the supernet rank archs against skipped blocks? A search
variant's supernets against the default's, scored on the same random archs.

    python bench/supernet_bias.py --workdir=WORKDIR_OF_SEARCH_QUALITY \
        --variants=uniform [--target_scales=0.7] [--seeds=0,1,2] [same budget flags]

`bench/search_quality.py` found the default search's supernets scoring an
arch lower the more blocks it skips (Kendall tau -0.55) while the archs'
stand-alone accuracy does not fall with skips (+0.08), and the two rankings
disagreeing (tau -0.08). One explanation: in the search epochs the weight
steps draw their paths from p, so once p turns away from a block's zero op
the blocks after it rarely see a skipped predecessor, and inherited weights
undervalue skips. A variant is a set of `PipelineConfig` changes (see
`VARIANTS`); for each variant and seed this runs the demo's search with them
in WORKDIR/variants/, scores every random arch of the search-quality run on
the variant's supernet (holdout top-1, inherited weights, BN on batch
statistics), trains the derived net with the run's budget and the row's seed,
and reports, beside the default's figures from the same run:

- the search's end: E[LAT] / target, the derived net's table latency, how
  decided the distribution is, and the seeds' agreement;
- the supernet's ranking: Kendall tau of its scores with stand-alone top-1,
  with the number of skipped blocks and with table latency;
- the derived net's top-1 against the row's random archs (the row's seed).

Decided before the run: a variant removes the bias when the median tau of its
scores with the skip count is above -0.2 (stand-alone +0.08; the -0.55 above
is of the mean score over nine supernets, one supernet's is -0.26 to -0.40),
and it ranks better when its median tau with stand-alone top-1 exceeds the
default's by more than 0.1 (the standard error of tau over 45 archs is about
0.1).
"""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import search_quality as sq  # noqa: E402  (the run whose archs and trainings are reused)

FLAGS = flags.FLAGS

# Variant name -> PipelineConfig changes.
VARIANTS = {
    "uniform": {"weight_paths": "uniform"},
    "warmup3": {"search_warmup_epochs": 3},
}


def define_flags() -> None:
    sq.define_flags()
    flags.DEFINE_list("variants", ["uniform"], f"Variants to run, of {sorted(VARIANTS)}.")
    flags.DEFINE_string("bias_out", os.path.join(ROOT, "docs", "benchmarks", "supernet_bias.md"),
                        "The report.")


# Pure parts ---------------------------------------------------------------------------

def skips(ops) -> int:
    return sum(op == "zero" for op in ops)


def ranking_taus(scores: dict, standalone: dict, ops: dict, latency: dict) -> dict:
    """Kendall tau of a supernet's scores with stand-alone top-1, the number
    of skipped blocks and table latency, over the archs in `standalone`."""
    names = sorted(standalone)
    s = [scores[n] for n in names]
    return {"standalone": sq.kendall_tau(s, [standalone[n] for n in names]),
            "skips": sq.kendall_tau(s, [skips(ops[n]) for n in names]),
            "latency": sq.kendall_tau(s, [latency[n] for n in names])}


# The run ------------------------------------------------------------------------------

def search_variant(name: str, scale: float, seed: int, base_search: dict) -> dict:
    """The demo's search with the variant's changes, at the same target as the
    default's search of this row (reused when done)."""
    path = os.path.join(FLAGS.workdir, "variants", f"search_{name}_x{scale:g}_s{seed}.json")
    done = sq._load(path)
    if done:
        return done
    config = dataclasses.replace(
        sq._base_config(seed), **VARIANTS[name],
        workdir=os.path.join(FLAGS.workdir, "variants", f"{name}_x{scale:g}_s{seed}"))
    doc = {"variant": name, "scale": scale, "seed": seed, "config": VARIANTS[name],
           **sq.demo_search(config, target_ms=base_search["target_ms"])}
    sq._save(path, doc)
    return doc


def variant_scores(name: str, found: dict, archs: dict) -> dict:
    """Holdout top-1 of each arch on the variant's supernet (reused when done)."""
    path = os.path.join(FLAGS.workdir, "variants",
                        f"supernet_{name}_x{found['scale']:g}_s{found['seed']}.json")
    return sq.supernet_scores(found, archs, path, VARIANTS[name])


def main(argv) -> None:
    del argv
    from pxnas_tf import fileio, pipeline
    runs = sq._load(os.path.join(FLAGS.workdir, "runs.json"))
    if not runs:
        raise app.UsageError(f"{FLAGS.workdir}/runs.json not found: run bench/search_quality.py "
                             "with this --workdir first")
    for name in FLAGS.variants:
        if name not in VARIANTS:
            raise app.UsageError(f"--variants: unknown {name!r}; expected some of "
                                 f"{sorted(VARIANTS)}")
    config = sq._base_config(runs[0]["search"]["seed"])
    splits = pipeline.load_search_data(config)
    space = pipeline.adapted_space(config, splits)
    latency = pipeline.latency_model(space, config.path("table"), config.precision)
    archs = {t["name"]: idx for run in runs for t, idx in zip(run["randoms"], run["random_indices"])}
    standalone = {t["name"]: t["val_top1"] for run in runs for t in run["randoms"]}
    ops = {t["name"]: t["ops"] for run in runs for t in run["randoms"]}
    lat = {n: latency.arch_latency(idx) for n, idx in archs.items()}
    scales = [float(x) for x in FLAGS.target_scales]
    seeds = [int(x) for x in FLAGS.seeds]
    rows = [r for r in runs if r["search"]["scale"] in scales and r["search"]["seed"] in seeds]

    results = {"default": []}
    for run in rows:
        scores = sq.supernet_scores(run["search"], archs)
        results["default"].append({"search": run["search"], "searched": run["searched"],
                                   "randoms": run["randoms"],
                                   "taus": ranking_taus(scores, standalone, ops, lat)})
    for name in FLAGS.variants:
        results[name] = []
        for run in rows:
            found = search_variant(name, run["search"]["scale"], run["search"]["seed"],
                                   run["search"])
            scores = variant_scores(name, found, archs)
            trained = sq.train_one(space, found["ops"],
                                   f"x{found['scale']:g}_s{found['seed']}_{name}", found["seed"])
            taus = ranking_taus(scores, standalone, ops, lat)
            print(f"{name} x{found['scale']:g} s{found['seed']}: {found['arch']} "
                  f"{found['predicted_ms']:.3f} ms, E[LAT]/T {found['expected_ms'] / found['target_ms']:.2f}, "
                  f"decided {found['decided']:.2f}, top-1 {trained['val_top1']:.4f}; taus {taus}",
                  flush=True)
            results[name].append({"search": found, "searched": trained, "randoms": run["randoms"],
                                  "taus": taus})
    sq._save(os.path.join(FLAGS.workdir, "variants", "results.json"), results)
    text = report(results)
    fileio.atomic_write_text(FLAGS.bias_out, text)
    print(text)


def report(results: dict) -> str:
    """The markdown report: per variant and seed, then the medians."""
    import datetime

    from bench.common import machine
    lines = ["# Supernet bias: search variants scored on the same random archs", "",
             f"Date: {datetime.date.today()}. Command: `python bench/supernet_bias.py "
             f"{' '.join(sys.argv[1:])}`.", "",
             f"Machine: {machine()}. The demo's search (2048 Fashion-MNIST images, holdout "
             "512) with each variant's changes at the default search's target; its supernet "
             "scores the random archs of `bench/search_quality.py`'s run (holdout top-1, "
             "inherited weights, BN on batch statistics); the derived net is trained with that "
             f"run's budget ({FLAGS.train_examples} images, {FLAGS.epochs} epochs) and the "
             "row's seed. Variants: " + "; ".join(
                 f"{k}: {', '.join(f'{a}={b}' for a, b in v.items())}"
                 for k, v in VARIANTS.items() if k in results) + ".", "",
             "| variant | target | seed | derived arch | table ms | E[LAT] / target | decided | "
             "top-1 (row's randoms: median) | tau with stand-alone | with skips | with latency |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        for r in rows:
            f, t = r["search"], r["taus"]
            rnd = [x["val_top1"] for x in r["randoms"]]
            lines.append(
                f"| {name} | {f['scale']:g}x | {f['seed']} | `{f['arch'].replace('|', '/')}` | "
                f"{f['predicted_ms']:.3f} | {f['expected_ms'] / f['target_ms']:.2f} | "
                f"{f['decided']:.2f} | {100 * r['searched']['val_top1']:.2f} "
                f"({100 * np.median(rnd):.2f}) | {t['standalone']:+.2f} | {t['skips']:+.2f} | "
                f"{t['latency']:+.2f} |")
    lines += ["", "| variant | median tau with stand-alone | with skips | mean E[LAT] / target | "
              "mean searched - median random (points) | seed agreement (chance) |",
              "|---|---|---|---|---|---|"]
    for name, rows in results.items():
        med = {k: float(np.median([r["taus"][k] for r in rows])) for k in ("standalone", "skips")}
        over = np.mean([r["search"]["expected_ms"] / r["search"]["target_ms"] for r in rows])
        gain = np.mean([100 * (r["searched"]["val_top1"]
                               - np.median([x["val_top1"] for x in r["randoms"]])) for r in rows])
        archs = [r["search"]["ops"] for r in rows]
        pair, _ = sq.agreement(archs)
        lines.append(f"| {name} | {med['standalone']:+.2f} | {med['skips']:+.2f} | {over:.2f} | "
                     f"{gain:+.2f} | {pair:.0%} ({sq.chance_agreement(archs):.0%}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    define_flags()
    app.run(main)
