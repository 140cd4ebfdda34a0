"""Latency: the model of a target's latency, measuring it, building tables.

Three layers, each importing only from the ones below it (checked by the
import contract in .importlinter):

    build/    Keras and TFLite models of table keys, the table build, the
              calibration chains (weight streaming, context), validation
              of predictions against whole measured nets, Keras nets as ops
    measure/  runners (host LiteRT, linux benchmark_model, plugins such as
              android_bench's adb runner), the lowest-pass statistics, CPU
              load and caches, memory footprints
    model/    pure (no Keras, no TFLite): table keys, the table format, the
              op model, the streaming and context terms, and the one
              predictor, `predict`

The names below are the pure model's; import the others from their
modules.
"""

from pxnas_tf.latency.model.entries import (
    IncompatibleTablesError, LatencyEntry, LatencyTableError, MissingKeysError,
)
from pxnas_tf.latency.model.keys import (
    LatencyKeyError, LayerKey, LayerRef, arch_keys, arch_layers, block_candidate_keys, block_key,
    fixed_layers, format_key, normalize_key, parse_key, space_keys,
)
from pxnas_tf.latency.model.metadata import TableMetadata
from pxnas_tf.latency.model.metrics import kendall_tau, mape, rmse, within
from pxnas_tf.latency.model.predictor import (
    Coverage, LatencyEstimate, LatencyMatrix, LayerLatency, block_latency_matrix,
    check_table_covers, expected_latency_from_probs, predict, table_coverage,
)
from pxnas_tf.latency.model.table import LatencyTable, load_table
