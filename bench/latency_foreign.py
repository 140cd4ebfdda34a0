"""The latency model on nets from outside the search space (issue 21's
benchmark).

    python bench/latency_foreign.py [--precisions=int8,float32]
                                    [--workdir=runs/latency_foreign]

For each precision (host runner: LiteRT, 1 thread, XNNPACK):

1. builds (or resumes) the `proxyless_small` table with its calibration
   terms and the single-op probes (`pxnas latency build --probes`), timed;
2. validates it (`pxnas_tf.latency.build.validation.validate`) on 30 random
   archs of the space, the zoo nets, the 14 default `keras.applications`
   nets (`foreign_nets.DEFAULT_NETS`, the test set) and the 7 tuning nets
   (`foreign_nets.TUNING_NETS`, kept apart for choosing between model
   variants), each converted and measured whole with the table's pass rule;
3. measures every op of a few nets alone (`--isolate`) and compares the sum
   with the net measured whole: how much of the error is the op model's
   fit and how much is what running inside a net adds;
4. writes docs/benchmarks/latency_foreign.md: per group and family MAPE,
   share within 10 percent and Kendall tau, every foreign net's prediction and
   measurement, against the issue's goals, and the scatter plots
   docs/benchmarks/latency_foreign_<precision>.png.

Everything resumes: the table and the measured nets are saved as they come.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
GOALS = {"mape": 0.05, "within_10pct": 0.95, "kendall_tau": 0.95, "foreign_within_10pct": 0.90}
# What the figures say, written by hand after the run of 2026-12-06 (update
# it with the figures when the model changes).
FINDINGS = """### Sixth round: rounds judged at the counters' resolution, passes minutes apart, a drift reference (2026-12-06, late night, AMD EPYC VM)

The int8 table above was built 22:24-22:34 by this round's code and its
nets measured 22:34-22:41 (the report line says 0.0 min: the bench's op
isolation step crashed after the validation, on a reshape probe at 0 ms
that `suspect_probes` could not judge, now mended, and a second call
wrote the report, reusing the table). The float32 table was built
22:55-23:04. Every build of the round is kept in
[history.md](history.md#latency_foreign_epyc_sixth_a).

- **Why a build took 15-18 minutes: rounds thrown away for one clock
  tick.** The host runner throws a round away when the rest of the
  machine used more than 0.3 CPUs during it, read from /proc/stat, whose
  counters advance in 10 ms ticks. In a 30 ms round one tick of a kernel
  thread reads as 0.33 CPUs: on this VM, idle but for the measuring
  process, in 15% of 30 ms windows (none of 100 or 300 ms windows). Each
  such round was timed again after a 0.2 s pause. One pass over the 80
  in-net nets took 35 s, 11 s of it pausing (55 rounds thrown away); with
  one tick forgiven (`cpu_load.exceeds`), 21 s and 1 round. Two ticks of
  others in a round still throw it away (a process busy on the other CPU
  makes 3).
- **First build with only that change** (fresh_v8, 21:09-21:42): int8
  7.5 min, float32 7.8 min. float32 met every goal (random archs + test
  nets 2.1% / 100% / 0.97, foreign nets with the zoo 95%); int8 missed
  two (MAPE 5.4%, foreign nets with the zoo 89%), 25 of its 26 foreign
  nets predicted high. The same models' lowest passes against the fifth
  round's: int8 blocks 1.00x, probes 1.03x (one pass each), in-net nets
  1.02x, validation nets 0.96x. The in-net nets' two passes, now seconds
  apart, agreed within 1.3% (median; 5.6% in the fifth round): both
  taken in one slow spell, and the in-net factors are their ratio to the
  op model, fit on keys and probes timed minutes earlier.
- **Passes minutes apart** (fresh_v9, 21:46-22:21): probes take two
  passes like the keys (`--probe_passes=1` for one); the in-net nets'
  first pass comes right after the keys, the rest after the other
  calibrations; the weight-streaming curve is the lowest of two passes.
  int8 10.3 min, every goal met (2.2% / 98% / 0.99; 95% with the zoo);
  float32 8.4 min, two missed (93% within 10%; 79% with the zoo), its
  foreign nets predicted a median 7% high: its probes lay 0.95x the
  fifth round's, its in-net nets 1.03x, its validation nets 1.00x.
- **A drift reference** (this round's tables, above): 16 of the table's
  keys timed again in the in-net nets' passes, interleaved with them;
  the nets' times are divided by the median ratio of their lowest pass
  to the table's (`drift`, docs/latency_model.md). It found int8 0.973
  (the machine 2.7% faster than during the keys; the 16 ratios 0.96-0.99)
  and float32 1.042.
- **int8: every goal met** (build 9.6 min): random archs + test nets
  3.1% / 100% / 0.99, foreign nets with the zoo 95% (MAPE 3.6%), tuning
  nets 2.3% / 100%. Its miss: zoo proxyless_mobile -16.1%.
- **float32: the first validation was disturbed** (23:04-23:15): the
  nets' passes lay up to 51% apart (median 22%), and the space's random
  archs, predicted from the table's blocks alone with no in-net factor,
  were 6.5% off (80% within 10%), against 1.1-5.5% and 100% in every
  other build of the day: a neighbour slowed the machine after the
  build. Its figures: 7.1% / 75% / 0.98, 53% with the zoo (kept in
  history.md). Measured again at 23:16-23:23 (passes a median 5% apart,
  the two measurements' medians 1.00x of each other): random archs 7.7%
  MAPE, 87% within 10%; random archs + test nets 6.9% / 84% / 0.98; 68%
  with the zoo (above). The machine stayed slower than while its table
  was built (the drift reference had already found it 4.2% slower during
  the in-net nets): this table cannot judge the goals.
- **Build time** (the goal: 15 min): 7.5-10.3 min in all six builds of
  the round, at most 0.1 min of it waiting for a quiet machine (stages of
  this round's float32: keys 2.5, in-net pass 1 2.4, streaming 0.4,
  footprints 0.1, context 3.2, in-net 0.7).
- **What limits it**: the machine's speed between a build and a later
  measurement. Medians of the same validation nets' lowest passes over
  four runs: 0.96-1.06 of each other; the random archs of the space
  (table blocks only) 1.1-5.5% MAPE except in the disturbed run. The
  drift reference puts the build's own calibrations on one scale; it
  cannot know how fast the machine will be when a user times a net.
"""


def define_flags() -> None:
    flags.DEFINE_list("precisions", ["int8", "float32"], "Table precisions.")
    flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "latency_foreign"), "Run folder.")
    flags.DEFINE_integer("num_archs", 30, "Random archs of the space.")
    flags.DEFINE_string("out", os.path.join(ROOT, "docs", "benchmarks", "latency_foreign.md"),
                        "Report.")
    flags.DEFINE_list("isolate", ["mobilenetv2_a0.5@96", "mobilenetv3small@96",
                                  "efficientnetb0@64", "cnn@32", "mobilenetv2_a1.4@32",
                                  "mobilenet_a1.0@64", "mobilenetv3large@64"],
                      "Nets whose every op is also measured alone (a table of their ops).")
    flags.DEFINE_boolean("findings", True, "Append the hand-written findings (FINDINGS).")


def run_precision(precision: str) -> dict:
    from pxnas_tf.latency.build.builder import build_table
    from pxnas_tf.latency.build.foreign_nets import DEFAULT_NETS, TUNING_NETS
    from pxnas_tf.latency.build.validation import validate
    from pxnas_tf.latency.measure.host_runner import HostRunner
    from pxnas_tf.latency.model import metrics
    from pxnas_tf.latency.model.op_model import fit_table, in_net_nets, op_model_path
    from pxnas_tf.latency.model.table import load_table
    from pxnas_tf.search_space import load_space

    space = load_space("proxyless_small")
    path = os.path.join(FLAGS.workdir, f"{precision}.json")
    os.makedirs(FLAGS.workdir, exist_ok=True)
    runner = HostRunner(threads=1)
    t0 = time.monotonic()
    report = build_table(space, runner, path, precision, probes=True)
    build_s = time.monotonic() - t0
    build_waited_s = runner.waited_s
    table = load_table(path)
    op_model = fit_table(table)
    op_model.save(op_model_path(path))
    rep = validate(table, path, runner, space, FLAGS.num_archs, zoo=True, op_model=op_model,
                   nets=list(DEFAULT_NETS) + list(TUNING_NETS),
                   log=lambda m: print(m, file=sys.stderr, flush=True))
    rows = rep.results

    def summary(subset):
        return metrics.summary([r.predicted_ms for r in subset], [r.measured_ms for r in subset])

    test = [r for r in rows if r.name in DEFAULT_NETS]
    tuning = [r for r in rows if r.name in TUNING_NETS]
    main = [r for r in rows if r.name not in TUNING_NETS and r.group != "zoo"]
    isolated = isolation(precision, path, runner, {r.name: r for r in rows})
    png = os.path.join(os.path.dirname(FLAGS.out), f"latency_foreign_{precision}.png")
    shutil.copyfile(rep.plot, png)
    return {"precision": precision, "table": path, "entries": len(table),
            "build_measured": report.measured, "build_s": build_s,
            "build_stages": report.stages_s, "build_waited_s": build_waited_s,
            "op_model": {"fit": op_model.fit_rel_rmse, "loo": op_model.loo_rel_rmse},
            "in_net": len(in_net_nets(table)), "factors": op_model.in_net,
            "ridge": op_model.in_net_ridge,
            "all": summary(main), "foreign": summary(test), "tuning": summary(tuning),
            "space": summary([r for r in rows if r.group == "space"]),
            "zoo": summary([r for r in rows if r.group == "zoo"]),
            "by_group": rep.by_group,
            "test_zoo": summary(test + [r for r in rows if r.group == "zoo"]),
            "nets": [(r.name, r.group, r.predicted_ms, r.measured_ms, _spread(r.runs))
                     for r in test + tuning + [r for r in rows if r.group == "zoo"]],
            "isolated": isolated, "png": os.path.basename(png), "machine": rep.machine,
            "validation_s": rep.elapsed_s}


def _stages(r: dict) -> str:
    """The build's stages and its waiting for a quiet machine, in minutes."""
    stages = r.get("build_stages") or {}
    if not stages:
        return ""
    return (": " + ", ".join(f"{name} {s / 60:.1f}" for name, s in stages.items())
            + f"; {r.get('build_waited_s', 0.0) / 60:.1f} of it waiting for a quiet machine")


def _machine_line(r: dict) -> str:
    """The validation's machine state against the build's (`machine_state`)."""
    from pxnas_tf.latency.build import machine_state

    m = r.get("machine") or {}
    state = m.get("state") or {}
    return (f"- Machine during the validation ({r.get('validation_s', 0) / 60:.1f} min, "
            f"{m.get('extra_passes', 0)} extra passes): {machine_state.describe(state)}"
            + (f": {machine_state.verdict(state)}." if machine_state.verdict(state) else "."))


def _spread(runs) -> float:
    """How far a net's slowest pass lies above its fastest (its passes run
    minutes apart)."""
    return max(runs) / min(runs) - 1 if runs else 0.0


def isolation(precision: str, table_path: str, runner, measured: dict) -> list[dict]:
    """Every op of the `--isolate` nets measured alone (a table of single-op
    keys, resumable) against the net measured whole."""
    import glob

    from pxnas_tf.latency.build import tflite_ops, validation
    from pxnas_tf.latency.build.builder import build_table, default_models_dir
    from pxnas_tf.latency.build.settings import BuildSettings
    from pxnas_tf.latency.model.ops import op_key
    from pxnas_tf.search_space import load_space

    folder = os.path.join(default_models_dir(table_path, precision), "nets")
    ops = {}
    for spec in FLAGS.isolate:
        (path,) = glob.glob(os.path.join(folder, validation._safe(spec) + "-*.tflite"))
        with open(path, "rb") as f:
            ops[spec] = tflite_ops.ops_of_tflite(f.read())
    keys = list(dict.fromkeys(op_key(op) for net in ops.values() for op in net))
    report = build_table(load_space("proxyless_small"), runner,
                         os.path.join(FLAGS.workdir, f"isolated_{precision}.json"), precision,
                         BuildSettings(weight_streaming=False, footprint=False, context=False),
                         keys=keys, progress=False)
    table = report.table
    overhead = min(float(v) for v in table.metadata.overhead["ms"].values())
    out = []
    for spec, net in ops.items():
        by_type = {}
        for op in net:
            by_type[op.type] = by_type.get(op.type, 0.0) + table.value(op_key(op), "median")
        total = sum(by_type.values()) + overhead
        out.append({"net": spec, "ops": len(net), "sum_ms": total,
                    "whole_ms": measured[spec].measured_ms,
                    "predicted_ms": measured[spec].predicted_ms,
                    "top": sorted(by_type.items(), key=lambda kv: -kv[1])[:3]})
    return out


def _fmt(s: dict) -> str:
    return (f"MAPE {s['mape']:.1%}, {s['within_10pct']:.0%} within 10%, "
            f"Kendall tau {s['kendall_tau']:.2f} ({s['n']} nets)")


def write_report(results: list[dict], command: str) -> None:
    from pxnas_tf import fileio
    from pxnas_tf.latency.measure.host_runner import cpu_description

    lines = ["## Latency of nets outside the space", "",
             f"Date: {datetime.date.today().isoformat()}. Command: `{command}`.", "",
             f"Machine: {cpu_description()}, {platform.platform()}, Python "
             f"{platform.python_version()}; LiteRT on the host, 1 thread, XNNPACK.", "",
             "Each table is `proxyless_small`'s with its calibration terms and the single-op "
             "probes (`pxnas latency build --probes`). Nets outside the space are converted "
             "at the table's precision and predicted from the ops of their TFLite graph "
             "(`predict_ops`: op model x in-net factors + per-invoke overhead + weight "
             "streaming curve); the op model is fit on the space's blocks and the "
             "probes, its in-net factors on random mobile nets timed whole (`in_net`). The 14 "
             "default `keras.applications` nets are the test set; the 7 tuning nets were "
             "kept apart for choosing between model variants. Goals (issue 21): over the "
             "foreign and random nets MAPE <= 5%, >= 95% within 10%, tau >= 0.95; the "
             "foreign nets alone >= 90% within 10%.", ""]
    for r in results:
        ok = lambda v, goal, low=False: "met" if (v <= goal if low else v >= goal) else "NOT met"
        a, f = r["all"], r["foreign"]
        lines += [f"### {r['precision']}", "",
                  f"- Table: {r['entries']} entries ({r['build_measured']} measurements this "
                  f"run, {r['build_s'] / 60:.1f} min" + _stages(r) + "); op model fit error "
                  f"{r['op_model']['fit']:.1%}, "
                  f"leave-one-out {r['op_model']['loo']:.1%}; "
                  f"in-net factors fit on {r.get('in_net', 0)} random mobile nets timed whole "
                  f"(ridge {r.get('ridge', 0):g}): " + (", ".join(
                      f"{k} {v:.2f}" for k, v in sorted(r.get("factors", {}).items())
                      if abs(v - 1) >= 0.05) or "none departs from 1 by 5% or more") + ".",
                  f"- Random archs of the space: {_fmt(r['space'])}.",
                  f"- Test set (14 foreign nets): {_fmt(f)}: within-10% goal "
                  f"{ok(f['within_10pct'], GOALS['foreign_within_10pct'])}.",
                  f"- Random archs + test set: {_fmt(a)}: MAPE {ok(a['mape'], GOALS['mape'], True)}"
                  f", within 10% {ok(a['within_10pct'], GOALS['within_10pct'])}, tau "
                  f"{ok(a['kendall_tau'], GOALS['kendall_tau'])}.",
                  f"- Tuning nets: {_fmt(r['tuning'])}.",
                  f"- Zoo nets at 28x28 (table layers + op model + context): {_fmt(r['zoo'])}.",
                  f"- Foreign nets (test set + zoo): {_fmt(r['test_zoo'])}: within-10% goal "
                  f"{ok(r['test_zoo']['within_10pct'], GOALS['foreign_within_10pct'])}.",
                  _machine_line(r),
                  "", "Measured: the lowest of the net's passes (minutes apart; the spread is "
                  "how far the slowest lies above it).", "",
                  "| net | family | predicted ms | measured ms | error | passes' spread |",
                  "|---|---|---|---|---|---|"]
        for name, group, p, m, spread in r["nets"]:
            lines.append(f"| {name} | {group} | {p:.3f} | {m:.3f} | {p / m - 1:+.1%} "
                         f"| {spread:.0%} |")
        if r["isolated"]:
            lines += ["", "Every op measured alone (a model of that one op, the per-invoke "
                      "overhead taken out) and summed, against the net measured whole and "
                      "the prediction:", "",
                      "| net | ops | sum of ops alone | whole | sum / whole | predicted / whole "
                      "| largest op types (ms) |", "|---|---|---|---|---|---|---|"]
            for i in r["isolated"]:
                top = ", ".join(f"{t} {ms:.3f}" for t, ms in i["top"])
                lines.append(f"| {i['net']} | {i['ops']} | {i['sum_ms']:.3f} | "
                             f"{i['whole_ms']:.3f} | {i['sum_ms'] / i['whole_ms']:.2f} | "
                             f"{i['predicted_ms'] / i['whole_ms']:.2f} | {top} |")
        lines += ["", f"![{r['precision']}]({r['png']})", ""]
    if FLAGS.findings:
        lines += [FINDINGS]
    fileio.atomic_write_text(FLAGS.out, "\n".join(lines) + "\n")


def main(argv) -> None:
    del argv
    sys.path.insert(0, ROOT)
    command = "python bench/latency_foreign.py " + " ".join(sys.argv[1:])
    results = [run_precision(p) for p in FLAGS.precisions]
    write_report(results, command.strip())
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
