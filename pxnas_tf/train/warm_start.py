"""Warm start: a derived net inherits trained weights by layer name.

Sources:
    a search workdir   (``run.json`` + ``checkpoints/`` of `pxnas search`):
                       the supernet is rebuilt from the run's space and
                       candidate weights, its latest checkpoint restored,
                       and each chosen op takes the weights of the same
                       candidate (named like derived blocks, ``b03_k5_e3_*``;
                       with shared weights, its slices);
    a ``.keras`` file  any model with the same layer names (e.g. a shorter
                       run of the same arch);
    a ``.npz`` file    layer weights as written by `weights.save_npz`;
    a Keras model      (library use), e.g. a `Supernet` in memory.

Layers whose shapes differ (a classifier for another number of classes)
keep their fresh initialisation; the report says which.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from pxnas_tf.models import weights as weights_lib
from pxnas_tf.models.supernet import Supernet
from pxnas_tf.search_space import space_from_dict
from pxnas_tf.train.config import TrainError

SEARCH_RUN = "run.json"
SEARCH_CHECKPOINTS = "checkpoints"


def is_search_workdir(path: str) -> bool:
    return (os.path.isdir(path) and os.path.exists(os.path.join(path, SEARCH_RUN))
            and os.path.isdir(os.path.join(path, SEARCH_CHECKPOINTS)))


def supernet_from_search(workdir: str):
    """The supernet of a search workdir with its latest checkpoint restored.

    Raises:
        TrainError: no checkpoint, or one that does not fit the run's space.
    """
    import tensorflow as tf

    with open(os.path.join(workdir, SEARCH_RUN), encoding="utf-8") as f:
        run = json.load(f)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, SEARCH_CHECKPOINTS))
    if latest is None:
        raise TrainError(f"search workdir {workdir!r} has no checkpoint yet in "
                         f"{SEARCH_CHECKPOINTS}/")
    space = space_from_dict(run["space"], source=os.path.join(workdir, SEARCH_RUN))
    supernet = Supernet(space, candidate_weights=run.get("config", {}).get(
        "candidate_weights", "independent"))
    supernet.build()
    # The search checkpoints the supernet's variables as an explicit list in
    # the supernet's own order (pxnas_tf.search.state); only that part is read.
    checkpoint = tf.train.Checkpoint(supernet=[v.value for v in supernet.variables])
    try:
        checkpoint.restore(latest).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise TrainError(f"cannot restore the supernet of {workdir!r} from {latest}: "
                         f"{str(e).splitlines()[0]}") from None
    return supernet


def source_weights(source) -> dict[str, list[np.ndarray]]:
    """Layer name -> weights of a warm-start source (see the module docstring).

    Raises:
        TrainError: a path that is none of the supported sources.
    """
    if hasattr(source, "derived_weights"):  # a Supernet: its candidates as derived layers
        return source.derived_weights()
    if isinstance(source, keras.Model) or hasattr(source, "_flatten_layers"):
        return weights_lib.layer_weights(source)
    path = str(source)
    if is_search_workdir(path):
        return supernet_from_search(path).derived_weights()
    if path.endswith(".npz") and os.path.isfile(path):
        return weights_lib.load_npz(path)
    if path.endswith(".keras") and os.path.isfile(path):
        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as e:
            raise TrainError(f"warm start: {path!r} is not a loadable Keras model: {e}") from None
        return weights_lib.layer_weights(model)
    raise TrainError(f"warm start source {path!r} is not a search workdir (with {SEARCH_RUN} and "
                     f"{SEARCH_CHECKPOINTS}/), a .keras model or a .npz of layer weights")


def warm_start(model: keras.Model, source) -> weights_lib.TransferReport:
    """Copies every layer of `source` that fits a layer of `model` by name
    and shape; the others keep their initialisation.

    Raises:
        TrainError: when no layer at all fits (the source is for another net).
    """
    report = weights_lib.transfer_weights(source_weights(source), model, strict=False)
    if not report.copied:
        raise TrainError(f"warm start from {source!r}: no layer of the model found its weights "
                         f"({report.describe()}); is it the search run of this arch's space?")
    return report
