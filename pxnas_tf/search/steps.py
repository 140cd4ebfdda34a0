"""The step functions of the search under a tf.distribute strategy.

Each step is a `tf.function` in cross-replica context: it draws the step's
paths statelessly from (seed, step counter) — the same on every replica and
worker — passes them to `strategy.run`, and advances its counter. Inside a
replica, per-example losses are averaged over the GLOBAL batch
(`tf.nn.compute_average_loss`) and replica-wide terms (weight decay, the
additive latency term) are divided by the number of replicas, so the
all-reduced (summed) gradients are those of the global batch. With
`jit_compile` the forward and backward of each replica step are compiled
with XLA; the optimizer updates run outside it.
"""

from __future__ import annotations

import tensorflow as tf

from pxnas_tf.search.config import SearchConfig
from pxnas_tf.search.latency_model import LatencyModel
from pxnas_tf.search.state import SearchState
from pxnas_tf.search_math import gates, objectives, reinforce


# The statistics of a gradient arch step (float32 scalars, per replica).
ARCH_STATS = ("arch_loss", "arch_ce", "arch_correct", "arch_count", "expected_latency")


class SearchSteps:
    """Weight, arch (gradient or REINFORCE) and evaluation steps.

    Args:
        state: the variables.
        config: the configuration.
        latency: the latency model (None: the loss ignores latency).
        strategy: the strategy `state` was created under.
        global_batch_size: examples per step over all replicas.
    """

    def __init__(self, state: SearchState, config: SearchConfig, latency: LatencyModel | None,
                 strategy: tf.distribute.Strategy, global_batch_size: int):
        self.state = state
        self.config = config
        self.latency = latency
        self.strategy = strategy
        self.global_batch_size = int(global_batch_size)
        net = state.supernet
        self._weight_vars = net.weight_variables
        self._arch_vars = net.arch_variables
        self._shared_decay = net.shared_decay_variables(config.decay_bn_bias)
        jit = config.jit_compile
        self._weight_grads = tf.function(self._weight_grads_fn, jit_compile=jit)
        self._arch_grads = tf.function(self._arch_grads_fn, jit_compile=jit)
        self.weight_step = tf.function(self._weight_step)
        self.arch_step = tf.function(self._arch_step)
        self.reinforce_step = tf.function(self._reinforce_step)
        self.eval_step = tf.function(self._eval_step)
        self._ce_grads = tf.function(self._ce_grads_fn)

    # Helpers ----------------------------------------------------------------

    def _logits(self, temperature=None):
        """The tempered logits alpha / tau (p = their softmax)."""
        tau = self.state.temperature() if temperature is None else temperature
        return [a.value / tau for a in self._arch_vars]

    def _paths(self, counter, salt: int, uniform=False, pairs=False):
        """The step's path per block: the active op drawn from p (or
        uniformly); with `pairs` (arch steps of mode two) a sampled pair."""
        seed = gates.step_seed(self.config.sampling_seed, counter, salt)
        mode = self.config.mixed_op_mode if pairs else "single"
        fair = ((self.config.sampling_seed, counter)
                if self.config.fair_paths and salt == gates.SALT_WEIGHT else None)
        return gates.sample_paths(self._logits(), seed, mode, uniform, fair)

    def _l2(self, paths):
        """Weight decay on the shared kernels and the active candidates'."""
        wd = self.config.weight_decay
        total = objectives.l2_penalty(self._shared_decay, wd)
        per_block = self.state.supernet.candidate_decay_tensors(self.config.decay_bn_bias)
        for b, per_cand in enumerate(per_block):
            onehot = tf.one_hot(paths[b, 0], len(per_cand))  # (N_b,)
            for j, variables in enumerate(per_cand):
                if variables:
                    total += onehot[j] * objectives.l2_penalty(variables, wd)
        return total

    def _expected_latency(self, temperature):
        probs = [tf.nn.softmax(a) for a in self._logits(temperature)]
        return objectives.expected_latency(probs, self.latency.blocks, self.latency.constant)

    def _sum(self, per_replica):
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    # Weight step ------------------------------------------------------------

    def _weight_grads_fn(self, images, labels, paths):
        with tf.GradientTape() as tape:
            logits = self.state.supernet(images, paths, training=True)  # (B, classes)
            ce = objectives.cross_entropy(labels, logits, self.config.label_smoothing)  # (B,)
            loss = tf.nn.compute_average_loss(ce, global_batch_size=self.global_batch_size)
            loss += tf.nn.scale_regularization_loss(self._l2(paths))
        grads = tape.gradient(loss, [v.value for v in self._weight_vars])
        stats = {"loss": tf.reduce_sum(ce), "correct": tf.reduce_sum(objectives.correct(labels, logits)),
                 "count": tf.cast(tf.shape(labels)[0], tf.float32)}
        return grads, stats

    def _replica_weight(self, batch, paths):
        images, labels = batch
        grads, stats = self._weight_grads(images, labels, paths)
        self.state.weight_opt.apply_gradients(zip(grads, self._weight_vars))
        return stats

    def _weight_step(self, iterator, uniform):
        """One weight step on the next train batch.

        Args:
            iterator: distributed iterator of (images, labels).
            uniform: bool tensor, sample paths uniformly (warm-up).

        Returns:
            {"loss": sum of CE, "correct": top-1 hits, "count": examples}.
        """
        paths = self._paths(self.state.weight_steps, gates.SALT_WEIGHT, uniform)
        self.state.weight_opt.set_paths(paths)
        stats = self.strategy.run(self._replica_weight, args=(next(iterator), paths))
        self.state.weight_steps.assign_add(1)
        return self._sum(stats)

    # Arch step (gradient) ---------------------------------------------------

    def _arch_grads_fn(self, images, labels, paths, temperature):
        cfg = self.config
        with tf.GradientTape() as tape:
            logits = self.state.supernet(images, paths, training=True, arch_grad=True,
                                         temperature=temperature)
            ce = objectives.cross_entropy(labels, logits)  # (B,)
            ce_share = tf.nn.compute_average_loss(ce, global_batch_size=self.global_batch_size)
            if self.latency is not None and cfg.loss != "ce":
                expected = self._expected_latency(temperature)
                loss = objectives.latency_loss(
                    ce_share, expected, cfg.target_latency, cfg.loss, scale=cfg.latency_scale,
                    beta=cfg.latency_beta, lam=cfg.latency_lambda,
                    num_replicas=self.strategy.num_replicas_in_sync)
            else:
                expected = tf.constant(0.0)
                loss = ce_share
        grads = tape.gradient(loss, [a.value for a in self._arch_vars])
        stats = {"arch_loss": loss, "arch_ce": tf.reduce_sum(ce),
                 "arch_correct": tf.reduce_sum(objectives.correct(labels, logits)),
                 "arch_count": tf.cast(tf.shape(labels)[0], tf.float32),
                 "expected_latency": expected / self.strategy.num_replicas_in_sync}
        return grads, stats

    def _replica_arch(self, batch, draws, temperature):
        images, labels = batch
        k = self.config.arch_samples
        if k == 1:
            grads, stats = self._arch_grads(images, labels, draws[0], temperature)
        else:
            # The mean over the draws, one batch. A while loop, not k calls: one copy of the
            # supernet's forward and backward in the graph (k copies took k times as long to
            # trace and optimise).
            def body(i, grads, stats):
                more, more_stats = self._arch_grads(images, labels, draws[i], temperature)
                return (i + 1, [g + m for g, m in zip(grads, more)],
                        {name: v + more_stats[name] for name, v in stats.items()})

            zero = tf.constant(0.0)
            start = ([tf.zeros_like(a) for a in self._arch_vars],
                     {name: zero for name in ARCH_STATS})
            _, grads, stats = tf.while_loop(lambda i, *_: i < k, body, (tf.constant(0), *start))
            grads = [g / k for g in grads]
            # CE, hits and count add up over the draws; the loss and E[LAT] are means.
            stats["arch_loss"] /= k
            stats["expected_latency"] /= k
        self.state.arch_opt.apply_gradients(zip(grads, self._arch_vars))
        return stats

    def _arch_step(self, iterator):
        """One gradient step of the logits on the next arch-holdout batch,
        at this step's temperature, averaged over `arch_samples` path
        draws; mode "two" then shifts the sampled pairs' logits so that
        they keep their total probability (their CE gradient alone would
        leave the unsampled ops' probabilities as they were; the latency
        term reaches every logit and moves them all)."""
        tau = self.state.temperature()
        k = self.config.arch_samples
        draws = tf.stack([self._paths(self.state.arch_steps * k + i, gates.SALT_ARCH, pairs=True)
                          for i in range(k)])  # (k, blocks, 2)
        old = [tf.identity(a) for a in self._logits(tau)]
        stats = self.strategy.run(self._replica_arch, args=(next(iterator), draws, tau))
        stats = self._sum(stats)
        if self.config.mixed_op_mode == "two":
            with tf.control_dependencies(list(stats.values())):
                for b, alpha in enumerate(self._arch_vars):
                    mask = tf.reduce_max(tf.stack(
                        [gates.pair_mask(alpha.shape[0], draws[i, b]) for i in range(k)]), 0)
                    offset = gates.renormalise_offset(old[b], alpha.value / tau, mask)
                    alpha.assign(alpha.value - offset * tau * mask)
        self.state.arch_steps.assign_add(1)
        stats["temperature"] = tau
        return stats

    def arch_gradient(self, batch, draw):
        """The CE part of the logit gradient on one (non-distributed) batch,
        without applying it: per block, dL/dalpha (numpy). The path is drawn
        from p as an arch step's would be (draw number `draw` of its own
        salt, so the search's own draws are untouched). For measuring how
        much accuracy signal the arch steps get (bench/arch_signal.py).
        """
        images, labels = batch
        tau = self.state.temperature()
        paths = self._paths(tf.constant(draw, tf.int64), gates.SALT_PROBE, pairs=True)
        grads, _ = self._ce_grads(images, labels, paths, tau)  # CE: mean over the batch
        return [g.numpy() for g in grads]

    def _ce_grads_fn(self, images, labels, paths, temperature):
        with tf.GradientTape() as tape:
            logits = self.state.supernet(images, paths, training=True, arch_grad=True,
                                         update_stats=False, temperature=temperature)
            loss = tf.reduce_mean(objectives.cross_entropy(labels, logits))
        return tape.gradient(loss, [a.value for a in self._arch_vars]), loss

    # Arch step (REINFORCE) --------------------------------------------------

    def _replica_correct(self, batch, paths):
        images, labels = batch
        logits = self.state.supernet(images, paths, training=True, update_stats=False)
        return {"correct": tf.reduce_sum(objectives.correct(labels, logits)),
                "count": tf.cast(tf.shape(labels)[0], tf.float32)}

    def _replica_reinforce(self, archs, advantages, temperature):
        with tf.GradientTape() as tape:
            loss = reinforce.surrogate_loss(self._logits(temperature), archs, advantages)
            loss /= self.strategy.num_replicas_in_sync  # the gradient is all-reduced (summed)
        grads = tape.gradient(loss, [a.value for a in self._arch_vars])
        self.state.arch_opt.apply_gradients(zip(grads, self._arch_vars))
        return loss

    def _reinforce_step(self, iterator):
        """REINFORCE: M archs scored on one arch batch (train-mode BN, no
        state written), reward acc * (T / LAT) ** w, moving-average baseline."""
        cfg = self.config
        tau = self.state.temperature()
        seed = gates.step_seed(cfg.sampling_seed, self.state.arch_steps, gates.SALT_REINFORCE)
        archs = gates.sample_archs(self._logits(tau), seed, cfg.reinforce_samples)  # (M, blocks)
        batch = next(iterator)
        accuracy, latency = [], []
        for m in range(cfg.reinforce_samples):
            paths = tf.stack([archs[m], archs[m]], axis=1)
            hits = self._sum(self.strategy.run(self._replica_correct, args=(batch, paths)))
            accuracy.append(hits["correct"] / hits["count"])
            if self.latency is not None:
                latency.append(objectives.arch_latency(archs[m], self.latency.blocks,
                                                       self.latency.constant))
        accuracy = tf.stack(accuracy)  # (M,)
        if self.latency is not None and cfg.target_latency is not None:
            rewards = reinforce.reward(accuracy, tf.stack(latency), cfg.target_latency,
                                       cfg.reinforce_exponent)
        else:
            rewards = accuracy
        baseline = reinforce.update_baseline(self.state.baseline, tf.reduce_mean(rewards),
                                             cfg.reinforce_baseline_decay, self.state.baseline_ready)
        self.state.baseline.assign(baseline)
        self.state.baseline_ready.assign(True)
        self.strategy.run(self._replica_reinforce, args=(archs, rewards - baseline, tau))
        self.state.arch_steps.assign_add(1)
        mean_latency = tf.reduce_mean(tf.stack(latency)) if latency else tf.constant(0.0)
        return {"reward": tf.reduce_mean(rewards), "baseline": baseline,
                "sampled_accuracy": tf.reduce_mean(accuracy), "sampled_latency": mean_latency,
                "temperature": tau}

    # Evaluation -------------------------------------------------------------

    def _replica_eval(self, batch, paths):
        images, labels = batch
        logits = self.state.supernet(images, paths, training=True, update_stats=False)
        return {"loss": tf.reduce_sum(objectives.cross_entropy(labels, logits)),
                "correct": tf.reduce_sum(objectives.correct(labels, logits)),
                "count": tf.cast(tf.shape(labels)[0], tf.float32)}

    def _eval_step(self, batch, paths):
        """Sums of CE and hits of the arch `paths` on one distributed batch
        (BN on batch statistics, as the original validates its supernet)."""
        return self._sum(self.strategy.run(self._replica_eval, args=(batch, paths)))
