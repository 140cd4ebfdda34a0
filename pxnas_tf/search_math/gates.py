"""Binary gates of the mixed ops: stateless sampling and the paper's logit
gradient (pure TensorFlow functions).

Sampling is stateless: every draw is a function of (seed, counter, salt,
block), so every replica and every worker of a tf.distribute run draws the
same path without communicating, and a resumed run draws what an
uninterrupted one would have drawn.

A block's path is an int32 pair ``(active, partner)``: the candidate whose
output is computed, and in mode ``two`` the other sampled candidate (the
one re-run in backward); in the other modes ``partner == active``.

The logit gradient (ProxylessNAS, BinaryConnect-style): with gates g
(one-hot of the active candidate) and p = softmax(alpha),

    dL/dalpha_i = sum_j dL/dg_j * p_j * (delta_ij - p_i)
                = p_i * (dL/dg_i - <dL/dg, p>)
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

# Salts keep the draws of different kinds of steps apart.
SALT_WEIGHT = 1
SALT_ARCH = 2
SALT_REINFORCE = 3
SALT_PROBE = 4  # measurements of the arch gradient outside the search's own draws
SALT_FAIR = 5  # the order of a fair cycle


def step_seed(seed, counter, salt: int):
    """A stateless seed (2,) int32 for draw number `counter` of kind `salt`.

    Args:
        seed: the run's integer seed (Python int or scalar tensor).
        counter: the step counter of that kind (scalar int tensor).
        salt: one of the SALT_* constants.
    """
    base = tf.stack([tf.cast(seed, tf.int32), tf.cast(counter, tf.int32)])  # (2,)
    return tf.random.experimental.stateless_fold_in(base, salt)


def _block_seed(seed, block: int):
    return tf.random.experimental.stateless_fold_in(seed, block)


def sample_index(logits, seed):
    """One index drawn from softmax(logits): (N,) -> int32 scalar."""
    draw = tf.random.stateless_categorical(logits[None, :], 1, seed, dtype=tf.int32)  # (1, 1)
    return draw[0, 0]


def sample_pair(logits, seed):
    """Two distinct indices drawn from softmax(logits) without replacement,
    then the active one drawn from q = softmax over the pair's logits.

    Gumbel top-2 is exactly sequential sampling without replacement.

    Args:
        logits: (N,) with N >= 2.
        seed: (2,) int32.

    Returns:
        int32 (2,): (active, partner).
    """
    gumbel_seed, pick_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    u = tf.random.stateless_uniform(tf.shape(logits), gumbel_seed, minval=1e-20, maxval=1.0)
    keys = logits - tf.math.log(-tf.math.log(u))  # (N,) Gumbel-perturbed
    pair = tf.math.top_k(keys, k=2).indices  # (2,) int32
    first = sample_index(tf.gather(logits, pair), pick_seed)  # 0 or 1
    return tf.stack([pair[first], pair[1 - first]])


def fair_index(n: int, run_seed, counter, block: int):
    """The op of a block of `n` candidates at step `counter` under strict
    fairness (FairNAS, Chu et al. 2019): steps come in cycles of `n`, and
    each cycle visits every candidate once, in an order drawn per cycle and
    block. Uniform draws give an op more weight steps than another by
    chance (32 warm-up steps over 7 ops: 4.6 +- 2 each), and a supernet then
    prefers the ops its seed happened to train most.

    Args:
        n: the block's candidates (static).
        run_seed: the run's integer seed.
        counter: the step counter (scalar int tensor).
        block: the block's index.

    Returns:
        int32 scalar in [0, n).
    """
    counter = tf.cast(counter, tf.int32)
    cycle_seed = _block_seed(step_seed(run_seed, counter // n, SALT_FAIR), block)
    order = tf.argsort(tf.random.stateless_uniform([n], cycle_seed))  # (n,) a permutation
    return tf.cast(order[counter % n], tf.int32)


def sample_paths(logits: Sequence, seed, mode: str, uniform=False, fair=None):
    """The path of every block for one step.

    Args:
        logits: per block, (N_b,) arch logits.
        seed: (2,) int32 from `step_seed`.
        mode: "two" samples (active, partner) pairs (arch steps of mode
            two); any other mode one op drawn from p (weight steps of every
            mode: the active op must follow p, which the pick inside a
            sampled pair does not).
        uniform: bool (tensor or Python): sample uniformly (warm-up)
            instead of from softmax(logits).
        fair: None, or (run seed, step counter): uniform steps then follow
            `fair_index` (every op once per cycle) instead of independent
            uniform draws (single-op modes only).

    Returns:
        int32 (num_blocks, 2): (active, partner) per block.
    """
    uniform = tf.convert_to_tensor(uniform, tf.bool)
    rows = []
    for b, alpha in enumerate(logits):
        alpha = tf.convert_to_tensor(alpha)
        alpha = tf.where(uniform, tf.zeros_like(alpha), alpha)  # (N_b,)
        block_seed = _block_seed(seed, b)
        if mode == "two" and alpha.shape[0] >= 2:
            rows.append(sample_pair(alpha, block_seed))
        else:
            index = sample_index(alpha, block_seed)
            if fair is not None:
                index = tf.where(uniform, fair_index(int(alpha.shape[0]), *fair, b), index)
            rows.append(tf.stack([index, index]))
    return tf.stack(rows)  # (num_blocks, 2)


def sample_archs(logits: Sequence, seed, count: int):
    """`count` independent archs from the per-block softmax (REINFORCE).

    Returns:
        int32 (count, num_blocks).
    """
    cols = []
    for b, alpha in enumerate(logits):
        draws = tf.random.stateless_categorical(
            tf.convert_to_tensor(alpha)[None, :], count, _block_seed(seed, b), dtype=tf.int32)
        cols.append(draws[0])  # (count,)
    return tf.stack(cols, axis=1)


def logit_grad(gate_grad, probs):
    """dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) = p_i (dL/dg_i - <dL/dg, p>).

    Args:
        gate_grad: (N,) dL/dg_j.
        probs: (N,) the distribution the gate was drawn from.
    """
    return probs * (gate_grad - tf.reduce_sum(gate_grad * probs))


@tf.custom_gradient
def binarize(logits, active):
    """One-hot gates of the active candidate with the paper's gradient.

    Forward: g = one_hot(active, N). Backward: dL/dalpha from `logit_grad`
    with p = softmax(logits). (Mode ``full``: the reference estimator.)

    Args:
        logits: (N,) float.
        active: int32 scalar.

    Returns:
        (N,) gates.
    """
    gates = tf.one_hot(active, tf.shape(logits)[0], dtype=logits.dtype)

    def grad(dgates):
        return logit_grad(dgates, tf.nn.softmax(logits)), None

    return gates, grad


def pair_mask(n: int, path):
    """(N,) float mask of the candidates in the pair ``(active, partner)``."""
    return tf.minimum(tf.reduce_sum(tf.one_hot(path, n), axis=0), 1.0)


def masked_softmax(logits, mask):
    """softmax over the candidates where mask is 1, zero elsewhere: (N,) -> (N,)."""
    very_negative = tf.constant(-1e9, logits.dtype)
    return tf.nn.softmax(tf.where(mask > 0, logits, very_negative))


def renormalise_offset(old_logits, new_logits, mask):
    """The shift that keeps the total probability of the sampled pair.

    After an update of the sampled logits (mode ``two``), subtracting
    ``log(sum_S exp(new) / sum_S exp(old))`` from them leaves every
    unsampled candidate's probability as it was.

    Args:
        old_logits, new_logits: (N,) before and after the optimizer step.
        mask: (N,) 1 for the sampled pair S.

    Returns:
        scalar offset.
    """
    very_negative = tf.constant(-1e9, old_logits.dtype)
    new = tf.reduce_logsumexp(tf.where(mask > 0, new_logits, very_negative))
    old = tf.reduce_logsumexp(tf.where(mask > 0, old_logits, very_negative))
    return new - old


def temperature(step, total_steps: int, final: float):
    """The logits' temperature after `step` of `total_steps` arch steps:
    tau = final ** (min(step, total) / total), geometric from 1 (no arch
    step yet) to `final` (all taken); 1 throughout when there are none.

    The search's distribution is p = softmax(alpha / tau). A falling tau
    sharpens p (the annealing of SNAS and GDAS), and the logits' own steps
    move p by about arch_lr / tau, so a short search still decides.

    Args:
        step: arch steps taken (scalar tensor or int).
        total_steps: arch steps of the whole search.
        final: tau after the last arch step, in (0, 1].

    Returns:
        float32 scalar tensor.
    """
    if total_steps <= 0 or final == 1.0:
        return tf.constant(1.0, tf.float32)
    progress = tf.minimum(tf.cast(step, tf.float32) / float(total_steps), 1.0)
    return tf.pow(tf.constant(final, tf.float32), progress)


def entropy(probs):
    """Entropy in nats of a distribution (N,) -> scalar (0 log 0 = 0)."""
    return -tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(probs), probs))
