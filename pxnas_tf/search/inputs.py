"""The data a search reads: an endless train stream, an endless
arch-holdout stream, and one pass of the holdout for evaluation."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from pxnas_tf.search.errors import SearchError


@dataclasses.dataclass(frozen=True)
class SearchData:
    """Batched datasets of (images (B, H, W, C) float32, labels (B,) int32).

    Attributes:
        train: weight-step batches (repeated forever here if it is finite).
        arch: arch-step batches from the holdout (repeated likewise).
        arch_eval: one pass over the holdout, for the per-epoch accuracy of
            the argmax arch (the first batches of `arch`'s first pass when
            None).
        steps_per_epoch: weight steps of one epoch.
        batch_size: the global batch size.
        name: dataset name (recorded in the workdir, checked on resume).
        input_shape: (H, W, C).
        num_classes: classes.
        sizes: examples per split, recorded in the workdir.
    """

    train: tf.data.Dataset
    arch: tf.data.Dataset
    steps_per_epoch: int
    batch_size: int
    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    arch_eval: tf.data.Dataset | None = None
    sizes: dict | None = None

    @classmethod
    def from_splits(cls, splits, steps_per_epoch: int | None = None) -> "SearchData":
        """From `pxnas_tf.data.load(...)` splits (batched)."""
        if splits.batch_size is None:
            raise ValueError("the search needs batched splits (pass batch_size to data.load)")
        train_steps = splits.steps("train")
        if train_steps < 1 or splits.steps("arch") < 1:
            raise SearchError(f"the train and arch splits need at least one batch of "
                              f"{splits.batch_size}; sizes are {splits.sizes}: lower "
                              "--search_batch_size or give more examples (--search_examples, "
                              "--holdout_examples)")
        return cls(train=splits.train, arch=splits.arch,
                   arch_eval=fixed_pass(splits.arch, splits.steps("arch"), splits.batch_size,
                                        splits.input_shape),
                   steps_per_epoch=steps_per_epoch or train_steps, batch_size=splits.batch_size,
                   name=splits.name, input_shape=tuple(splits.input_shape),
                   num_classes=splits.num_classes, sizes=dict(splits.sizes))

    def identity(self) -> dict:
        """What must not change when a run resumes."""
        return {"name": self.name, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "batch_size": self.batch_size,
                "steps_per_epoch": self.steps_per_epoch, "sizes": self.sizes}


# Holdouts up to this size (float32 images) are cached for evaluation.
EVAL_CACHE_BYTES = 512 * 2**20


def fixed_pass(arch: tf.data.Dataset, steps: int, batch_size: int, input_shape) -> tf.data.Dataset:
    """One pass (`steps` batches) of the holdout for evaluation, cached in
    memory when small: every evaluation of a run (resumed or not) then
    sees the same batches in the same order."""
    one_pass = arch.take(steps)
    h, w, c = input_shape
    if steps * batch_size * h * w * c * 4 <= EVAL_CACHE_BYTES:
        one_pass = one_pass.cache()
    return one_pass


def endless(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` repeated forever unless it already is endless."""
    if int(ds.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        return ds
    return ds.repeat()


def with_sharding(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker runs shard in-memory datasets by element (DATA): there
    are no files to shard by."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
