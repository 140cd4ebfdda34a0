"""Stage 8: summary.json, the printed summary and report.md."""

from __future__ import annotations

import os

from pxnas_tf import fileio
from pxnas_tf.pipeline.config import (
    SUMMARY_FORMAT, ExportStage, PipelineConfig, SearchStage, TableStage, Target, TrainStage,
)


def make_summary(config: PipelineConfig, table: TableStage, target: Target, found: SearchStage,
                 trained: TrainStage, exported: ExportStage, figures: dict,
                 search_sizes: dict, seconds: float, replicas: int = 1) -> dict:
    """The summary.json document (pure: only reads its arguments);
    `replicas`: of the strategy the search and the training ran under."""
    s = found.summary
    verification = exported.doc.get("verification") or {}
    lat = verification.get("latency") or {}
    files = {"latency table": table.path, "arch": found.files["arch"],
             "search history": found.files["history"], "keras model": trained.model,
             "tflite": exported.path, "tflite report": exported.sidecar, **figures,
             "summary": config.path("summary"), "report": config.path("report")}
    return {
        "format": SUMMARY_FORMAT,
        "config": config.to_dict(),
        "replicas": replicas,
        "target": {"runner": config.runner, "device": table.device,
                   "precision": config.precision, "threads": config.threads},
        "latency": {"table": table.path, "fastest_ms": target.fastest,
                    "slowest_ms": target.slowest, "target_ms": target.target,
                    "target_how": target.how, "entries": table.entries,
                    "unstable_keys": len(table.unstable)},
        "search": {"arch": s.get("arch"), "derived_by": s.get("derived_by"), "loss": found.loss,
                   "predicted_ms": predicted_ms(s), "expected_ms": s.get("expected_latency"),
                   "holdout_top1": s.get("holdout_accuracy"), "params": s.get("params"),
                   "macs": s.get("macs"), "weight_steps": s.get("weight_steps"),
                   "arch_steps": s.get("arch_steps"), "decided": s.get("decided"),
                   "temperature": s.get("temperature"), "sizes": search_sizes},
        "train": {"epochs": trained.results.get("epochs"),
                  "val_top1": trained.results.get("val_top1"),
                  "best_val_top1": trained.results.get("best_val_top1"),
                  "warm_start": trained.results.get("warm_start")},
        "export": {"mode": exported.doc.get("mode"),
                   "size_bytes": verification.get("size_bytes"),
                   "integer_only": verification.get("integer_only"),
                   "examples": verification.get("examples"),
                   "float_top1": verification.get("keras_top1"),
                   "tflite_top1": verification.get("tflite_top1"),
                   "agreement": verification.get("agreement"),
                   "predicted_ms": verification.get("predicted_latency_ms"),
                   "measured_ms": lat.get("median_ms"),
                   "measured_flags": list(lat.get("flags") or []),
                   "measured_on": lat.get("device")},
        "stages": {name: {"seconds": round(stage.seconds, 1), "reused": stage.reused}
                   for name, stage in (("table", table), ("search", found), ("train", trained),
                                       ("export", exported))},
        "seconds": round(seconds, 1),
        "files": files,
    }


def predicted_ms(search_summary: dict) -> float | None:
    """Pure: the derived net's whole prediction (`predict`) from a search
    summary; its per-block sum in summaries written before the search
    recorded both."""
    s = search_summary
    return s.get("predicted_latency", s.get("latency"))


def convergence_line(search_summary: dict, target: float) -> str:
    """Pure: E[LAT], the target, the derived net's latency and the mean
    largest op probability in one line (how to tell that the search
    decided: E[LAT] and the derived net near the target, p_max near 1)."""
    s = search_summary
    expected, derived, decided = s.get("expected_latency"), predicted_ms(s), s.get("decided")

    def rel(v):
        return "n/a" if v is None else f"{v:.3f} ms ({(v - target) / target:+.1%})"
    return (f"E[LAT] {rel(expected)}, derived {rel(derived)} against the target {target:.3f} "
            f"ms; mean largest op probability "
            f"{'n/a' if decided is None else f'{decided:.2f}'}")


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _ms(v) -> str:
    return "n/a" if v is None else f"{v:.3f} ms"


def summary_lines(summary: dict) -> list[str]:
    """Pure: the short human-readable summary of a summary.json document."""
    lat, s, t, e = summary["latency"], summary["search"], summary["train"], summary["export"]
    tgt = summary["target"]
    error = ""
    if e.get("measured_ms") and e.get("predicted_ms"):
        error = (f" (prediction error "
                 f"{(e['predicted_ms'] - e['measured_ms']) / e['measured_ms']:+.1%})")
    where = "this host" if tgt["runner"] == "host" else tgt["runner"]
    measured = (f"measured {_ms(e.get('measured_ms'))} on {where}"
                + (f" [{', '.join(e['measured_flags'])}]" if e.get("measured_flags") else "")
                if e.get("measured_ms") is not None else "not measured (not the host runner)")
    if tgt["runner"].startswith("tf:") and e.get("measured_ms") is not None:
        measured += f" (per batch of {summary['config'].get('tf_batch')})"
    lines = [
        f"target          {tgt['device']}, {tgt['precision']}, {tgt['threads']} thread(s)",
        f"latency range   {lat['fastest_ms']:.3f} .. {lat['slowest_ms']:.3f} ms over the space; "
        f"target {lat['target_ms']:.3f} ms ({lat['target_how']})",
        f"derived arch    {s['arch']}  ({s['derived_by']}, loss {s['loss']})",
        "search          " + convergence_line(
            {"expected_latency": s.get("expected_ms"), "latency": s.get("predicted_ms"),
             "decided": s.get("decided")}, lat["target_ms"]),
        f"cost            {s['params']:,} params, {s['macs'] / 1e6:.2f}M MACs",
        f"latency         table predicts {_ms(e.get('predicted_ms') or s.get('predicted_ms'))}, "
        f"{measured}{error}",
        f"accuracy        float {_pct(e.get('float_top1'))}, {e.get('mode')} "
        f"{_pct(e.get('tflite_top1'))} on {e.get('examples')} test images "
        f"(agreement {_pct(e.get('agreement'))}"
        + (f"; int8-only ops: {'yes' if e.get('integer_only') else 'no'})"
           if e.get("mode") in ("int8", "qat") else ")"),
        f"search holdout  {_pct(s.get('holdout_top1'))} (supernet weights); trained "
        f"{t.get('epochs')} epoch(s), val top-1 {_pct(t.get('val_top1'))}",
        "time            " + ", ".join(
            f"{name} {v['seconds']:.0f} s" + (" (reused)" if v["reused"] else "")
            for name, v in summary["stages"].items()) + f"; total {summary['seconds']:.0f} s",
    ]
    lines.append("files")
    lines += [f"  {name:<16} {path}" for name, path in summary["files"].items()]
    return lines


def report_markdown(summary: dict) -> str:
    """Pure: report.md, a short markdown account of the run."""
    s, lat, e = summary["search"], summary["latency"], summary["export"]
    cfg = summary["config"]
    rows = "\n".join(f"| {name} | {v['seconds']:.0f} s | {'reused' if v['reused'] else 'ran'} |"
                     for name, v in summary["stages"].items())
    files = "\n".join(f"- {name}: `{path}`" for name, path in summary["files"].items())
    sizes = s.get("sizes") or {}
    arch_cell = str(s["arch"]).replace("|", "\\|")  # a | inside a table cell must be escaped
    return f"""# pxnas pipeline report

Dataset `{cfg['dataset']}`, space `{cfg['space']}`; target {summary['target']['device']}, \
{summary['target']['precision']}, {summary['target']['threads']} thread(s).

Subsets for speed: search on {sizes.get('train')} training images with an arch holdout of \
{sizes.get('arch')}, {cfg['search_warmup_epochs']} warm-up + {cfg['search_epochs']} search \
epoch(s); training on {cfg['train_examples'] or 'all'} images for {cfg['epochs']} epoch(s); \
verification on {e.get('examples')} test images. A smoke run of the whole job, not a benchmark.

## Result

| | |
|---|---|
| latency range of the space | {lat['fastest_ms']:.3f} .. {lat['slowest_ms']:.3f} ms |
| target | {lat['target_ms']:.3f} ms ({lat['target_how']}) |
| derived arch | `{arch_cell}` ({s['derived_by']}) |
| search | {convergence_line({"expected_latency": s.get("expected_ms"), "latency": s.get("predicted_ms"), "decided": s.get("decided")}, lat["target_ms"])} |
| params, MACs | {s['params']:,}, {s['macs'] / 1e6:.2f}M |
| predicted latency (table) | {_ms(e.get('predicted_ms') or s.get('predicted_ms'))} |
| measured latency ({e.get('measured_on') or 'not measured'}) | {_ms(e.get('measured_ms'))} |
| float top-1 | {_pct(e.get('float_top1'))} |
| {e.get('mode')} top-1 | {_pct(e.get('tflite_top1'))} |
| top-1 agreement | {_pct(e.get('agreement'))} |

![derived net]({os.path.basename(summary['files'].get('net figure', ''))})

![search dynamics]({os.path.basename(summary['files'].get('search dynamics', ''))})

## Stages

| stage | wall time | |
|---|---|---|
{rows}

Total {summary['seconds']:.0f} s.

## Files

{files}
"""


def write_report(summary: dict) -> tuple[str, str]:
    """Writes summary.json and report.md (the paths the summary names)."""
    fileio.atomic_write_json(summary["files"]["summary"], summary)
    fileio.atomic_write_text(summary["files"]["report"], report_markdown(summary))
    return summary["files"]["summary"], summary["files"]["report"]
