"""Stage 3: the latency-aware search and derive, resumed from its
checkpoints."""

from __future__ import annotations

import time
from typing import Callable

from pxnas_tf.pipeline.config import PipelineConfig, SearchStage, Target
from pxnas_tf.pipeline.target import arch_loss
from pxnas_tf.search_space import load_arch


def search_config(config: PipelineConfig, target: Target, loss: str):
    """The `SearchConfig` of the pipeline's search: the dataset's defaults,
    the pipeline's short schedule, arch steps from the first search epoch,
    and the pipeline's latency budget (band: the derived arch lies in
    [0.9 T, T])."""
    from pxnas_tf.search import SearchError, make_config

    try:
        return make_config(
            config.dataset, warmup_epochs=config.search_warmup_epochs,
            epochs=config.search_epochs, batch_size=config.search_batch_size,
            steps_per_epoch=config.search_steps_per_epoch, arch_lr=config.arch_lr,
            arch_every=config.arch_every, arch_beta1=config.arch_beta1,
            arch_samples=config.arch_samples,
            arch_temperature=config.arch_temperature,
            arch_delay_epochs=0, loss=loss, candidate_weights=config.candidate_weights,
            weight_paths=config.weight_paths, fair_paths=config.fair_paths,
            target_latency=target.target, latency_budget=config.latency_budget,
            seed=config.seed, path_seed=config.path_seed)
    except ValueError as e:
        raise SearchError(f"search settings: {e}") from None


def search_data(splits, steps_per_epoch: int | None = None):
    """The search's `SearchData`.

    Raises:
        SearchError: a subset smaller than one batch.
    """
    from pxnas_tf.search import SearchData, SearchError

    try:
        return SearchData.from_splits(splits, steps_per_epoch)
    except ValueError as e:
        raise SearchError(f"{e}: raise search_examples / holdout_examples or lower "
                          "search_batch_size") from None


def search(space, splits, latency, target: Target, config: PipelineConfig,
           log: Callable[[str], None] = print, strategy=None) -> SearchStage:
    """Runs (or resumes, or reuses) the latency-aware search in
    ``WORKDIR/search`` and derives the arch.

    Raises:
        SearchError: the workdir holds a search of other settings.
    """
    from pxnas_tf.search import records, run_search

    t0 = time.monotonic()
    loss = arch_loss(config.loss)
    cfg = search_config(config, target, loss)
    workdir = config.path("search")
    data = search_data(splits, cfg.steps_per_epoch)
    files = records.paths(workdir)
    record = records.run_record(space.to_dict(), data.identity(), cfg.to_dict(),
                                latency.to_dict() if latency else None)
    summary = records.finished_summary(workdir, record, cfg.total_epochs * data.steps_per_epoch)
    if summary is not None:
        log(f"    reusing the finished search in {workdir}")
        return SearchStage(load_arch(files["arch"]), summary, files, loss, True,
                           time.monotonic() - t0)
    log(f"    {cfg.warmup_epochs} warm-up + {cfg.epochs} search epoch(s) of "
        f"{data.steps_per_epoch} steps (batch {cfg.batch_size}), an arch step every "
        f"{cfg.arch_every} weight step(s) (Adam lr {cfg.arch_lr:g} beta1 {cfg.arch_beta1:g}, "
        f"{cfg.arch_samples} path draw(s) each, "
        f"temperature 1 -> {cfg.arch_temperature:g}), loss {loss}, {cfg.latency_budget} budget at "
        f"{target.target:.4g} ms")
    log("    (the first step builds the supernet's step functions: 1-3 min on 2 cores)")
    result = run_search(space, data, cfg, workdir, latency, strategy, progress=config.progress)
    return SearchStage(result.arch, result.summary(), files, loss, False, time.monotonic() - t0)
