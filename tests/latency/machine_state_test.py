"""The machine's state during a validation: the pure rules, the reference
models a table names, and `validate` taking more passes while its
references find the machine slower than during the build (real runner)."""

import json
import os
import shutil

import pytest

from pxnas_tf.latency.build import block_models, in_net, machine_state, validation
from pxnas_tf.latency.build.builder import default_models_dir
from pxnas_tf.latency.measure.host_runner import HostRunner
from pxnas_tf.latency.model.table import load_table


def _refs():
    return [machine_state.Reference("ref:a", "a.tflite", 1.0, "keys"),
            machine_state.Reference("ref:b", "b.tflite", 2.0, "keys"),
            machine_state.Reference("ref:c", "c.tflite", 3.0, "keys"),
            machine_state.Reference("ref:n", "n.tflite", 10.0, "nets")]


def test_speeds_are_medians_of_lowest_pass_over_build_value():
    runs = {"ref:a": [1.3, 1.1], "ref:b": [2.0], "ref:c": [3.9, 3.6], "ref:n": [12.0, 11.5]}
    state = machine_state.speeds(_refs(), runs)
    assert state == pytest.approx({"keys": 1.1, "nets": 1.15})  # median of 1.1, 1.0, 1.2
    assert machine_state.speeds(_refs(), {"ref:a": [0.9]}) == pytest.approx({"keys": 0.9})
    assert machine_state.speeds(_refs(), {}) == {}


def test_is_slower_and_describe():
    assert machine_state.is_slower({"keys": 1.02, "nets": 1.06})
    assert not machine_state.is_slower({"keys": 1.04, "nets": 0.8})
    assert not machine_state.is_slower({})
    assert (machine_state.describe({"nets": 1.153, "keys": 1.02})
            == "small models x1.020, cache-sized nets x1.153 of their times in the table")
    assert "no reference models" in machine_state.describe({})
    assert "slower" in machine_state.verdict({"keys": 1.0, "nets": 1.06})
    assert "faster" in machine_state.verdict({"keys": 0.99, "nets": 0.94})
    assert machine_state.verdict({"keys": 0.96, "nets": 1.04}) == ""


def test_interleave_spreads_references():
    out = machine_state.interleave([f"n{i}" for i in range(6)], ["r0", "r1", "r2"])
    assert sorted(out) == sorted([f"n{i}" for i in range(6)] + ["r0", "r1", "r2"])
    gaps = [out.index("r1") - out.index("r0"), out.index("r2") - out.index("r1")]
    assert gaps == [3, 3]
    assert machine_state.interleave(["a"], []) == ["a"]
    assert machine_state.interleave([], ["r"]) == ["r"]


def test_references_of_a_record_whose_files_exist(tmp_path):
    folder = str(tmp_path)
    large = in_net.specs(0, in_net.NUM_LARGE)
    key = "expanded_conv-8x8-16-24-k3-e3-s2"
    open(os.path.join(folder, block_models.file_name(key)), "wb").close()
    os.makedirs(os.path.join(folder, "in_net"))
    open(os.path.join(folder, "in_net", f"{large[0].replace('@', '-')}-int8.tflite"),
         "wb").close()
    record = {"reference": {key: {"runs": [0.5], "table_ms": 0.4},
                            "op-missing-file": {"runs": [0.5], "table_ms": 0.4}},
              "nets": {large[0]: {"ms": 2.5}, large[1]: {"ms": 3.0},  # large[1]: no file
                       "synth_s1000@32": {"ms": 0.1}}}  # a small net: not a reference
    refs = machine_state.references(record, folder, "int8")
    assert refs == [machine_state.Reference(f"ref:{key}", os.path.join(
                        folder, block_models.file_name(key)), 0.4, "keys"),
                    machine_state.Reference(f"ref:{large[0]}", os.path.join(
                        folder, "in_net", f"{large[0].replace('@', '-')}-int8.tflite"), 2.5,
                        "nets")]
    assert machine_state.references(None, folder, "int8") == []


@pytest.fixture
def table_copy(tiny_table_path, tmp_path):
    """The tiny table and its models in a folder of this test's own."""
    path = str(tmp_path / "tiny.json")
    shutil.copyfile(tiny_table_path, path)
    shutil.copytree(os.path.splitext(tiny_table_path)[0] + ".models",
                    os.path.splitext(path)[0] + ".models")
    return path


def _with_reference(path, space, scale):
    """The table with an in-net record whose reference keys hold `scale`
    times their table values (scale 0.25: the machine seems 4x slower; far
    from 1, as the tests' quick passes can lie well apart)."""
    table = load_table(path)
    keys = sorted(table.entries)[:3]
    folder = default_models_dir(path, "int8")
    assert all(os.path.isfile(os.path.join(folder, block_models.file_name(k, space.stem_kernel)))
               for k in keys)
    table.metadata.in_net = {"format": in_net.FORMAT, "reference": {k: {
        "runs": [], "table_ms": scale * min(table.entries[k].runs)} for k in keys}}
    return table


@pytest.mark.timing
def test_validate_takes_more_passes_while_the_machine_is_slower(
        table_copy, tiny_space, quick, quick_build, monkeypatch):
    monkeypatch.setattr(machine_state, "PAUSE_S", 0.0)
    table = _with_reference(table_copy, tiny_space, 0.25)
    notes = []
    report = validation.validate(table, table_copy, HostRunner(settings=quick), tiny_space,
                                 num_archs=2, zoo=False, settings=quick_build, plot=False,
                                 progress=False, state_passes=2, log=notes.append)
    assert report.machine["references"] == 3 and report.machine["extra_passes"] == 2
    assert report.machine["state"]["keys"] > 1.5 and len(notes) == 2
    assert "slower than during the build" in notes[0]
    assert all(len(r.runs) >= quick_build.min_passes + 2 for r in report.results)
    saved = json.load(open(validation.results_path(table_copy)))
    refs = saved["machine"]["references"]
    assert len(refs) == 3 and all(len(r["runs"]) >= quick_build.min_passes + 2
                                  for r in refs.values())
    # A rerun tries again (the machine may be quiet by then), two passes at most.
    again = validation.validate(table, table_copy, HostRunner(settings=quick), tiny_space,
                                num_archs=2, zoo=False, settings=quick_build, plot=False,
                                progress=False, state_passes=2)
    assert again.machine["extra_passes"] == 4
    assert all(len(r.runs) == len(s.runs) + 2 for r, s in zip(again.results, report.results))


@pytest.mark.timing
def test_validate_takes_no_more_passes_on_a_machine_as_fast(
        table_copy, tiny_space, quick, quick_build, monkeypatch):
    monkeypatch.setattr(machine_state, "PAUSE_S", 0.0)
    table = _with_reference(table_copy, tiny_space, 10.0)  # seems 10x faster now
    report = validation.validate(table, table_copy, HostRunner(settings=quick), tiny_space,
                                 num_archs=2, zoo=False, settings=quick_build, plot=False,
                                 progress=False, state_passes=2, log=pytest.fail)
    assert report.machine["extra_passes"] == 0 and report.machine["state"]["keys"] < 0.5
    assert all(len(r.runs) <= quick_build.max_passes for r in report.results)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
