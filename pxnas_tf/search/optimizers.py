"""The optimizers of the search: SGD that leaves unsampled candidates
alone, and the two-phase cosine learning rate of the weight steps."""

from __future__ import annotations

import math

import keras
import tensorflow as tf


class PathMaskedSGD(keras.optimizers.SGD):
    """SGD (Nesterov by default) whose step leaves every candidate op that
    is not on the step's path untouched: its weights and its momentum.

    Gradients through `tf.switch_case` are zeros, not None, for the untaken
    branches, so plain momentum SGD would still move the unsampled
    candidates (by their momentum). Here such a candidate variable and its
    momentum keep their values (`tf.where` on the path mask). Shared
    variables (stem, first block, head) update as in SGD.

    With shared candidate weights (`SharedMBConv`), a block's variable is
    used by several candidates, each on its own slice: only the active
    candidate's entries (weights and momentum) update.

    Usage (inside the step's tf.function, before `apply_gradients`):

        opt.track_candidates(supernet.candidate_variables())  # once
        opt.track_shared(supernet.shared_masks())             # once
        opt.set_paths(paths)                                  # every step
        opt.apply_gradients(zip(grads, supernet.weight_variables))

    Args:
        learning_rate: float or schedule.
        momentum: momentum (0.9).
        nesterov: Nesterov momentum.
    """

    def __init__(self, learning_rate=0.025, momentum: float = 0.9, nesterov: bool = True,
                 name: str = "path_masked_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         name=name, **kwargs)
        self._candidate_of: dict = {}
        self._shared_of: dict = {}
        self._paths = None

    def track_candidates(self, entries) -> None:
        """Maps candidate variables to their (block, candidate).

        Args:
            entries: (variable, block, candidate) triples
                (`Supernet.candidate_variables()`).
        """
        self._candidate_of = {self._var_key(v): (int(b), int(j)) for v, b, j in entries}

    def track_shared(self, entries) -> None:
        """Maps shared variables to their (block, (N_b, *shape) bool masks).

        Args:
            entries: (variable, block, masks) triples (`Supernet.shared_masks()`).
        """
        self._shared_of = {self._var_key(v): (int(b), masks) for v, b, masks in entries}

    def set_paths(self, paths) -> None:
        """The step's paths: int32 (num_blocks, 2) or (num_blocks,); column 0
        is the active candidate, the only one of its block that updates."""
        paths = tf.convert_to_tensor(paths, tf.int32)
        self._paths = paths if paths.shape.rank == 1 else paths[:, 0]

    def update_step(self, gradient, variable, learning_rate):
        key = self._var_key(variable)
        where, shared = self._candidate_of.get(key), self._shared_of.get(key)
        if where is None and shared is None:
            return super().update_step(gradient, variable, learning_rate)
        if self._paths is None:
            raise ValueError("PathMaskedSGD: call set_paths(paths) before apply_gradients")
        if shared is not None:
            block, masks = shared
            active = tf.gather(tf.constant(masks), self._paths[block])  # (*shape) bool
        else:
            block, candidate = where
            active = tf.equal(self._paths[block], candidate)
        lr = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        momentum = tf.cast(self.momentum, variable.dtype)
        if self.momentum == 0:
            self.assign(variable, tf.where(active, variable - lr * gradient, variable))
            return
        m = self.momentums[self._get_variable_index(variable)]
        new_m = m * momentum - lr * gradient
        step = new_m * momentum - lr * gradient if self.nesterov else new_m
        self.assign(m, tf.where(active, new_m, m))
        self.assign(variable, tf.where(active, variable + step, variable))


@keras.saving.register_keras_serializable(package="pxnas_tf")
class TwoPhaseCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay from `warmup_lr` over the warm-up steps, then a fresh
    cosine decay from `lr` over the search steps (ProxylessNAS: 0.05 over
    40 warm-up epochs, 0.025 over 120 search epochs), both to 0."""

    def __init__(self, warmup_lr: float, warmup_steps: int, lr: float, search_steps: int):
        self.warmup_lr = float(warmup_lr)
        self.warmup_steps = int(warmup_steps)
        self.lr = float(lr)
        self.search_steps = int(search_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = tf.maximum(float(self.warmup_steps), 1.0)
        search = tf.maximum(float(self.search_steps), 1.0)
        in_warmup = step < self.warmup_steps
        t = tf.where(in_warmup, step / warm, (step - self.warmup_steps) / search)
        base = tf.where(in_warmup, self.warmup_lr, self.lr)
        return base * 0.5 * (1.0 + tf.cos(math.pi * tf.minimum(t, 1.0)))

    def get_config(self):
        return {"warmup_lr": self.warmup_lr, "warmup_steps": self.warmup_steps,
                "lr": self.lr, "search_steps": self.search_steps}
