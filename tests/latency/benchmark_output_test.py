"""Tests of the benchmark_model output parser on fixtures of every format."""

import os

import pytest

from pxnas_tf.latency.measure.benchmark_output import (
    BenchmarkOutputError, RunStats, parse_benchmark_file, parse_benchmark_output, parse_number,
    parse_run_stats, parse_summary, parse_table_header, strip_prefix,
)

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")


def read(name):
    with open(os.path.join(TESTDATA, name), newline="") as f:  # keep CRLF as written
        return f.read()


def parse(name):
    return parse_benchmark_output(read(name), source=name)


def test_current_format():
    r = parse("bm_current_xnnpack.txt")
    assert r.summary_format == "current"
    assert r.inference_avg_us == 81043.7 and r.inference_avg_ms == pytest.approx(81.0437)
    assert r.inference == RunStats(50, 81377, 80911, 80412, 83655, 81043.7, 612)
    assert r.warmup == RunStats(6, 95871, 81204, 80877, 95871, 83712.5, 5402)
    assert r.inference_std_ms == pytest.approx(0.612)
    assert (r.inference_min_ms, r.inference_max_ms, r.inference_count) == (80.412, 83.655, 50)
    assert (r.init_us, r.first_inference_us, r.warmup_avg_us) == (41562, 95871, 83712.5)
    assert (r.memory_init_mb, r.memory_overall_mb) == (38.4453, 47.8828)
    assert r.peak_memory_mb == 52.3164 and r.model_size_mb == 16.8213
    assert r.params["Num threads"] == "1" and r.params["Use xnnpack"] == "1"
    assert r.params["Graph"] == "/data/local/tmp/proxyless_mobile.tflite"
    assert r.op_profile is None and r.profiles == {} and r.errors == ()


def test_current_format_with_op_profiling():
    r = parse("bm_current_op_profiling.txt")
    # The single warmup run prints 'count=1 curr=N'.
    assert r.warmup == RunStats(1, 21874, 21874, 21874, 21874, 21874, 0.0)
    assert r.inference.count == 20 and r.inference_avg_us == 18012.4
    assert set(r.profiles) == {"Benchmark Initialization", "Regular Benchmark Runs"}

    init = r.init_profile
    assert [row.node_type for row in init.run_order] == ["ModifyGraphWithDelegate", "AllocateTensors"]
    assert init.run_order[1].times_called == 2 and init.run_order[1].mem_kb == 5242.88
    assert init.timings == RunStats(1, 2231, 2231, 2231, 2231, 2231, 0.0)
    assert init.nodes_executed == 2

    prof = r.op_profile
    assert len(prof.run_order) == 11 and len(prof.top_by_time) == 10
    first = prof.run_order[0]
    assert (first.node_type, first.name) == ("CONV_2D", "[proxyless/stem/conv/Relu6]:0")
    assert (first.first_ms, first.avg_ms, first.start_ms) == (4.412, 4.083, None)
    assert first.percent == pytest.approx(22.796) and first.times_called == 1
    assert prof.run_order[-1].cdf_percent == pytest.approx(100.0)
    assert sum(row.percent for row in prof.run_order) == pytest.approx(100.0, abs=0.01)
    assert [row.avg_ms for row in prof.top_by_time] == sorted(
        (row.avg_ms for row in prof.run_order), reverse=True)[:10]
    by_type = {s.node_type: s for s in prof.by_node_type}
    assert by_type["CONV_2D"].count == 5 and by_type["CONV_2D"].avg_ms == pytest.approx(13.697)
    assert by_type["DEPTHWISE_CONV_2D"].count == 2
    assert prof.node_type_ms()["SOFTMAX"] == pytest.approx(0.019)
    total_rows = sum(row.avg_ms for row in prof.run_order)
    assert sum(s.avg_ms for s in prof.by_node_type) == pytest.approx(total_rows, abs=1e-6)
    # The profiler's own 'Timings' line is not taken for the regular runs.
    assert prof.timings.avg_us == 17910 and r.inference.avg_us == 18012.4
    assert prof.nodes_executed == prof.nodes_observed == 11


def test_legacy_format_with_start_column():
    r = parse("bm_legacy_start_column.txt")
    assert r.summary_format == "legacy"
    assert (r.warmup_avg_us, r.init_us, r.inference_avg_us) == (18691, 6236, 18014.2)
    assert r.first_inference_us is None and r.memory_overall_mb is None
    assert r.warmup.count == 27 and r.inference.count == 56
    prof = r.op_profile
    assert [row.start_ms for row in prof.run_order[:3]] == [0.0, 4.083, 6.027]
    assert prof.run_order[0].first_ms == 4.412 and prof.run_order[0].avg_ms == 4.083
    assert prof.top_by_time[1].start_ms == 7.965
    assert {s.node_type for s in prof.by_node_type} == {
        "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    assert r.params["Use nnapi"] == "0" and r.params["Min warmup runs duration (seconds)"] == "0.5"


def test_oldest_format_crlf_scientific():
    text = read("bm_oldest_nostats_crlf.txt")
    assert "\r\n" in text
    r = parse_benchmark_output(text)
    assert r.summary_format == "legacy"
    assert r.inference_avg_us == pytest.approx(1.1012e6) and r.inference_avg_ms == pytest.approx(1101.2)
    assert r.warmup_avg_us == pytest.approx(1.21345e6) and r.init_us == 4770
    assert r.warmup.count == 1 and r.inference.max_us == pytest.approx(1.13221e6)
    assert r.params["Num threads"] == "4" and r.params["Graph"].endswith("mobilenet_v2.tflite")


def test_stats_only_falls_back_to_regular_runs():
    r = parse("bm_stats_only.txt")
    assert r.summary_format == "stats"
    assert r.inference_avg_us == 5104.33 and r.inference.count == 196
    assert r.warmup.avg_us == 5150.8 and r.warmup_avg_us == 5150.8
    assert r.init_us == pytest.approx(1250.0)  # from 'Initialized session in 1.25ms.'


def test_xnnpack_delegate_space_aligned_table():
    r = parse("bm_xnnpack_delegate_spaces.txt")
    prof = r.op_profile
    assert len(prof.run_order) == 1
    row = prof.run_order[0]
    assert row.node_type == "TfLiteXNNPackDelegate" and row.avg_ms == 7.604
    assert row.name.startswith("[proxyless/stem/conv/Relu6, proxyless/first/dw/Relu6,")
    assert row.name.endswith("Identity]:11") and row.times_called == 1
    assert prof.by_node_type[0].count == 1 and prof.by_node_type[0].percent == 100.0
    assert prof.node_type_ms() == {"TfLiteXNNPackDelegate": 7.604}


def test_failed_load_raises_with_tail():
    with pytest.raises(BenchmarkOutputError) as info:
        parse("bm_failed_load.txt")
    message = str(info.value)
    assert message.startswith("bm_failed_load.txt: no inference timing found")
    assert "Failed to mmap model" in message and "Benchmarking failed." in message


def test_crash_during_regular_runs_is_not_read_as_warmup_timing():
    with pytest.raises(BenchmarkOutputError) as info:
        parse("bm_crash_regular_runs.txt")
    assert "Segmentation fault" in str(info.value)


def test_parse_file_names_it():
    path = os.path.join(TESTDATA, "bm_failed_load.txt")
    with pytest.raises(BenchmarkOutputError, match="bm_failed_load.txt: no inference timing"):
        parse_benchmark_file(path)
    assert parse_benchmark_file(os.path.join(TESTDATA, "bm_stats_only.txt")).inference.count == 196


def test_empty_output():
    with pytest.raises(BenchmarkOutputError, match="the output is empty"):
        parse_benchmark_output("\n\n")


def test_tail_is_limited():
    text = "\n".join(f"line {i}" for i in range(100))
    with pytest.raises(BenchmarkOutputError) as info:
        parse_benchmark_output(text)
    assert "line 99" in str(info.value) and "line 80" not in str(info.value)


def test_stats_lines_without_headers():
    text = "count=3 first=10 curr=9 min=9 max=10 avg=9.5 std=0.5\ncount=10 first=8 curr=8 min=7 max=9 avg=8 std=0.4\n"
    r = parse_benchmark_output(text)
    assert r.warmup.count == 3 and r.inference.count == 10 and r.inference_avg_us == 8


def test_summary_wins_over_stats_line():
    text = ("INFO: count=10 first=8 curr=8 min=7 max=9 avg=8.2 std=0.4\n"
            "INFO: Inference timings in us: Init: 5, First inference: 9, "
            "Warmup (avg): 9, Inference (avg): 8.25\n")
    assert parse_benchmark_output(text).inference_avg_us == 8.25


@pytest.mark.parametrize("line, expected", [
    ("count=0", RunStats(0)),
    ("count=1 curr=1234", RunStats(1, 1234, 1234, 1234, 1234, 1234, 0.0)),
    ("count=5 curr=100(all same)", RunStats(5, 100, 100, 100, 100, 100, 0.0)),
    ("count=50 first=1.2e+05 curr=118000  min=117000 max=1.3e5 avg=119000.5 std=12",
     RunStats(50, 1.2e5, 118000, 117000, 1.3e5, 119000.5, 12)),
])
def test_parse_run_stats(line, expected):
    assert parse_run_stats(line) == expected


def test_small_helpers():
    assert strip_prefix("INFO: count=1") == ("INFO", "count=1")
    assert strip_prefix("ERROR: Failed") == ("ERROR", "Failed")
    assert strip_prefix("count=1") == (None, "count=1")
    assert parse_number("2.660%") == 2.66 and parse_number(" 1.33914e+06") == 1.33914e6
    with pytest.raises(ValueError):
        parse_number("abc")
    assert parse_summary("Warmup: 1.5e+03, Init: 20, no stats: 1400") == {
        "warmup_avg_us": 1500.0, "init_us": 20.0, "inference_avg_us": 1400.0}
    assert parse_table_header("\t[node type]\t  [start]\t[avg ms]\t[Name]") == [
        "node_type", "start_ms", "avg_ms", "name"]
    assert parse_table_header("\tCONV_2D\t[x]:0") is None


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
