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
# What the figures say, written by hand after the run of 2026-12-05 (update
# it with the figures when the model changes).
FINDINGS = """### What limits it (2026-12-06, AMD EPYC VM)

Neither precision meets the foreign-net goals on this host (int8: 71% of
the test nets within 10%, float32: 50%; goal 90%). The float32 goals were
met on the Xeon VM of 2026-12-05 with the model before this round; the
EPYC's caches and kernels differ, and the tables here were built fresh.

Three changes this round, each measured on these tables (figures of the
test set, MAPE / within 10%; choices made on the tuning nets):

- **Scalar ADD and MUL.** A `Rescaling` layer (all MobileNetV3 nets) is a
  MUL and an ADD by one number. They were modelled as 1x1xC broadcasts:
  80 us predicted for a 128x128x3 Rescaling that takes 2 us (timed alone:
  0.6 us at 64x64x3, 2 us at 128x128x3; a 3-channel `Normalization`, a
  real 1x1xC broadcast, 67 and 268 us). They are now their own op
  (`scalar`) with 12 probes. int8, on the first table (24 random nets,
  the step model): 22.0% / 29% before, 16.4% / 50% after.
- **In-net factors** (`op_model.fit_in_net`), fit on 64 random nets timed
  whole: int8 MUL 0.70 (swish's x * sigmoid(x) runs cheaper inside a net),
  regular convs 0.73; float32 factors within 0.82-1.09. int8 without
  factors 13.4% / 57% (tuning 11.1% / 57%), with them 10.4% / 71% (tuning
  8.5% / 86%). The ridge penalty (0.1) was chosen on the tuning nets:
  leave-one-out over the random nets chose 1e-5, whose factors swung
  between families that always come together there (MUL 2.7, LOGISTIC 0)
  and missed EfficientNetB0 by +90%. The streaming term is not a factor:
  fitted on the random nets (at most 13 MB of weights) it went to 0.
- **A streaming curve** instead of one chain and a step at L2. This VM
  reports a 32 MB L3; a 16.8 MB float32 chain streams for +0.02 ms and a
  33.6 MB chain for +0.24 ms, so the knee lies where the float32 foreign
  nets are (16-24 MB of weights). float32 without factors: 15.6% / 36%
  with the step, 11.2% / 50% with the curve. int8 nets (0.5-6 MB) get a
  smaller term than the step gave them (+0.01-0.035 ms).

What is left, measured by timing every op of four nets alone (tables
above):

- **int8 EfficientNetB0**: its ops alone sum to 1.34x the whole net (its
  swish MULs and squeeze-and-excitation ops run far cheaper inside it), and
  it is predicted at 1.25x. The random nets hold too little swish for the
  MUL factor to get there. Next: time the swish pair (LOGISTIC + MUL) as
  one probe, as the converter and XNNPACK run it.
- **float32 EfficientNetB0 and the wide MobileNets** (16-24 MB of
  weights): the whole net is slower than its ops alone (0.77) by more than
  the curve gives. Finer points do not help: chains of 23.8 MB cost only
  +0.08 ms more than their layers, so a chain of weights alone streams
  less than a net holding the same weights. Reading the curve at the
  weights plus the activation bytes of the net's ops (W + A) does help
  float32 (tuning nets 15.9% -> 12.1% MAPE, test nets 50% -> 57% within
  10%) at a small cost for int8 (tuning 8.5% -> 9.0%, within 10% level); not
  adopted yet, as the space's own predictions would have to count A too
  and be validated again.
- **float32 MobileNetV3Small**: its ops alone add up to the whole net but
  the op model predicts 0.88 of it (the op model's fit error on float32
  probes is 20%).
- **Build time**: the int8 table with probes took 27 min (24 random nets)
  plus 4.5 min for the other 40; float32 23 min with all 64. The issue's
  budget is 15 min; the 2-pass rule on a loaded 2-vCPU VM dominates.
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
    table = load_table(path)
    op_model = fit_table(table)
    op_model.save(op_model_path(path))
    rep = validate(table, path, runner, space, FLAGS.num_archs, zoo=True, op_model=op_model,
                   nets=list(DEFAULT_NETS) + list(TUNING_NETS))
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
            "op_model": {"fit": op_model.fit_rel_rmse, "loo": op_model.loo_rel_rmse},
            "in_net": len(in_net_nets(table)), "factors": op_model.in_net,
            "ridge": op_model.in_net_ridge,
            "all": summary(main), "foreign": summary(test), "tuning": summary(tuning),
            "space": summary([r for r in rows if r.group == "space"]),
            "zoo": summary([r for r in rows if r.group == "zoo"]),
            "by_group": rep.by_group, "nets": [(r.name, r.group, r.predicted_ms, r.measured_ms)
                                               for r in test + tuning],
            "isolated": isolated, "png": os.path.basename(png)}


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
                  f"run, {r['build_s'] / 60:.1f} min); op model fit error {r['op_model']['fit']:.1%}, "
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
                  "", "| net | family | predicted ms | measured ms | error |",
                  "|---|---|---|---|---|"]
        for name, group, p, m in r["nets"]:
            lines.append(f"| {name} | {group} | {p:.3f} | {m:.3f} | {p / m - 1:+.1%} |")
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
