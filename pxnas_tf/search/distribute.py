"""The tf.distribute strategy of a search, from one name.

    default       one device (tf.distribute's default strategy)
    mirrored      MirroredStrategy over the local GPUs (or CPU)
    multi_worker  MultiWorkerMirroredStrategy; hosts from TF_CONFIG
    tpu           TPUStrategy (a TPU name or address, "" for the local one)

MultiWorkerMirroredStrategy must be created before TensorFlow runs any op
(call `make_strategy` first thing in a program).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from pxnas_tf.search.errors import SearchError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str, devices: list[str] | None = None, tpu: str = ""
                  ) -> tf.distribute.Strategy:
    """The strategy called `name` (see the module docstring).

    Raises:
        SearchError: for an unknown name, or multi_worker without TF_CONFIG.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise SearchError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                              '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                              '"task": {"type": "worker", "index": 0}})')
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise SearchError(f"unknown strategy {name!r}: expected one of {list(STRATEGIES)}")


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
