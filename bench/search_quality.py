"""Does the search beat chance? The searched net against random archs of the
same space at the same latency, and how well the supernet ranks archs.

    python bench/search_quality.py [--target_scales=0.7,1,1.3] [--seeds=0,1,2]
        [--randoms=5] [--latency_table=FILE] [--workdir=runs/bench_quality]

For every target (a multiple of the table's latency of MobileNetV2's block
pattern in the space, the demo's default target) and seed:

1. the demo's search (`pxnas_tf.pipeline.search`: its schedule, band
   budget, shared candidate weights) on the demo's subsets;
2. `--randoms` random archs of the space drawn uniformly among those whose
   table latency lies within `--window` of the searched net's (rejection
   sampling from the uniform distribution over the space);
3. the searched net and its random archs trained from scratch with one
   budget and the same seed (weights and data order: seed-paired), scored
   on the same test images; the searched net's rank among them (1 = best);
4. the latency of every net measured on this host (int8, LiteRT, 1 thread;
   `pxnas_tf.latency.build.validation.measure_nets`), beside the table's.

Then the supernet's ranking quality: every search's supernet scores every
random arch of the run on its arch holdout (inherited weights, BN on batch
statistics, as the search evaluates), and Kendall's tau between those
scores and the archs' stand-alone accuracy is reported per supernet.

Every step's result is saved in the work dir (a rerun skips what is done).
Decided before the run: a target "wins" when the searched net's mean
accuracy over the seeds exceeds the median of its random archs' in the
seed-paired comparison, and the search ranks above chance overall when the
mean rank over all targets and seeds lies above the middle (rank < (n+1)/2).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np
from absl import app, flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The flags (defined only when run as a script: the tests import this
    module beside others that define flags of the same names)."""
    flags.DEFINE_list("target_scales", ["0.7", "1", "1.3"], "Targets as multiples of the table's "
                      "latency of MobileNetV2's block pattern in the space.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (search, and the paired trainings).")
    flags.DEFINE_integer("randoms", 5, "Random archs per searched net.")
    flags.DEFINE_float("window", 0.04, "Random archs' table latency within this fraction of the "
                       "searched net's.")
    flags.DEFINE_string("latency_table", None, "The int8 host table (default: WORKDIR/"
                        "latency_table.json, built like the demo's when missing).")
    flags.DEFINE_string("workdir", "runs/bench_quality", "Work dir (resumable).")
    flags.DEFINE_integer("train_examples", 3000, "Training images per net.")
    flags.DEFINE_integer("val_examples", 2000, "Test images per net.")
    flags.DEFINE_integer("epochs", 2, "Training epochs per net.")
    flags.DEFINE_float("lr", 0.05, "Peak learning rate (cosine).")
    flags.DEFINE_boolean("measure", True, "Measure every net's latency on this host.")
    flags.DEFINE_list("noise_seeds", ["1", "2"], "Extra training seeds for the nets of one row "
                      "(the first target's first seed): how much of the stand-alone ranking is "
                      "training noise. Empty: skip.")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "search_quality.md"),
                        "The report.")


# Pure parts ---------------------------------------------------------------------------

def random_archs_near(latency, target_ms: float, window: float, count: int, seed: int,
                      max_draws: int = 2_000_000) -> list[list[int]]:
    """`count` distinct archs (candidate indices) drawn uniformly from the
    space, kept when their latency under `latency` lies within
    `window` * target_ms of target_ms: a uniform draw among those archs.

    Raises:
        ValueError: fewer than `count` found in `max_draws` draws.
    """
    rng = np.random.default_rng(seed)
    blocks = [np.asarray(b) for b in latency.blocks]
    found, seen, drawn = [], set(), 0
    while len(found) < count and drawn < max_draws:
        n = 20000
        picks = np.stack([rng.integers(0, len(b), n) for b in blocks], axis=1)  # (n, blocks)
        lat = latency.constant + sum(b[picks[:, i]] for i, b in enumerate(blocks))
        drawn += n
        for row in picks[np.abs(lat - target_ms) <= window * target_ms]:
            key = tuple(int(x) for x in row)
            if key not in seen:
                seen.add(key)
                found.append(list(key))
                if len(found) == count:
                    break
    if len(found) < count:
        raise ValueError(f"only {len(found)} archs within {window:.0%} of {target_ms:.4g} in "
                         f"{drawn} draws")
    return found


def rank_of(value: float, others) -> float:
    """1 + how many of `others` beat `value` (ties count half): 1 = best."""
    others = np.asarray(list(others), float)
    return 1.0 + float(np.sum(others > value)) + 0.5 * float(np.sum(others == value))


def agreement(archs) -> tuple[float, float]:
    """(mean pairwise share of blocks where two archs choose the same op,
    share of blocks where some op is chosen by a majority of the archs)."""
    import itertools
    pairs = [np.mean([a == b for a, b in zip(x, y)]) for x, y in itertools.combinations(archs, 2)]
    majority = np.mean([max(col.count(op) for op in col) > len(col) / 2
                        for col in (list(c) for c in zip(*archs))])
    return float(np.mean(pairs)) if pairs else 1.0, float(majority)


def chance_agreement(archs) -> float:
    """The pairwise agreement expected if each block's op were drawn
    independently from the ops' overall frequencies in `archs` (blocks
    pooled): the level that agreement must beat to carry information."""
    from collections import Counter
    ops = Counter(op for a in archs for op in a)
    total = sum(ops.values())
    return float(sum((n / total) ** 2 for n in ops.values()))


def noise_table(accs: dict[str, list[float]]) -> dict[str, float]:
    """Pure: from each net's top-1 under several training seeds, the spread
    between nets (std of their means), within a net (root mean seed
    variance), the share of the variance between nets (a one-way ANOVA's
    intraclass share: 0 = the ranking is seed noise, 1 = seeds agree), and
    the mean Kendall tau between the rankings of two seeds."""
    import itertools
    nets = sorted(accs)
    a = np.array([accs[n] for n in nets], float)  # nets x seeds
    k = a.shape[1]
    within = float(np.mean(np.var(a, axis=1, ddof=1)))
    between = float(np.var(a.mean(axis=1), ddof=1))
    true_between = max(0.0, between - within / k)  # the means carry within / k noise
    share = true_between / (true_between + within) if true_between + within > 0 else 0.0
    taus = [kendall_tau(a[:, i], a[:, j]) for i, j in itertools.combinations(range(k), 2)]
    return {"between_std": float(np.sqrt(between)), "within_std": float(np.sqrt(within)),
            "share": float(share),
            "seed_tau": float(np.nanmean(taus)) if taus else float("nan")}


def kendall_tau(x, y) -> float:
    """Kendall's tau-b of two equally long sequences."""
    from scipy.stats import kendalltau
    return float(kendalltau(x, y).statistic)


# The run ------------------------------------------------------------------------------

def _load(path: str):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return None


def _save(path: str, doc) -> None:
    from pxnas_tf import fileio
    fileio.atomic_write_json(path, doc)


def _base_config(seed: int):
    from pxnas_tf import pipeline
    table = FLAGS.latency_table or os.path.join(FLAGS.workdir, "latency_table.json")
    return pipeline.PipelineConfig(workdir=FLAGS.workdir, latency_table=os.path.abspath(table),
                                   seed=seed, progress=False)


def demo_search(config, *, scale: float | None = None, target_ms: float | None = None,
                log=lambda *_: None) -> dict:
    """One demo search (`pipeline.search`) with `config`, at `target_ms` or
    at `scale` x the reference target: the figures every search benchmark
    keeps of it."""
    from pxnas_tf import pipeline
    splits = pipeline.load_search_data(config)
    space = pipeline.adapted_space(config, splits)
    latency = pipeline.latency_model(space, config.path("table"), config.precision)
    fastest, slowest = latency.bounds()
    reference = pipeline.reference_latency(space, latency)
    target = pipeline.choose_target(
        fastest, slowest, target_ms=scale * reference if target_ms is None else target_ms)
    t0 = time.monotonic()
    found = pipeline.search(space, splits, latency, target, config, log)
    s = found.summary
    argmax = [int(np.argmax(p)) for p in s["probabilities"]]
    return {"target_ms": target.target, "reference_ms": reference,
            "arch": s["arch"], "ops": s["ops"], "derived_by": s["derived_by"],
            "predicted_ms": s["latency"], "expected_ms": s["expected_latency"],
            "argmax_ms": latency.arch_latency(argmax), "decided": s["decided"],
            "holdout_top1": s["holdout_accuracy"], "search_dir": os.path.dirname(found.files["arch"]),
            "seconds": time.monotonic() - t0}


def search_one(scale: float, seed: int, log=print) -> dict:
    """The demo's search at scale x the reference target (reused when done)."""
    path = os.path.join(FLAGS.workdir, f"search_x{scale:g}_s{seed}.json")
    done = _load(path)
    if done:
        return done
    config = dataclasses.replace(_base_config(seed),
                                 workdir=os.path.join(FLAGS.workdir, f"x{scale:g}_s{seed}"))
    doc = {"scale": scale, "seed": seed, **demo_search(config, scale=scale, log=log)}
    _save(path, doc)
    return doc


def train_one(space, ops, name: str, seed: int) -> dict:
    """Trains one arch from scratch with the bench's budget (reused when done)."""
    from pxnas_tf import data
    from pxnas_tf.search_space import Arch
    from pxnas_tf.train import TrainConfig, train
    path = os.path.join(FLAGS.workdir, "trained", f"{name}.json")
    done = _load(path)
    if done:
        return done
    config = TrainConfig(epochs=FLAGS.epochs, batch_size=128, lr=FLAGS.lr,
                         warmup_epochs=min(1.0, FLAGS.epochs) * 0.5, seed=seed)
    splits = data.load("fashion_mnist", batch_size=128, holdout_examples=0, seed=seed,
                       train_examples=FLAGS.train_examples, val_examples=FLAGS.val_examples)
    arch = Arch(space, tuple(ops), name)
    t0 = time.monotonic()
    result = train(arch, splits, os.path.join(FLAGS.workdir, "trained", name), config, verbose=0)
    r = result.to_dict()
    doc = {"name": name, "ops": list(ops), "seed": seed, "val_top1": r.get("val_top1"),
           "seconds": time.monotonic() - t0}
    _save(path, doc)
    return doc


def supernet_scores(search: dict, archs: dict[str, list[int]], path: str | None = None,
                    changes: dict | None = None) -> dict[str, float]:
    """Holdout top-1 of each arch on a finished search's supernet (saved in
    `path`; `changes`: the search's `PipelineConfig` changes, if any)."""
    from pxnas_tf import pipeline
    from pxnas_tf.search import Search
    path = path or os.path.join(FLAGS.workdir,
                                f"supernet_x{search['scale']:g}_s{search['seed']}.json")
    done = _load(path) or {}
    if all(name in done for name in archs):
        return done
    config = dataclasses.replace(_base_config(search["seed"]), **(changes or {}),
                                 workdir=os.path.dirname(search["search_dir"]))
    splits = pipeline.load_search_data(config)
    space = pipeline.adapted_space(config, splits)
    latency = pipeline.latency_model(space, config.path("table"), config.precision)
    fastest, slowest = latency.bounds()
    target = pipeline.choose_target(fastest, slowest, target_ms=search["target_ms"])
    cfg = pipeline.search_config(config, target, pipeline.arch_loss(config.loss))
    s = Search(space, pipeline.search_data(splits, cfg.steps_per_epoch), cfg, search["search_dir"],
               latency, progress=False)
    for name, indices in archs.items():
        if name not in done:
            done[name] = s.evaluate(indices)["accuracy"]
    _save(path, done)
    return done


def main(argv) -> None:
    del argv
    from pxnas_tf import pipeline
    os.makedirs(FLAGS.workdir, exist_ok=True)
    scales = [float(x) for x in FLAGS.target_scales]
    seeds = [int(x) for x in FLAGS.seeds]
    config = _base_config(seeds[0])
    splits = pipeline.load_search_data(config)
    space = pipeline.adapted_space(config, splits)
    table = pipeline.ensure_table(space, config)
    latency = pipeline.latency_model(space, table.path, config.precision)
    blocks = space.blocks()

    def ops_of(indices):
        return [blocks[b].candidates[i] for b, i in enumerate(indices)]

    runs = []
    for scale in scales:
        for seed in seeds:
            found = search_one(scale, seed)
            print(f"x{scale:g} seed {seed}: {found['arch']} {found['predicted_ms']:.3f} ms "
                  f"(target {found['target_ms']:.3f}, E[LAT] {found['expected_ms']:.3f}, "
                  f"decided {found['decided']:.2f})", flush=True)
            randoms = random_archs_near(latency, found["predicted_ms"], FLAGS.window,
                                        FLAGS.randoms, seed=1000 * seed + int(100 * scale))
            name = f"x{scale:g}_s{seed}"
            searched = train_one(space, found["ops"], f"{name}_searched", seed)
            trained = [train_one(space, ops_of(r), f"{name}_random{k}", seed)
                       for k, r in enumerate(randoms)]
            rank = rank_of(searched["val_top1"], [t["val_top1"] for t in trained])
            print(f"    searched {searched['val_top1']:.4f}, randoms "
                  f"{[round(t['val_top1'], 4) for t in trained]}: rank {rank:g} of "
                  f"{len(trained) + 1}", flush=True)
            runs.append({"search": found, "searched": searched, "randoms": trained,
                         "random_indices": randoms, "rank": rank,
                         "random_ms": [latency.arch_latency(r) for r in randoms]})
    _save(os.path.join(FLAGS.workdir, "runs.json"), runs)

    # The supernets' ranking of every random arch of the run.
    archs = {t["name"]: idx for run in runs for t, idx in zip(run["randoms"], run["random_indices"])}
    standalone = {t["name"]: t["val_top1"] for run in runs for t in run["randoms"]}
    taus, all_scores = [], []
    names = sorted(archs)
    for run in runs:
        scores = supernet_scores(run["search"], archs)
        all_scores.append(scores)
        taus.append(kendall_tau([scores[n] for n in names], [standalone[n] for n in names]))
    follows = ranking_features(runs, all_scores)
    noise = None
    if FLAGS.noise_seeds:
        row = runs[0]
        nets = [row["searched"]] + row["randoms"]
        accs = {t["name"]: [t["val_top1"]] + [
            train_one(space, t["ops"], f"{t['name']}_seed{s}", int(s))["val_top1"]
            for s in FLAGS.noise_seeds] for t in nets}
        noise = {"row": f"x{row['search']['scale']:g}_s{row['search']['seed']}", "accs": accs,
                 **noise_table(accs)}
        print(f"training noise: {noise}", flush=True)
    measured = measure_all(space, runs, table.path) if FLAGS.measure else {}
    text = report(runs, taus, measured, len(archs), noise, follows)
    from pxnas_tf import fileio
    fileio.atomic_write_text(FLAGS.out, text)
    print(text)


def measure_all(space, runs, table_path: str) -> dict[str, float]:
    """Measured int8 latency (ms) of every net on this host, one batch."""
    from pxnas_tf.latency import load_table
    from pxnas_tf.latency.build.settings import BuildSettings
    from pxnas_tf.latency.build.validation import Net, measure_nets
    from pxnas_tf.latency.measure.devices import make_runner
    from pxnas_tf.latency.measure.runner import MeasureSettings
    from pxnas_tf.search_space import Arch
    nets = []
    for run in runs:
        nets.append(Net(run["searched"]["name"], Arch(space, tuple(run["searched"]["ops"]))))
        nets += [Net(t["name"], Arch(space, tuple(t["ops"]))) for t in run["randoms"]]
    table = load_table(table_path)
    with make_runner("host", threads=1, settings=MeasureSettings(max_wait_s=30)) as runner:
        done = measure_nets(nets, runner, table, table_path, BuildSettings(), progress=False)
    return {name: d["measured_ms"] for name, d in done.items()}


def ranking_features(runs: list[dict], scores: list[dict[str, float]]) -> dict:
    """Pure: what the supernets' ranking and the stand-alone ranking of the
    random archs follow: Kendall's tau of each with the number of skipped
    blocks, of expand-6 ops, of 5x5 ops and with the table latency, and the
    tau between the two within each target's archs (matched latency)."""
    nets = [(t, ms, f"x{r['search']['scale']:g}") for r in runs
            for t, ms in zip(r["randoms"], r["random_ms"])]
    standalone = np.array([t["val_top1"] for t, _, _ in nets])
    supernet = np.array([np.mean([s[t["name"]] for s in scores]) for t, _, _ in nets])
    features = {
        "skipped blocks": [sum(op == "zero" for op in t["ops"]) for t, _, _ in nets],
        "expand-6 ops": [sum(op.endswith("_e6") for op in t["ops"]) for t, _, _ in nets],
        "5x5 ops": [sum(op.startswith("k5") for op in t["ops"]) for t, _, _ in nets],
        "table latency": [ms for _, ms, _ in nets],
    }
    out = {"features": {name: (kendall_tau(v, standalone), kendall_tau(v, supernet))
                        for name, v in features.items()},
           "within": {}}
    for level in dict.fromkeys(lvl for _, _, lvl in nets):
        idx = [i for i, (_, _, lvl) in enumerate(nets) if lvl == level]
        out["within"][level] = kendall_tau(supernet[idx], standalone[idx])
    return out


def report(runs: list[dict], taus: list[float], measured: dict, num_archs: int,
           noise: dict | None = None, follows: dict | None = None) -> str:
    import datetime

    from bench.common import machine
    lines = ["# Search quality: the searched net against random archs at its latency", "",
             f"Date: {datetime.date.today()}. Command: `python bench/search_quality.py "
             f"{' '.join(sys.argv[1:])}`.", "",
             f"Machine: {machine()}. Demo search (`pxnas_tf.pipeline.search` defaults) on "
             "2048 Fashion-MNIST training images (holdout 512); every net then trained from "
             f"scratch on {FLAGS.train_examples} images for {FLAGS.epochs} epochs (lr "
             f"{FLAGS.lr:g} cosine, batch 128), same seed per row (weights and data order), "
             f"top-1 on {FLAGS.val_examples} test images. Random archs: uniform over the "
             f"space's archs whose table latency lies within {FLAGS.window:.0%} of the "
             "searched net's. Rank 1 = best of the row.", "",
             "| target | seed | searched arch | table ms (measured) | E[LAT] / target | "
             "decided | searched top-1 | random top-1 (median, range) | rank |",
             "|---|---|---|---|---|---|---|---|---|"]
    by_scale = {}
    for run in runs:
        s, found = run["searched"], run["search"]
        rnd = [t["val_top1"] for t in run["randoms"]]
        ms = measured.get(s["name"])
        lines.append(
            f"| {found['scale']:g}x ({found['target_ms']:.3f} ms) | {found['seed']} | "
            f"`{found['arch'].replace('|', '/')}` | {found['predicted_ms']:.3f}"
            + (f" ({ms:.3f})" if ms else "") + f" | {found['expected_ms'] / found['target_ms']:.2f} | "
            f"{found['decided']:.2f} | {100 * s['val_top1']:.2f} | {100 * np.median(rnd):.2f} "
            f"({100 * min(rnd):.2f}-{100 * max(rnd):.2f}) | {run['rank']:g} / {len(rnd) + 1} |")
        by_scale.setdefault(found["scale"], []).append(run)
    lines += ["", "| target | mean searched - median random (points) | mean rank | verdict |",
              "|---|---|---|---|"]
    all_ranks = []
    for scale, group in by_scale.items():
        gains = [100 * (r["searched"]["val_top1"] - np.median([t["val_top1"] for t in r["randoms"]]))
                 for r in group]
        ranks = [r["rank"] for r in group]
        all_ranks += ranks
        se = np.std(gains, ddof=1) / np.sqrt(len(gains)) if len(gains) > 1 else float("nan")
        verdict = "above the random median" if np.mean(gains) > 0 else "not above"
        lines.append(f"| {scale:g}x | {np.mean(gains):+.2f} +/- {se:.2f} s.e. | "
                     f"{np.mean(ranks):.2f} of {FLAGS.randoms + 1} | {verdict} |")
    lines += ["", "| target | seed agreement (mean pairwise) | blocks with a majority op | "
              "chance (same op frequencies) |", "|---|---|---|---|"]
    for scale, group in by_scale.items():
        archs = [r["search"]["ops"] for r in group]
        pair, majority = agreement(archs)
        lines.append(f"| {scale:g}x | {pair:.0%} | {majority:.0%} | "
                     f"{chance_agreement(archs):.0%} |")
    middle = (FLAGS.randoms + 2) / 2
    lines += ["", f"Mean rank over all {len(all_ranks)} searches: {np.mean(all_ranks):.2f} "
              f"(the middle of {FLAGS.randoms + 1} is {middle:g}; lower is better).", ""]
    if measured:
        errs = []
        for run in runs:
            for t, ms in zip([run["searched"]] + run["randoms"],
                             [run["search"]["predicted_ms"]] + run["random_ms"]):
                if measured.get(t["name"]):
                    errs.append(abs(measured[t["name"]] - ms) / measured[t["name"]])
        lines += [f"Measured latencies: the table's prediction is within {100 * max(errs):.1f}% "
                  f"of the measured figure for every net (median {100 * np.median(errs):.1f}%).", ""]
    lines += ["## Supernet ranking", "",
              f"Kendall's tau between each supernet's holdout top-1 of the {num_archs} random "
              "archs (inherited weights) and their stand-alone top-1: "
              + ", ".join(f"{t:+.2f}" for t in taus)
              + f"; median {np.median(taus):+.2f}.", ""]
    if follows:
        lines += ["What each ranking follows (Kendall's tau over the random archs; the supernet "
                  "score is the mean over the supernets):", "",
                  "| feature | with stand-alone top-1 | with the supernet's score |",
                  "|---|---|---|"]
        for name, (a, b) in follows["features"].items():
            lines.append(f"| {name} | {a:+.2f} | {b:+.2f} |")
        lines += ["", "Within one target's archs (matched latency), tau between the mean "
                  "supernet score and stand-alone top-1: "
                  + ", ".join(f"{k} {v:+.2f}" for k, v in follows["within"].items()) + ".", ""]
    if noise:
        seeds = ", ".join(["the row's"] + list(FLAGS.noise_seeds))
        lines += ["## How much of the stand-alone ranking is training noise", "",
                  f"The {len(noise['accs'])} nets of row {noise['row']} trained again with "
                  f"seeds {seeds} (same budget): top-1 per seed",
                  "", "| net | top-1 per seed | mean |", "|---|---|---|"]
        for name, accs in sorted(noise["accs"].items()):
            lines.append(f"| {name} | {', '.join(f'{100 * a:.2f}' for a in accs)} | "
                         f"{100 * np.mean(accs):.2f} |")
        lines += ["", f"Spread between the nets' means {100 * noise['between_std']:.2f} points, "
                  f"within a net (seed to seed) {100 * noise['within_std']:.2f}; share of the "
                  f"variance that is between nets {noise['share']:.2f} (0: the ranking is seed "
                  f"noise); mean Kendall tau between two seeds' rankings "
                  f"{noise['seed_tau']:+.2f}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    define_flags()
    app.run(main)
