"""Copying weights between models by layer name.

Derived nets, supernet candidates and tf_keras rebuilds name their layers
after the arch (see `pxnas_tf.models.derived`), so a layer's weights find
their place by name whatever the framework or the model around them. This
module needs only numpy and duck typing (`layer.name`, `get_weights`,
`set_weights`), so it also serves the tf_keras QAT process.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

import numpy as np

MAX_LISTED = 8


@dataclasses.dataclass(frozen=True)
class TransferReport:
    """What `transfer_weights` did.

    Attributes:
        copied: target layers that received weights.
        missing: target layers with weights and no source layer of that name.
        mismatched: (layer, reason) where the shapes differ.
    """

    copied: tuple[str, ...]
    missing: tuple[str, ...]
    mismatched: tuple[tuple[str, str], ...]

    @property
    def complete(self) -> bool:
        return not self.missing and not self.mismatched

    def describe(self) -> str:
        parts = [f"{len(self.copied)} layers copied"]
        if self.missing:
            parts.append(f"{len(self.missing)} without a source layer ({_listed(self.missing)})")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} with other shapes ("
                         f"{_listed(f'{n}: {why}' for n, why in self.mismatched)})")
        return ", ".join(parts)


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    more = f", ... {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def _sublayers(layer) -> list:
    return list(layer._flatten_layers(include_self=False, recursive=False))


def leaf_layers(model) -> list:
    """Every layer inside `model` that has no sublayers of its own, nested
    models and composite layers unrolled, each once, depth first."""
    out, seen = [], set()

    def visit(layer):
        for sub in _sublayers(layer):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            if _sublayers(sub):
                visit(sub)
            else:
                out.append(sub)

    visit(model)
    return out


def layer_weights(model) -> dict[str, list[np.ndarray]]:
    """Layer name -> its weights (numpy), for every leaf layer holding
    weights (see `leaf_layers`)."""
    out = {}
    for layer in leaf_layers(model):
        weights = layer.get_weights()
        if weights:
            out[layer.name] = [np.asarray(w) for w in weights]
    return out


def transfer_weights(source: Mapping[str, Sequence[np.ndarray]], target,
                     strict: bool = True) -> TransferReport:
    """Sets each weighted layer of `target` from the same-named entry of
    `source` (see `layer_weights`).

    Args:
        source: layer name -> weights.
        target: a Keras 3 or tf_keras model.
        strict: raise unless every weighted layer of `target` is filled.

    Raises:
        ValueError: with `strict`, naming the missing and mismatched layers.
    """
    copied, missing, mismatched = [], [], []
    for layer in leaf_layers(target):
        current = layer.get_weights()
        if not current:
            continue
        if layer.name not in source:
            missing.append(layer.name)
            continue
        new = [np.asarray(w) for w in source[layer.name]]
        shapes = [w.shape for w in current]
        if [w.shape for w in new] != shapes:
            mismatched.append((layer.name, f"{[tuple(w.shape) for w in new]} vs {shapes}"))
            continue
        layer.set_weights(new)
        copied.append(layer.name)
    report = TransferReport(tuple(copied), tuple(missing), tuple(mismatched))
    if strict and not report.complete:
        raise ValueError(f"weights do not fit the model: {report.describe()}")
    return report


def save_npz(weights: Mapping[str, Sequence[np.ndarray]], path: str) -> None:
    """Writes layer weights as ``{layer}/{i}`` arrays of one .npz file."""
    np.savez(path, **{f"{name}/{i}": w for name, ws in weights.items() for i, w in enumerate(ws)})


def load_npz(path: str) -> dict[str, list[np.ndarray]]:
    """Reads what `save_npz` wrote."""
    out: dict[str, list] = {}
    with np.load(path) as data:
        keys = sorted(data.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])))
        for key in keys:
            out.setdefault(key.rsplit("/", 1)[0], []).append(data[key])
    return out
