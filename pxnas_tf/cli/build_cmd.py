"""Build a derived Keras model from an arch file or zoo name.

usage:
  %s --arch=ARCH.json|ZOO_NAME [--space=NAME_OR_FILE] --out=MODEL.keras
     [--batch_size=1] [--input_shape=H,W,C] [--num_classes=N] [--width_mult=X]

The model uses stock Keras layers only: `keras.saving.load_model(MODEL.keras)`
loads it without pxnas_tf installed.
"""

from __future__ import annotations

import os

from absl import flags

from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError
from pxnas_tf.models import build_model, profile, zoo

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_build_flags()


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; use --arch=... --out=...")
    if not FLAGS.arch:
        raise UsageError("--arch is required: an arch JSON file or a zoo name")
    if not FLAGS.out:
        raise UsageError("--out is required, e.g. --out=net.keras")
    if not FLAGS.out.endswith(".keras"):
        raise UsageError(f"--out={FLAGS.out!r} must end with .keras (the Keras 3 format)")
    if FLAGS.batch_size is not None and FLAGS.batch_size < 1:
        raise UsageError(f"--batch_size={FLAGS.batch_size}: expected >= 1 (or leave it unset "
                         "for a free batch dimension)")
    arch = zoo.resolve_arch(FLAGS.arch, FLAGS.space, input_shape=FLAGS.input_shape,
                            num_classes=FLAGS.num_classes, width_mult=FLAGS.width_mult)
    model = build_model(arch, batch_size=FLAGS.batch_size, dropout=FLAGS.dropout)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    tmp = FLAGS.out[: -len(".keras")] + f".tmp-{os.getpid()}.keras"
    try:
        model.save(tmp)
        os.replace(tmp, FLAGS.out)
    finally:
        if os.path.exists(tmp):  # a failed save (full disk, ...) leaves nothing behind
            os.remove(tmp)
    p = profile.profile_model(model)
    print(f"built {arch.name or 'arch'} on space {arch.space.name}: {arch.arch_string}")
    print(f"  {p.params:,} params, {p.macs:,} MACs, input {list(model.input.shape)}")
    print(f"wrote {FLAGS.out}")
