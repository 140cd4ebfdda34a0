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

from pxnas_tf import fileio
from pxnas_tf.search.errors import SearchError

RUN_FORMAT = "pxnas_tf.search_run/v1"
# Config fields that may change between a run and its resumption: they do
# not change what is computed.
RESUMABLE_CHANGES = ("jit_compile", "checkpoint_every", "keep_checkpoints", "log_every",
                     "eval_batches", "latency_budget", "budget_floor")
# Config fields added after runs were stored, with the value that every run
# before them used: a stored run without the field resumes under it.
ADDED_FIELDS = {"weight_paths": "p"}


def paths(workdir: str) -> dict[str, str]:
    names = {"run": "run.json", "history": "history.json", "arch": "arch.json",
             "summary": "summary.json", "checkpoints": "checkpoints", "tensorboard": "tensorboard"}
    return {k: os.path.join(workdir, v) for k, v in names.items()}


def run_record(space: dict, dataset: dict, config: dict, latency: dict | None) -> dict:
    config = {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}
    return {"format": RUN_FORMAT, "space": space, "dataset": dataset, "config": config,
            "latency": latency}


def _differences(stored: Any, current: Any, where: str) -> list[str]:
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(stored) | set(current)):
            out += _differences(stored.get(key), current.get(key), f"{where}.{key}")
        return out
    if stored != current:
        return [f"{where}: {stored!r} in the workdir, {current!r} now"]
    return []


def check_or_write_run(path: str, record: dict, write: bool) -> bool:
    """Compares `record` with the workdir's run.json, or writes it.

    Returns:
        True when a run.json existed (a resumption).

    Raises:
        SearchError: listing what differs, when the workdir holds another run.
    """
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            stored = json.loads(_normalise(f.read()))
        if stored.get("format") != RUN_FORMAT:
            raise SearchError(
                f"workdir {os.path.dirname(path)} holds no search run (its run.json is "
                f"{stored.get('format') or 'of an unknown format'!s}, not {RUN_FORMAT}); use "
                "another --workdir for the search")
        current = json.loads(_normalise(json.dumps(record)))
        diffs = []
        for part in ("space", "dataset", "config", "latency"):
            diffs += _differences(_identity(part, stored.get(part)),
                                  _identity(part, current.get(part)), part)
        if diffs:
            listed = "\n  ".join(diffs[:20])
            raise SearchError(
                f"workdir {os.path.dirname(path)} holds a search run that differs from this one; "
                f"refusing to resume it:\n  {listed}\nUse another --workdir, or the same "
                "settings as the stored run.")
        return True
    if write:
        fileio.atomic_write_json(path, record)
    return False


def _identity(part: str, value: Any) -> Any:
    """What identifies a run: the latency model by its values, not by where
    its table file lies (a workdir copied elsewhere resumes)."""
    if part == "latency" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "source"}
    if part == "config" and isinstance(value, dict):
        return {**ADDED_FIELDS, **value}
    return value


def _normalise(text: str) -> str:
    """JSON round trip: tuples become lists, so stored and current compare."""
    return json.dumps(json.loads(text), sort_keys=True)


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
