"""The in-net calibration on this host: random mobile nets converted,
timed whole with the pass rule, resumed, and recorded in the table's format."""

import os

import pytest

from pxnas_tf.latency.build import in_net
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.model.metadata import TableMetadata
from pxnas_tf.latency.model.ops import ops_of_key


@pytest.mark.timing
def test_calibrate_times_two_nets_whole_and_resumes(tmp_path, quick, quick_build):
    saved = []
    # A build's first pass (before its other calibrations): one pass per net.
    first = in_net.calibrate(HostRunner(settings=quick), "int8", str(tmp_path / "nets"),
                             quick_build, None, lambda r: saved.append(dict(r)), lambda _: None,
                             n=2, large=0, first_pass=True)
    assert [len(e["runs"]) for e in first["nets"].values()] == [1, 1]
    firsts = {s: e["runs"][0] for s, e in first["nets"].items()}
    # The rest later, under the pass rule, the first pass kept.
    record = in_net.calibrate(HostRunner(settings=quick), "int8", str(tmp_path / "nets"),
                              quick_build, first, lambda r: saved.append(dict(r)),
                              lambda _: None, n=2, large=0)
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
