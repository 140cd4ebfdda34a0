"""The MBConv candidates of one mixed op with shared weights (one super
block, each candidate a slice of it).

Every candidate ``k{K}_e{E}`` of a block is cut from one block of the
largest kernel and expansion: its expand conv and BN are the first
``round(C_in * E)`` hidden channels, its depthwise kernel the centre K x K
of the largest kernel (on those channels), its projection the same hidden
channels' rows and the whole output BN. A k3 candidate is then the centre of
the k7 one and an e3 candidate the first half of the e6 one, as in
Single-Path NAS (Stamoulis et al., 2019) and once-for-all (Cai et al.,
2020).

Why: with independent weights, a block whose input and output widths differ
(the first block of a stage, which has no residual) hands the next block a
different random feature basis each time another candidate is drawn, and
a supernet trained on uniformly sampled paths stays near chance for
hundreds of steps (measured on Fashion-MNIST, see the README). With shared
weights every path computes on one common basis and the supernet trains
almost like a single net.

The candidate's computation is exactly that of the derived net's MBConv
(symmetric k // 2 padding, BN epsilon 1e-3, ReLU6) on the sliced weights, so
`candidate_weights` copied into a derived net reproduce its outputs.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pxnas_tf.layers import blocks

# Derived-net layer suffixes (see `blocks.mbconv_layers`) in weight order.
_BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


@keras.saving.register_keras_serializable(package="pxnas_tf")
class SharedMBConv(keras.layers.Layer):
    """MBConv candidates (kernel, expand) sharing one set of weights.

    Args:
        filters: output channels.
        kernels: the candidates' depthwise kernel sizes (odd).
        expands: the candidates' expand ratios, aligned with `kernels`;
            either all 1 (no expand conv) or all above 1.
        strides: depthwise stride (1 or 2).
        bn_momentum: Keras BN momentum.

    Call (`run`) arguments:
        x: `(batch, H, W, C_in)`.
        kernel, expand: the candidate.
        training: BN on batch statistics.
        update_stats: in training, update the moving statistics of the
            candidate's channels (False: no state written).

    Example:
    >>> shared = SharedMBConv(24, kernels=[3, 7], expands=[3, 6], strides=2)
    >>> shared.build((None, 16, 16, 16))
    >>> tuple(shared.run(tf.ones((2, 16, 16, 16)), 3, 3, training=True).shape)
    (2, 8, 8, 24)
    """

    def __init__(self, filters: int, kernels, expands, strides: int = 1,
                 bn_momentum: float = blocks.BN_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernels = [int(k) for k in kernels]
        self.expands = [float(e) for e in expands]
        if not self.kernels or len(self.kernels) != len(self.expands):
            raise ValueError(f"{self.name}: kernels and expands must be non-empty and aligned")
        if len({e == 1 for e in self.expands}) > 1:
            raise ValueError(
                f"{self.name}: shared weights need every candidate with an expand conv or "
                f"none, got expand ratios {self.expands}; use independent candidate weights "
                "for such a block")
        self.strides = int(strides)
        self.bn_momentum = bn_momentum
        self.max_kernel = max(self.kernels)
        self.max_expand = max(self.expands)
        self.has_expand = self.max_expand != 1

    def build(self, input_shape):
        self.in_channels = int(input_shape[-1])
        hidden = blocks.hidden_width(self.in_channels, self.max_expand)
        glorot = keras.initializers.GlorotUniform()
        if self.has_expand:
            self.expand_kernel = self.add_weight(
                shape=(1, 1, self.in_channels, hidden), initializer=glorot, name="expand_kernel")
            self.expand_bn = self._bn("expand_bn", hidden)
        k = self.max_kernel
        self.depthwise_kernel = self.add_weight(shape=(k, k, hidden, 1), initializer=glorot,
                                                name="depthwise_kernel")
        self.depthwise_bn = self._bn("depthwise_bn", hidden)
        self.project_kernel = self.add_weight(shape=(1, 1, hidden, self.filters),
                                              initializer=glorot, name="project_kernel")
        self.project_bn = self._bn("project_bn", self.filters)

    def _bn(self, name: str, size: int) -> dict:
        # As Keras' own BatchNormalization: per-replica statistics (a
        # cross-replica aggregation would need a sync point, which cannot sit
        # inside the mixed op's tf.switch_case).
        stat = dict(trainable=False, autocast=False)
        return {
            "gamma": self.add_weight(shape=(size,), initializer="ones", name=f"{name}_gamma"),
            "beta": self.add_weight(shape=(size,), initializer="zeros", name=f"{name}_beta"),
            "moving_mean": self.add_weight(shape=(size,), initializer="zeros",
                                           name=f"{name}_moving_mean", **stat),
            "moving_variance": self.add_weight(shape=(size,), initializer="ones",
                                               name=f"{name}_moving_variance", **stat),
        }

    # Slices -----------------------------------------------------------------

    def hidden(self, expand: float) -> int:
        return blocks.hidden_width(self.in_channels, expand) if self.has_expand else self.in_channels

    def slices(self, kernel: int, expand: float) -> dict[str, tuple[slice, ...]]:
        """Variable path suffix -> the candidate's index into it."""
        h, off = self.hidden(expand), (self.max_kernel - kernel) // 2
        everything = slice(None)
        out = {}
        if self.has_expand:
            out["expand_kernel"] = (everything, everything, everything, slice(0, h))
            out.update({f"expand_bn_{w}": (slice(0, h),) for w in _BN_WEIGHTS})
        out["depthwise_kernel"] = (slice(off, off + kernel), slice(off, off + kernel),
                                   slice(0, h), everything)
        out.update({f"depthwise_bn_{w}": (slice(0, h),) for w in _BN_WEIGHTS})
        out["project_kernel"] = (everything, everything, slice(0, h), everything)
        out.update({f"project_bn_{w}": (everything,) for w in _BN_WEIGHTS})
        return out

    def _named(self) -> dict:
        out = {}
        if self.has_expand:
            out["expand_kernel"] = self.expand_kernel
            out.update({f"expand_bn_{w}": v for w, v in self.expand_bn.items()})
        out["depthwise_kernel"] = self.depthwise_kernel
        out.update({f"depthwise_bn_{w}": v for w, v in self.depthwise_bn.items()})
        out["project_kernel"] = self.project_kernel
        out.update({f"project_bn_{w}": v for w, v in self.project_bn.items()})
        return out

    def masks(self, kernel: int, expand: float) -> list[tuple]:
        """(trainable variable, bool numpy mask of the candidate's entries)."""
        cut = self.slices(kernel, expand)
        out = []
        for name, v in self._named().items():
            if v.trainable:
                mask = np.zeros(v.shape, bool)
                mask[cut[name]] = True
                out.append((v, mask))
        return out

    def decay_kernels(self, kernel: int, expand: float) -> list:
        """The candidate's slices of the conv kernels (weight decay)."""
        cut, named = self.slices(kernel, expand), self._named()
        names = (["expand_kernel"] if self.has_expand else []) + ["depthwise_kernel",
                                                                   "project_kernel"]
        return [named[n].value[cut[n]] for n in names]

    def candidate_weights(self, prefix: str, kernel: int, expand: float) -> dict[str, list]:
        """Derived-net layer name -> numpy weights for candidate (kernel,
        expand) named `prefix` (e.g. "b03_k5_e3")."""
        cut, named = self.slices(kernel, expand), self._named()

        def part(name):
            return np.asarray(named[name].numpy()[cut[name]])

        out = {}
        if self.has_expand:
            out[f"{prefix}_expand_conv"] = [part("expand_kernel")]
            out[f"{prefix}_expand_bn"] = [part(f"expand_bn_{w}") for w in _BN_WEIGHTS]
        out[f"{prefix}_depthwise_dw"] = [part("depthwise_kernel")]
        out[f"{prefix}_depthwise_bn"] = [part(f"depthwise_bn_{w}") for w in _BN_WEIGHTS]
        out[f"{prefix}_project_conv"] = [part("project_kernel")]
        out[f"{prefix}_project_bn"] = [part(f"project_bn_{w}") for w in _BN_WEIGHTS]
        return out

    # Forward ------------------------------------------------------------------

    def _batch_norm(self, x, bn: dict, size: int, training, update_stats: bool):
        gamma, beta = bn["gamma"].value[:size], bn["beta"].value[:size]
        if training:
            mean, variance = tf.nn.moments(x, axes=[0, 1, 2])  # (size,)
            if update_stats:
                m = self.bn_momentum
                for name, batch in (("moving_mean", mean), ("moving_variance", variance)):
                    var = bn[name]
                    new = var.value[:size] * m + tf.cast(batch, var.dtype) * (1.0 - m)
                    var.assign(tf.concat([new, var.value[size:]], axis=0))
        else:
            mean, variance = bn["moving_mean"].value[:size], bn["moving_variance"].value[:size]
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, blocks.BN_EPSILON)

    def run(self, x, kernel: int, expand: float, training=None, update_stats: bool = True):
        """The candidate (kernel, expand) on `x`: (B, H, W, C_in) -> (B, H', W', filters)."""
        h, off = self.hidden(expand), (self.max_kernel - kernel) // 2
        y = x
        if self.has_expand:
            y = tf.nn.conv2d(y, self.expand_kernel.value[..., :h], 1, "VALID")
            y = tf.nn.relu6(self._batch_norm(y, self.expand_bn, h, training, update_stats))
        pad = kernel // 2
        y = tf.pad(y, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        dw = self.depthwise_kernel.value[off:off + kernel, off:off + kernel, :h]
        y = tf.nn.depthwise_conv2d(y, dw, [1, self.strides, self.strides, 1], "VALID")
        y = tf.nn.relu6(self._batch_norm(y, self.depthwise_bn, h, training, update_stats))
        y = tf.nn.conv2d(y, self.project_kernel.value[:, :, :h], 1, "VALID")
        return self._batch_norm(y, self.project_bn, self.filters, training, update_stats)

    def compute_output_shape(self, input_shape):
        return blocks.strided_output_shape(input_shape, self.filters, self.strides)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernels": list(self.kernels),
                       "expands": list(self.expands), "strides": self.strides,
                       "bn_momentum": self.bn_momentum})
        return config
