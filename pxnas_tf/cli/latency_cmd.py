"""Latency tables: build them on a target, import the published one, predict, validate.

usage:
  %s build --space=NAME|FILE --device=host|tf:cpu|tf:gpu[:N]|adb[:SERIAL,...]|linux:PATH
      --precision=int8|float32|fp16 --threads=N --out=TABLE.json
      [--benchmark_model=PATH] [--cpu_mask=f0] [--noxnnpack] [--use_gpu] [--extra_archs=zoo] [--probes]
      [--tf_batch=8] [--tf_xla]
  %s import --yaml=PUBLISHED.yaml --out=TABLE.json [--metadata=device=Pixel 1,threads=1,...]
  %s export --table=TABLE.json --yaml=OUT.yaml
  %s predict --table=TABLE.json (--arch=ARCH.json|ZOO_NAME | --keras_model=NET.keras |
      --tflite=NET.tflite) [--json]
  %s validate --table=TABLE.json [--num_archs=30] [--nozoo] [--nets=default|SPEC,...]
      [--device=...] [--json]
  %s show --table=TABLE.json [--space=NAME]

A build is resumable: the table is saved after every measurement; run the
same command again to continue (nothing is measured twice). A table never
mixes targets: another device, thread count, precision, delegate, batch
size or XLA setting needs another --out. `predict` and `validate` use the
table where it has a layer and the op model fitted on it
(TABLE.opmodel.json) where it does not.

--device=tf:cpu|tf:gpu[:N] times the Keras models in the TensorFlow runtime
(graph mode) at --tf_batch images (default 8), with --tf_xla for XLA;
--precision defaults to float32 there (fp16: mixed float16, GPU only).
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags

from pxnas_tf import fileio
from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError
from pxnas_tf.latency.build.foreign_nets import DEFAULT_NETS, TUNING_NETS, parse_spec
from pxnas_tf.latency.build.settings import BuildSettings
from pxnas_tf.latency.measure.devices import make_runner
from pxnas_tf.latency.measure.runner import MeasureSettings
from pxnas_tf.latency.model.metadata import unknown_target
from pxnas_tf.latency.model.op_model import OpModelError, fit_table, load_or_fit, op_model_path
from pxnas_tf.latency.model.predictor import predict, predict_ops, table_coverage
from pxnas_tf.latency.model.table import LatencyTable, LatencyTableError, TableMetadata, load_table
from pxnas_tf.search_space import load_space

FLAGS = flags.FLAGS
ACTIONS = ("build", "import", "export", "predict", "validate", "show")


def define_flags() -> None:
    flag_defs.define_latency_flags()


def _settings():
    try:
        return MeasureSettings(
            warmup_runs=FLAGS.warmup_runs, runs=FLAGS.num_runs, min_rounds=FLAGS.min_rounds,
            max_rounds=FLAGS.max_rounds, max_spread=FLAGS.max_spread,
            timeout_s=FLAGS.timeout_s, max_load=FLAGS.max_load, max_wait_s=FLAGS.max_wait_s)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _build_settings():
    try:
        return BuildSettings(min_passes=FLAGS.min_passes, probe_passes=FLAGS.probe_passes,
                             max_passes=FLAGS.max_passes,
                             agree_tol=FLAGS.agree_tol, batch_size=FLAGS.batch_size,
                             max_measurements=FLAGS.max_measurements,
                             weight_streaming=FLAGS.weight_streaming,
                             footprint=FLAGS.footprint, context=FLAGS.context)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _is_tf() -> bool:
    return (FLAGS.device or "").strip().startswith("tf:")


def _precision(table_precision: str | None = None) -> str:
    """--precision; on the tf runner it defaults to float32 (build) or the
    table's (validate), not int8."""
    if _is_tf() and not FLAGS["precision"].present:
        return table_precision or "float32"
    return FLAGS.precision


def _runner(table_precision: str | None = None):
    return make_runner(FLAGS.device, threads=FLAGS.threads, xnnpack=FLAGS.xnnpack,
                       settings=_settings(), benchmark_model=FLAGS.benchmark_model,
                       cpu_mask=FLAGS.cpu_mask, use_gpu=FLAGS.use_gpu, adb_path=FLAGS.adb,
                       adb_timeout_s=FLAGS.adb_timeout_s,
                       precision=_precision(table_precision), tf_batch=FLAGS.tf_batch,
                       tf_xla=FLAGS.tf_xla)


def _need(flag: str, example: str) -> str:
    value = getattr(FLAGS, flag)
    if not value:
        raise UsageError(f"--{flag} is required, e.g. --{flag}={example}")
    return value


def _table():
    path = _need("table", "table.json")
    if not os.path.exists(path):
        raise UsageError(f"--table={path!r} does not exist; build one with `pxnas latency build` "
                         "or import the published YAML with `pxnas latency import`")
    return path, load_table(path)


def _space_overrides() -> dict:
    """--input_shape / --num_classes, where given, for the space."""
    out = {}
    if FLAGS.input_shape:
        out["input_shape"] = [int(v) for v in FLAGS.input_shape]
    if FLAGS.num_classes:
        out["num_classes"] = FLAGS.num_classes
    return out


def _space_of(table):
    if FLAGS.space:
        return load_space(FLAGS.space, **_space_overrides())
    spec = table.metadata.space_spec
    if isinstance(spec, dict):
        return load_space(spec)
    if not table.metadata.space:
        raise UsageError(f"{table.name} does not name its search space; pass --space")
    return load_space(table.metadata.space)


def main(argv: list[str]) -> None:
    args = argv[1:]
    if not args or args[0] not in ACTIONS:
        got = f" {args[0]!r}" if args else ""
        raise UsageError(f"unknown or missing action{got}: one of {', '.join(ACTIONS)}")
    if len(args) > 1:
        raise UsageError(f"unexpected arguments {args[1:]}")
    {"build": _build, "import": _import, "export": _export, "predict": _predict,
     "validate": _validate, "show": _show}[args[0]]()


# Actions --------------------------------------------------------------------------

def _build() -> None:
    from pxnas_tf.latency.build.builder import build_table

    space = load_space(_need("space", "proxyless_small"), **_space_overrides())
    out = _need("out", "table.json")
    if not out.endswith(".json"):
        raise UsageError(f"--out={out!r} must end with .json (export YAML with `latency export`)")
    with fileio.exclusive(out, "--out", folder=False), _runner() as runner:
        report = build_table(space, runner, out, _precision(), _build_settings(),
                             FLAGS.models_dir, progress=FLAGS.progress,
                             extra_archs=FLAGS.extra_archs or (), probes=FLAGS.probes)
    if not report.complete:
        print(f"stopped after {report.measured} measurements (--max_measurements); "
              f"{len(report.table)} keys saved in {out}. Run the same command to resume.")
        return
    try:
        model = fit_table(report.table)
        model.save(op_model_path(out))
    except OpModelError as e:
        model = None
        print(f"  no op model: {e}")
    waited = getattr(runner, "waited_s", 0.0)
    print(f"wrote {out}: {len(report.table)} entries ({report.measured} measurements, "
          f"{report.reused} keys reused) in {report.elapsed_s:.0f} s (converting "
          f"{report.convert_s:.0f} s" + (f", waiting for a quiet machine {waited:.0f} s)"
                                         if waited else ")"))
    if report.stages_s:
        print("  stages: " + ", ".join(f"{name} {s:.0f} s" for name, s in report.stages_s.items()))
    if report.unstable:
        print(f"  {len(report.unstable)} key(s) flagged unstable (passes disagreed): "
              + ", ".join(report.unstable[:3]) + (" ..." if len(report.unstable) > 3 else ""))
    if model is not None:
        print(f"  op model: fit error {model.fit_rel_rmse:.1%}, leave-one-out "
              f"{model.loo_rel_rmse:.1%} -> {op_model_path(out)}")


def _import() -> None:
    path = _need("yaml", "proxylessnas_mobile_trim.yaml")
    out = _need("out", "table.json")
    meta = {}
    for item in FLAGS.metadata or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--metadata item {item!r} is not NAME=VALUE")
        value = value.strip()
        meta[name.strip()] = int(value) if name.strip() == "threads" and value.isdigit() else value
    if FLAGS.space:
        meta.setdefault("space", FLAGS.space)
    try:
        table = LatencyTable.from_yaml(path, TableMetadata.from_dict(meta, "--metadata"))
    except LatencyTableError:
        raise
    table.source = out
    table.save(out)
    print(f"imported {len(table)} entries from {path} into {out}")


def _export() -> None:
    path, table = _table()
    out = _need("yaml", "table.yaml")
    table.to_yaml(out)
    print(f"wrote {out}: {len(table)} entries in the published format (key: count, mean, var)")


def _load_keras(path: str):
    if not os.path.exists(path):
        raise UsageError(f"--keras_model={path!r} does not exist")
    import keras
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for unreadable files
        raise UsageError(f"cannot load Keras model {path!r}: {e}") from None


def _read_tflite(path: str) -> bytes:
    if not os.path.isfile(path):
        raise UsageError(f"--tflite={path!r} does not exist")
    from pxnas_tf.tflite.file import TFLiteFileError, read_model
    with open(path, "rb") as f:
        content = f.read()
    try:
        read_model(content)
    except TFLiteFileError as e:
        raise UsageError(f"--tflite={path!r}: {e}; give a .tflite file") from None
    return content


def _predict() -> None:
    from pxnas_tf.models import zoo

    path, table = _table()
    given = [name for name in ("arch", "keras_model", "tflite") if getattr(FLAGS, name)]
    if len(given) != 1:
        raise UsageError("give exactly one of --arch=ARCH.json|ZOO_NAME, --keras_model=NET.keras "
                         "and --tflite=NET.tflite")
    op_model = load_or_fit(table, path) if len(table) >= 3 else None
    if FLAGS.keras_model or FLAGS.tflite:
        if op_model is None:
            raise UsageError(f"{path} has too few entries to fit an op model")
        from pxnas_tf.latency.build import tflite_ops
        if FLAGS.tflite:
            content = _read_tflite(FLAGS.tflite)
        else:
            content = tflite_ops.keras_to_tflite(_load_keras(FLAGS.keras_model),
                                                 table.metadata.precision or "float32")
        ops = tflite_ops.ops_of_tflite(content)
        p = predict_ops(ops, table, op_model)
        result = {"latency_ms": p.total_ms, "std_ms": p.std_ms, "source": "op_model",
                  "model": FLAGS.keras_model or FLAGS.tflite, "ops": len(ops),
                  "streaming_ms": p.streaming_ms}
    else:
        arch = zoo.resolve_arch(FLAGS.arch, FLAGS.space, input_shape=FLAGS.input_shape,
                                num_classes=FLAGS.num_classes, width_mult=FLAGS.width_mult)
        p = predict(arch, table, op_model)
        counted = [layer for layer in p.layers if layer.key is not None]
        from_op_model = sum(layer.source == "op_model" for layer in counted)
        result = {"latency_ms": p.total_ms, "std_ms": p.std_ms, "source": p.source,
                  "arch": arch.name or FLAGS.arch, "arch_string": arch.arch_string,
                  "layers_from_table": len(counted) - from_op_model,
                  "layers_from_op_model": from_op_model}
        if FLAGS.layers:
            rows = [{"name": layer.name, "op": layer.op, "key": layer.key, "ms": layer.ms,
                     "source": layer.source} for layer in p.layers]
            result["layers"] = rows
    result["table"] = path
    if FLAGS.json:
        print(json.dumps(result))
        return
    what = result.get("arch", result.get("model"))
    print(f"{what}: {result['latency_ms']:.4f} ms +/- {result['std_ms']:.4f} "
          f"({result['source']}; {table.metadata.device}, {table.metadata.precision}, "
          f"{table.metadata.threads} thread(s))")
    if result.get("layers_from_op_model"):
        n = result["layers_from_op_model"] + result["layers_from_table"]
        built_for = table.metadata.space
        print(f"  {result['layers_from_op_model']} of {n} layers are not in the table"
              + (f" (built for space {built_for!r})" if built_for else "")
              + ": the op model predicts them (its error is in the +/-); a table built for this "
              "arch's space and input shape predicts every layer from measurements")
    for row in result.get("layers", []):
        print(f"  {row['name']:<12} {str(row['op'] or ''):<7} {row['ms']:9.4f} ms  {row['source']}")


def _validate() -> None:
    from pxnas_tf.latency.build import machine_state
    from pxnas_tf.latency.build.validation import validate

    nets = _nets()  # a bad spec is named before anything is loaded
    path, table = _table()
    space = _space_of(table)
    op_model = load_or_fit(table, path) if len(table) >= 3 else None
    if FLAGS.num_archs < 0:
        raise UsageError("--num_archs must be >= 0")
    with _runner(table.metadata.precision) as runner:
        rep = validate(table, path, runner, space, FLAGS.num_archs, FLAGS.seed, FLAGS.zoo,
                       op_model, _build_settings(), FLAGS.plot, FLAGS.progress, nets,
                       FLAGS.state_passes, lambda m: print(m, file=sys.stderr))
    known = not unknown_target(table.metadata)
    if FLAGS.json:
        print(json.dumps({**rep.to_dict(), "table_target_known": known}))
        return
    if not known:
        print(f"note: {path} names no device or runner (an imported table): its latencies may "
              "be of another device than the one measured here, and the errors below include "
              "that difference (record the target with `pxnas latency import --metadata=device="
              "...,runner=...`)")
    print(f"{'net':<26} {'predicted':>10} {'measured':>10} {'error':>8}  source")
    for r in rep.results:
        flag = f"  [{','.join(r.flags)}]" if r.flags else ""
        print(f"{r.name:<26} {r.predicted_ms:10.4f} {r.measured_ms:10.4f} {r.error:+8.1%}  "
              f"{r.source}{flag}")
    s = rep.summary
    print(f"\n{s['n']} nets: MAPE {s['mape']:.2%}, RMSE {s['rmse_ms']:.4f} ms, within +/-10% "
          f"{s['within_10pct']:.0%}, Kendall tau {s['kendall_tau']:.3f}"
          + ("" if known else " (the table's target is unknown: see the note above)"))
    for g, m in rep.by_group.items():
        print(f"  {g:<6} ({m['n']}): MAPE {m['mape']:.2%}, within +/-10% "
              f"{m['within_10pct']:.0%}, tau {m['kendall_tau']:.3f}")
    verdict = machine_state.verdict(rep.machine["state"])
    print(f"machine against the build: {machine_state.describe(rep.machine['state'])}"
          + (f": {verdict}" if verdict else ""))
    if rep.plot:
        print(f"wrote {rep.plot}")


def _nets() -> list[str]:
    specs = []
    for item in FLAGS.nets or []:
        specs += {"default": DEFAULT_NETS, "tuning": TUNING_NETS}.get(item, [item])
    for spec in specs:
        parse_spec(spec)
    return list(dict.fromkeys(specs))


def _show() -> None:
    path, table = _table()
    meta = table.metadata.to_dict()
    print(f"{path}: {len(table)} entries")
    for name in ("device", "runtime", "runtime_version", "threads", "precision", "delegate",
                 "batch", "xla", "date", "space", "complete"):
        if meta.get(name) is not None:
            print(f"  {name}: {meta[name]}")
    flagged = [(k, e.flags) for k, e in table.entries.items() if e.flags]
    if flagged:
        print(f"  {len(flagged)} flagged entries:")
        for key, f in flagged[:10]:
            print(f"    {key}  {list(f)}")
    if FLAGS.space or table.metadata.space:
        space = _space_of(table)
        cov = table_coverage(space, table)
        print(f"  covers space {space.name!r}: {'yes' if cov.complete else 'no'} "
              f"({len(cov.missing)} missing, {len(cov.unused)} unused keys)")
