"""Stage 3: the latency-aware search and derive, resumed from its
checkpoints."""

from __future__ import annotations

import json
import os
import time
from typing import Callable

from pxnas_tf.pipeline.config import PipelineConfig, SearchStage, Target, _Skip
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
            arch_every=config.arch_every, arch_temperature=config.arch_temperature,
            arch_delay_epochs=0, loss=loss, candidate_weights=config.candidate_weights,
            weight_paths=config.weight_paths,
            target_latency=target.target, latency_budget=config.latency_budget,
            seed=config.seed)
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


def _finished_search(files: dict, record: dict, total_steps: int) -> dict:
    """The summary of a finished search of the same settings in the workdir.

    Raises:
        _Skip: none finished; SearchError: one of other settings.
    """
    from pxnas_tf.search import records

    if not all(os.path.exists(files[k]) for k in ("run", "summary", "arch")):
        raise _Skip()
    records.check_or_write_run(files["run"], record, write=False)
    with open(files["summary"], encoding="utf-8") as f:
        summary = json.load(f)
    if summary.get("weight_steps", 0) < total_steps:
        raise _Skip()
    return summary


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
    try:
        summary = _finished_search(files, record, cfg.total_epochs * data.steps_per_epoch)
        arch = load_arch(files["arch"])
        log(f"    reusing the finished search in {workdir}")
        return SearchStage(arch, summary, files, loss, True, time.monotonic() - t0)
    except _Skip:
        pass
    log(f"    {cfg.warmup_epochs} warm-up + {cfg.epochs} search epoch(s) of "
        f"{data.steps_per_epoch} steps (batch {cfg.batch_size}), an arch step every "
        f"{cfg.arch_every} weight step(s) (Adam lr {cfg.arch_lr:g}, temperature 1 -> "
        f"{cfg.arch_temperature:g}), loss {loss}, {cfg.latency_budget} budget at "
        f"{target.target:.4g} ms")
    log("    (the first step builds the supernet's step functions: 1-3 min on 2 cores)")
    result = run_search(space, data, cfg, workdir, latency, strategy, progress=config.progress)
    return SearchStage(result.arch, result.summary(), files, loss, False, time.monotonic() - t0)
