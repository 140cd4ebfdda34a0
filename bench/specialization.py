"""Does the best net depend on the hardware? One search per target, every
derived net measured on every target.

    python bench/specialization.py [--targets=int8_t1,float32_t2_builtin,tf_b8] [--seeds=3] \
        [--target_width=1.0 | --target_fraction=0.35] [--workdir=runs/bench_pareto] ...
    python bench/specialization.py --targets=int8_t1,float32_t2 ...   # the first, two-target runs

The paper's central finding (Cai et al. 2019, section 4: the GPU, CPU and
mobile nets differ, and each is fastest on its own hardware) on this
machine, with targets whose costs differ (`bench/targets.py` lists them).
The default three:

  A. `int8_t1`: LiteRT, int8 full-integer files, 1 thread, XNNPACK (phone-like);
  B. `float32_t2_builtin`: LiteRT, float32 files, 2 threads, the builtin
     kernels (no XNNPACK);
  C. `tf_b8`: the TensorFlow runtime on this CPU, the Keras models in graph
     mode, float32, 1 intra-op thread, batch 8 (server-like; its table is
     `pxnas latency build --device=tf:cpu --precision=float32 --threads=1
     --tf_batch=8`).

Others: `float32_t2` (float32, 2 threads, XNNPACK) and `int8_t1_builtin`
(the int8 files on 1 thread with the builtin kernels); `--target_b=X` is
short for `--targets=int8_t1,X` (the earlier runs' commands).

1. builds one table of `proxyless_small` at 28x28x1 per target (the int8
   one is reused from the Pareto run when it is there: same work dir);
2. searches once per table, with the same settings and seed, the target at
   the same fraction of each table's [fastest, slowest] range (the int8
   search is the Pareto run's search at that fraction when it exists), or
   with `--target_width=W` at one latency level: each table's prediction of
   MobileNetV2 xW in the space's layout; with `--target_b_from_a=F`, every
   target after the first is searched at F x its own table's prediction of
   the net searched for the first (it is asked for a net faster on its
   target than the first target's net);
3. trains every derived net with the Pareto run's recipe, `--seeds` times
   (seeds --seed, --seed + 1, ...; records of seed N > 0 end in _sN), and
   exports each as int8 and float32 (verified in LiteRT on the test split);
4. measures every net on every target (the LiteRT targets time the exported
   files, the tf target the trained `.keras` models; the nets of the first
   seed: latency does not depend on the weights), side by side, lowest of
   `--passes` passes;
5. writes docs/benchmarks/specialization.md and specialization.png (`--out`;
   the derived nets drawn by `pxnas_tf.viz.arch_plot`, one above the other):
   the N x N table, a speed verdict per target and an accuracy verdict
   against the seed noise.

Resumable like bench/pareto.py (same helpers, bench/common.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import os
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from bench import common, fronts, targets  # noqa: E402
from bench.targets import Target  # noqa: E402

FLAGS = flags.FLAGS
COMMAND = "python bench/specialization.py " + shlex.join(sys.argv[1:])


def define_flags() -> None:
    """The flags (defined only when run as a script: the tests import this
    module beside others that define flags of the same names)."""
    flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "bench_pareto"),
                        "Run folder (the Pareto run's, to reuse its int8 table and search).")
    flags.DEFINE_list("targets", list(targets.DEFAULT), "The targets, two or more, the first "
                      f"is A: {', '.join(targets.KINDS)} (bench/targets.py).")
    flags.DEFINE_string("target_b", None, "Short for --targets=int8_t1,TARGET_B (the earlier "
                        "two-target runs' flag).")
    flags.DEFINE_float("target_fraction", 0.35, "Search target as a fraction of each table's "
                       "[fastest, slowest] range.")
    flags.DEFINE_float("target_width", None, "Instead of --target_fraction: one latency level "
                       "for all targets, each table's prediction of MobileNetV2 at this width in "
                       "the space's layout (each search is asked for a net as fast as that one "
                       "on its own target).")
    flags.DEFINE_float("target_b_from_a", None, "Every target after the first searched at this "
                       "fraction of its own table's prediction of the net searched for the "
                       "first (e.g. 0.85: asked for a net clearly faster on its target than the "
                       "first target's net); the first keeps --target_width / --target_fraction.")
    flags.DEFINE_integer("seeds", 3, "Trainings per derived net (seeds --seed, --seed + 1, ...); "
                         "accuracy as mean +/- s.d. over them.", lower_bound=1)
    common.define_budget_flags()
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "specialization.md"),
                        "Report.")
    flags.DEFINE_string("label", "", "Added to the report's heading (tells runs apart).")
    flags.DEFINE_boolean("findings", True, "Add the notes on the first run to the report when "
                         "its targets are those of the first run (int8_t1,float32_t2); "
                         "--nofindings for runs with other settings.")


def chosen_targets() -> list[Target]:
    """--targets (or --target_b's pair), checked.

    Raises:
        ValueError: one line naming the bad value.
    """
    names = FLAGS.targets
    if FLAGS.target_b is not None:
        if FLAGS["targets"].present:
            raise ValueError("--target_b=X is short for --targets=int8_t1,X: give one of them")
        names = ["int8_t1", FLAGS.target_b]
    return targets.parse_targets(names)


# What the run on this machine showed (the numbers in the table are the run's own).
FINDINGS = [
    "- **Target A shows specialization**: the int8 net is 1.7x faster on int8 / 1 thread. The "
    "float32 search kept a 7x7 depthwise block (k7_e3) at the stride-2 28 -> 14 block; int8 "
    "7x7 depthwise convs are slow in XNNPACK on this CPU (the int8 table prices that block "
    "1.9x its float32 / 2-thread cost), and the int8 search has no 7x7 before the 4x4 maps.",
    "- **Target B does not**: the int8 net is also slightly faster on float32 / 2 threads "
    "(4 passes; the float32 net's passes spread 0.28-0.59 ms: 2-thread timing on a shared "
    "2-core VM is noisy, the lowest pass is kept). The float32 table predicts the same order "
    "(0.296 vs 0.336 ms), so this is not a table error: the float32 search did not find the "
    "faster net for its own target. As in the Pareto section, 18 arch steps leave the op "
    "probabilities less than 1 point above uniform, and the hard budget (0.399 ms) never had "
    "to act: both derived nets are close to random draws below their targets.",
    "- The targets' costs do differ (7x7 blocks 1.9-3.1x dearer in int8 than float32 / 2 threads, "
    "3x3 blocks at 7x7 maps cheaper in int8), so a search that converges could specialize in "
    "both directions; this run, sized to fit beside other jobs on 2 cores, shows it in one. "
    "Next: a longer search or a larger arch lr (0.05 moved the probabilities ~10 points in "
    "the Pareto run), the `abs#target` loss, the same seeds.",
]
def predicted(arch_path: str, table_path: str, precision: str) -> float:
    from pxnas_tf.search import LatencyModel
    from pxnas_tf.search_space import load_arch
    arch = load_arch(arch_path)
    model = LatencyModel.from_table(common.space(), table_path, "median", precision)
    indices = [b.candidates.index(op) for b, op in zip(arch.space.blocks(), arch.ops)]
    return model.arch_latency(indices)


def figure(archs: dict, path: str) -> None:
    """The derived nets, one above the other, in one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    from pxnas_tf.search_space import load_arch
    from pxnas_tf.viz.arch_plot import draw_arch

    images = []
    for title, arch_path in archs.items():
        buffer = io.BytesIO()
        draw_arch(load_arch(arch_path), title).savefig(buffer, format="png", dpi=150,
                                                       bbox_inches="tight")
        buffer.seek(0)
        images.append(mpimg.imread(buffer))
    width = max(i.shape[1] for i in images) / 150
    height = sum(i.shape[0] for i in images) / 150
    fig, axes = plt.subplots(len(images), 1, figsize=(width, height))
    for ax, image in zip(axes, images):
        ax.imshow(image)
        ax.set_axis_off()
    fig.tight_layout()
    from pxnas_tf import fileio
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    fileio.atomic_write_bytes(path, buffer.getvalue())


def _top1_cell(records: list[dict], mode: str) -> str:
    values = [r["exports"][mode]["tflite_top1"] for r in records]
    mean, sd = targets.mean_sd(values)
    if sd is None:
        return f"{100 * mean:.2f}%"
    return (f"{100 * mean:.2f} ± {100 * sd:.2f}% "
            f"({', '.join(f'{100 * v:.2f}' for v in values)})")


def report(chosen: list[Target], tables: dict, searches: dict, nets: dict, lat: dict,
           preds: dict, info: dict) -> str:
    """The report (Markdown).

    Args:
        chosen: the targets, in order (A, B, ...).
        tables: target name -> its table record, with ``note`` (how it was
            measured, `common.table_note`).
        searches: target name -> its search record.
        nets: target name -> the records of the net searched for it, one per seed.
        lat: target -> {net's target name -> measured record (median_ms, passes, flags)}.
        preds: net's target name -> {target name -> predicted ms}.
        info: command, wall_s, machine, load, budgets (search, train), level
            (how the search targets were set), passes, figure, label,
            findings, from_first (--target_b_from_a or None).
    """
    search_budget, train_budget = info["budgets"]
    letters = {t.name: targets.letter(chosen, t) for t in chosen}
    labels = {t.name: f"{letters[t.name]} ({t.label})" for t in chosen}
    seeds = [r["train_seed"] for r in nets[chosen[0].name]]
    from_first = info.get("from_first")
    first = chosen[0].name
    lines = [
        "## Specialization: the best net depends on the target"
        + (f": {info['label']}" if info.get("label") else ""), "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {info['machine']}; shared with other jobs (load average at the end "
        f"{info['load']})",
        f"- command: `{info['command'].strip()}` (wall time of this call "
        f"{info['wall_s'] / 60:.1f} min; steps finished earlier in the same work dir are reused)",
        "- targets, all on this CPU: " + "; ".join(
            f"**{letters[t.name]}** {t.label} (`{t.name}`): {t.describe()}" for t in chosen),
        "- tables of `proxyless_small` at 28x28x1 built with `pxnas latency build` ("
        + "; ".join(f"{letters[t.name]}: archs span {tables[t.name]['fastest_ms']:.3f} - "
                    f"{tables[t.name]['slowest_ms']:.3f} ms, {tables[t.name]['note']}"
                    for t in chosen) + "; a busy machine: batches waited at most 20 s for quiet)",
        f"- searches: the same settings and seed ({search_budget.seed}) for all "
        f"({search_budget.train_examples:,} + {search_budget.holdout_examples:,} images, "
        f"{search_budget.warmup_epochs} + {search_budget.epochs} epochs, arch step every "
        f"{search_budget.arch_every} weight step(s), arch lr {search_budget.arch_lr:g}, "
        f"{search_budget.loss} lambda {search_budget.latency_lambda}, "
        f"{search_budget.latency_budget} budget, {search_budget.candidate_weights} candidate "
        f"weights), {info['level']} ("
        + ", ".join(f"{letters[t.name]}: {searches[t.name]['target_ms']:.3f} ms" for t in chosen
                    if from_first is None or t.name == first) + ")"
        + ("" if from_first is None else
           f"; every target after A instead at {from_first:g} x its table's prediction of A's "
           "net (" + ", ".join(f"{letters[t.name]}: {from_first:g} x {preds[first][t.name]:.3f} "
                               f"= {searches[t.name]['target_ms']:.3f} ms" for t in chosen[1:])
           + "): each is asked for a net faster on its target than A's net"),
        "- search outcomes: " + "; ".join(
            f"{letters[t.name]} {searches[t.name]['seconds'] / 60:.1f} min, predicted "
            f"{searches[t.name]['predicted_ms']:.3f} ms, derived by "
            f"{searches[t.name]['derived_by']}, op probabilities on average "
            f"{100 * searches[t.name]['probability_gap_mean']:.1f} points above uniform"
            for t in chosen),
        f"- training, every net alike, {len(seeds)} seed(s) per net ({', '.join(map(str, seeds))}"
        f"; one search per target): {train_budget.describe()}; exported as int8 and float32 "
        "(`pxnas export`, verified on the 10,000 test images); top-1 as mean ± s.d. over the "
        "seeds (each seed's in brackets)",
        "- latency: measured, not predicted: per target, every net side by side (LiteRT files "
        "by the host runner; Keras models by the tf runner, in a child process), rounds during "
        "which other processes used the CPU redone, median of the quiet rounds, lowest of "
        f"{info['passes']} passes (all listed); the nets of seed {seeds[0]} are timed (latency "
        "does not depend on the weights); **bold**: the fastest net on each target",
        "",
        f"![the derived nets]({info['figure']})", "",
        "| net (searched for) | arch | params | MACs | "
        + " | ".join(f"{letters[t.name]}: {t.label} ms (passes)" for t in chosen)
        + f" | predicted {' / '.join(letters.values())} ms | int8 top-1 | float32 top-1 |",
        "|---|---|---:|---:|" + "---:|" * len(chosen) + "---:|---:|---:|",
    ]
    best = {t.name: targets.fastest({n: lat[t.name][n]["median_ms"] for n in nets})
            for t in chosen}
    for n, records in nets.items():
        r = records[0]
        cells = []
        for t in chosen:
            m = lat[t.name][n]
            ms = f"{m['median_ms']:.3f}"
            cells.append(f"{f'**{ms}**' if n in best[t.name] else ms}{common.flag_note(m)} "
                         f"({', '.join(f'{p:.3f}' for p in m['passes'])})")
        lines.append(
            f"| {labels[n]} | {common.md_code(r['arch'])} | {r['params']:,} | "
            f"{r['macs'] / 1e6:.1f}M | " + " | ".join(cells) + " | "
            + " / ".join(f"{preds[n][t.name]:.3f}" for t in chosen) + " | "
            f"{_top1_cell(records, 'int8')} | {_top1_cell(records, 'float32')} |")
    lines += ["", "### Verdict", ""]
    fast, close = 0, 0
    for t in chosen:
        ok, text = targets.speed_verdict(t, {n: lat[t.name][n]["median_ms"] for n in nets},
                                         labels)
        fast += ok
        lines.append(f"- Speed on **{letters[t.name]}** ({t.label}): {text}.")
    for t in chosen:
        top1 = {n: [r["exports"][t.mode]["tflite_top1"] for r in nets[n]] for n in nets}
        ok, text = targets.accuracy_verdict(t, top1, labels)
        close += ok
        mean, sd = targets.mean_sd(top1[t.name])
        lines.append(f"- Accuracy on **{letters[t.name]}** ({t.mode} top-1, {len(seeds)} "
                     f"seed(s)): its own net {100 * mean:.2f}%"
                     + ("" if sd is None else f" ± {100 * sd:.2f}") + f": {text}.")
    met = fast == close == len(chosen)
    lines.append(f"- **Goal** (each net the fastest on its own target at comparable accuracy): "
                 f"{'met' if met else 'NOT met'}: its own net is the fastest on {fast} of "
                 f"{len(chosen)} targets, and not less accurate than the others beyond the seed "
                 f"noise (two standard errors of each gap) on {close} of {len(chosen)}.")
    if info.get("findings") and [t.name for t in chosen] == ["int8_t1", "float32_t2"]:
        lines += ["", "### Why (the first run)", ""] + FINDINGS
    return "\n".join(lines) + "\n"


def _figure_name() -> str:
    """The figure beside the report: same name, .png."""
    return os.path.splitext(os.path.basename(FLAGS.out))[0] + ".png"


def _search_target(workdir: str, t: Target, table: dict, searches: dict,
                   first: Target) -> tuple[float, str]:
    """(target ms, search name) of target `t`'s search."""
    f = FLAGS.target_b_from_a
    if f is not None and t != first:  # the first is searched first
        return (f * predicted(searches[first.name]["arch_path"], table["path"], t.precision),
                f"{t.name}_from_a{f:g}")
    if FLAGS.target_width is not None:
        return (common.width_targets(workdir, table, [FLAGS.target_width])[0],
                f"{t.name}_mbv2x{FLAGS.target_width:g}")
    ms = fronts.spread_targets(table["fastest_ms"], table["slowest_ms"], [FLAGS.target_fraction],
                               FLAGS.target_scale)[0]
    # Same name as bench/pareto.py's searches: the int8 one is reused.
    return ms, (f"int8_f{FLAGS.target_fraction:g}" if t.name == "int8_t1"
                else f"{t.name}_f{FLAGS.target_fraction:g}")


def _timed_file(record: dict, t: Target) -> str:
    """What target `t` times of a trained net: its export, or its Keras model."""
    if t.is_tf:
        return os.path.join(os.path.dirname(record["exports"]["float32"]["path"]), "last.keras")
    return record["exports"][t.mode]["path"]


def main(argv) -> None:
    try:
        chosen = chosen_targets()
    except ValueError as e:
        sys.exit(f"error: {e}")
    from pxnas_tf import fileio

    start = time.time()
    workdir = os.path.abspath(FLAGS.workdir)
    common.space_file(workdir)
    search_budget, train_budget = common.budgets_from_flags()
    tables, searches = {}, {}
    for t in chosen:
        tables[t.name] = common.table(workdir, t.precision, t.threads, xnnpack=t.xnnpack,
                                      runner=t.runner, batch=t.batch)
    for t in chosen:
        target_ms, name = _search_target(workdir, t, tables[t.name], searches, chosen[0])
        searches[t.name] = common.search(workdir, name, tables[t.name], target_ms,
                                         search_budget)
    seeds = [FLAGS.seed + i for i in range(FLAGS.seeds)]
    nets = {t.name: [] for t in chosen}
    for seed in seeds:  # seed by seed: a stopped run has whole seeds done
        for t in chosen:
            s = searches[t.name]
            r = common.train_and_export(
                workdir, f"searched_{s['name']}{targets.seed_suffix(seed)}", s["arch_path"],
                dataclasses.replace(train_budget, seed=seed), modes=("int8", "float32"))
            nets[t.name].append(dict(r, train_seed=seed))
    lat = {}
    for t in chosen:
        # Keyed by the net's own name: another search for a target is another record.
        files = {nets[n][0]["name"]: _timed_file(nets[n][0], t) for n in nets}
        measured = common.measure(workdir, f"specialization_{t.name}", files, t.threads,
                                  FLAGS.passes, FLAGS.max_wait_s, xnnpack=t.xnnpack,
                                  runner=t.runner, batch=t.batch)
        lat[t.name] = {n: measured[nets[n][0]["name"]] for n in nets}
    preds = {n: {t.name: predicted(searches[n]["arch_path"], tables[t.name]["path"],
                                   t.precision) for t in chosen} for n in nets}
    figure({f"searched for {t.label}: {nets[t.name][0]['arch']}": searches[t.name]["arch_path"]
            for t in chosen}, os.path.join(os.path.dirname(FLAGS.out), _figure_name()))
    level = (f"the target at one latency level: each table's prediction of MobileNetV2 "
             f"x{FLAGS.target_width:g} in the space's layout" if FLAGS.target_width is not None
             else f"the target at {FLAGS.target_fraction:g} of each table's range on a "
             f"{FLAGS.target_scale} scale")
    info = {"command": COMMAND, "wall_s": time.time() - start, "machine": common.machine(),
            "load": common.load_note(), "budgets": (search_budget, train_budget),
            "level": level, "passes": FLAGS.passes, "figure": _figure_name(),
            "label": FLAGS.label, "findings": FLAGS.findings,
            "from_first": FLAGS.target_b_from_a}
    text = report(chosen, {n: dict(t, note=common.table_note(t)) for n, t in tables.items()},
                  searches, nets, lat, preds, info)
    stem = os.path.splitext(os.path.basename(FLAGS.out))[0]  # one record per report
    fileio.atomic_write_json(os.path.join(workdir, f"{stem}.json"),
                             {"targets": [dataclasses.asdict(t) for t in chosen],
                              "tables": tables, "searches": searches, "nets": nets,
                              "latency": lat, "predicted": preds})
    fileio.atomic_write_text(FLAGS.out, text)
    print(text)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
