"""Parameters and multiply-accumulates (MACs), of Keras models and of archs.

Conventions (those of the papers):
- `params` counts trainable parameters (BN gamma/beta count, BN moving
  statistics do not).
- `macs` counts multiply-accumulates of one image in convolutions,
  depthwise convolutions and dense layers. Pooling, BN, activations and adds
  are not MACs; pooling's accumulations are reported apart as `pool_ops`.

Two independent implementations: `profile_model` walks a built Keras model;
`profile_arch` computes the same numbers from the arch alone (no TensorFlow
graph), so search can profile millions of archs. Tests check they agree.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from pxnas_tf.search_math.cost import conv_cost, mbconv_cost
from pxnas_tf.search_space import Arch, SearchSpace, decode_op


@dataclasses.dataclass
class Profile:
    params: int
    macs: int
    pool_ops: int = 0
    layers: list[dict] = dataclasses.field(default_factory=list)

    def to_dict(self, with_layers: bool = False) -> dict:
        d = {"params": self.params, "macs": self.macs, "pool_ops": self.pool_ops}
        if with_layers:
            d["layers"] = self.layers
        return d


# Keras models -----------------------------------------------------------------

def _spatial(shape) -> int:
    return math.prod(int(s) for s in shape[1:-1])


def layer_macs(layer: keras.layers.Layer, input_shape, output_shape) -> tuple[int, int]:
    """(macs, pool_ops) of one call of `layer` on one image.

    Raises:
        ValueError: for a layer with weights that this counter does not know.
    """
    L = keras.layers
    if isinstance(layer, L.DepthwiseConv2D):
        k = math.prod(layer.kernel_size)
        return _spatial(output_shape) * int(output_shape[-1]) * k, 0
    if isinstance(layer, L.SeparableConv2D):
        k = math.prod(layer.kernel_size)
        c_in, mult = int(input_shape[-1]), layer.depth_multiplier
        # Depthwise at the output resolution, then pointwise.
        return _spatial(output_shape) * (c_in * mult * k + c_in * mult * int(output_shape[-1])), 0
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        k = math.prod(layer.kernel_size)
        c_in = int(input_shape[-1]) // layer.groups
        return _spatial(output_shape) * int(output_shape[-1]) * k * c_in, 0
    if isinstance(layer, L.Dense):
        return _spatial(output_shape) * int(input_shape[-1]) * layer.units, 0
    if isinstance(layer, (L.AveragePooling2D, L.MaxPooling2D, L.AveragePooling1D, L.MaxPooling1D)):
        return 0, _spatial(output_shape) * int(output_shape[-1]) * math.prod(layer.pool_size)
    if isinstance(layer, (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D,
                          L.GlobalAveragePooling1D, L.GlobalMaxPooling1D)):
        return 0, _spatial(input_shape) * int(input_shape[-1])
    if isinstance(layer, L.BatchNormalization) or not layer.trainable_weights:
        return 0, 0
    raise ValueError(
        f"cannot count MACs of layer {layer.name!r} ({type(layer).__name__}): supported are "
        "Conv1D/2D/3D, DepthwiseConv2D, SeparableConv2D, Dense, pooling, and weightless layers")


def _shapes(node_tensors) -> list:
    tensors = node_tensors if isinstance(node_tensors, (list, tuple)) else [node_tensors]
    return [tuple(t.shape) for t in tensors]


def profile_model(model: keras.Model) -> Profile:
    """Params and MACs of a built Keras model (nested models are walked).

    Layers that count their own cost (pxnas_tf layers) may define
    `profile(input_shape) -> (macs, pool_ops)`; any other layer with
    weights inside a custom layer raises a clear error.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a keras.Model, got {type(model).__name__}")
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    macs = pool = 0
    rows = []
    for layer, in_shape, out_shape in _walk(model):
        if hasattr(layer, "profile"):
            m, p = layer.profile(in_shape)
        else:
            m, p = layer_macs(layer, in_shape, out_shape)
        macs += m
        pool += p
        if m or p:
            rows.append({"name": layer.name, "type": type(layer).__name__, "macs": int(m),
                         "pool_ops": int(p), "output_shape": list(out_shape[1:])})
    return Profile(int(params), int(macs), int(pool), rows)


def _walk(model: keras.Model):
    """Yields (layer, input_shape, output_shape) for every call of every
    layer of a functional/sequential model, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
            continue
        if not layer._inbound_nodes:
            raise ValueError(
                f"layer {layer.name!r} was never called; build the model on an input first")
        for node in layer._inbound_nodes:
            in_shapes = _shapes(node.input_tensors)
            out_shapes = _shapes(node.output_tensors)
            if len(in_shapes) != 1 and layer.trainable_weights:
                raise ValueError(f"layer {layer.name!r} has several inputs; cannot count it")
            if (list(layer._flatten_layers(include_self=False, recursive=False))
                    and layer.trainable_weights and not hasattr(layer, "profile")):
                raise ValueError(
                    f"layer {layer.name!r} ({type(layer).__name__}) holds sub-layers whose "
                    "shapes are not visible; give it a profile(input_shape) method")
            yield layer, in_shapes[0], out_shapes[0]


# Archs ------------------------------------------------------------------------

def profile_arch(arch: Arch) -> Profile:
    """Params and MACs of the derived net of `arch`, from the arch alone."""
    space = arch.space
    rows = []
    h, w = space.stem_out_size
    rows.append(("stem", *conv_cost(h, w, space.input_shape[2], space.stem_channels, space.stem_kernel)))
    first = decode_op(space.first_block_op)
    rows.append(("first_block", *mbconv_cost(
        (h, w), (h, w), space.stem_channels, space.first_block_channels, first.kernel, first.expand)))
    for block, op in zip(space.blocks(), arch.ops):
        spec = decode_op(op)
        if spec.is_zero:
            continue
        rows.append((f"b{block.index:02d}_{op}", *mbconv_cost(
            block.in_size, block.out_size, block.in_channels, block.out_channels,
            spec.kernel, spec.expand)))
    fh, fw = space.feature_size
    rows.append(("head", *conv_cost(fh, fw, space.last_channels, space.head_channels, 1)))
    rows.append(("logits", space.head_channels * space.num_classes + space.num_classes,
                 space.head_channels * space.num_classes))
    pool_ops = fh * fw * space.head_channels
    return Profile(
        params=sum(r[1] for r in rows), macs=sum(r[2] for r in rows), pool_ops=pool_ops,
        layers=[{"name": n, "params": p, "macs": m} for n, p, m in rows])


def candidate_macs(space: SearchSpace) -> tuple[int, list[list[int]]]:
    """(constant MACs of stem + first block + head + classifier, per-block
    MACs of every candidate in candidate order; zero = 0): the MACs proxy
    for the latency term when no measured table exists."""
    const_arch_ops = [b.candidates[0] for b in space.blocks()]
    base = profile_arch(Arch(space, tuple(const_arch_ops)))
    per_block = []
    block_macs = 0
    for block in space.blocks():
        row = []
        for op in block.candidates:
            spec = decode_op(op)
            row.append(0 if spec.is_zero else mbconv_cost(
                block.in_size, block.out_size, block.in_channels, block.out_channels,
                spec.kernel, spec.expand)[1])
        block_macs += row[0]
        per_block.append(row)
    return base.macs - block_macs, per_block
