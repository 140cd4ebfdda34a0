"""The main job, end to end: search a net for this CPU on Fashion-MNIST and
ship it as a verified int8 TFLite file.

usage:
  %s [--workdir=runs/demo] [--runner=host|adb[:SERIAL]|linux:PATH]
     [--precision=int8|float32|fp16] [--threads=1] [--latency_table=FILE]
     [--target_ms=T | --target_fraction=F] [--search_epochs=3] [--epochs=2]
     [--full_data] [--dataset=fashion_mnist] [--image_size=N] [--channels=1|3]

Stages (each reused when the workdir already holds it finished):
  1. the latency table of `proxyless_small` adapted to the data (28x28x1, 10
     classes), measured on the target with LiteRT (int8, 1 thread);
  2. a latency target: the table's latency of MobileNetV2's block pattern
     (k3_e6 in every block) in the space, unless --target_ms /
     --target_fraction;
  3. the latency-aware search (warm-up, then an arch step after every
     weight step with the logits' temperature falling to 0.2, so that the
     distribution decides) and the derived arch (band budget: in
     [0.9 T, T]);
  4. a short training of the derived net, warm-started from the supernet;
  5. export to TFLite, verified in LiteRT (accuracy, agreement with Keras,
     int8-only ops, measured host latency beside the table's prediction);
  6. plots: the derived net and the search dynamics (op probabilities per
     block over the epochs);
then a summary, summary.json and report.md. The defaults use subsets and
few epochs so that the whole job takes about 10 minutes on 2 cores; the
flags scale it up (--full_data, --search_epochs, --epochs, ...). The
library behind it is `pxnas_tf.pipeline`.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from pxnas_tf import pipeline
from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError
from pxnas_tf.pipeline import PipelineConfig

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_demo_flags()


def config_from_flags():
    """The `PipelineConfig` the flags describe."""
    names = [f.name for f in dataclasses.fields(PipelineConfig)]
    values = {name: getattr(FLAGS, name) for name in names}
    if FLAGS.full_data:
        values.update(search_examples=0, train_examples=0, val_examples=0)
    try:
        return PipelineConfig(**values)
    except ValueError as e:
        raise UsageError(f"{e} (see `pxnas demo --help`)") from None


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; use --flag=value")
    config = config_from_flags()
    from absl import logging
    logging.set_verbosity(logging.WARNING)  # TF's per-checkpoint INFO lines

    print(f"pxnas demo in {config.workdir}: {config.dataset} on {config.runner} "
          f"({config.precision}, {config.threads} thread(s)).\nSubsets for speed: search on "
          f"{config.search_examples or 'all'} training images (holdout {config.holdout_examples}), "
          f"{config.search_warmup_epochs} warm-up + {config.search_epochs} search epoch(s); "
          f"training on {config.train_examples or 'all'} images for {config.epochs} epoch(s); "
          f"verification on {config.val_examples or 'all'} test images. Scale up with "
          "--full_data, --search_epochs, --epochs (see --help).", flush=True)
    result = pipeline.run(config)
    print("\nSummary")
    for line in pipeline.summary_lines(result.summary):
        print(f"  {line}")
