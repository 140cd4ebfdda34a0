"""The supernet: every searchable block of a search space as a mixed op.

The stem (with the fixed first block) and the head are the derived-net
builder's own functional sub-models, and candidate layers are named like
the derived net's blocks (``b03_k5_e3_...``), so a derived net's weights can
be matched by name to the supernet's.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pxnas_tf.layers import blocks
from pxnas_tf.layers.mixed_op import MODES, MixedOp
from pxnas_tf.models import derived
from pxnas_tf.search_space import Arch, SearchSpace

_DECAYED_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def decay_variables(layer: keras.layers.Layer, include_bn_bias: bool = False) -> list:
    """The variables weight decay applies to inside `layer`: conv, depthwise
    and dense kernels; with `include_bn_bias` every trainable variable."""
    if include_bn_bias:
        return list(layer.trainable_variables)
    out = []
    for sub in layer._flatten_layers(include_self=True, recursive=True):
        if isinstance(sub, _DECAYED_LAYERS):
            out.append(sub.kernel)
    return out


class Supernet(keras.Model):
    """All archs of a search space in one network (ProxylessNAS).

    Args:
        space: the search space (shapes, candidates, classes).
        mode: mixed-op mode, one of "full_v2", "two", "full".
        dropout: dropout before the classifier.
        bn_momentum: Keras BN momentum.

    Call arguments:
        images: `(batch, H, W, C)` float32.
        paths: int32 `(num_blocks, 2)` (active, partner) per block, or
            `(num_blocks,)` active candidate per block.
        training: BN / dropout mode.
        arch_grad: attach the logit gradient (arch steps).
        update_stats: False keeps BN moving statistics untouched in
            training mode (evaluating sampled paths).

    Returns:
        `(batch, num_classes)` logits.

    Example:
    >>> net = Supernet(load_space("proxyless_small"))
    >>> net.build()
    >>> logits = net(images, net.argmax_paths(), training=False)
    """

    def __init__(self, space: SearchSpace, mode: str = "full_v2", dropout: float = 0.0,
                 bn_momentum: float = blocks.BN_MOMENTUM, **kwargs):
        kwargs.setdefault("name", "supernet")
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"unknown mixed-op mode {mode!r}: expected one of {MODES}")
        self.space = space
        self.mode = mode
        self.dropout = dropout
        self.block_specs = space.blocks()
        images = keras.Input(space.input_shape)
        self.stem_net = keras.Model(images, derived.stem(space, images, bn_momentum), name="stem")
        features = keras.Input((*space.feature_size, space.last_channels))
        self.head_net = keras.Model(features, derived.head(space, features, dropout, bn_momentum),
                                    name="head")
        self.mixed_ops = [
            MixedOp(b.out_channels, b.candidates, b.stride, b.residual, mode, bn_momentum,
                    name=f"b{b.index:02d}")
            for b in self.block_specs
        ]

    def build(self, input_shape=None):
        shape = (None, *self.space.input_shape[:2], self.space.first_block_channels)
        for op in self.mixed_ops:
            op.build(shape)
            shape = op.compute_output_shape(shape)
        self.built = True

    # Forward ----------------------------------------------------------------

    def _sub(self, model: keras.Model, x, training, update_stats: bool):
        if update_stats or not training:
            return model(x, training=training)
        out, _ = model.stateless_call([v.value for v in model.trainable_variables],
                                      [v.value for v in model.non_trainable_variables],
                                      x, training=training)
        return out

    def call(self, images, paths, training=None, arch_grad=False, update_stats=True):
        paths = tf.convert_to_tensor(paths, tf.int32)
        if paths.shape.rank == 1:
            paths = tf.stack([paths, paths], axis=1)  # (num_blocks, 2)
        x = self._sub(self.stem_net, images, training, update_stats)  # (B, H, W, C0)
        for b, op in enumerate(self.mixed_ops):
            x = op(x, paths[b], training=training, arch_grad=arch_grad, update_stats=update_stats)
        return self._sub(self.head_net, x, training, update_stats)  # (B, classes)

    # Variables --------------------------------------------------------------

    @property
    def arch_variables(self) -> list:
        """The logits alpha of every block, in block order."""
        return [op.alpha for op in self.mixed_ops]

    @property
    def weight_variables(self) -> list:
        """Every trainable variable except the arch logits."""
        arch = {id(v) for v in self.arch_variables}
        return [v for v in self.trainable_variables if id(v) not in arch]

    def candidate_variables(self) -> list[tuple]:
        """(variable, block, candidate) for every trainable variable of
        every candidate op."""
        return [(v, b, j) for b, op in enumerate(self.mixed_ops)
                for j, cand in enumerate(op.ops) for v in cand.trainable_variables]

    def shared_decay_variables(self, include_bn_bias: bool = False) -> list:
        """Decayed variables of the stem, first block and head."""
        return (decay_variables(self.stem_net, include_bn_bias)
                + decay_variables(self.head_net, include_bn_bias))

    def candidate_decay_variables(self, include_bn_bias: bool = False) -> list[list[list]]:
        """Per block, per candidate: the variables weight decay applies to."""
        return [[decay_variables(cand, include_bn_bias) for cand in op.ops]
                for op in self.mixed_ops]

    # Architecture -----------------------------------------------------------

    @property
    def num_blocks(self) -> int:
        return len(self.mixed_ops)

    def probabilities(self) -> list[np.ndarray]:
        """softmax(alpha) of every block (numpy)."""
        return [tf.nn.softmax(a.value).numpy() for a in self.arch_variables]

    def argmax_paths(self):
        """int32 (num_blocks,): the most probable candidate per block."""
        return tf.stack([tf.argmax(a.value, output_type=tf.int32) for a in self.arch_variables])

    def arch_of(self, indices, name: str = "") -> Arch:
        """The `Arch` choosing candidate `indices[b]` in block b."""
        ops = tuple(op.candidates[int(i)] for op, i in zip(self.mixed_ops, np.asarray(indices)))
        return Arch(self.space, ops, name)


def copy_to_derived(supernet: Supernet, model: keras.Model) -> int:
    """Copies the supernet's weights into a derived net of one of its archs
    (`build_model(arch)`), matching layers by name (warm start).

    Returns:
        The number of layers copied.

    Raises:
        ValueError: naming a derived layer with weights that the supernet lacks.
    """
    by_name = {layer.name: layer for layer in supernet._flatten_layers(include_self=False)}
    copied = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        source = by_name.get(layer.name)
        if source is None:
            raise ValueError(f"layer {layer.name!r} of {model.name!r} has no namesake in the "
                             "supernet (is the model a derived net of the supernet's space?)")
        layer.set_weights(source.get_weights())
        copied += 1
    return copied
