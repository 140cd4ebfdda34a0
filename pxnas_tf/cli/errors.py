"""Turns the library's input errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
import importlib
import sys

# Exception types that mean bad input (their message names the cause and the
# fix), as opposed to bugs, which keep their traceback: (module, class name).
_USER_ERRORS = [
    ("pxnas_tf.search_space", "SpaceError"),
    ("pxnas_tf.data", "DataError"),
    ("pxnas_tf.search.errors", "SearchError"),
    ("pxnas_tf.train.config", "TrainError"),
    ("pxnas_tf.export.errors", "ExportError"),
    ("pxnas_tf.export.tflite_file", "TFLiteFileError"),
    ("pxnas_tf.export.convert", "ConversionError"),
    ("pxnas_tf.latency.table", "LatencyTableError"),
    ("pxnas_tf.latency.keys", "LatencyKeyError"),
    ("pxnas_tf.latency.benchmark_output", "BenchmarkOutputError"),
    ("pxnas_tf.latency.block_models", "BlockModelError"),
    ("pxnas_tf.latency.ops", "UnsupportedLayerError"),
    ("pxnas_tf.latency.runner", "RunnerError"),
]


def user_error_types() -> tuple[type, ...]:
    """The user-error classes (imported lazily: the CLI starts fast)."""
    types: list[type] = [FileNotFoundError]
    for module, name in _USER_ERRORS:
        types.append(getattr(importlib.import_module(module), name))
    return tuple(types)


class UsageError(ValueError):
    """A missing or contradictory flag."""


def reporting(main):
    """Wraps an absl `main` so that user errors print `pxnas: error: ...`."""
    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except (UsageError,) + user_error_types() as e:
            print(f"pxnas: error: {e}", file=sys.stderr)
            sys.exit(2)
    return wrapped
