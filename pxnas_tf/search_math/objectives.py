"""Losses of the search (pure TensorFlow functions): cross-entropy with
label smoothing, the differentiable expected latency and the latency-aware
loss forms of ProxylessNAS.

    E[LAT] = constant + sum_b sum_j p_bj * lat_bj          (zero op: 0)

    mul#log:     L = scale * CE * (log E[LAT] / log T) ** beta
    add#linear:  L = CE + lambda * (E[LAT] - T) / T
    abs#target:  L = CE + lambda * |E[LAT] - T| / T

mul#log and add#linear (ProxylessNAS's forms) push latency down everywhere,
below the target too; abs#target (the absolute-value reward of TuNAS,
Bender et al. 2020) pulls E[LAT] towards T from both sides, so a search
spends a latency budget it was given instead of undershooting it.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from pxnas_tf.search_math.loss_forms import LOSS_FORMS


def cross_entropy(labels, logits, label_smoothing: float = 0.0):
    """Per-example cross-entropy with label smoothing.

    Args:
        labels: (B,) int class ids.
        logits: (B, classes).
        label_smoothing: weight of the uniform distribution in the target.

    Returns:
        (B,) float32.
    """
    logits = tf.cast(logits, tf.float32)
    classes = tf.shape(logits)[-1]
    target = tf.one_hot(tf.cast(labels, tf.int32), classes)  # (B, classes)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / tf.cast(classes, tf.float32)
    return tf.nn.softmax_cross_entropy_with_logits(target, logits)


def correct(labels, logits):
    """(B,) float32: 1 where the top-1 prediction is right."""
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32)


def expected_latency(probs: Sequence, latencies: Sequence, constant: float):
    """E[LAT] = constant + sum_b <p_b, lat_b>, differentiable in the probs.

    Args:
        probs: per block, (N_b,) probabilities.
        latencies: per block, (N_b,) candidate latencies.
        constant: latency of the fixed layers.
    """
    total = tf.constant(constant, tf.float32)
    for p, lat in zip(probs, latencies):
        total += tf.reduce_sum(p * tf.constant(lat, tf.float32))
    return total


def arch_latency(paths, latencies: Sequence, constant: float):
    """Latency of one arch: constant + sum_b lat_b[paths[b]].

    Args:
        paths: int32 (num_blocks,) chosen candidate per block.
    """
    total = tf.constant(constant, tf.float32)
    for b, lat in enumerate(latencies):
        total += tf.gather(tf.constant(lat, tf.float32), paths[b])
    return total


def latency_loss(ce, expected, target: float, form: str, *, scale: float = 0.2,
                 beta: float = 0.3, lam: float = 0.1, num_replicas: int = 1):
    """The latency-aware arch loss of one replica.

    `ce` is this replica's share of the global-batch cross-entropy (the
    replica shares add up to the global mean), so `mul#log` multiplies it as
    it is, and the additive term of `add#linear` is split over the replicas.

    Args:
        ce: scalar cross-entropy share.
        expected: scalar E[LAT].
        target: the target latency T (> 0; > 1 for mul#log).
        form: one of LOSS_FORMS; "ce" ignores latency.
        scale, beta: mul#log parameters (the original's alpha 0.2, beta 0.3).
        lam: add#linear / abs#target weight.
        num_replicas: replicas in sync.
    """
    if form == "ce":
        return ce
    if form == "mul#log":
        ratio = tf.math.log(expected) / tf.math.log(tf.constant(target, tf.float32))
        return scale * ce * tf.pow(ratio, beta)
    if form == "add#linear":
        return ce + lam * (expected - target) / target / num_replicas
    if form == "abs#target":
        return ce + lam * tf.abs(expected - target) / target / num_replicas
    raise ValueError(f"unknown loss form {form!r}: expected one of {LOSS_FORMS}")


def l2_penalty(kernels: Sequence, weight_decay: float):
    """0.5 * wd * sum ||w||^2 (its gradient is wd * w, PyTorch's weight decay)."""
    if not kernels or not weight_decay:
        return tf.constant(0.0)
    return 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
