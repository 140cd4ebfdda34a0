"""Everything a search changes, and its checkpoint.

Keras 3 layers held in Python lists (the supernet's mixed ops, their
candidates) are not tracked by `tf.train.Checkpoint` in TF 2.21 / Keras
3.15: a checkpoint of the model object silently misses e.g. their BN
moving statistics. The checkpoint therefore lists the variables
explicitly, in the supernet's and the optimizers' own deterministic order.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pxnas_tf.models.supernet import Supernet
from pxnas_tf.search.config import SearchConfig
from pxnas_tf.search.optimizers import PathMaskedSGD, TwoPhaseCosine
from pxnas_tf.search_math import gates
from pxnas_tf.search_space import SearchSpace


def _counter(name: str, dtype=tf.int64, value=0):
    return tf.Variable(value, dtype=dtype, trainable=False, name=name,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


class SearchState:
    """The supernet, both optimizers, the step counters and the REINFORCE
    baseline, created under `strategy`'s scope.

    The path-sampling RNG is stateless (a function of the seed and the step
    counters), so the counters are its whole state.

    Args:
        space: the search space.
        config: the search configuration.
        strategy: the tf.distribute strategy.
        steps_per_epoch: weight steps per epoch (for the lr schedule).
    """

    def __init__(self, space: SearchSpace, config: SearchConfig,
                 strategy: tf.distribute.Strategy, steps_per_epoch: int):
        self.config = config
        with strategy.scope():
            self.supernet = Supernet(space, mode=config.mixed_op_mode, dropout=config.dropout,
                                     candidate_weights=config.candidate_weights,
                                     frozen_candidates=config.frozen_candidates)
            self.supernet.build()
            schedule = TwoPhaseCosine(config.warmup_lr, config.warmup_epochs * steps_per_epoch,
                                      config.lr, config.epochs * steps_per_epoch)
            self.weight_opt = PathMaskedSGD(schedule, momentum=config.momentum,
                                            nesterov=config.nesterov)
            self.weight_opt.track_candidates(self.supernet.candidate_variables())
            self.weight_opt.track_shared(self.supernet.shared_masks())
            self.weight_opt.build(self.supernet.weight_variables)
            self.arch_opt = keras.optimizers.Adam(
                config.arch_lr, beta_1=config.arch_beta1, beta_2=config.arch_beta2,
                epsilon=config.arch_epsilon, name="arch_adam")
            self.arch_opt.build(self.supernet.arch_variables)
            self.weight_steps = _counter("weight_steps")
            self.arch_steps = _counter("arch_steps")
            self.total_arch_steps = config.total_arch_steps(steps_per_epoch)
            self.baseline = _counter("reinforce_baseline", tf.float32, 0.0)
            self.baseline_ready = _counter("reinforce_baseline_ready", tf.bool, False)

    def temperature(self):
        """tau of p = softmax(alpha / tau) after the arch steps taken so far
        (float32 scalar tensor; `gates.temperature`)."""
        return gates.temperature(self.arch_steps, self.total_arch_steps,
                                 self.config.arch_temperature)

    def probabilities(self) -> list:
        """The search's distribution now: softmax(alpha / tau) per block."""
        return self.supernet.probabilities(float(self.temperature().numpy()))

    def checkpoint(self) -> tf.train.Checkpoint:
        """A checkpoint of every variable, listed explicitly (see module doc)."""
        return tf.train.Checkpoint(
            supernet=[v.value for v in self.supernet.variables],
            weight_opt=[v.value for v in self.weight_opt.variables],
            arch_opt=[v.value for v in self.arch_opt.variables],
            weight_steps=self.weight_steps, arch_steps=self.arch_steps,
            baseline=self.baseline, baseline_ready=self.baseline_ready)
