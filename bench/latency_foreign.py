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
FINDINGS = """### Seventh round: the machine's state during a validation (2026-12-07, night, AMD EPYC VM)

Both tables above were built fresh by this round's code and their nets
measured right after (int8 built 00:36-00:47 and measured until 00:54,
float32 built 00:55-01:10 and measured until 01:18). Every run of the
sixth round is kept in [history.md](history.md#latency_foreign_epyc_sixth_d).

- **What changed: a validation times the table's own models again.**
  `pxnas latency validate` (and this bench) times, in the same passes as
  its nets and interleaved with them, the 16 drift reference keys of the
  table's in-net record (small models, in the caches) and its 16 large
  in-net nets (10-30 MB at float32, as large as the keras.applications
  nets), and compares their lowest passes with their values in the table
  (`machine_state`). While either kind runs more than 5% slower it takes
  up to two more passes of everything a minute apart (`--state_passes`),
  then prints the state it ended in, and what a state more than 5% off
  means: slower, the errors include it; faster, the table was measured in
  a slow spell and predicts high.
- **int8** (built in 11.3 min): random archs + test nets 2.9% / 95% /
  0.98, every goal met; the test nets alone 86% and with the zoo 84%
  within 10% (goal 90%): mobilenetv2_a1.4@32 -10.4%, mobilenetv3small_min
  +11.6%, zoo:proxyless_mobile -14.0%. The machine during the validation:
  small models x1.014, cache-sized nets x1.022 of the build's times.
- **float32** (built in 15.1 min, the goal's 15 passed by 0.1): every
  goal missed, 24 of the 26 foreign nets predicted high (test nets MAPE
  14.1%, 50% within 10%; with the zoo 53%). The machine during the
  validation: small models x0.977, cache-sized nets x0.940: faster than
  during the build. The same model files' lowest passes against the fifth
  round's build: blocks 1.040, probes 1.028, in-net nets 1.046, the
  validation's foreign nets 0.989 (the sixth round's builds: 0.966-0.996,
  0.954-1.057, 1.016-1.060 and 0.994-1.035). The build's stages ran long
  for the same reason: keys 2.8 min (1.7-2.5 before), context 5.2
  (2.7-3.2), in-net passes 2.9 (0.7-2.5), more passes being needed
  before two agreed.
- **Why a slow build costs more than its 4%.** The foreign nets'
  predictions are the op model's sum over their ops, times the in-net
  factors and the footprint factor, plus the streaming term; the factors
  are fit to whole random nets timed in the same build. mobilenetv3large@64
  (24 MB): op model 0.491 ms, x1.13 for the factors (the sixth round's
  first build: x0.90), + 0.153 ms streaming (0.136), predicted 0.710 against
  0.499 measured and 0.464 for its ops timed alone after the validation.
  gemv's factor went from 0.85 to 1.18 between those two builds, the
  footprint slope from 0 to 0.0024 per MB: each fitted term moves with
  the state of the machine during the minutes it was timed in.
- **The machine, timed every 30 s (a scratch script, 00:13-00:25, before
  the build):** 8 of the v10 float32 model files interleaved. Within 12
  minutes efficientnetb0@32 ran 0.41-0.79 ms and mobilenetv2_a1.3@48
  0.62-1.00 ms (their lowest passes in the sixth round's validations:
  0.377-0.440 and 0.595-0.674), while cnn@32 ran 0.096-0.130 ms and one
  1x1 conv 3.4-4.1 us; `/proc/stat` showed the machine quiet throughout.
- **Model variants checked offline** on the five builds' tables and
  measured nets (no new timing; scratch scripts): the streaming term left
  out (the footprint factor alone fit to the large nets), or charged only
  for the weights of ops at 1-4 pixels: float32 test-set MAPE over the five
  builds 8.5% and 7.5% against 7.2% as built. Ridge penalties 0.3-3 for
  the in-net factors instead of 0.1: float32 5.7-6.3% against 6.3%, int8
  3.5-3.8% against 3.6%, within the builds' spread. None is taken.
- **A second float32 build** (01:48-02:12, [history.md](history.md#latency_foreign_epyc_seventh_b)):
  built in 14.1 min (context 6.3); random archs 3.4% / 100%, random archs
  + test nets 4.6% / 89% / 0.97 (within 10% missed), the foreign nets with
  the zoo 63%. Its validation found the machine as during the build
  (small models x0.998, cache-sized nets x1.029), yet the large foreign
  nets were predicted 10-17% low (efficientnetb0@32 -16.8%, @64 -16.9%,
  mobilenetv2_a1.3@48 -16.5%) and the small ones 10-16% high (cnn@64
  +13.0%, mobilenetv3small_a0.75@80 +16.1%). The large ones ran 1.20-1.42x
  their times in the sixth round's first validation (efficientnetb0@32
  0.534 against 0.377 ms, mobilenetv3large@64 0.666 against 0.553), the
  small ones (under 4 MB) 1.03-1.05x; the large ones' ops timed alone
  summed to 0.63-0.68 of their whole times (0.70-0.93 in the build before). The table's own
  large nets, against their times in this build 25 minutes earlier: the
  three of 28-31 MB x1.03-1.11, those under 19 MB x0.98-1.07 (the median
  over all 16, x1.029, hides the largest). The in-net factors and the
  footprint slope (0.0013 per MB) were fit to them and still predicted
  the large foreign nets 10-17% low: the 16 large random nets do not show
  what nets of 20-25 MB such as EfficientNetB0 pay in such a state.
- **Where this leaves the goals.** Over the fresh builds of the sixth
  and seventh rounds the int8 model met every goal on two of four and
  float32 on one of five. On this shared VM the same float32 nets of 20-30 MB run up to 1.4x
  of each other between hours while small nets stay within 5%, and the
  table's fitted terms (in-net factors, footprint slope, streaming curve)
  move with the minutes they were timed in: the goals are decided by when
  a build and its validation ran as much as by the model. Not done: a
  build that times the references throughout and times again what was
  measured while they ran slow; large in-net nets that behave like
  EfficientNetB0 and MobileNetV2 at 20-25 MB (squeeze-and-excitation,
  1x1-pixel tails), so that the footprint terms are fit where the
  foreign nets lie.
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
