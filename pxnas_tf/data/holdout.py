"""Class-balanced arch-holdout selection, as pure numpy functions.

ProxylessNAS updates the architecture parameters on a holdout carved out of
the training set, with an equal share of examples from every class. Two ways
to pick it:

* `balanced_holdout`: a seeded random choice per class, for sources whose
  labels are all in memory (Fashion-MNIST, image folders).
* `first_per_class_holdout`: the first examples of each class in stored order,
  for tfds datasets. tfds writes examples in an order shuffled by a hash of
  their keys, so these are a random sample already; the holdout is then a
  prefix of the split plus nothing else, which keeps reading it cheap.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from pxnas_tf.data.errors import DataError


def class_quotas(total: int, classes: np.ndarray,
                 rng: np.random.Generator | None = None) -> dict[int, int]:
    """Splits `total` examples over `classes` as equally as possible.

    Args:
        total: holdout size, >= 0.
        classes: the class ids sharing it.
        rng: picks which classes get one extra example when `total` does not
            divide evenly; without it, the first ones in `classes` do.

    Returns:
        {class id: number of examples}; the values sum to `total`.
    """
    classes = np.asarray(classes, dtype=np.int64)
    if total < 0:
        raise DataError(f"holdout_examples must be >= 0, got {total}")
    if total and classes.size == 0:
        raise DataError(f"cannot take a holdout of {total} examples from a split with no examples")
    base, extra = divmod(total, max(classes.size, 1))
    quotas = {int(c): base for c in classes}
    lucky = classes[:extra] if rng is None else rng.choice(classes, size=extra, replace=False)
    for c in lucky:
        quotas[int(c)] += 1
    return quotas


def balanced_holdout(labels: np.ndarray, holdout_examples: int, seed: int) -> np.ndarray:
    """A seeded, class-balanced random holdout that leaves training examples.

    Args:
        labels: (N,) integer label of every training example.
        holdout_examples: how many examples to hold out in total.
        seed: the same seed gives the same holdout.

    Returns:
        Sorted int64 indices into `labels`.
    """
    _check_size(holdout_examples, np.asarray(labels).size)
    return balanced_subset(labels, holdout_examples, seed)


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A seeded random subset of `size` indices, an equal share per class.

    Args:
        labels: (N,) integer labels.
        size: how many indices, at most N.
        seed: the same seed gives the same subset.

    Returns:
        Sorted int64 indices into `labels`.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    quotas = class_quotas(size, np.unique(labels), rng)
    picked = []
    for c, quota in quotas.items():
        members = np.flatnonzero(labels == c)
        _check_class(c, quota, members.size)
        picked.append(rng.choice(members, size=quota, replace=False))
    return np.sort(np.concatenate(picked + [np.zeros(0, np.int64)]).astype(np.int64))


def random_subset(indices: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most `limit` of `indices`, a seeded random choice, sorted.

    Args:
        indices: the pool.
        limit: how many to keep; None keeps all.
        seed: the same seed gives the same subset.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if limit is None or limit >= indices.size:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, size=limit, replace=False))


def first_per_class_holdout(label_chunks: Iterable[np.ndarray], holdout_examples: int,
                            num_classes: int) -> np.ndarray:
    """A class-balanced holdout made of the first examples of each class.

    Reads `label_chunks` (the labels in stored order, in pieces) only until
    every class has its share. If the stream ends first, the share is taken
    over the classes that occur (a subset of a dataset may lack some).

    Args:
        label_chunks: consecutive pieces of the label array.
        holdout_examples: how many examples to hold out in total.
        num_classes: the dataset's number of classes.

    Returns:
        Sorted int64 indices (positions in stored order).
    """
    quotas = class_quotas(holdout_examples, np.arange(num_classes))
    need = np.array([quotas[c] for c in range(num_classes)], dtype=np.int64)
    counts = np.zeros(num_classes, dtype=np.int64)
    seen = []
    for chunk in label_chunks:
        if holdout_examples == 0:
            break
        chunk = np.asarray(chunk, dtype=np.int64)
        seen.append(chunk)
        counts += np.bincount(chunk, minlength=num_classes)[:num_classes]
        if np.all(counts >= need):
            break
    labels = np.concatenate(seen + [np.zeros(0, np.int64)])
    if np.any(counts < need):  # the stream ended: share over the classes present
        _check_size(holdout_examples, labels.size)
        quotas = class_quotas(holdout_examples, np.flatnonzero(counts))
    picked = []
    for c, quota in quotas.items():
        members = np.flatnonzero(labels == c)
        _check_class(c, quota, members.size)
        picked.append(members[:quota])
    return np.sort(np.concatenate(picked + [np.zeros(0, np.int64)]).astype(np.int64))


def complement(num_examples: int, holdout: np.ndarray) -> np.ndarray:
    """The indices in range(num_examples) that are not in `holdout`.

    Args:
        num_examples: size of the split.
        holdout: indices to leave out.
    """
    mask = np.ones(num_examples, dtype=bool)
    mask[np.asarray(holdout, dtype=np.int64)] = False
    return np.flatnonzero(mask)


def _check_size(holdout_examples: int, num_examples: int) -> None:
    if holdout_examples >= num_examples and holdout_examples > 0:
        raise DataError(
            f"holdout_examples={holdout_examples} leaves nothing to train on: the training "
            f"split has {num_examples} examples")


def _check_class(label: int, quota: int, available: int) -> None:
    if quota > available:
        raise DataError(
            f"holdout_examples too large for a class-balanced holdout: class {label} needs {quota} "
            f"examples, the training split has {available}")
