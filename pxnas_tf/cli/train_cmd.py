"""Train a derived net (an arch file or a zoo name) on a dataset.

usage:
  %s --arch=ARCH.json|ZOO_NAME --workdir=DIR --epochs=N
     [--dataset=fashion_mnist] [--train_examples=N] [--batch_size=256] [--lr=0.05]
     [--warmup_epochs=1] [--weight_decay=4e-5] [--label_smoothing=0.1] [--dropout=0.1]
     [--mixed_precision=auto] [--strategy=default|mirrored|multi_worker|tpu]
     [--warm_start=SEARCH_WORKDIR|MODEL.keras]

The arch's space takes the dataset's input shape and number of classes.
SGD Nesterov with a linear warm-up and cosine decay, label smoothing, L2 on
conv/dense kernels (not BN/bias unless --decay_bn_bias), dropout before the
classifier. Writes to the workdir: arch.json, run.json, backup/ (resume),
best.keras, last.keras, history.json, tensorboard/ and results.json (final
accuracy). Kill it at any time and re-run the same command to continue from
the last completed epoch; a workdir of another run is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses

from absl import flags

from pxnas_tf import fileio
from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_train_flags()


def _strategy():
    from pxnas_tf.distribute import StrategyError, make_strategy
    try:
        return make_strategy(FLAGS.strategy, tpu=FLAGS.tpu)
    except StrategyError as e:
        raise UsageError(str(e)) from None


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; use --arch=... --workdir=...")
    for name in ("arch", "workdir", "epochs"):
        if getattr(FLAGS, name) is None:
            raise UsageError(f"--{name} is required (see `pxnas train --help`)")
    strategy = _strategy()  # before any TensorFlow op (multi_worker needs that)

    from pxnas_tf import data
    from pxnas_tf.models import profile, zoo
    from pxnas_tf.train import TrainConfig, train

    config = TrainConfig(**{f.name: getattr(FLAGS, f.name)
                            for f in dataclasses.fields(TrainConfig)})
    source = {"dataset": FLAGS.dataset, "data_dir": FLAGS.data_dir,
              "image_size": FLAGS.image_size, "channels": FLAGS.channels}
    splits = data.load(FLAGS.dataset, FLAGS.data_dir, batch_size=config.batch_size,
                       image_size=FLAGS.image_size, channels=FLAGS.channels,
                       holdout_examples=FLAGS.holdout_examples or 0, seed=config.seed,
                       augment=FLAGS.augment,
                       train_examples=FLAGS.train_examples, val_examples=FLAGS.val_examples)
    arch = zoo.resolve_arch(FLAGS.arch, FLAGS.space, input_shape=splits.input_shape,
                            num_classes=splits.num_classes, width_mult=FLAGS.width_mult)
    cost = profile.profile_arch(arch)
    print(f"train {arch.name or 'arch'}: {arch.arch_string}")
    print(f"  space {arch.space.name} at {list(arch.space.input_shape)}, "
          f"{arch.space.num_classes} classes: {cost.params:,} params, {cost.macs / 1e6:.2f}M MACs")
    print(f"  data {splits.name}: {splits.sizes['train']} train / {splits.sizes['validation']} "
          f"validation images; {config.epochs} epochs of "
          f"{config.steps_per_epoch or splits.steps('train')} steps, batch {config.batch_size}, "
          f"{strategy.num_replicas_in_sync} replica(s)", flush=True)
    from pxnas_tf.distribute import is_chief

    # The chief owns the workdir; other workers write to folders of their own.
    with fileio.exclusive(FLAGS.workdir) if is_chief(strategy) else contextlib.nullcontext():
        result = train(arch, splits, FLAGS.workdir, config, strategy=strategy,
                       warm_start=FLAGS.warm_start, data_source=source,
                       verbose=1 if FLAGS.progress else 2)
    if result.resumed_from:
        print(f"resumed after epoch {result.resumed_from}")
    if result.warm_start:
        print(f"warm start from {FLAGS.warm_start}: {result.warm_start}")
    top1 = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"
    print(f"validation top-1 {top1(result.val_top1)} after {result.epochs} epochs "
          f"(best {top1(result.best_val_top1)} at epoch {result.best_epoch}), mixed precision "
          f"{result.mixed_precision}, {result.seconds} s")
    for key in ("best", "last", "results"):
        print(f"  {key:<8} {result.files[key]}")
