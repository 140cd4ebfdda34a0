"""Every flag of the `pxnas` command line, defined in one place.

Each subcommand defines only its own group, so `pxnas SUBCOMMAND --help`
lists exactly the flags that subcommand reads. All flags are optional.
"""

from __future__ import annotations

from absl import flags


def _shape_flag(name: str, help_text: str) -> None:
    flags.DEFINE_list(name, None, help_text + " Comma-separated H,W,C, e.g. 28,28,1.")


def define_model_flags() -> None:
    """Flags that pick an arch and adapt it (zoo, build, later train/export)."""
    _shape_flag("input_shape", "Override the input shape of the space/arch.")
    flags.DEFINE_integer("num_classes", None, "Override the number of classes.")
    flags.DEFINE_float("width_mult", None, "Override the width multiplier (e.g. 0.35 to 1.4).")


def define_zoo_flags() -> None:
    define_model_flags()
    flags.DEFINE_string("name", None, "Zoo net name (for `zoo profile`; `zoo show` also takes it "
                        "as a positional argument).")
    flags.DEFINE_boolean("json", False, "Print one JSON object instead of text.")
    flags.DEFINE_boolean("layers", False, "With `profile`: add the per-layer breakdown.")
    flags.DEFINE_string("out", None, "With `show`: also write the arch JSON to this file.")
    flags.DEFINE_boolean("keras", False, "With `profile`: also build the Keras model and count "
                         "its params/MACs by walking its layers (cross-check).")


def define_build_flags() -> None:
    define_model_flags()
    flags.DEFINE_string("arch", None, "Arch JSON file, or a zoo name (see `pxnas zoo list`).")
    flags.DEFINE_string("space", None, "Search-space preset name or JSON file; overrides the "
                        "space named in the arch file.")
    flags.DEFINE_string("out", None, "Where to write the Keras model (.keras).")
    flags.DEFINE_integer("batch_size", None, "Fixed batch size of the model input (1 for TFLite "
                         "export); default: free.")
    flags.DEFINE_float("dropout", 0.0, "Dropout rate before the classifier.")


def define_demo_flags() -> None:
    flags.DEFINE_string("workdir", "runs/demo", "Where the demo writes its files.")
    flags.DEFINE_string("data_dir", None, "Fashion-MNIST IDX folder (default: the Debian "
                        "package's /usr/share/datasets/fashion-mnist).")
    flags.DEFINE_integer("train_examples", 6000, "Training examples used (subset, for speed).")
    flags.DEFINE_integer("val_examples", 2000, "Validation examples used.")
    flags.DEFINE_integer("epochs", 1, "Training epochs of the demo net.")
    flags.DEFINE_integer("batch_size", 128, "Batch size.")
    flags.DEFINE_integer("seed", 0, "Seed of the demo's arch sampling and data order.")
