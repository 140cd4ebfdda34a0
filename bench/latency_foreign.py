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
# What the figures say, written by hand after the run of 2026-12-07 (update
# it with the figures when the model changes).
FINDINGS = """### Eighth round: how far the measurement itself moves; the L3's knee in the context chains (2026-12-07, early morning, AMD EPYC VM)

The tables above are the seventh round's (its text follows). This round's
fresh int8 builds are kept whole in
[history.md](history.md#latency_foreign_epyc_eighth_a).

- **Does the signal exceed its noise?** `bench/latency_repeatability.py`
  timed the seventh round's foreign net files in six rounds 150 s apart,
  with no build ([latency_repeatability.md](latency_repeatability.md)).
  float32: the same files ranged up to 1.53x within 17 minutes, and in 3
  of the 6 rounds no fixed prediction per net could have been within 10%
  of more than 81% of the 26 foreign nets (the goal: 90%). int8: every net
  within 1.16x, 100% reachable in every round. So the float32 goal cannot
  be decided on this host while other tenants share its L3, and the int8
  misses are the model's.
- **What changed: the context chains sample the L3's knee**
  (`context.chain_copies`). Besides chains of 1, 2, 4 and 8 copies, a
  group gets the chain of round(L3 / F_k) copies where that lies between
  them: in int8 here 3 copies of the 1x1x256 k7_e6 block (10.7 MB each)
  and 6 of the k7_e3 one. The 3-copy chain already loses 0.050-0.058 ms a
  copy, as much as 4 or 8 copies, where the fit through 1, 2, 4 and 8 had
  put C at 35 MB. On the seventh round's int8 table, fitted again with a
  3-copy chain timed this round: zoo:proxyless_mobile -14.0% -> -10.2%,
  proxyless_gpu -6.6% -> -4.5%, proxyless_mobile_14 -6.6% -> -5.7%.
- **A fresh int8 build with it** (9.7 min; its nets measured right
  after): random archs + test nets 3.9% / 95% / 0.98 and the test nets
  93% within 10%, those goals met; the foreign nets with the zoo 89% (17
  of 19; goal 90%): zoo:proxyless_mobile -18.5%, mobilenetv2_a1.4@32
  -12.4%. 25 of the 26 foreign nets were predicted low, by 2-19%; the
  machine during the validation: small models x1.005, cache-sized nets
  x1.035 of the build's times.
- **Why zoo:proxyless_mobile stays low.** At 32x32 its last five blocks
  are 7x7 blocks on 1x1 maps holding 3.5-6.9 MB of XNNPACK buffers each;
  with them the net holds about 30 MB, next to the 32 MB L3. Its layers
  timed alone sum to 0.370 ms (the op model's figure for each within 16%
  of it); whole, the net ran 0.87-0.95 ms in five builds. The extra
  0.52-0.58 ms is about 0.019 ms per MB of the net's memory, what a chain
  of 8 such blocks pays per MB once none of it stays in the L3; the model
  gives it 0.36-0.39 ms (the streaming curve at 30 MB, still below that
  curve's knee, plus a context term with phi < 1). The chains of 1x1
  convs that measure the streaming curve keep more of 30 MB in the L3
  than this net does.
- **They sit on the knee.** Counting the buffers 1.5 times in the
  streaming footprint (offline, the seventh round's int8 table) moves
  zoo:proxyless_mobile from -14.0% to +10.1% and proxyless_gpu from -6.6%
  to +14.7%, the random archs not at all (MAPE 2.2% both): for the zoo's
  large nets a footprint 10% off moves the prediction about 6%, and the
  L3 share this VM gets moves with its neighbours. A weight of 1.25 would
  put every zoo net of the last four int8 builds within 10% but one
  (proxyless_gpu +10.9% in one build; proxyless_mobile -6.6% to +2.8%),
  the random archs unchanged; it was not taken, since it would be chosen
  on the validation's own nets. What would justify a weight is a build
  measurement: chains of distinct 1x1-map 7x7 blocks, as these nets end.
- **A second fresh int8 build with it** (13.7 min,
  [history.md](history.md#latency_foreign_epyc_eighth_b)): every goal
  met. Random archs + test nets 2.6% / 98% / 0.99, test nets 93% and the
  foreign nets with the zoo 95% within 10% (18 of 19; mobilenetv2_a1.4@32
  -12.0%), the zoo 100% (zoo:proxyless_mobile -8.2%); the machine during
  the validation x1.006 / x1.019.
- Over the sixth to eighth rounds, int8 met every goal on 3 of 6 fresh
  builds (1 of 2 with the knee chains), float32 on 1 of 5.
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
            "ridge": op_model.in_net_ridge, "reread": op_model.reread_per_mb,
            "all": summary(main), "foreign": summary(test), "tuning": summary(tuning),
            "space": summary([r for r in rows if r.group == "space"]),
            "zoo": summary([r for r in rows if r.group == "zoo"]),
            "by_group": rep.by_group,
            "test_zoo": summary(test + [r for r in rows if r.group == "zoo"]),
            "nets": [(r.name, r.group, r.predicted_ms, r.measured_ms, _spread(r.runs))
                     for r in test + tuning + [r for r in rows if r.group == "zoo"]],
            "isolated": isolated, "png": os.path.basename(png), "machine": rep.machine,
            "zoo_size": space.input_shape[0],
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
                      if abs(v - 1) >= 0.05) or "none departs from 1 by 5% or more")
                  + (f"; one-pixel products re-read their weights at {r['reread']:.4f} ms per MB"
                     if "reread" in r else "") + ".",
                  f"- Random archs of the space: {_fmt(r['space'])}.",
                  f"- Test set (14 foreign nets): {_fmt(f)}: within-10% goal "
                  f"{ok(f['within_10pct'], GOALS['foreign_within_10pct'])}.",
                  f"- Random archs + test set: {_fmt(a)}: MAPE {ok(a['mape'], GOALS['mape'], True)}"
                  f", within 10% {ok(a['within_10pct'], GOALS['within_10pct'])}, tau "
                  f"{ok(a['kendall_tau'], GOALS['kendall_tau'])}.",
                  f"- Tuning nets: {_fmt(r['tuning'])}.",
                  f"- Zoo nets at {r['zoo_size']}x{r['zoo_size']} (the space's input; table layers "
                  f"+ op model + context): {_fmt(r['zoo'])}.",
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
