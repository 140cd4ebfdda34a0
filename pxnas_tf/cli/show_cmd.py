"""Draw a derived net as the ProxylessNAS paper does.

usage:
  %s --arch=ARCH.json|ZOO_NAME --out=net.png|net.svg|net.pdf [--title=TEXT]

One box per block, coloured by kernel size (3x3 blue, 5x5 green, 7x7
orange), taller for larger expand ratios, labelled MB{expand} {k}x{k};
skipped (zero) blocks are dashed outlines; feature-map sizes under the
first block of each stage.
"""

from __future__ import annotations

import os

from absl import flags

from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_show_flags()


def main(argv: list[str]) -> None:
    from pxnas_tf.models import zoo
    from pxnas_tf.viz import arch_plot

    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; use --arch=... --out=...")
    if not FLAGS.arch or not FLAGS.out:
        raise UsageError("--arch and --out are required, e.g. --arch=arch.json --out=net.png")
    if os.path.splitext(FLAGS.out)[1].lower() not in arch_plot.FORMATS:
        raise UsageError(f"--out={FLAGS.out!r}: the format comes from the extension, one of "
                         f"{list(arch_plot.FORMATS)}")
    arch = zoo.resolve_arch(FLAGS.arch, FLAGS.space)
    arch_plot.save_arch_figure(arch, FLAGS.out, FLAGS.title)
    skipped = sum(op == "zero" for op in arch.ops)
    print(f"drew {arch.name or 'arch'}: {len(arch.ops) - skipped} blocks, {skipped} skipped")
    print(f"wrote {FLAGS.out}")
