"""The alternating weight / architecture search of ProxylessNAS.

    warm-up epochs:  weight steps on uniformly sampled paths
    search epochs:   weight steps on paths sampled from softmax(alpha); every
                     `arch_every` weight steps one arch step on the holdout
                     (none in the first `arch_delay_epochs` search epochs)
    end:             derive the arch (argmax, or the hard latency budget)

Resumable: checkpoints (every `checkpoint_every` steps and at epoch ends)
hold every variable and the step counters; the path draws are stateless
functions of the seed and the counters, and the data streams restart at
the step they had reached (`skip`), so a killed run re-run with the same
command continues where its last checkpoint was and ends where an
uninterrupted run ends: bit for bit under TensorFlow op determinism
(`tf.config.experimental.enable_op_determinism`, `pxnas search
--deterministic`); without it, multithreaded kernels may sum in another
order on a busy machine, and the sampled paths amplify such differences. Skipping re-reads the
skipped batches (no training on them). An epoch resumed in its middle
reports train loss / accuracy of its steps after the resumption only.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from pxnas_tf import distribute, fileio, summaries
from pxnas_tf.models.profile import profile_arch
from pxnas_tf.search import derive, records
from pxnas_tf.search.config import SearchConfig
from pxnas_tf.search.errors import NonFiniteLossError, SearchError
from pxnas_tf.search.inputs import SearchData, endless, with_sharding
from pxnas_tf.search.latency_model import LatencyModel
from pxnas_tf.search.state import SearchState
from pxnas_tf.search.steps import SearchSteps
from pxnas_tf.search_math import gates
from pxnas_tf.search_space import Arch, SearchSpace


@dataclasses.dataclass
class SearchResult:
    """The outcome of a search.

    Attributes:
        arch: the derived arch.
        derived_by: "argmax", "budget" (most probable within the target) or
            "band" (most probable in [budget_floor * target, target]).
        probabilities: per block, the final op probabilities.
        latency: the derived arch's latency in the search's per-block form
            (what the search optimised and derived by; model unit), None
            without a model.
        predicted_latency: the derived arch's whole prediction
            (`pxnas_tf.latency.model.predictor.predict`: the number every
            other part of the tool quotes); equals `latency` unless the
            table has streaming or context terms.
        expected_latency: E[LAT] under the final probabilities.
        unit: the latency unit.
        holdout_accuracy: top-1 of the derived arch on the arch holdout
            (supernet weights, BN on batch statistics).
        params, macs: of the derived net.
        weight_steps, arch_steps: steps taken in total.
        temperature: tau of the final p = softmax(alpha / tau).
        decided: the mean over blocks of the largest op probability (1:
            every block has decided; 1 / N: uniform).
        files: what was written.
    """

    arch: Arch
    derived_by: str
    probabilities: list[list[float]]
    latency: float | None
    predicted_latency: float | None
    expected_latency: float | None
    unit: str | None
    holdout_accuracy: float
    params: int
    macs: int
    weight_steps: int
    arch_steps: int
    temperature: float
    decided: float
    files: dict[str, str]

    def summary(self) -> dict:
        return {
            "arch": self.arch.arch_string, "ops": list(self.arch.ops), "derived_by": self.derived_by,
            "latency": self.latency, "predicted_latency": self.predicted_latency,
            "expected_latency": self.expected_latency, "unit": self.unit,
            "holdout_accuracy": self.holdout_accuracy, "params": self.params, "macs": self.macs,
            "weight_steps": self.weight_steps, "arch_steps": self.arch_steps,
            "temperature": self.temperature, "decided": self.decided,
            "probabilities": self.probabilities, "files": self.files,
        }


class Search:
    """One search run in a workdir (see the module docstring).

    Args:
        space: the search space (input shape and classes must match the data).
        data: the data streams.
        config: the configuration.
        workdir: where checkpoints, logs and results go.
        latency: the latency model; None searches for accuracy only.
        strategy: tf.distribute strategy (default: the current one).
        progress: show a progress bar per epoch.
    """

    def __init__(self, space: SearchSpace, data: SearchData, config: SearchConfig, workdir: str,
                 latency: LatencyModel | None = None,
                 strategy: tf.distribute.Strategy | None = None, progress: bool = True):
        self.space, self.data, self.config = space, data, config
        self.workdir = os.path.abspath(workdir)
        self.latency = latency
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = distribute.is_chief(self.strategy)
        self.progress = progress
        self.files = records.paths(self.workdir)
        self._check_inputs()
        self.steps_per_epoch = data.steps_per_epoch
        self.total_steps = config.total_epochs * self.steps_per_epoch
        os.makedirs(self.workdir, exist_ok=True)
        if self.chief:
            fileio.remove_stale_temporaries(self.workdir)  # a killed run's leftovers
        record = records.run_record(space.to_dict(), data.identity(), config.to_dict(),
                                    latency.to_dict() if latency else None)
        records.check_or_write_run(self.files["run"], record, write=self.chief)
        keras.utils.set_random_seed(config.seed)  # initial weights
        self.state = SearchState(space, config, self.strategy, self.steps_per_epoch)
        self.steps = SearchSteps(self.state, config, latency, self.strategy, data.batch_size)
        self.checkpoint = self.state.checkpoint()
        task_type, task_id = distribute.task_info(self.strategy)
        ckpt_dir = (self.files["checkpoints"] if self.chief
                    else os.path.join(self.workdir, f".tmp-{task_type}-{task_id}-checkpoints"))
        self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir,
                                                  max_to_keep=config.keep_checkpoints)
        self.restored_from = self._restore()

    # Set-up -----------------------------------------------------------------

    def _check_inputs(self) -> None:
        space, data, cfg = self.space, self.data, self.config
        if tuple(space.input_shape) != tuple(data.input_shape) or space.num_classes != data.num_classes:
            raise SearchError(
                f"space {space.name!r} expects inputs {list(space.input_shape)} and "
                f"{space.num_classes} classes, the data has {list(data.input_shape)} and "
                f"{data.num_classes}")
        if data.batch_size % self.strategy.num_replicas_in_sync:
            raise SearchError(f"batch size {data.batch_size} does not split evenly over "
                              f"{self.strategy.num_replicas_in_sync} replicas")
        needs_latency = cfg.loss != "ce" or cfg.latency_budget != "soft" or (
            cfg.grad_mode == "reinforce" and cfg.target_latency is not None)
        if needs_latency and self.latency is None:
            raise SearchError(f"loss {cfg.loss!r} / budget {cfg.latency_budget!r} needs a latency "
                              "model: pass --latency_table=FILE or --latency_proxy=macs")
        if self.latency is not None:
            self.latency.check_space(space)
            if cfg.target_latency is not None:
                loss = "ce" if cfg.grad_mode == "reinforce" else cfg.loss  # no log(latency)
                self.latency.check_target(cfg.target_latency, loss)

    def _restore(self) -> str | None:
        latest = tf.train.latest_checkpoint(self.files["checkpoints"])
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return latest

    def _save(self) -> None:
        step = int(self.state.weight_steps.numpy())
        self.manager.save(checkpoint_number=step)
        if not self.chief:  # workers save too (collectives), then drop theirs
            tf.io.gfile.rmtree(self.manager.directory)

    def _stream(self, ds: tf.data.Dataset, skip: int):
        ds = with_sharding(endless(ds).skip(skip))
        return iter(self.strategy.experimental_distribute_dataset(ds))

    # The loop ---------------------------------------------------------------

    @property
    def weight_steps(self) -> int:
        return int(self.state.weight_steps.numpy())

    @property
    def arch_steps(self) -> int:
        return int(self.state.arch_steps.numpy())

    def _uniform_paths(self, epoch: int) -> bool:
        """Whether the weight steps of `epoch` draw their paths uniformly:
        in the warm-up, and throughout with weight_paths="uniform"."""
        return epoch < self.config.warmup_epochs or self.config.weight_paths == "uniform"

    def _arch_due(self, epoch: int, position: int) -> bool:
        cfg = self.config
        return (epoch >= cfg.warmup_epochs + cfg.arch_delay_epochs
                and (position + 1) % cfg.arch_every == 0)

    def run(self) -> SearchResult:
        """Runs (or resumes) the search to the end and derives the arch.

        Raises:
            SearchError: when the strategy's all-reduce collides with another
                strategy's in this process (the message says what to do).
            NonFiniteLossError: when a loss becomes NaN or infinite.
        """
        try:
            return self._run()
        except tf.errors.InvalidArgumentError as e:
            explained = distribute.explain_collective_error(e)
            if explained is None:
                raise
            raise SearchError(str(explained)) from e

    def _run(self) -> SearchResult:
        cfg, spe = self.config, self.steps_per_epoch
        train_it = self._stream(self.data.train, self.weight_steps)
        arch_it = self._stream(self.data.arch, self.arch_steps)
        history = records.load_history(self.files["history"]) if self.chief else []
        writer = (tf.summary.create_file_writer(self.files["tensorboard"]) if self.chief
                  else tf.summary.create_noop_writer())
        totals, bar = _Totals(), None
        arch_step = self.steps.reinforce_step if cfg.grad_mode == "reinforce" else self.steps.arch_step
        while self.weight_steps < self.total_steps:
            step = self.weight_steps
            epoch, position = divmod(step, spe)
            if bar is None:
                bar = self._bar(epoch, position)
            out = _numpy(self.steps.weight_step(train_it, tf.constant(self._uniform_paths(epoch))))
            self._check_finite(out["loss"], "weight", step)
            totals.add(out)
            arch_out = {}
            if self._arch_due(epoch, position):
                arch_out = _numpy(arch_step(arch_it))
                self._check_finite(arch_out.get("arch_loss", arch_out.get("reward", 0.0)),
                                   "arch", step)
                totals.add(arch_out)
            bar.update(1)
            bar.set_postfix(loss=f"{out['loss'] / out['count']:.3f}",
                            acc=f"{out['correct'] / out['count']:.3f}")
            if (step + 1) % cfg.log_every == 0:
                self._log_step(writer, step + 1, out, arch_out)
            if position == spe - 1:
                bar.close()
                bar = None
                history = self._end_epoch(epoch, totals, history, writer)
                totals = _Totals()
                self._save()
            elif cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
                self._save()
        if bar is not None:
            bar.close()
        writer.flush()
        return self.derive()

    def _bar(self, epoch: int, position: int):
        phase = "warm-up" if epoch < self.config.warmup_epochs else "search"
        return tqdm(total=self.steps_per_epoch, initial=position, unit="step", dynamic_ncols=True,
                    desc=f"epoch {epoch + 1}/{self.config.total_epochs} ({phase})",
                    disable=not (self.progress and self.chief))

    def _check_finite(self, value: float, kind: str, step: int) -> None:
        if math.isfinite(float(value)):
            return
        latest = self.manager.latest_checkpoint if self.chief else None
        kept = f"the last good checkpoint is {latest}" if latest else "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"the {kind} loss became {value} at weight step {step}; stopping without saving "
            f"({kept}). Restart with a lower learning rate (--lr/--warmup_lr/--arch_lr) in a new "
            f"--workdir: a resume keeps the run's settings.")

    # Logging ----------------------------------------------------------------

    def _log_step(self, writer, step: int, out: dict, arch_out: dict) -> None:
        lr = float(self.state.weight_opt.learning_rate.numpy())
        with writer.as_default(step=step):
            summaries.scalar("train/loss", out["loss"] / out["count"])
            summaries.scalar("train/accuracy", out["correct"] / out["count"])
            summaries.scalar("train/lr", lr)
            for key, value in arch_out.items():
                summaries.scalar(f"arch/{key}", value)

    def _end_epoch(self, epoch: int, totals: "_Totals", history: list, writer) -> list:
        net = self.state.supernet
        probs = self.state.probabilities()
        argmax = derive.argmax_indices(probs)
        holdout = self.evaluate(argmax)
        entry = {
            "epoch": epoch + 1,
            "phase": "warmup" if epoch < self.config.warmup_epochs else "search",
            "weight_steps": self.weight_steps, "arch_steps": self.arch_steps,
            **totals.means(),
            "holdout_accuracy": holdout["accuracy"], "holdout_loss": holdout["loss"],
            "arch": net.arch_of(argmax).arch_string,
            "entropy": [float(gates.entropy(tf.constant(p)).numpy()) for p in probs],
            "temperature": float(self.state.temperature().numpy()),
            "decided": derive.decidedness(probs),
            "probabilities": [[round(float(x), 6) for x in p] for p in probs],
            "candidates": [list(op.candidates) for op in net.mixed_ops],
        }
        if self.latency is not None:
            entry["expected_latency"] = self.latency.expected(probs)
            entry["argmax_latency"] = self.latency.arch_latency(argmax)
        if self.chief:
            history = records.add_epoch(self.files["history"], history, entry)
        with writer.as_default(step=self.weight_steps):
            for key in ("holdout_accuracy", "holdout_loss", "expected_latency", "argmax_latency",
                        "temperature", "decided"):
                if key in entry:
                    summaries.scalar(f"epoch/{key}", entry[key])
            for b, h in enumerate(entry["entropy"]):
                summaries.scalar(f"entropy/block_{b:02d}", h)
        return history

    # Evaluation and derive --------------------------------------------------

    def evaluate(self, indices) -> dict:
        """Top-1 and CE of the arch `indices` on the holdout (one pass, or
        `eval_batches` batches)."""
        paths = tf.constant(np.stack([indices, indices], axis=1), tf.int32)
        dataset = self.data.arch_eval
        if dataset is None:
            dataset = self.data.arch.take(max(1, self.config.eval_batches or 1))
        if self.config.eval_batches:
            dataset = dataset.take(self.config.eval_batches)
        sums = _Totals()
        for batch in self.strategy.experimental_distribute_dataset(with_sharding(dataset)):
            sums.add(_numpy(self.steps.eval_step(batch, paths)))
        count = max(sums.sums.get("count", 0.0), 1.0)
        return {"accuracy": sums.sums.get("correct", 0.0) / count,
                "loss": sums.sums.get("loss", 0.0) / count}

    def derive(self) -> SearchResult:
        """Derives the arch from the logits, evaluates it and writes
        arch.json and summary.json (chief)."""
        cfg, lat = self.config, self.latency
        probs = self.state.probabilities()
        if lat is not None:
            indices, how = derive.derive_indices(probs, lat.blocks, lat.constant,
                                                 cfg.target_latency, cfg.latency_budget,
                                                 cfg.budget_floor)
        else:
            indices, how = derive.argmax_indices(probs), "argmax"
        arch = self.state.supernet.arch_of(indices, name=f"searched_{self.space.name}")
        holdout = self.evaluate(indices)
        cost = profile_arch(arch)
        result = SearchResult(
            arch=arch, derived_by=how, probabilities=[[float(x) for x in p] for p in probs],
            latency=lat.arch_latency(indices) if lat else None,
            predicted_latency=lat.predict(arch, indices) if lat else None,
            expected_latency=lat.expected(probs) if lat else None,
            unit=lat.unit if lat else None, holdout_accuracy=holdout["accuracy"],
            params=cost.params, macs=cost.macs, weight_steps=self.weight_steps,
            arch_steps=self.arch_steps, temperature=float(self.state.temperature().numpy()),
            decided=derive.decidedness(probs),
            files={k: self.files[k] for k in ("arch", "summary", "history", "checkpoints",
                                              "tensorboard")})
        if self.chief:
            doc = arch.to_dict()
            doc["search"] = {k: v for k, v in result.summary().items()
                             if k in ("derived_by", "latency", "predicted_latency",
                                      "expected_latency", "unit",
                                      "holdout_accuracy", "params", "macs", "decided")}
            doc["search"]["latency_source"] = lat.source if lat else None
            fileio.atomic_write_json(self.files["arch"], doc)
            fileio.atomic_write_json(self.files["summary"], result.summary())
        return result


class _Totals:
    """Sums of the per-step outputs over an epoch."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, out: dict) -> None:
        for k, v in out.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict:
        s, n = self.sums, self.counts
        out = {}
        if s.get("count"):
            out["train_loss"] = s["loss"] / s["count"]
            out["train_accuracy"] = s["correct"] / s["count"]
        if s.get("arch_count"):
            out["arch_ce"] = s["arch_ce"] / s["arch_count"]
            out["arch_accuracy"] = s["arch_correct"] / s["arch_count"]
        for key in ("arch_loss", "expected_latency", "reward", "baseline", "sampled_accuracy",
                    "sampled_latency"):
            if n.get(key):
                out[key] = s[key] / n[key]
        return out


def _numpy(out: dict) -> dict:
    return {k: float(v.numpy()) for k, v in out.items()}


def run_search(space: SearchSpace, data: SearchData, config: SearchConfig, workdir: str,
               latency: LatencyModel | None = None, strategy=None,
               progress: bool = True) -> SearchResult:
    """Runs (or resumes) a search in `workdir`; see `Search`."""
    return Search(space, data, config, workdir, latency, strategy, progress).run()
