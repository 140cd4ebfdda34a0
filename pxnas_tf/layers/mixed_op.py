"""The mixed op of ProxylessNAS (binary gates) as a serializable Keras 3 layer."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pxnas_tf.knobs import MIXED_OP_MODES
from pxnas_tf.layers import blocks
from pxnas_tf.layers.decay import decay_variables
from pxnas_tf.layers.mbconv import MBConv
from pxnas_tf.layers.shared_mbconv import SharedMBConv
from pxnas_tf.layers.zero_op import ZeroOp
from pxnas_tf.search_math import gates
from pxnas_tf.search_space import decode_op


def candidate_name(prefix: str, op: str) -> str:
    """Layer name of candidate `op` in the mixed op `prefix` ("b03" ->
    "b03_k5_e3", the derived net's block name, so weights match by name)."""
    return f"{prefix}_{op.replace('.', 'p')}"



def _dot32(a, b):
    """sum(a * b) in float32, whatever the inputs' dtype."""
    return tf.reduce_sum(tf.cast(a, tf.float32) * tf.cast(b, tf.float32))


@keras.saving.register_keras_serializable(package="pxnas_tf")
class MixedOp(keras.layers.Layer):
    """A searchable block: candidate ops, architecture logits, binary gates.

    out = x + sum_j g_j o_j(x) where the block has a residual connection,
    sum_j g_j o_j(x) otherwise, with g the one-hot gate of the active
    candidate. The zero op contributes 0, so choosing it skips the block.

    Modes (how the logits get their gradient, see `pxnas_tf.search_math.gates`):
        full_v2: only the active candidate runs in forward (`tf.switch_case`)
            and stores activations. In backward, an identity-in-forward
            custom gradient computes dL/dg_j = <dL/dy, o_j(x)> for every j,
            re-running each inactive candidate on the saved input without
            recording gradients and without touching BN moving statistics
            (`stateless_call`), then dL/dalpha from p = softmax(alpha).
        two: as full_v2 for the sampled pair only, with q = softmax over the
            pair's logits in place of p (the caller renormalises after the
            optimizer step, `gates.renormalise_offset`).
        full: every candidate runs in forward, y = sum_j g_j o_j(x) with the
            gates from `gates.binarize`: the memory reference and the ground
            truth for the other modes' gradient.

    Unlike the original, the logits get their gradient also when the zero
    op is active: with the residual, dL/dg_j of the other candidates is
    still defined (o_zero = 0 only removes its own term).

    Args:
        filters: output channels.
        candidates: op strings, e.g. ["k3_e3", "k5_e6", "zero"].
        strides: stride of the block (1 or 2).
        residual: add the input once for all candidates (needs stride 1 and
            equal widths).
        mode: one of "full_v2", "two", "full".
        bn_momentum: Keras BN momentum of the candidates.
        shared: the MBConv candidates share one set of weights (each a
            slice of the largest, `SharedMBConv`) instead of each having its
            own (the paper's).
        frozen: candidate indices that get weights of their own (also when
            `shared`), kept at their random initialisation (BN on its
            initial statistics): a known-answer control for the search.

    Call arguments:
        inputs: `(batch, H, W, C_in)`.
        path: int32 `(2,)` (active, partner) or a scalar active index.
        training: BN mode.
        arch_grad: attach the logit gradient (arch steps); weight steps
            leave it off and cost one path.
        update_stats: False runs BN in `training` mode without updating its
            moving statistics (evaluation of sampled paths).
        temperature: tau of p = softmax(alpha / tau) in the logit gradient
            (scalar; 1 unless the search anneals).

    Returns:
        `(batch, ceil(H / strides), ceil(W / strides), filters)`.

    Example:
    >>> op = MixedOp(16, ["k3_e3", "k5_e6", "zero"], residual=True)
    >>> y = op(keras.ops.ones((2, 8, 8, 16)), tf.constant([1, 1]))
    >>> tuple(y.shape)
    (2, 8, 8, 16)
    """

    def __init__(self, filters: int, candidates, strides: int = 1, residual: bool = False,
                 mode: str = "full_v2", bn_momentum: float = blocks.BN_MOMENTUM,
                 shared: bool = False, frozen=(), **kwargs):
        super().__init__(**kwargs)
        if mode not in MIXED_OP_MODES:
            raise ValueError(f"unknown mixed-op mode {mode!r}: expected one of {MIXED_OP_MODES}")
        self.filters = int(filters)
        self.candidates = [decode_op(op).name for op in candidates]
        if not self.candidates:
            raise ValueError(f"{self.name}: a mixed op needs at least one candidate")
        self.strides = int(strides)
        self.residual = bool(residual)
        self.mode = mode
        self.bn_momentum = bn_momentum
        self.shared = bool(shared)
        self.specs = [decode_op(op) for op in self.candidates]
        self.frozen = tuple(sorted(int(j) for j in frozen))
        for j in self.frozen:
            if not 0 <= j < len(self.specs) or self.specs[j].is_zero:
                raise ValueError(f"{self.name}: cannot freeze candidate {j} of "
                                 f"{self.candidates} (no such candidate, or the zero op)")
        self.ops = []  # per candidate: its layer (ZeroOp, or MBConv unless shared)
        convs = [s for j, s in enumerate(self.specs) if not s.is_zero and j not in self.frozen]
        self.shared_op = None
        if self.shared and convs:
            self.shared_op = SharedMBConv(
                self.filters, [s.kernel for s in convs], [s.expand for s in convs], self.strides,
                bn_momentum, name=f"{self.name}_shared")
        for j, (op, spec) in enumerate(zip(self.candidates, self.specs)):
            name = candidate_name(self.name, op)
            if spec.is_zero:
                self.ops.append(ZeroOp(self.filters, self.strides, name=name))
            elif self.shared and j not in self.frozen:
                self.ops.append(None)
            else:
                self.ops.append(MBConv(self.filters, spec.kernel, spec.expand, self.strides,
                                       residual=False, bn_momentum=bn_momentum, name=name))
                # A frozen candidate: its own weights, kept at their random
                # initialisation (made non-trainable once built, in `build`).

    @property
    def num_candidates(self) -> int:
        return len(self.ops)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        if self.residual and (self.strides != 1 or in_channels != self.filters):
            raise ValueError(
                f"{self.name}: residual needs stride 1 and equal widths, got stride "
                f"{self.strides}, {in_channels} -> {self.filters} channels")
        if "zero" in self.candidates and not self.residual:
            raise ValueError(f"{self.name}: the zero op needs a residual block (it would "
                             "cut the network)")
        for j, op in enumerate(self.ops):
            if op is not None:
                op.build(tuple(input_shape))
                if j in self.frozen:
                    op.trainable = False
        if self.shared_op is not None:
            self.shared_op.build(tuple(input_shape))
        self.alpha = self.add_weight(
            shape=(self.num_candidates,), name="alpha", trainable=True,
            initializer=keras.initializers.RandomNormal(0.0, 1e-3))

    # One candidate --------------------------------------------------------

    def is_zero(self, j: int) -> bool:
        return self.specs[j].is_zero

    def _run(self, j: int, x, training, update_stats: bool = True):
        """o_j(x): (B, H, W, C_in) -> (B, H', W', filters)."""
        op = self.ops[j]
        if self.is_zero(j):
            return op(x)
        if op is None:  # a slice of the shared block
            spec = self.specs[j]
            return self.shared_op.run(x, spec.kernel, spec.expand, training, update_stats)
        if update_stats or not training:
            return op(x, training=training)
        return self._stateless(j, x, training)

    def _stateless(self, j: int, x, training):
        """o_j(x) with BN in `training` mode and no state written."""
        if self.ops[j] is None:
            return self._run(j, x, training, update_stats=False)
        op = self.ops[j]
        out, _ = op.stateless_call([v.value for v in op.trainable_variables],
                                   [v.value for v in op.non_trainable_variables],
                                   x, training=training)
        return out

    # Candidate weights ----------------------------------------------------

    def candidate_variables(self) -> list[tuple]:
        """(variable, candidate) of every trainable variable that belongs to
        one candidate alone (none with shared weights)."""
        return [(v, j) for j, op in enumerate(self.ops) if op is not None
                for v in op.trainable_variables]

    def shared_masks(self) -> list[tuple]:
        """(variable, (N, *shape) bool masks): the entries of each shared
        variable that candidate j uses (none for the zero op)."""
        if self.shared_op is None:
            return []
        per_candidate = []
        for spec, op in zip(self.specs, self.ops):
            if op is not None:  # the zero op, or a frozen candidate with its own weights
                per_candidate.append(None)
            else:
                per_candidate.append(dict((id(v), (v, m)) for v, m in
                                          self.shared_op.masks(spec.kernel, spec.expand)))
        out = []
        for v in self.shared_op.trainable_variables:
            masks = [np.zeros(v.shape, bool) if c is None else c[id(v)][1] for c in per_candidate]
            out.append((v, np.stack(masks)))
        return out

    def decay_tensors(self, j: int, include_bn_bias: bool = False) -> list:
        """What weight decay applies to when candidate j is active: its conv
        kernels (all its trainable weights with `include_bn_bias`)."""
        if self.is_zero(j):
            return []
        if self.ops[j] is not None:
            return [v.value for v in decay_variables(self.ops[j], include_bn_bias)]
        spec = self.specs[j]
        if not include_bn_bias:
            return self.shared_op.decay_kernels(spec.kernel, spec.expand)
        return [v.value[m] for v, m in self.shared_op.masks(spec.kernel, spec.expand)]

    def derived_weights(self) -> dict[str, list]:
        """Derived-net layer name -> numpy weights, for every candidate."""
        out = {}
        for op_name, spec, op in zip(self.candidates, self.specs, self.ops):
            prefix = candidate_name(self.name, op_name)
            if spec.is_zero:
                continue
            if op is None:
                out.update(self.shared_op.candidate_weights(prefix, spec.kernel, spec.expand))
            else:
                for layer in op.body:
                    if layer.weights:
                        out[layer.name] = [np.asarray(w) for w in layer.get_weights()]
        return out

    # The logit gradient ---------------------------------------------------

    def _attach_logit_grad(self, y, x, path, training, temperature):
        """Identity on y (B, H', W', C) whose backward adds dL/dalpha."""
        n = self.num_candidates
        two = self.mode == "two"

        @tf.custom_gradient
        def attach(y, x, alpha, path):
            active = path[0]

            def grad(dy):
                needed = gates.pair_mask(n, path) if two else tf.ones((n,))
                gate_grads = []
                for j in range(n):
                    if self.is_zero(j):
                        gate_grads.append(tf.zeros((), tf.float32))
                        continue

                    def rerun(j=j):
                        o_j = tf.stop_gradient(self._stateless(j, x, training))
                        return _dot32(dy, o_j)

                    def maybe_rerun(j=j, rerun=rerun):
                        if not two:
                            return rerun()
                        return tf.cond(needed[j] > 0, rerun, lambda: tf.zeros((), tf.float32))

                    gate_grads.append(tf.cond(tf.equal(active, j),
                                              lambda: _dot32(dy, y), maybe_rerun))
                # Gate math in float32 also under mixed_float16 (sums over a
                # whole activation overflow float16).
                gate_grad = tf.stack(gate_grads)  # (N,) dL/dg_j
                alpha32 = tf.cast(alpha, tf.float32)
                probs = gates.masked_softmax(alpha32, needed) if two else tf.nn.softmax(alpha32)
                return (dy, None, tf.cast(gates.logit_grad(gate_grad * needed, probs), alpha.dtype),
                        None)

            return tf.identity(y), grad

        # The custom gradient is w.r.t. the tempered logits alpha / tau; the
        # division's own gradient then scales it by 1 / tau.
        return attach(y, x, self.alpha.value / temperature, path)

    # Forward --------------------------------------------------------------

    def call(self, inputs, path, training=None, arch_grad=False, update_stats=True,
             temperature=1.0):
        path = tf.cast(path, tf.int32)
        if path.shape.rank == 0:
            path = tf.stack([path, path])
        active = path[0]
        if self.mode == "full":
            outs = [self._run(j, inputs, training, update_stats) for j in range(self.num_candidates)]
            if arch_grad:
                g = gates.binarize(self.alpha.value / temperature, active)  # (N,)
            else:
                g = tf.one_hot(active, self.num_candidates, dtype=inputs.dtype)
            y = tf.add_n([g[j] * o for j, o in enumerate(outs)])
        else:
            branches = [lambda j=j: self._run(j, inputs, training, update_stats)
                        for j in range(self.num_candidates)]
            y = tf.switch_case(active, branches)  # (B, H', W', filters): one path computed
            if arch_grad:
                y = self._attach_logit_grad(y, inputs, path, training, temperature)
        return inputs + y if self.residual else y

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape

        def out(size):
            return None if size is None else (size - 1) // self.strides + 1
        return (b, out(h), out(w), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "candidates": list(self.candidates),
            "strides": self.strides, "residual": self.residual, "mode": self.mode,
            "bn_momentum": self.bn_momentum, "shared": self.shared, "frozen": list(self.frozen),
        })
        return config
