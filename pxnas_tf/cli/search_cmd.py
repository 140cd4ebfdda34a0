"""Search an architecture with ProxylessNAS (binary gates, latency-aware).

usage:
  %s --workdir=DIR [--space=proxyless_small] [--dataset=fashion_mnist]
     [--latency_table=FILE | --latency_proxy=macs] [--target_latency=T]
     [--loss=mul#log|add#linear|ce] [--grad_mode=full_v2|two|full|reinforce]
     [--strategy=default|mirrored|multi_worker|tpu] [--jit_compile] [--deterministic]
     [--search_warmup_epochs=N] [--search_epochs=N] [--search_batch_size=N]
     [--search_examples=N] ...

Writes to the workdir: checkpoints/, tensorboard/, history.json (per-epoch
op probabilities), arch.json (the derived arch, loadable by `pxnas build
--arch=DIR/arch.json`) and summary.json. Re-running the same command
resumes from the last checkpoint; a workdir of another run is refused.
With --deterministic (TensorFlow op determinism) the resumed run ends bit
for bit like an uninterrupted one even on a busy machine.
T is in the latency model's unit: ms for a table, millions of MACs for the
MACs proxy (--target_latency_ms is an alias).
"""

from __future__ import annotations

import contextlib

from absl import flags

from pxnas_tf import fileio
from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError
from pxnas_tf.latency import LatencyTableError
from pxnas_tf.search_space import load_space

FLAGS = flags.FLAGS

def define_flags() -> None:
    flag_defs.define_search_flags()


def _config():
    import dataclasses

    from pxnas_tf.search import SearchConfig, make_config
    values = {f.name: getattr(FLAGS, flag_defs.SEARCH_FLAG_NAMES.get(f.name, f.name))
              for f in dataclasses.fields(SearchConfig) if f.name != "frozen_candidates"}
    if values["loss"] is None:
        values["loss"] = "mul#log" if values["target_latency"] is not None else "ce"
    try:
        return make_config(FLAGS.dataset, **values)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _latency_model(space):
    from pxnas_tf.search import LatencyModel
    if FLAGS.latency_table:
        return LatencyModel.from_table(space, FLAGS.latency_table, FLAGS.latency_stat,
                                       FLAGS.latency_precision)
    if FLAGS.latency_proxy == "macs":
        return LatencyModel.from_macs(space)
    return None


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; use --flag=value")
    if not FLAGS.workdir:
        raise UsageError("--workdir is required (checkpoints and results go there)")
    from absl import logging
    logging.set_verbosity(logging.WARNING)  # TF's per-checkpoint INFO lines
    from pxnas_tf.distribute import StrategyError, make_strategy
    from pxnas_tf.search import SearchError
    try:
        # MultiWorkerMirroredStrategy must exist before TensorFlow runs ops.
        strategy = make_strategy(FLAGS.strategy, tpu=FLAGS.tpu)
        if FLAGS.deterministic:
            import tensorflow as tf
            tf.config.experimental.enable_op_determinism()
        config = _config()
        from pxnas_tf.distribute import is_chief

        # The chief owns the workdir; other workers write to folders of their own.
        with fileio.exclusive(FLAGS.workdir) if is_chief(strategy) else contextlib.nullcontext():
            _run(strategy, config)
    except (SearchError, LatencyTableError, StrategyError) as e:
        raise UsageError(str(e)) from None


def _run(strategy, config) -> None:
    from pxnas_tf import data
    from pxnas_tf.distribute import is_chief
    from pxnas_tf.search import Search, SearchData

    splits = data.load(
        FLAGS.dataset, FLAGS.data_dir, batch_size=config.batch_size, image_size=FLAGS.image_size,
        channels=FLAGS.channels, holdout_examples=FLAGS.holdout_examples, seed=config.seed,
        deterministic=True, augment=FLAGS.augment, repeat=True,
        train_examples=FLAGS.search_examples, holdout_limit=FLAGS.holdout_limit)
    space = load_space(FLAGS.space, input_shape=list(splits.input_shape),
                       num_classes=splits.num_classes)
    latency = _latency_model(space)
    chief = is_chief(strategy)
    if chief:
        unit = f" {latency.unit}" if latency else ""
        print(f"search {space.name}: {space.num_blocks} blocks, {space.num_archs():.3g} archs; "
              f"{splits.name} {list(splits.input_shape)} sizes {splits.sizes}; "
              f"{strategy.num_replicas_in_sync} replica(s)")
        if latency:
            fastest, slowest = latency.bounds()
            print(f"latency model {latency.source}: archs take {fastest:.4g} to {slowest:.4g}{unit}; "
                  f"loss {config.loss}, target {config.target_latency}{unit if config.target_latency else ''}")
    search_data = SearchData.from_splits(splits, config.steps_per_epoch)
    search = Search(space, search_data, config, FLAGS.workdir, latency, strategy,
                    progress=FLAGS.progress)
    if chief and search.restored_from:
        print(f"resuming from {search.restored_from} (weight step {search.weight_steps} of "
              f"{search.total_steps})")
    result = search.run()
    if not chief:
        return
    print("\nSearch finished")
    print(f"  derived arch      {result.arch.arch_string}  ({result.derived_by})")
    if result.latency is not None:
        print(f"  latency           {result.latency:.4g} {result.unit} "
              f"(expected under the final probabilities {result.expected_latency:.4g})")
    print(f"  holdout top-1     {result.holdout_accuracy:.4f} (supernet weights, arch holdout)")
    print(f"  cost              {result.params:,} params, {result.macs / 1e6:.2f}M MACs")
    print(f"  steps             {result.weight_steps} weight, {result.arch_steps} arch")
    for what in ("arch", "summary", "history"):
        print(f"  {what:<17} {result.files[what]}")
