"""Tests of latency tables: JSON and published-YAML I/O, merging, errors."""

import json
import math
import os
import re

import pytest
import yaml

from pxnas_tf.latency.model.table import (
    IncompatibleTablesError, LatencyEntry, LatencyTable, LatencyTableError, MissingKeysError,
    TableMetadata, load_table,
)

PUBLISHED = os.path.join(os.path.dirname(__file__), "testdata", "proxylessnas_mobile_trim.yaml")
STEM = "Conv-input:224x224x3-output:112x112x32"
BLOCK = "expanded_conv-input:56x56x24-output:56x56x24-expand:6-kernel:5-stride:1-idskip:1"
HEAD = "Conv_1-input:7x7x320-output:7x7x1280"


def published_path():
    return PUBLISHED


def host_metadata(**changes):
    fields = dict(device="host: test cpu", runtime="litert", runtime_version="2.3.0", threads=1,
                  precision="float32", delegate="xnnpack", date="2026-01-31",
                  space="proxyless_imagenet", cpu_mask="0x1", extra={"input_size": 224})
    fields.update(changes)
    return TableMetadata(**fields)


def small_table(**meta):
    table = LatencyTable(host_metadata(**meta))
    table.set(STEM, LatencyEntry(4.0, 3.9, 0.2, 50))
    table.set(BLOCK, {"mean": 2.5, "median": 2.4, "std": 0.1, "count": 50})
    return table


def test_json_round_trip(tmp_path):
    path = str(tmp_path / "table.json")
    table = small_table()
    table.save(path)
    loaded = LatencyTable.load(path)
    assert loaded.entries == table.entries
    assert loaded.metadata == table.metadata
    assert loaded.metadata.extra == {"input_size": 224} and loaded.metadata.cpu_mask == "0x1"
    assert list(loaded.entries) == [STEM, BLOCK]  # insertion order kept
    with open(path) as f:
        doc = json.load(f)
    assert doc["format"] == "pxnas_tf.latency_table/v1"
    assert doc["metadata"]["threads"] == 1 and doc["metadata"]["cpu_mask"] == "0x1"
    assert doc["entries"][STEM] == {"mean": 4.0, "median": 3.9, "std": 0.2, "count": 50}
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temporary left


def test_save_after_every_update(tmp_path):
    path = str(tmp_path / "sub" / "table.json")
    table = LatencyTable(host_metadata())
    for i, key in enumerate([STEM, BLOCK, HEAD]):
        table.set(key, LatencyEntry(1.0 + i, count=10))
        table.save(path)
        assert len(load_table(path)) == i + 1


def test_value_accessor():
    table = small_table()
    assert table.value(STEM) == 4.0
    assert table.value(STEM, "median") == 3.9
    assert table.value(BLOCK, stat="std") == 0.1
    with pytest.raises(ValueError, match="unknown statistic"):
        table.value(STEM, "p90")
    with pytest.raises(MissingKeysError) as info:
        table.value(HEAD)
    assert isinstance(info.value, KeyError) and HEAD in str(info.value)


def test_set_normalises_and_checks_keys():
    table = LatencyTable()
    table.set(BLOCK.replace("expand:6", "expand:6.0"), 2.0)
    assert BLOCK in table and table.entry(BLOCK) == LatencyEntry(2.0, count=1)
    with pytest.raises(LatencyTableError, match="malformed latency key"):
        table.set("Conv-input:224x224x3", 1.0)


@pytest.mark.parametrize("entry, words", [
    ({"mean": -1.0}, "'mean' must be"),
    ({"mean": float("nan")}, "'mean' must be"),
    ({"mean": 1.0, "std": -0.5}, "'std' must be"),
    ({"mean": 1.0, "count": 0}, "'count' must be"),
    ({"mean": 1.0, "count": 2.5}, "'count' must be"),
    ({"median": 1.0}, "missing field 'mean'"),
    ({"mean": 1.0, "var": 0.1}, "unknown field"),
    ("fast", "expected an object"),
])
def test_invalid_entries(entry, words):
    with pytest.raises(LatencyTableError, match=words):
        LatencyTable().set(STEM, entry)


def test_merge_compatible():
    a = small_table()
    b = LatencyTable(host_metadata(date="2026-02-01", runtime_version="2.4.0"))
    b.set(BLOCK, LatencyEntry(9.0))
    b.set(HEAD, LatencyEntry(3.0))
    assert a.merge(b, on_conflict="keep") == [HEAD]
    assert a.value(BLOCK) == 2.5
    assert a.merge(b) == [BLOCK, HEAD]
    assert a.value(BLOCK) == 9.0 and a.value(HEAD) == 3.0
    with pytest.raises(LatencyTableError, match="both hold 2 key"):
        a.merge(b, on_conflict="error")


def test_merge_refuses_different_conditions():
    a = small_table()
    b = small_table(threads=4, delegate="none")
    with pytest.raises(IncompatibleTablesError) as info:
        a.merge(b)
    message = str(info.value)
    assert "threads: 1 != 4" in message and "delegate: 'xnnpack' != 'none'" in message
    assert "precision" not in message
    with pytest.raises(IncompatibleTablesError, match="device"):
        a.check_compatible(small_table(device="Pixel 1"))
    with pytest.raises(IncompatibleTablesError, match="precision"):
        a.check_compatible(small_table(precision="int8"))
    a.check_compatible(small_table(precision="Float32", delegate="XNNPACK"))  # case-insensitive
    assert a.value(STEM) == 4.0  # nothing merged on refusal


def test_from_yaml_reads_published_table():
    path = published_path()
    with open(path) as f:
        raw = yaml.safe_load(f)
    table = LatencyTable.from_yaml(path, {"device": "Pixel 1", "threads": 1})
    assert len(table) == len(raw) == 72
    assert table.metadata.device == "Pixel 1"
    for key, values in raw.items():
        entry = table.entry(key)
        assert entry.mean == values["mean"] and entry.count == values["count"]
        assert entry.std == pytest.approx(math.sqrt(values["var"]))
        assert entry.median is None
    with pytest.raises(LatencyTableError, match="no median"):
        table.value(STEM, "median")
    assert load_table(path).entries == table.entries  # by extension


def test_yaml_round_trip(tmp_path):
    table = LatencyTable.from_yaml(published_path())
    out = str(tmp_path / "copy.yaml")
    table.to_yaml(out)
    again = LatencyTable.from_yaml(out)
    assert list(sorted(again.entries)) == list(sorted(table.entries))
    for key, entry in table.entries.items():
        other = again.entry(key)
        assert other.mean == entry.mean and other.count == entry.count
        assert other.std == pytest.approx(entry.std, rel=1e-12)
    with open(published_path()) as f:
        raw = yaml.safe_load(f)
    with open(out) as f:
        written = yaml.safe_load(f)
    for key, values in raw.items():
        assert written[key]["mean"] == values["mean"]
        assert written[key]["var"] == pytest.approx(values["var"], rel=1e-12)


def test_yaml_export_of_measured_table(tmp_path):
    table = small_table()
    table.set(HEAD, LatencyEntry(3.0))  # no std
    out = str(tmp_path / "t.yaml")
    table.to_yaml(out)
    with open(out) as f:
        text = f.read()
    assert text.startswith("# device: ")
    doc = yaml.safe_load(text)
    assert doc[STEM] == {"count": 50, "mean": 4.0, "var": pytest.approx(0.04)}
    assert doc[HEAD]["var"] is None
    again = LatencyTable.from_yaml(out)
    assert again.entry(HEAD).std is None and again.entry(STEM).median is None


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name, text, words", [
    ("a.json", "{not json", "not valid JSON"),
    ("b.json", "[1, 2]", "expected a JSON object"),
    ("c.json", json.dumps({"metadata": {}}), "missing field 'entries'"),
    ("d.json", json.dumps({STEM: {"mean": 1.0, "count": 2}}), "use LatencyTable.from_yaml"),
    ("e.json", json.dumps({"format": "other/v2", "entries": {}}), "'format' is 'other/v2'"),
    ("f.json", json.dumps({"entries": {"Conv-input:1x1": {"mean": 1}}}), "malformed latency key"),
    ("g.json", json.dumps({"entries": {STEM: {"mean": "x"}}}), "'mean' must be"),
    ("h.json", json.dumps({"entries": {}, "metadata": {"threads": "one"}}), "threads"),
    ("i.json", json.dumps({"entries": {}, "extra": 1}), "unknown top-level field"),
])
def test_load_errors_name_the_file(tmp_path, name, text, words):
    path = write(tmp_path, name, text)
    with pytest.raises(LatencyTableError) as info:
        LatencyTable.load(path)
    assert path in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("text, words", [
    ("", "an empty file"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("key: [unclosed\n", "not valid YAML"),
    (f"{STEM}:\n  count: 3\n  var: 0.1\n", "expected a mapping with count, mean, var"),
    (f"{STEM}:\n  count: 3\n  mean: 1.0\n  var: -0.1\n", "'var' must be"),
    (f"{STEM}:\n  mean: 1.0\n  p50: 1.0\n", "unknown field"),
    ("Conv-in:3:\n  mean: 1.0\n", "malformed latency key"),
    ('{"format": "pxnas_tf.latency_table/v1", "entries": {}}', "use LatencyTable.load"),
])
def test_yaml_errors_name_the_file(tmp_path, text, words):
    path = write(tmp_path, "t.yaml", text)
    with pytest.raises(LatencyTableError) as info:
        LatencyTable.from_yaml(path)
    assert path in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("field, value, words", [
    ("threads", "1", "field 'threads': expected an integer >= 1"),
    ("caches", [1], "field 'caches': expected an object"),
    ("complete", "yes", "field 'complete': expected true or false"),
    ("weight_streaming", {"format": "pxnas_tf.weight_streaming/v0", "ms_per_mb": 1},
     "field 'weight_streaming' has format 'pxnas_tf.weight_streaming/v0'"),
])
def test_typed_metadata_fields(field, value, words):
    with pytest.raises(LatencyTableError, match=re.escape(words)):
        TableMetadata.from_dict({"device": "x", field: value})


def test_calibration_fields_are_typed_and_round_trip(tmp_path):
    table = small_table()
    table.metadata.weight_streaming = {"format": "pxnas_tf.weight_streaming/v1",
                                       "ms_per_mb": 0.03, "l2_bytes": 1 << 21}
    table.metadata.probes = 2
    path = str(tmp_path / "t.json")
    table.save(path)
    loaded = LatencyTable.load(path).metadata
    assert loaded.weight_streaming["ms_per_mb"] == 0.03 and loaded.probes == 2
    assert "weight_streaming" not in loaded.extra
    # A table from before the fields were typed: the same layout, loaded as is.
    with open(path) as f:
        doc = json.load(f)
    assert doc["metadata"]["weight_streaming"]["format"] == "pxnas_tf.weight_streaming/v1"


def test_missing_file():
    with pytest.raises(LatencyTableError, match="does not exist"):
        LatencyTable.load("/nonexistent/table.json")


def test_table_problems_one_rule_for_every_command():
    from pxnas_tf.latency.model.metadata import table_problems, unknown_target
    good = TableMetadata(device="host: x", threads=1, precision="int8")
    assert table_problems(good, "int8", 1) == []
    assert table_problems(good, "INT8", 1) == []  # names compare canonically
    bad = TableMetadata(device="host: x", threads=4, precision="float32")
    assert table_problems(bad, "int8", 1) == ["precision 'float32', not 'int8'",
                                              "4 thread(s), not 1"]
    assert table_problems(bad) == []  # a setting the caller does not give is not checked
    # Unknown fields (an imported YAML without them) do not count against it,
    # but the table says that its target is unknown.
    assert table_problems(TableMetadata(), "int8", 1, True, "host", "host: x") == []
    assert unknown_target(TableMetadata()) and not unknown_target(good)
    # A table timed with the builtin kernels, by another runner or on another
    # device is another target.
    builtin = TableMetadata(device="host: x", threads=1, precision="int8", delegate="none")
    assert table_problems(builtin, "int8", 1, xnnpack=True) == ["delegate 'none', not 'xnnpack'"]
    assert table_problems(builtin, "int8", 1, xnnpack=False) == []
    phone = TableMetadata(device="Pixel 7", threads=1, precision="int8", runner="adb")
    assert table_problems(phone, "int8", 1, runner="host") == ["the 'adb' runner, not 'host'"]
    assert table_problems(phone, "int8", 1, runner="adb:SERIAL") == []
    host = TableMetadata(device="host: x", threads=1, precision="int8", runner="host")
    assert table_problems(host, "int8", 1, runner="host", device="host: y") == [
        "device 'host: x', not 'host: y'"]
    assert table_problems(host, "int8", 1, runner="host", device="host: x") == []


def test_search_and_export_refuse_a_table_of_another_target(tmp_path):
    from pxnas_tf.export import ExportError, export_tflite
    from pxnas_tf.models import build_model
    from pxnas_tf.search import LatencyModel
    from pxnas_tf.search.errors import SearchError
    from pxnas_tf.testing import tiny16_arch
    arch = tiny16_arch()
    table = LatencyTable(TableMetadata(device="host: x", threads=2, precision="float32"))
    path = str(tmp_path / "t.json")
    table.save(path)
    with pytest.raises(SearchError, match=r"does not fit the search's target \(the table: "
                                          r"precision 'float32', not 'int8'\)"):
        LatencyModel.from_table(arch.space, path, precision="int8")
    with pytest.raises(ExportError, match=r"cannot predict this fp16 export with 1 thread\(s\): "
                                          r"the table has precision 'float32', not 'fp16', "
                                          r"2 thread\(s\), not 1"):
        export_tflite(build_model(arch), str(tmp_path / "n.tflite"), "fp16", arch=arch,
                      latency_table=path)
    assert not (tmp_path / "n.tflite").exists()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
