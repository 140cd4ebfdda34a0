"""Stage 4: train the derived net, warm-started from the supernet."""

from __future__ import annotations

import os
import time
from typing import Callable

from pxnas_tf.pipeline.config import PipelineConfig, TrainStage, _limit
from pxnas_tf.train import TrainConfig


def train_config(config: PipelineConfig):
    """The `TrainConfig` of the derived net (no lr warm-up after a warm start)."""
    return TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                       warmup_epochs=0.0 if config.warm_start else min(1.0, config.epochs),
                       seed=config.seed)


def train(arch, config: PipelineConfig, search_workdir: str | None = None,
          log: Callable[[str], None] = print, strategy=None) -> TrainStage:
    """Trains (or resumes, or reuses) the derived net in ``WORKDIR/train``,
    warm-started from the search's supernet when `search_workdir` is given.

    Raises:
        TrainError: the workdir holds a run of other settings.
    """
    from pxnas_tf import data
    from pxnas_tf.train import checkpoints, trainer
    from pxnas_tf.train.warm_start import is_search_workdir

    t0 = time.monotonic()
    cfg = train_config(config)
    splits = data.load(config.dataset, config.data_dir, batch_size=cfg.batch_size,
                       image_size=config.image_size, channels=config.channels, holdout_examples=0,
                       seed=cfg.seed, augment=True, train_examples=_limit(config.train_examples),
                       val_examples=_limit(config.val_examples))
    source = {"dataset": config.dataset, "data_dir": config.data_dir,
              "image_size": config.image_size, "channels": config.channels}
    workdir = config.path("train")
    files = checkpoints.paths(workdir)
    sizes = {"name": splits.name, "input_shape": list(splits.input_shape),
             "num_classes": splits.num_classes, "sizes": dict(splits.sizes)}
    results = trainer.finished_results(workdir, trainer.run_record(arch, cfg, sizes, source),
                                       cfg.epochs)
    if results is not None:
        log(f"    reusing the finished training in {workdir}")
        return TrainStage(results, _model_file(files), True, time.monotonic() - t0)
    warm = search_workdir if (config.warm_start and search_workdir
                              and is_search_workdir(search_workdir)) else None
    log(f"    {cfg.epochs} epoch(s) on {splits.sizes['train']} images (batch {cfg.batch_size}, "
        f"lr {cfg.lr} cosine), validation on {splits.sizes['validation']}"
        + (f"; warm start from the supernet in {warm}" if warm else ""))
    result = trainer.train(arch, splits, workdir, cfg, strategy=strategy, warm_start=warm,
                           data_source=source, verbose=1 if config.progress else 2)
    if result.warm_start:
        log(f"    warm start: {result.warm_start}")
    return TrainStage(result.to_dict(), _model_file(files), False, time.monotonic() - t0)


def _model_file(files: dict) -> str:
    return files["best"] if os.path.exists(files["best"]) else files["last"]
