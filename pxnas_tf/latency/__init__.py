"""Latency model: table keys, lookup tables, the table predictor, the
parser of TFLite ``benchmark_model`` output, runners, table builds.

Light modules are re-exported here. Modules that need Keras or LiteRT are
imported where used:

    pxnas_tf.latency.block_models   one Keras/TFLite model per table key
    pxnas_tf.latency.host_runner    HostRunner (LiteRT on this CPU)
    pxnas_tf.latency.benchmark_runner  LocalBenchmarkRunner (linux:PATH)
    android_bench.adb_runner        AdbRunner (phones; see android_bench/README.md)
    pxnas_tf.latency.ops            nets as primitive ops with shapes
    pxnas_tf.latency.op_model       the fitted per-op model (beyond the table)
    pxnas_tf.latency.validation     predicted vs measured whole nets
"""

from pxnas_tf.latency.benchmark_output import (
    BenchmarkOutputError, BenchmarkResult, NodeTypeSummary, OpProfile, OpRow, RunStats,
    parse_benchmark_file, parse_benchmark_output,
)
from pxnas_tf.latency.builder import BuildReport, BuildSettings, build_table, extra_arch_keys
from pxnas_tf.latency.keys import (
    LatencyKeyError, LayerKey, LayerRef, arch_keys, arch_layers, block_candidate_keys, block_key,
    fixed_layers, format_key, normalize_key, parse_key, space_keys,
)
from pxnas_tf.latency.measurement import Measurement
from pxnas_tf.latency.metrics import kendall_tau, mape, rmse, within
from pxnas_tf.latency.predictor import (
    Coverage, LatencyEstimate, LatencyMatrix, LayerLatency, block_latency_matrix,
    check_table_covers, expected_latency, expected_latency_from_probs, table_coverage,
)
from pxnas_tf.latency.runner import (
    BenchModel, MeasureSettings, Runner, RunnerError, make_runner, parse_device,
)
from pxnas_tf.latency.table import (
    IncompatibleTablesError, LatencyEntry, LatencyTable, LatencyTableError, MissingKeysError,
    TableMetadata, load_table,
)
