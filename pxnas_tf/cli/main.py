"""The `pxnas` console script: `pxnas SUBCOMMAND [flags]`.

Each subcommand lives in its own module of this package and exposes
`define_flags()` and `main(argv)`; this file only dispatches.
"""

from __future__ import annotations

import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name -> (module, one-line summary)
COMMANDS = {
    "zoo": ("pxnas_tf.cli.zoo_cmd", "list, show and profile the named nets (ProxylessNAS, MobileNetV2)"),
    "build": ("pxnas_tf.cli.build_cmd", "build a derived Keras model from an arch file or zoo name"),
    "demo": ("pxnas_tf.cli.demo_cmd", "the main job, end to end on Fashion-MNIST"),
    "search": ("pxnas_tf.cli.search_cmd", "search an arch (ProxylessNAS) for a dataset and a latency target"),
    "train": ("pxnas_tf.cli.train_cmd", "train a derived net (arch file or zoo name), resumable"),
    "export": ("pxnas_tf.cli.export_cmd", "export a trained net to TFLite (float32/fp16/dynamic/int8/qat), verified"),
    "show": ("pxnas_tf.cli.show_cmd", "draw a derived net as the paper does (PNG/SVG)"),
    "latency": ("pxnas_tf.cli.latency_cmd", "latency tables: build on a target, import, predict, validate"),
}


def _top_usage() -> str:
    lines = ["usage: pxnas SUBCOMMAND [flags]", "",
             "pxnas_tf: ProxylessNAS for TensorFlow/Keras 3 (search on your task and hardware,",
             "measured TFLite latency tables, int8 export).", "", "subcommands:"]
    lines += [f"  {name:<8} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "`pxnas SUBCOMMAND --help` lists the flags of one subcommand."]
    return "\n".join(lines)


def _quiet_tensorflow_start() -> None:
    """TensorFlow's C++ start-up lines (oneDNN notice, CUDA probing) reach
    fd 2 before any log setting applies. Silence fd 2 while TensorFlow loads
    and lists its devices; PXNAS_VERBOSE=1 keeps them."""
    if os.environ.get("PXNAS_VERBOSE"):
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run(argv: list[str] | None = None) -> None:
    """Entry point of the `pxnas` console script."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help", "--helpfull"):
        print(_top_usage())
        sys.exit(0)
    name = argv[1]
    if name not in COMMANDS:
        print(f"pxnas: unknown subcommand {name!r}; valid subcommands are "
              f"{', '.join(COMMANDS)}\n\n{_top_usage()}", file=sys.stderr)
        sys.exit(2)
    from pxnas_tf.cli import errors
    errors.catch_sigterm()  # from the start: the imports below take seconds
    with errors.stopping_cleanly():
        _quiet_tensorflow_start()
        module = importlib.import_module(COMMANDS[name][0])
        module.define_flags()
    prog = f"pxnas {name}"
    if any(a in ("-h", "--help", "-help", "--helpshort") for a in argv[2:]):
        from absl import flags

        import pxnas_tf.cli.flags as flag_defs
        print(module.__doc__.strip().replace("%s", prog))
        print("\nflags:\n" + flags.FLAGS.module_help(flag_defs))
        sys.exit(0)

    from absl import app

    sys.modules["__main__"].__doc__ = module.__doc__
    app.run(errors.reporting(module.main), argv=[prog] + argv[2:], flags_parser=_parse_flags)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's parse, with an unknown flag or a value of the wrong kind as
    one `pxnas: error:` line (exit 2) like every other bad input."""
    from absl import flags
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"pxnas: error: {e} (see `{argv[0]} --help`)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run()
