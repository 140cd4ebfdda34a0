"""The in-net calibration on this host: random mobile nets converted,
timed whole with the pass rule, resumed, and recorded in the table's format."""

import os

import pytest

from pxnas_tf.latency.build import in_net
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.model.metadata import TableMetadata
from pxnas_tf.latency.model.ops import ops_of_key


def test_reference_keys_span_the_values_above_the_floor():
    values = {f"k{i}": 0.001 * i for i in range(100)}  # 0 .. 0.099 ms
    keys = in_net.reference_keys(values, n=4)
    assert keys == ["k20", "k46", "k73", "k99"]  # from REFERENCE_MIN_MS (0.02) up
    assert in_net.reference_keys({"a": 0.5, "b": 0.001}, n=4) == ["a"]


def test_drift_is_the_median_ratio_of_the_references_lowest_passes():
    ref = {"a": {"runs": [1.1, 1.05], "table_ms": 1.0}, "b": {"runs": [2.2], "table_ms": 2.0},
           "c": {"runs": [0.5, 0.6], "table_ms": 0.5}, "d": {"runs": [], "table_ms": 1.0}}
    assert in_net.drift(ref) == pytest.approx(1.05)  # a 1.05, b 1.1, c 1.0; d unmeasured
    assert in_net.drift({**ref, "e": {"runs": [3.3], "table_ms": 3.0}}) == pytest.approx(1.075)
    assert in_net.drift(None) == 1.0 == in_net.drift({})


@pytest.mark.timing
def test_calibrate_times_two_nets_whole_and_resumes(tmp_path, quick, quick_build):
    saved = []
    # A build's first pass (before its other calibrations): one pass per net.
    first = in_net.calibrate(HostRunner(settings=quick), "int8", str(tmp_path / "nets"),
                             quick_build, None, lambda r: saved.append(dict(r)), lambda _: None,
                             n=2, large=0, first_pass=True)
    assert [len(e["runs"]) for e in first["nets"].values()] == [1, 1]
    firsts = {s: e["runs"][0] for s, e in first["nets"].items()}
    # The rest later, under the pass rule, the first pass kept; one net's file
    # doubles as a reference "key" whose table value is that first pass.
    spec0 = in_net.specs(2, 0)[0]
    path0 = str(tmp_path / "nets" / f"{spec0.replace('@', '-')}-int8.tflite")
    record = in_net.calibrate(HostRunner(settings=quick), "int8", str(tmp_path / "nets"),
                              quick_build, first, lambda r: saved.append(dict(r)),
                              lambda _: None, n=2, large=0,
                              reference={"k": (path0, firsts[spec0])})
    ref = record["reference"]["k"]
    assert quick_build.min_passes <= len(ref["runs"]) <= quick_build.max_passes
    assert ref["table_ms"] == firsts[spec0]
    assert record["drift"] == round(in_net.drift(record["reference"]), 6) > 0
    assert record["format"] == in_net.FORMAT and set(record["nets"]) == set(in_net.specs(2, 0))
    for spec, entry in record["nets"].items():
        assert entry["runs"][0] == firsts[spec]
        assert quick_build.min_passes <= len(entry["runs"]) <= quick_build.max_passes
        assert entry["ms"] in entry["runs"] and entry["ms"] > 0
        ops = [op for key in entry["ops"] for op in ops_of_key(key)]
        assert ops[0].type == "conv" and ops[-1].type == "softmax"
        assert os.path.isfile(tmp_path / "nets" / f"{spec.replace('@', '-')}-int8.tflite")
    assert len(saved) >= 1 + 2 * quick_build.min_passes  # saved after every measurement
    # A typed field of the table's metadata.
    meta = TableMetadata.from_dict({"in_net": {**record, "complete": True}})
    assert meta.in_net["nets"] == record["nets"]
    # Resumed with everything done: nothing is converted or timed again.
    again = in_net.calibrate(None, "int8", str(tmp_path / "nets"), quick_build, record,
                             lambda r: None, lambda _: None, n=2, large=0)
    assert again["nets"] == record["nets"]
    # A record of the previous format is read again from its files (ops as
    # today's reading gives them), its times kept; a complete one is not
    # complete until then.
    spec = in_net.specs(2, 0)[0]
    older = {**record, "format": "pxnas_tf.in_net/v1", "complete": True,
             "nets": {s: {**e, "ops": ["stale"]} for s, e in record["nets"].items()}}
    assert not in_net.is_complete(older, 2, 0)
    assert in_net.is_complete({**record, "complete": True}, 2, 0)
    reread = in_net.calibrate(None, "int8", str(tmp_path / "nets"), quick_build, older,
                              lambda r: None, lambda _: None, n=2, large=0)
    assert reread["format"] == in_net.FORMAT
    assert reread["nets"][spec]["ops"] == record["nets"][spec]["ops"]
    assert reread["nets"][spec]["runs"] == record["nets"][spec]["runs"]
