"""Config fields that carry their own help: the one place a setting's
default, help text and choices are written. The CLI generates its flags
from them (`pxnas_tf.cli.flags.define_config_flags`); `pxnas_tf.limits`
holds their ranges."""

from __future__ import annotations

import dataclasses


def knob(default, help: str, choices: tuple[str, ...] | None = None):
    """A dataclass field with its help text (and choices) as metadata."""
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, metadata=metadata)
