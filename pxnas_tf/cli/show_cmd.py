"""Draw a derived net as the ProxylessNAS paper does, or a search's dynamics.

usage:
  %s --arch=ARCH.json|ZOO_NAME --out=net.png|net.svg|net.pdf [--title=TEXT]
  %s --history=SEARCH_WORKDIR|history.json --out=dynamics.png [--title=TEXT]

--arch: one box per block, coloured by kernel size (3x3 blue, 5x5 green,
7x7 orange), taller for larger expand ratios, labelled MB{expand} {k}x{k};
skipped (zero) blocks are dashed outlines; feature-map sizes under the
first block of each stage.

--history: one heat map per searchable block, candidate ops on the y axis,
epochs on the x axis (w1, w2, ... = warm-up), colour = op probability; the
most probable op at the end is outlined; a last panel has the expected
latency and holdout top-1 per epoch.
"""

from __future__ import annotations

import os

from absl import flags

from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError
from pxnas_tf.search_space import load_arch, load_space
from pxnas_tf.viz import arch_plot, search_plot

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_show_flags()


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; use --arch=... --out=...")
    if bool(FLAGS.arch) == bool(FLAGS.history) or not FLAGS.out:
        raise UsageError("give --out and exactly one of --arch and --history, e.g. "
                         "--arch=arch.json --out=net.png or --history=runs/search --out=dyn.png")
    if os.path.splitext(FLAGS.out)[1].lower() not in arch_plot.FORMATS:
        raise UsageError(f"--out={FLAGS.out!r}: the format comes from the extension, one of "
                         f"{list(arch_plot.FORMATS)}")
    if FLAGS.history:
        _history()
    else:
        _arch()
    print(f"wrote {FLAGS.out}")


def _arch() -> None:
    from pxnas_tf.models import zoo

    arch = zoo.resolve_arch(FLAGS.arch, FLAGS.space)
    arch_plot.save_arch_figure(arch, FLAGS.out, FLAGS.title)
    skipped = sum(op == "zero" for op in arch.ops)
    print(f"drew {arch.name or 'arch'}: {len(arch.ops) - skipped} blocks, {skipped} skipped")


def _history() -> None:
    history = search_plot.load_history(FLAGS.history)
    d = search_plot.dynamics(history, FLAGS.history)
    names = None
    folder = FLAGS.history if os.path.isdir(FLAGS.history) else os.path.dirname(FLAGS.history)
    arch_file = os.path.join(folder, "arch.json")
    if FLAGS.space or os.path.exists(arch_file):  # block shapes for the panel titles
        space = load_space(FLAGS.space) if FLAGS.space else load_arch(arch_file).space
        if len(space.blocks()) == d.num_blocks:
            names = search_plot.block_titles(space)
    target = _target_of(folder)
    search_plot.save_search_figure(history, FLAGS.out, FLAGS.title, names, target_latency=target)
    ops = ", ".join(c[i] for c, i in zip(d.candidates, d.final_argmax()))
    print(f"drew {len(d.labels)} epoch(s) of {d.num_blocks} blocks; most probable at the end: {ops}")
    last = {"E[LAT]": d.expected_latency[-1], "argmax net": d.argmax_latency[-1] if
            d.argmax_latency else None, "target": target,
            "mean largest p": d.decided[-1] if d.decided else None}
    known = [f"{k} {v:.4g}" for k, v in last.items() if v is not None]
    if known:
        print("last epoch: " + ", ".join(known))


def _target_of(folder: str) -> float | None:
    """The target latency recorded in a search workdir's run.json (None
    when there is none or it cannot be read)."""
    import json
    try:
        with open(os.path.join(folder, "run.json"), encoding="utf-8") as f:
            value = json.load(f)["config"].get("target_latency")
        return float(value) if value is not None else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
