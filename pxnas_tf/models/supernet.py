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

from pxnas_tf.knobs import CANDIDATE_WEIGHTS, MIXED_OP_MODES
from pxnas_tf.layers import blocks
from pxnas_tf.layers.decay import decay_variables
from pxnas_tf.layers.mixed_op import MixedOp
from pxnas_tf.models import derived
from pxnas_tf.models import weights as weights_lib
from pxnas_tf.search_space import Arch, SearchSpace


class Supernet(keras.Model):
    """All archs of a search space in one network (ProxylessNAS).

    Args:
        space: the search space (shapes, candidates, classes).
        mode: mixed-op mode, one of "full_v2", "two", "full".
        dropout: dropout before the classifier.
        bn_momentum: Keras BN momentum.
        candidate_weights: "independent" (every candidate op its own
            weights, the paper's) or "shared" (each block's MBConv
            candidates are slices of its largest, `SharedMBConv`).
        frozen_candidates: (block, candidate) pairs whose candidate keeps
            weights of its own at their random initialisation (a
            known-answer control: a search that follows accuracy avoids it).

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
                 bn_momentum: float = blocks.BN_MOMENTUM, candidate_weights: str = "independent",
                 frozen_candidates=(), **kwargs):
        kwargs.setdefault("name", "supernet")
        super().__init__(**kwargs)
        if mode not in MIXED_OP_MODES:
            raise ValueError(f"unknown mixed-op mode {mode!r}: expected one of {MIXED_OP_MODES}")
        if candidate_weights not in CANDIDATE_WEIGHTS:
            raise ValueError(f"unknown candidate_weights {candidate_weights!r}: expected one of "
                             f"{CANDIDATE_WEIGHTS}")
        self.space = space
        self.mode = mode
        self.candidate_weights = candidate_weights
        self.dropout = dropout
        self.block_specs = space.blocks()
        images = keras.Input(space.input_shape)
        self.stem_net = keras.Model(images, derived.stem(space, images, bn_momentum), name="stem")
        features = keras.Input((*space.feature_size, space.last_channels))
        self.head_net = keras.Model(features, derived.head(space, features, dropout, bn_momentum),
                                    name="head")
        frozen = {}
        for block, candidate in frozen_candidates:
            if not 0 <= int(block) < len(self.block_specs):
                raise ValueError(f"frozen candidate ({block}, {candidate}): the space has "
                                 f"{len(self.block_specs)} searchable blocks")
            frozen.setdefault(int(block), []).append(int(candidate))
        self.mixed_ops = [
            MixedOp(b.out_channels, b.candidates, b.stride, b.residual, mode, bn_momentum,
                    shared=candidate_weights == "shared", frozen=frozen.get(i, ()),
                    name=f"b{b.index:02d}")
            for i, b in enumerate(self.block_specs)
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

    def call(self, images, paths, training=None, arch_grad=False, update_stats=True,
             temperature=1.0):
        paths = tf.convert_to_tensor(paths, tf.int32)
        if paths.shape.rank == 1:
            paths = tf.stack([paths, paths], axis=1)  # (num_blocks, 2)
        x = self._sub(self.stem_net, images, training, update_stats)  # (B, H, W, C0)
        for b, op in enumerate(self.mixed_ops):
            x = op(x, paths[b], training=training, arch_grad=arch_grad, update_stats=update_stats,
                   temperature=temperature)
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
        """(variable, block, candidate) for every trainable variable that
        belongs to one candidate op alone."""
        return [(v, b, j) for b, op in enumerate(self.mixed_ops)
                for v, j in op.candidate_variables()]

    def shared_masks(self) -> list[tuple]:
        """(variable, block, (N_b, *shape) bool masks) for every variable
        that the candidates of a block share: mask j marks candidate j's
        entries."""
        return [(v, b, masks) for b, op in enumerate(self.mixed_ops)
                for v, masks in op.shared_masks()]

    def shared_decay_variables(self, include_bn_bias: bool = False) -> list:
        """Decayed variables of the stem, first block and head."""
        return (decay_variables(self.stem_net, include_bn_bias)
                + decay_variables(self.head_net, include_bn_bias))

    def candidate_decay_tensors(self, include_bn_bias: bool = False) -> list[list[list]]:
        """Per block, per candidate: the tensors weight decay applies to
        when that candidate is active (its kernels, or with shared weights
        its slices of them)."""
        return [[op.decay_tensors(j, include_bn_bias) for j in range(op.num_candidates)]
                for op in self.mixed_ops]

    def derived_weights(self) -> dict[str, list]:
        """Layer name -> numpy weights, named like the layers of derived nets:
        the stem, head and every candidate of every block (with shared
        weights, its slices)."""
        out = dict(weights_lib.layer_weights(self.stem_net))
        out.update(weights_lib.layer_weights(self.head_net))
        for op in self.mixed_ops:
            out.update(op.derived_weights())
        return out

    # Architecture -----------------------------------------------------------

    @property
    def num_blocks(self) -> int:
        return len(self.mixed_ops)

    def probabilities(self, temperature: float = 1.0) -> list[np.ndarray]:
        """softmax(alpha / temperature) of every block (numpy)."""
        return [tf.nn.softmax(a.value / temperature).numpy() for a in self.arch_variables]

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
    by_name = supernet.derived_weights()
    copied = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        source = by_name.get(layer.name)
        if source is None:
            raise ValueError(f"layer {layer.name!r} of {model.name!r} has no namesake in the "
                             "supernet (is the model a derived net of the supernet's space?)")
        layer.set_weights(source)
        copied += 1
    return copied
