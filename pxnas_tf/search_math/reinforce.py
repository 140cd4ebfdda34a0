"""REINFORCE for the arch logits (pure TensorFlow functions).

    R_m      = acc_m * (T / LAT_m) ** w
    b       <- decay * b + (1 - decay) * mean_m R_m      (b = mean R at first)
    grad     = -(1/M) sum_m (R_m - b) * grad log p(arch_m)   (minimised)
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def reward(accuracy, latency, target: float, exponent: float):
    """acc * (T / LAT) ** w; (M,), (M,) -> (M,)."""
    return accuracy * tf.pow(tf.constant(target, tf.float32) / latency, exponent)


def update_baseline(baseline, mean_reward, decay: float, initialized):
    """Moving average of the mean reward; the first update takes the mean."""
    moved = decay * baseline + (1.0 - decay) * mean_reward
    return tf.where(initialized, moved, mean_reward)


def log_prob(logits: Sequence, archs):
    """log p(arch) under the per-block softmax.

    Args:
        logits: per block, (N_b,).
        archs: int32 (M, num_blocks).

    Returns:
        (M,).
    """
    total = 0.0
    for b, alpha in enumerate(logits):
        log_p = tf.nn.log_softmax(alpha)  # (N_b,)
        total += tf.gather(log_p, archs[:, b])  # (M,)
    return total


def surrogate_loss(logits: Sequence, archs, advantages):
    """-(1/M) sum_m A_m log p(arch_m): its gradient is the REINFORCE step.

    Args:
        advantages: (M,) R_m - b, treated as constants.
    """
    advantages = tf.stop_gradient(advantages)
    return -tf.reduce_mean(advantages * log_prob(logits, archs))
