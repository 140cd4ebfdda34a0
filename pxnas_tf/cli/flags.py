"""Every flag of the `pxnas` command line, defined in one place.

Each subcommand defines only its own group, so `pxnas SUBCOMMAND --help`
lists exactly the flags that subcommand reads. All flags are optional.
"""

from __future__ import annotations

from absl import flags

from pxnas_tf.knobs import EXPORT_MODES, PRECISIONS, STRATEGIES
from pxnas_tf.train.config import TrainConfig

# The aliases defined in this process, alias -> flag (one command a process).
ALIASES: dict[str, str] = {}


def _alias(name: str, original: str) -> None:
    flags.DEFINE_alias(name, original)
    ALIASES[name] = original


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


def define_config_flags(config_cls, skip: tuple[str, ...] = (), flag_values=None,
                        unset_defaults: dict[str, str] | None = None,
                        names: dict[str, str] | None = None) -> None:
    """One absl flag per field of a config dataclass whose fields carry their
    help (`pxnas_tf.knobs.knob`): the same name (or its entry in `names`),
    default and help, an enum where the field lists choices. The type comes
    from the field's annotation (``int | None`` -> an integer flag
    defaulting to None).

    With `unset_defaults` every flag defaults to None (the caller fills in
    defaults that depend on other flags, such as the dataset's), and the
    help ends with the field's entry there (e.g. ``"(paper: 40; small
    datasets: 5)"``)."""
    import dataclasses
    import typing

    fv = flags.FLAGS if flag_values is None else flag_values
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if field.name in skip:
            continue
        kind = hints[field.name]
        name = (names or {}).get(field.name, field.name)
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        base = args[0] if args else kind
        help_text = field.metadata.get("help", field.name)
        default = field.default
        if unset_defaults is not None:
            default = None
            if unset_defaults.get(field.name):
                help_text = f"{help_text} {unset_defaults[field.name]}"
        choices = field.metadata.get("choices")
        if choices:
            flags.DEFINE_enum(name, default, list(choices), help_text, flag_values=fv)
        elif base is bool:
            flags.DEFINE_boolean(name, default, help_text, flag_values=fv)
        elif base is int:
            flags.DEFINE_integer(name, default, help_text, flag_values=fv)
        elif base is float:
            flags.DEFINE_float(name, default, help_text, flag_values=fv)
        elif base is str:
            flags.DEFINE_string(name, default, help_text, flag_values=fv)
        else:
            raise TypeError(f"{config_cls.__name__}.{field.name}: no flag type for {kind}")


def define_demo_flags() -> None:
    """`pxnas demo`: one flag per field of `pxnas_tf.pipeline.PipelineConfig`
    (defaults and help written there once), plus --full_data and the
    --device alias of --runner."""
    from pxnas_tf.pipeline.config import PipelineConfig

    define_config_flags(PipelineConfig)
    _alias("device", "runner")
    flags.DEFINE_boolean("full_data", False, "Use every example: sets --search_examples, "
                         "--train_examples and --val_examples to 0 (all).")


# `SearchConfig` field -> its `pxnas search` flag: the demo's names of the
# search's settings, so that one name means one thing in every command
# (`--epochs` and `--batch_size` are the training's, in `pxnas train` and `pxnas demo`).
SEARCH_FLAG_NAMES = {"warmup_epochs": "search_warmup_epochs", "epochs": "search_epochs",
                     "batch_size": "search_batch_size",
                     "steps_per_epoch": "search_steps_per_epoch"}

# The names that flags had in earlier versions, old -> new per command: they
# stay accepted as aliases, so that a command line written for an earlier
# version still runs (docs/cli.md lists them); nothing in this repository uses them.
OLD_NAMES = {
    "search": {"holdout_size": "holdout_examples", "train_limit": "search_examples",
               "train_examples": "search_examples", **SEARCH_FLAG_NAMES},
    "train": {"holdout_size": "holdout_examples", "train_limit": "train_examples",
              "val_limit": "val_examples"},
}


def _define_old_names(command: str) -> None:
    for old, new in OLD_NAMES[command].items():
        _alias(old, new)


def define_search_flags() -> None:
    """`pxnas search`: every field of `pxnas_tf.search.SearchConfig` plus data,
    latency model and strategy. Unset schedule flags take the dataset's
    defaults (the paper's for imagenet2012, scaled for small datasets)."""
    # What to search, on what, where.
    flags.DEFINE_string("space", "proxyless_small", "Search-space preset name or JSON file; its "
                        "input shape and classes are set from the dataset.")
    flags.DEFINE_string("dataset", "fashion_mnist", "Dataset name (see pxnas_tf.data.list_datasets).")
    flags.DEFINE_string("data_dir", None, "Where the dataset is (default: the dataset's own place).")
    flags.DEFINE_integer("image_size", None, "Resize images to this size (default: the dataset's).")
    flags.DEFINE_integer("channels", None, "1 or 3 image channels (default: the dataset's).")
    flags.DEFINE_integer("holdout_examples", None, "Training examples held out for the arch steps "
                         "(class-balanced; default: the dataset's, 5000 for small datasets).")
    flags.DEFINE_integer("search_examples", None, "Use at most this many training examples.")
    flags.DEFINE_integer("holdout_limit", None, "Use at most this many holdout examples.")
    flags.DEFINE_boolean("augment", True, "Augment the training images.")
    flags.DEFINE_string("workdir", None, "Where checkpoints, logs, history.json and arch.json go; "
                        "re-running the same command resumes from its last checkpoint.")
    # Schedule, arch loss and running: one flag per SearchConfig field.
    from pxnas_tf.search.config import SearchConfig, search_flag_defaults
    define_config_flags(SearchConfig, skip=("frozen_candidates",),
                        unset_defaults=search_flag_defaults(), names=SEARCH_FLAG_NAMES)
    _alias("target_latency_ms", "target_latency")
    _define_old_names("search")
    # Latency.
    flags.DEFINE_string("latency_table", None, "Latency lookup table file (JSON/YAML, ms).")
    flags.DEFINE_enum("latency_proxy", "macs", ["macs", "none"], "Without a table: the MACs "
                      "proxy (millions of MACs used as latency) or none (accuracy only).")
    flags.DEFINE_enum("latency_stat", None, ["mean", "median"], "Table statistic to use "
                      "(default: the table's own: the median for tables this tool builds, the "
                      "mean for imported ones).")
    flags.DEFINE_string("latency_precision", None, "Refuse a table measured at another precision "
                        "(e.g. int8).")
    # Running.
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                      "tf.distribute strategy (multi_worker reads TF_CONFIG).")
    flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
    flags.DEFINE_boolean("deterministic", False, "TensorFlow op determinism: a killed and "
                         "resumed run ends bit for bit like an uninterrupted one even on a busy "
                         "machine (multithreaded kernels otherwise may sum in another order, and "
                         "sampled paths amplify the difference); somewhat slower.")
    flags.DEFINE_boolean("progress", True, "Show a progress bar per epoch.")


def _data_flags(default_dataset: str | None) -> None:
    """Dataset flags shared by `train` and `export`."""
    flags.DEFINE_string("dataset", default_dataset, "Dataset name (see pxnas_tf.data.list_datasets).")
    flags.DEFINE_string("data_dir", None, "Where the dataset is (default: the dataset's own place).")
    flags.DEFINE_integer("image_size", None, "Resize images to this size (default: the dataset's).")
    flags.DEFINE_integer("channels", None, "1 or 3 image channels (default: the dataset's).")


def define_train_flags() -> None:
    """`pxnas train`: every field of `pxnas_tf.train.TrainConfig` plus arch,
    data, strategy and warm start."""
    flags.DEFINE_string("arch", None, "Arch JSON file (e.g. a search's arch.json) or a zoo name; "
                        "its space takes the dataset's input shape and classes.")
    flags.DEFINE_string("space", None, "Search-space preset or JSON file replacing the arch's own.")
    flags.DEFINE_float("width_mult", None, "Override the width multiplier of the arch's space.")
    _data_flags("fashion_mnist")
    flags.DEFINE_integer("train_examples", None, "Use at most this many training examples.")
    flags.DEFINE_integer("val_examples", None, "Use at most this many validation (test) examples.")
    flags.DEFINE_integer("holdout_examples", None, "Training examples held out (the search's "
                         "arch split, as `pxnas search --holdout_examples` holds it out); "
                         "default: none, retrain on the whole training split.")
    _define_old_names("train")
    flags.DEFINE_boolean("augment", True, "Augment the training images.")
    flags.DEFINE_string("workdir", None, "Where checkpoints, best.keras, last.keras, history.json, "
                        "results.json and TensorBoard logs go; re-running the same command resumes.")
    define_config_flags(TrainConfig, skip=("epochs",))
    flags.DEFINE_integer("epochs", None, "Training epochs (required).")
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                      "tf.distribute strategy (multi_worker reads TF_CONFIG).")
    flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
    flags.DEFINE_string("warm_start", None, "Inherit weights by layer name from a search workdir "
                        "(its supernet checkpoint), a .keras model or a .npz of layer weights.")
    flags.DEFINE_boolean("progress", True, "Progress bar per epoch (one line per epoch when off).")


def define_export_flags() -> None:
    """`pxnas export`."""
    flags.DEFINE_string("model", None, "A trained .keras model, or a `pxnas train` workdir (its "
                        "best.keras, arch.json and dataset are used).")
    flags.DEFINE_string("arch", None, "The model's arch JSON file or zoo name (default: arch.json "
                        "beside the model).")
    flags.DEFINE_enum("mode", "int8", list(EXPORT_MODES),
                      "float32, fp16 (float16 weights), dynamic (int8 weights), int8 (full "
                      "integer, calibrated), qat (quantization-aware fine-tuning, then int8).")
    flags.DEFINE_string("out", None, "The .tflite file (default: MODEL_DIR/net_MODE.tflite); a "
                        "sidecar OUT.json gets the metadata and the verification report.")
    _data_flags(None)
    flags.DEFINE_integer("calibration_examples", 500, "Training images for int8 calibration.")
    flags.DEFINE_enum("int8_scheme", "auto", ["auto", "per_channel", "per_tensor"],
                      "int8 weight scales: per_channel, per_tensor (smaller file), or auto: "
                      "per_tensor unless its top-1 agreement with the Keras model on the "
                      "calibration images is over 0.5 points below per_channel's.")
    flags.DEFINE_boolean("verify", True, "Run the file in LiteRT on the test split before writing it.")
    flags.DEFINE_integer("verify_examples", None, "Test images for the verification (default: all).")
    flags.DEFINE_float("min_agreement", None, "Refuse the file unless this fraction of top-1 "
                       "predictions agree with the Keras model (e.g. 0.98).")
    flags.DEFINE_string("latency_table", None, "A latency table: its prediction for the arch is "
                        "shown beside the measured latency. A TensorFlow-runtime table "
                        "(--device=tf:...) times the Keras model there, at its batch.")
    flags.DEFINE_integer("latency_threads", 1, "Interpreter threads when timing.")
    flags.DEFINE_boolean("latency", True, "Time the file on this host (LiteRT, batch 1), or "
                         "the Keras model on a TensorFlow-runtime --latency_table's target.")
    flags.DEFINE_integer("qat_epochs", 2, "qat: fine-tuning epochs.")
    flags.DEFINE_integer("qat_examples", 10000, "qat: training images to fine-tune on.")
    flags.DEFINE_float("qat_lr", 1e-3, "qat: initial learning rate (cosine decay).")
    flags.DEFINE_integer("qat_batch_size", 64, "qat: batch size.")
    flags.DEFINE_integer("seed", 0, "Seed of the calibration / fine-tuning sample.")


def define_show_flags() -> None:
    """`pxnas show`."""
    flags.DEFINE_string("arch", None, "Arch JSON file or zoo name: draw the net.")
    flags.DEFINE_string("history", None, "A search's history.json, or its workdir: draw the "
                        "search dynamics (op probabilities per block over the epochs) instead.")
    flags.DEFINE_string("space", None, "Search-space preset or JSON file replacing the arch's own.")
    flags.DEFINE_string("out", None, "The picture: .png, .svg or .pdf.")
    flags.DEFINE_string("title", None, "Title (default: name, space and arch string).")


def define_latency_flags() -> None:
    """`pxnas latency build|import|export|predict|validate|show`."""
    define_model_flags()
    flags.DEFINE_string("space", None, "Search-space preset or JSON file (build; validate and "
                        "predict default to the table's space).")
    flags.DEFINE_string("device", "host", "Target: host (LiteRT on this CPU), tf:cpu or "
                        "tf:gpu[:N] (Keras models in the TensorFlow runtime, batched: "
                        "--tf_batch, --tf_xla), linux:PATH (a local benchmark_model binary), "
                        "adb or adb:SERIAL[,SERIAL...] (phones).")
    flags.DEFINE_enum("precision", "int8", list(PRECISIONS), "Precision of the block "
                      "models (int8: full-integer). tf:... runs float32 (its default) or, on a "
                      "GPU, fp16: Keras mixed_float16.")
    flags.DEFINE_integer("tf_batch", 8, "tf:...: the inference batch size the models are "
                         "timed at (8, as the paper measured its GPU net).", lower_bound=1)
    flags.DEFINE_boolean("tf_xla", False, "tf:...: compile the graph with XLA "
                         "(tf.function(jit_compile=True)).")
    flags.DEFINE_integer("threads", 1, "Inference threads.")
    flags.DEFINE_boolean("xnnpack", True, "Use the XNNPACK delegate (--noxnnpack: builtin "
                         "kernels).")
    flags.DEFINE_string("out", None, "build/import: the table JSON to write (build resumes it if "
                        "it exists).")
    flags.DEFINE_string("table", None, "The latency table (JSON, or the published YAML).")
    flags.DEFINE_string("yaml", None, "import: the published-format YAML to read; export: the "
                        "YAML to write.")
    flags.DEFINE_list("metadata", None, "import: what is known about the YAML's target, e.g. "
                      "device=Pixel 1,threads=1,precision=float32,delegate=none.")
    flags.DEFINE_string("arch", None, "predict: arch JSON file or zoo name.")
    flags.DEFINE_string("keras_model", None, "predict: a Keras conv net (.keras) that pxnas did "
                        "not build; it is converted at the table's precision and its TFLite ops "
                        "are predicted by the op model (a table built with --probes knows every "
                        "op type mobile nets use).")
    flags.DEFINE_string("tflite", None, "predict: a .tflite file; its ops are read from the "
                        "flatbuffer and predicted as for --keras_model.")
    flags.DEFINE_boolean("json", False, "Print one JSON object.")
    flags.DEFINE_boolean("layers", False, "predict: add the per-layer breakdown.")
    flags.DEFINE_integer("num_archs", 30, "validate: random archs of the space.")
    flags.DEFINE_integer("seed", 0, "validate: seed of the arch sample.")
    flags.DEFINE_boolean("zoo", True, "validate: also the zoo nets at the space's input shape.")
    flags.DEFINE_list("nets", None, "validate: also these nets from outside the space, "
                      "FAMILY[_aALPHA][_min]@SIZE (mobilenet, mobilenetv2, mobilenetv3small, "
                      "mobilenetv3large, efficientnetb0, cnn; e.g. mobilenetv2_a0.5@96), or "
                      "'default' for a set of 14, 'tuning' for 7 others (kept apart for choosing "
                      "between model variants); needs a table built with --probes.")
    flags.DEFINE_integer("state_passes", 2, "validate: more passes of every net, a minute apart, "
                         "while the table's reference models find the machine more than 5% "
                         "slower than during the build (0: none).")
    flags.DEFINE_boolean("plot", True, "validate: write TABLE.validation.png.")
    flags.DEFINE_string("benchmark_model", None, "adb: the Android benchmark_model binary here.")
    flags.DEFINE_string("cpu_mask", None, "CPU affinity as a hex mask (taskset on a phone, e.g. "
                        "f0 for big cores 4-7; host/linux: pin the measuring process).")
    flags.DEFINE_boolean("use_gpu", False, "benchmark_model runners: --use_gpu=true.")
    flags.DEFINE_boolean("op_profiling", False, "benchmark_model runners: "
                         "--enable_op_profiling=true.")
    flags.DEFINE_string("adb", "adb", "The adb executable.")
    flags.DEFINE_float("adb_timeout_s", 20.0, "Timeout of one adb call (not a benchmark).")
    flags.DEFINE_float("timeout_s", 120.0, "Timeout of one benchmark_model run.")
    flags.DEFINE_integer("warmup_runs", 20, "Warm-up invokes per model (per tool run).")
    flags.DEFINE_integer("num_runs", 20, "Timed invokes per round (host: at least; "
                         "benchmark_model: --num_runs).")
    flags.DEFINE_integer("min_rounds", 5, "Rounds (host) / tool runs before the stop rule.")
    flags.DEFINE_integer("max_rounds", 30, "Rounds / tool runs at most per pass.")
    flags.DEFINE_float("max_spread", 0.02, "Stable when the quiet rounds' medians agree within "
                       "this (relative).")
    flags.DEFINE_float("max_load", 0.3, "host/linux: throw away a round during which other "
                       "processes used more than this many CPUs (one 10 ms tick of the "
                       "kernel's counters forgiven).")
    flags.DEFINE_float("max_wait_s", 300.0, "host/linux: how long one batch may wait for a "
                       "quiet machine before keeping (and flagging) contended rounds.")
    flags.DEFINE_integer("min_passes", 2, "Separate passes per key / net.")
    flags.DEFINE_integer("probe_passes", 2, "build --probes: passes per kernel probe (1: one "
                         "clean pass settles it; 2: two passes that agree, like the keys).")
    flags.DEFINE_integer("max_passes", 4, "Passes at most when they disagree (then: unstable).")
    flags.DEFINE_float("agree_tol", 0.03, "Passes agree within this (relative).")
    flags.DEFINE_integer("batch_size", 8, "Models per runner batch.")
    flags.DEFINE_boolean("weight_streaming", True, "build: also measure how fast the target "
                         "streams weights that do not fit in its caches (two calibration "
                         "models; predictions of nets larger than L2 add that time).")
    flags.DEFINE_boolean("footprint", True, "build: also record each block model's resident "
                         "memory on the target (seconds).")
    flags.DEFINE_boolean("context", True, "build: with --footprint, calibrate the context term "
                         "(chains of the most buffer-heavy residual block of each group of "
                         "blocks, about 30 s a group on the host): predictions of whole nets "
                         "then add the time such blocks lose when the net's other memory "
                         "evicts their buffers.")
    flags.DEFINE_integer("max_measurements", None, "build: stop after this many measurements "
                         "(run again to resume).")
    flags.DEFINE_string("models_dir", None, "build: where block models are kept (default "
                        "TABLE.models/PRECISION).")
    flags.DEFINE_list("extra_archs", None, "build: also measure the layers of these nets at the "
                      "space's input shape: zoo names, 'zoo' for all, or arch files (so that they "
                      "are predicted from measured layers, not the op model).")
    flags.DEFINE_boolean("probes", False, "build: also measure about 300 single-op probes (every "
                         "op type real conv nets run: regular and grouped convs, pooling, "
                         "hard-swish, swish, sigmoid, multiply, concat, softmax, ...) at sampled "
                         "shapes and 80 random mobile nets whole, so that `latency predict "
                         "--keras_model|--tflite` and `latency validate --nets` can predict nets "
                         "outside the space (12-18 minutes in all on a 2-vCPU host).")
    flags.DEFINE_boolean("progress", True, "Show progress bars with ETA.")
