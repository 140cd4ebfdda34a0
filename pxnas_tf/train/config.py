"""Hyperparameters of retraining a derived net.

Defaults follow the ProxylessNAS retrain recipe (Cai et al., ICLR 2019:
SGD Nesterov 0.9, lr 0.05 cosine, weight decay 4e-5, label smoothing 0.1,
batch 256, 300 epochs on ImageNet) with a linear warm-up, except the
epochs: 300 ImageNet epochs are not a sensible default elsewhere, so
`epochs` defaults to 30 and the CLI asks for it explicitly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pxnas_tf import limits
from pxnas_tf.errors import PxnasError
from pxnas_tf.knobs import SGDKnobs, knob

MIXED_PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


class TrainError(PxnasError, ValueError):
    """Training cannot run as asked (bad settings, a workdir holding another
    run, a warm-start source that does not fit); the message names the
    cause and the fix."""


@dataclasses.dataclass(frozen=True)
class TrainConfig(SGDKnobs):
    """Every knob of `train`: `pxnas train` generates a flag from each field.

    Attributes:
        epochs: passes over the training split (or `steps_per_epoch` steps).
        batch_size: global batch size (all replicas together); the data
            pipeline must be batched with it.
        steps_per_epoch: steps per epoch on the repeated training split;
            None: one pass per epoch.
        lr: peak learning rate (after warm-up), decayed by a cosine to `min_lr`.
        min_lr: final learning rate.
        warmup_epochs: linear warm-up from 0 to `lr` (fractions allowed).
        momentum, nesterov, decay_bn_bias, label_smoothing, dropout: SGD
            and its regularisation (`pxnas_tf.knobs.SGDKnobs`, which also
            puts them first in a run's config).
        weight_decay: L2 on conv, depthwise and dense kernels (added to the
            loss as weight_decay / 2 * ||w||^2, i.e. PyTorch's weight_decay).
        mixed_precision: the Keras dtype policy: "auto" (mixed_float16 on
            GPUs of compute capability >= 7, mixed_bfloat16 on TPUs, float32
            elsewhere), or a policy name. (A table's or an export's
            `precision` is the quantization; this is not.)
        seed: initial weights (and, in the CLI, the data order).
    """

    epochs: int = knob(30, "Training epochs (the CLI asks for them).")
    batch_size: int = knob(256, "Global batch size (all replicas).")
    steps_per_epoch: int | None = knob(None, "Steps per epoch on the repeated training split "
        "(default: one pass).")
    lr: float = knob(0.05, "Peak learning rate (cosine decay after the warm-up).")
    min_lr: float = knob(0.0, "Final learning rate.")
    warmup_epochs: float = knob(1.0, "Linear warm-up epochs.")
    # momentum, nesterov, weight_decay, decay_bn_bias, label_smoothing, dropout: `SGDKnobs`.
    mixed_precision: str = knob("auto", "Keras dtype policy; auto: mixed_float16 on recent GPUs, "
        "mixed_bfloat16 on TPUs, else float32.", MIXED_PRECISIONS)
    seed: int = knob(0, "Seed of initialisation and data order.")

    def __post_init__(self):
        limits.check_fields(self, TrainError)  # ranges: pxnas_tf.limits
        if self.epochs < 1:
            raise TrainError(f"epochs={self.epochs}: expected >= 1")
        if self.min_lr > self.lr:
            raise TrainError(f"min_lr={self.min_lr}: expected <= lr ({self.lr})")
        if self.warmup_epochs > self.epochs:
            raise TrainError(f"warmup_epochs={self.warmup_epochs}: expected <= epochs "
                             f"({self.epochs})")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise TrainError(f"unknown mixed_precision {self.mixed_precision!r}: expected one "
                             f"of {list(MIXED_PRECISIONS)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise TrainError(f"unknown train setting(s) {sorted(unknown)}; valid: {sorted(fields)}")
        return cls(**d)
