"""Latency model: table keys, lookup tables, the table predictor and the
parser of TFLite ``benchmark_model`` output."""

from pxnas_tf.latency.benchmark_output import (
    BenchmarkOutputError, BenchmarkResult, NodeTypeSummary, OpProfile, OpRow, RunStats,
    parse_benchmark_file, parse_benchmark_output,
)
from pxnas_tf.latency.keys import (
    LatencyKeyError, LayerKey, LayerRef, arch_keys, arch_layers, block_candidate_keys, block_key,
    fixed_layers, format_key, normalize_key, parse_key, space_keys,
)
from pxnas_tf.latency.predictor import (
    Coverage, LatencyEstimate, LatencyMatrix, LayerLatency, block_latency_matrix,
    check_table_covers, expected_latency, expected_latency_from_probs, table_coverage,
)
from pxnas_tf.latency.table import (
    IncompatibleTablesError, LatencyEntry, LatencyTable, LatencyTableError, MissingKeysError,
    TableMetadata, load_table,
)
