"""List, show and profile the named nets.

usage:
  %s list
  %s show NAME [--out=ARCH.json]
  %s profile --name=NAME [--json] [--layers] [--keras]

Overrides: --input_shape=H,W,C --num_classes=N --width_mult=X
(e.g. `pxnas zoo profile --name=mobilenet_v2 --width_mult=0.5 --json`).
"""

from __future__ import annotations

import json

from absl import flags

from pxnas_tf.cli import flags as flag_defs
from pxnas_tf.cli.errors import UsageError
from pxnas_tf.models import profile, zoo

FLAGS = flags.FLAGS


def define_flags() -> None:
    flag_defs.define_zoo_flags()


def _arch(name: str):
    shape = [int(x) for x in FLAGS.input_shape] if FLAGS.input_shape else None
    return zoo.get_arch(name, input_shape=shape, num_classes=FLAGS.num_classes,
                        width_mult=FLAGS.width_mult)


def main(argv: list[str]) -> None:
    args = argv[1:]
    if not args:
        raise UsageError("missing action: one of list, show NAME, profile --name=NAME")
    action, rest = args[0], args[1:]
    if action == "list":
        for name in zoo.list_names():
            p = profile.profile_arch(zoo.get_arch(name))
            print(f"{name:<22} {p.params / 1e6:6.2f}M params {p.macs / 1e6:8.1f}M MACs  "
                  f"{zoo.describe(name)}")
    elif action == "show":
        name = rest[0] if rest else FLAGS.name
        if not name:
            raise UsageError("`zoo show` needs a name: pxnas zoo show proxyless_mobile")
        arch = _arch(name)
        print(arch.to_json())
        if FLAGS.out:
            arch.save(FLAGS.out)
            print(f"wrote {FLAGS.out}")
    elif action == "profile":
        name = FLAGS.name or (rest[0] if rest else None)
        if not name:
            raise UsageError("`zoo profile` needs --name=NAME (see `pxnas zoo list`)")
        arch = _arch(name)
        result = profile.profile_arch(arch).to_dict(with_layers=FLAGS.layers)
        if FLAGS.keras:
            from pxnas_tf.models import build_model
            measured = profile.profile_model(build_model(arch, batch_size=1))
            result["keras_params"], result["keras_macs"] = measured.params, measured.macs
        if FLAGS.json:
            print(json.dumps(result))
        else:
            print(f"{name}: {result['params']:,} params, {result['macs']:,} MACs "
                  f"({result['macs'] / 1e6:.1f}M), input {list(arch.space.input_shape)}")
            if FLAGS.keras:
                print(f"  Keras model walk: {result['keras_params']:,} params, "
                      f"{result['keras_macs']:,} MACs")
            for row in result.get("layers", []):
                print(f"  {row['name']:<16} {row['params']:>10,} params {row['macs']:>14,} MACs")
    else:
        raise UsageError(f"unknown zoo action {action!r}: one of list, show, profile")
