"""Stages 5-7: export to TFLite and verify in LiteRT; the two figures."""

from __future__ import annotations

import time
from typing import Callable

from pxnas_tf.pipeline.config import ExportStage, PipelineConfig, Target, _limit, busy
from pxnas_tf.viz import save_arch_figure
from pxnas_tf.viz.search_plot import block_titles, save_search_figure


def export(arch, model_path: str, config: PipelineConfig, table_path: str | None = None,
           log: Callable[[str], None] = print) -> ExportStage:
    """Exports the trained net to ``WORKDIR/net_PRECISION.tflite`` and
    verifies it in LiteRT on the test subset (accuracy beside the Keras
    model's, agreement, int8-only, and, on the host runner, the measured
    latency beside the table's prediction). Reused while its sidecar says
    it was made, and verified, from the model file as it is now.

    Raises:
        ExportError, VerificationError: the file could not be made or failed
            its check (nothing is written then).
    """
    from pxnas_tf import data
    from pxnas_tf.export import current_export, export_tflite, sidecar_path
    from pxnas_tf.export.samples import take_arrays
    from pxnas_tf.export.verify import latency_settings

    t0 = time.monotonic()
    out = config.path("tflite")
    doc = current_export(out, model_path, config.precision)
    if doc is not None:
        log(f"    reusing {out} (made and verified from {model_path} as it is)")
        return ExportStage(out, sidecar_path(out), doc, True, time.monotonic() - t0)
    splits = data.load(config.dataset, config.data_dir, batch_size=256,
                       image_size=config.image_size, channels=config.channels, holdout_examples=0,
                       seed=config.seed, augment=False, drop_remainder=False,
                       train_examples=config.calibration_examples,
                       val_examples=_limit(config.val_examples))
    calibration, _ = take_arrays(splits.train, config.calibration_examples)
    images, labels = take_arrays(splits.validation, _limit(config.val_examples))
    # host: the file timed in LiteRT; tf:...: the Keras model in TensorFlow, at
    # the table's batch and reference speed (`export_tflite` decides by the table).
    measure = config.runner == "host" or (config.runner.startswith("tf:") and bool(table_path))
    log(f"    {config.precision}: calibrated on {len(calibration)} training images, verified on "
        f"{len(images)} test images" + (f", timed with {config.threads} thread(s)"
                                        if measure else ""))
    with busy(f"export {config.precision} + verify in LiteRT", config.progress):
        result = export_tflite(
            model_path, out, config.precision, arch=arch, calibration_images=calibration,
            eval_images=images, eval_labels=labels, normalization=splits.normalization.to_dict(),
            class_names=list(splits.class_names), verify=True, latency=measure,
            latency_table=table_path, latency_threads=config.threads,
            latency_settings=latency_settings(max_wait_s=config.max_wait_s))
    doc = result.to_dict()
    return ExportStage(result.path, result.sidecar, doc, False, time.monotonic() - t0)


def plots(arch, history_path: str, config: PipelineConfig, target: Target | None = None
          ) -> dict[str, str]:
    """The derived-net figure and the search-dynamics figure; returns their paths."""
    goal = f", target {target.target:.3g} {target.unit}" if target else ""
    net = save_arch_figure(arch, config.path("net_figure"),
                           title=f"searched for {config.runner} {config.precision}{goal}: "
                                 f"{arch.arch_string}")
    dynamics = save_search_figure(history_path, config.path("dynamics"),
                                  title=f"search dynamics ({arch.space.name}, "
                                        f"{config.dataset}{goal})",
                                  block_names=block_titles(arch.space),
                                  target_latency=target.target if target else None)
    return {"net figure": net, "search dynamics": dynamics}
