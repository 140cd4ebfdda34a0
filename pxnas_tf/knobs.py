"""Config fields that carry their own help: the one place a setting's
default, help text and choices are written. The CLI generates its flags
from them (`pxnas_tf.cli.flags.define_config_flags`); `pxnas_tf.limits`
holds their ranges."""

from __future__ import annotations

import dataclasses

# Choice lists that several configs and the CLI share (each written once here).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")  # pxnas_tf.distribute.make_strategy
ONE_HOST_STRATEGIES = ("default", "mirrored")  # what the demo's pipeline runs (one host)
LATENCY_BUDGETS = ("soft", "hard", "band")  # how derive uses the target (search.derive)
WEIGHT_PATHS = ("p", "uniform")  # how the search epochs' weight steps draw their paths
CANDIDATE_WEIGHTS = ("independent", "shared")  # a block's candidates: own weights or slices
PRECISIONS = ("int8", "float32", "fp16")  # a latency table's (and the demo's export's)
MIXED_OP_MODES = ("full_v2", "two", "full")  # how a mixed op runs its paths (layers.mixed_op)
CONVERSION_MODES = ("float32", "fp16", "dynamic", "int8")  # TFLite conversion (tflite.convert)
EXPORT_MODES = (*CONVERSION_MODES, "qat")  # `pxnas export --mode`: qat fine-tunes, then int8


def knob(default, help: str, choices: tuple[str, ...] | None = None):
    """A dataclass field with its help text (and choices) as metadata."""
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, metadata=metadata)


def variant(config_cls, name: str, default=dataclasses.MISSING, help: str | None = None):
    """`config_cls`'s knob `name`, for a subclass where it takes another
    default or a help text of its own (choices kept)."""
    field = {f.name: f for f in dataclasses.fields(config_cls)}[name]
    metadata = dict(field.metadata)
    if help is not None:
        metadata["help"] = help
    return dataclasses.field(default=field.default if default is dataclasses.MISSING else default,
                             metadata=metadata)


@dataclasses.dataclass(frozen=True)
class SGDKnobs:
    """The SGD settings of the weights, written once for the search's weight
    steps (`pxnas_tf.search.SearchConfig`) and training
    (`pxnas_tf.train.TrainConfig`), which subclass it: their fields come
    first, and each config redefines with `variant` what differs there
    (which kernels `weight_decay` acts on, the `dropout` default).

    Attributes:
        momentum, nesterov: SGD momentum.
        weight_decay: L2 on kernels, added to the loss as
            weight_decay / 2 * ||w||^2 (PyTorch's weight_decay).
        decay_bn_bias: also decay BN gammas / betas and biases.
        label_smoothing: of the cross-entropy.
        dropout: before the classifier.
    """

    momentum: float = knob(0.9, "SGD momentum.")
    nesterov: bool = knob(True, "Nesterov momentum.")
    weight_decay: float = knob(4e-5, "L2 weight decay on conv / dense kernels.")
    decay_bn_bias: bool = knob(False, "Also decay BN gammas/betas and biases.")
    label_smoothing: float = knob(0.1, "Label smoothing.")
    dropout: float = knob(0.1, "Dropout before the classifier.")
