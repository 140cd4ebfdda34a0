"""The files a search keeps in its workdir (all written atomically):

    run.json       what the run is (space, dataset, config, latency model);
                   a resumed run must match it
    history.json   one entry per finished epoch: losses, accuracies,
                   expected latency, per-block op probabilities and entropy
    arch.json      the derived arch (loadable by `pxnas build`), with its
                   latency, params and MACs under "search"
    summary.json   the final numbers of the run
"""

from __future__ import annotations

import json
import os
from typing import Any

from pxnas_tf import fileio, run_identity
from pxnas_tf.search.errors import SearchError

RUN_FORMAT = "pxnas_tf.search_run/v1"
# Config fields that may change between a run and its resumption: they do
# not change what is computed.
RESUMABLE_CHANGES = ("jit_compile", "checkpoint_every", "keep_checkpoints", "log_every",
                     "eval_batches", "latency_budget", "budget_floor")
# Config fields added after runs were stored, with the value that every run
# before them used: a stored run without the field resumes under it.
ADDED_FIELDS = {"weight_paths": "p", "path_seed": None, "arch_samples": 1, "fair_paths": False}


def paths(workdir: str) -> dict[str, str]:
    names = {"run": "run.json", "history": "history.json", "arch": "arch.json",
             "summary": "summary.json", "checkpoints": "checkpoints", "tensorboard": "tensorboard"}
    return {k: os.path.join(workdir, v) for k, v in names.items()}


def run_record(space: dict, dataset: dict, config: dict, latency: dict | None) -> dict:
    config = {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}
    return {"format": RUN_FORMAT, "space": space, "dataset": dataset, "config": config,
            "latency": latency}


def _upgrade(part: str, value: Any) -> Any:
    """What identifies a run: the latency model by its values, not by where
    its table file lies (a workdir copied elsewhere resumes); config fields
    added since a run was stored take the value it ran with."""
    if part == "latency" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "source"}
    if part == "config" and isinstance(value, dict):
        return {**ADDED_FIELDS, **value}
    return value


KIND = run_identity.RecordKind(RUN_FORMAT, "search run", ("space", "dataset", "config", "latency"),
                             SearchError, _upgrade)


def check_or_write_run(path: str, record: dict, write: bool) -> bool:
    """Compares `record` with the workdir's run.json, or writes it.

    Returns:
        True when a run.json existed (a resumption).

    Raises:
        SearchError: naming what differs, when the workdir holds another run.
    """
    return run_identity.check_or_write(path, record, KIND, write)


def finished_summary(workdir: str, record: dict, total_steps: int) -> dict | None:
    """The summary of a search of `record`'s settings that finished its
    `total_steps` weight steps in `workdir` (its run, summary and arch files
    all written); None when none finished there.

    Raises:
        SearchError: the workdir holds a run of other settings.
    """
    files = paths(workdir)
    if not all(os.path.exists(files[k]) for k in ("run", "summary", "arch")):
        return None
    check_or_write_run(files["run"], record, write=False)
    with open(files["summary"], encoding="utf-8") as f:
        summary = json.load(f)
    return summary if summary.get("weight_steps", 0) >= total_steps else None


def load_history(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def add_epoch(path: str, history: list[dict], entry: dict) -> list[dict]:
    """Writes `history` with `entry` replacing any entry of the same or a
    later epoch (a resumed run redoes the epochs after its checkpoint)."""
    history = [h for h in history if h["epoch"] < entry["epoch"]] + [entry]
    fileio.atomic_write_json(path, history)
    return history
