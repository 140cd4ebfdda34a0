"""The tf.distribute strategy of a search, from one name.

    default       one device (tf.distribute's default strategy)
    mirrored      MirroredStrategy over the local GPUs (or CPU)
    multi_worker  MultiWorkerMirroredStrategy; hosts from TF_CONFIG
    tpu           TPUStrategy (a TPU name or address, "" for the local one)

MultiWorkerMirroredStrategy must be created before TensorFlow runs any op
(call `make_strategy` first thing in a program).

One process should hold one strategy of each kind: every new
MirroredStrategy / MultiWorkerMirroredStrategy numbers its all-reduce
collectives from the same start, so a second one in the process collides
with the first one's as soon as the two train models of different sizes
(TensorFlow then aborts with "Shape mismatch in the collective instance").
`make_strategy` therefore returns the same object for the same arguments
within a process; pass it to every search and training run.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from pxnas_tf.errors import PxnasError
from pxnas_tf.knobs import STRATEGIES


class StrategyError(PxnasError, ValueError):
    """An unknown strategy name, a cluster without its TF_CONFIG, or two
    strategies colliding in one process; the message names the fix."""

_MADE: dict = {}  # (name, devices, tpu) -> the strategy made for them in this process


def make_strategy(name: str, devices: list[str] | None = None, tpu: str = ""
                  ) -> tf.distribute.Strategy:
    """The strategy called `name` (see the module docstring).

    Calls with the same arguments return the same object.

    Raises:
        StrategyError: for an unknown name, or multi_worker without TF_CONFIG.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    key = (name, tuple(devices) if devices else None, tpu if name == "tpu" else "")
    if key not in _MADE:
        _MADE[key] = _make(name, devices, tpu)
    return _MADE[key]


def _make(name: str, devices: list[str] | None, tpu: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise StrategyError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                              '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                              '"task": {"type": "worker", "index": 0}})')
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise StrategyError(f"unknown strategy {name!r}: expected one of {list(STRATEGIES)}")


def explain_collective_error(error: Exception) -> StrategyError | None:
    """A StrategyError naming the cause and the fix when `error` is the
    collective-key collision of a second strategy in this process (see the
    module docstring); None for any other error."""
    if "Shape mismatch in the collective instance" not in str(error):
        return None
    return StrategyError(
        "an all-reduce failed with a shape mismatch between two collectives that share a key: "
        "this process created more than one MirroredStrategy / MultiWorkerMirroredStrategy, "
        "and a later one reuses the first one's collective keys for a model of another size. "
        "TensorFlow cannot recover in this process: restart it, and create one strategy per "
        "process (`make_strategy` returns the same one for the same arguments) to pass to "
        "every search, or run each search in its own process as `pxnas search` does")


def task_info(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task type, task index) of this process; (None, 0) outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (the chief, or worker 0
    of a cluster without a chief)."""
    task_type, task_id = task_info(strategy)
    if task_type is None or task_type == "chief":
        return True
    if task_type != "worker":
        return False
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_id == 0 and "chief" not in cluster
