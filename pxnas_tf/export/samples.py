"""Images for calibration, fine-tuning and verification, as numpy arrays
taken from `pxnas_tf.data` pipelines."""

from __future__ import annotations

import numpy as np


def take_arrays(dataset, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` (all if None) examples of a tf.data pipeline of
    `(images, labels)`, batched or not, as `(N, H, W, C)` float32 and
    `(N,)` int64 arrays."""
    images, labels, count = [], [], 0
    for x, y in dataset:
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 3:  # unbatched
            x, y = x[None], y[None]
        images.append(x.astype(np.float32))
        labels.append(y.reshape(-1).astype(np.int64))
        count += len(x)
        if limit is not None and count >= limit:
            break
    if not images:
        return np.zeros((0, 0, 0, 0), np.float32), np.zeros((0,), np.int64)
    x, y = np.concatenate(images), np.concatenate(labels)
    return (x, y) if limit is None else (x[:limit], y[:limit])
