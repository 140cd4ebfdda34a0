"""A workdir's identity record: written once, matched on resume, refused with
one line naming the differences, upgraded across field renames."""

import json

import pytest

from pxnas_tf import run_identity


class _Refused(Exception):
    pass


KIND = run_identity.RecordKind("test_run/v1", "test run", ("config",), _Refused,
                               lambda part, v: {"renamed": v.pop("old"), **v}
                               if part == "config" and "old" in v else v)


def _record(**config):
    return {"format": "test_run/v1", "config": config, "source": {"dir": "/data/a"}}


def test_written_then_matched_while_uncompared_parts_may_change(tmp_path):
    path = str(tmp_path / "run.json")
    assert run_identity.check_or_write(path, _record(lr=0.1, sizes=(1, 2)), KIND) is False
    moved = {**_record(lr=0.1, sizes=[1, 2]), "source": {"dir": "/data/b"}}
    assert run_identity.check_or_write(path, moved, KIND) is True
    assert json.loads((tmp_path / "run.json").read_text())["source"] == {"dir": "/data/a"}


def test_not_written_when_asked_not_to(tmp_path):
    path = tmp_path / "run.json"
    assert run_identity.check_or_write(str(path), _record(lr=0.1), KIND, write=False) is False
    assert not path.exists()


def test_differences_are_named_on_one_line(tmp_path):
    path = str(tmp_path / "run.json")
    run_identity.check_or_write(path, _record(lr=0.1, nested={"a": 1}), KIND)
    with pytest.raises(_Refused) as e:
        run_identity.check_or_write(path, _record(lr=0.2, nested={"a": 2}), KIND)
    text = str(e.value)
    assert "config.lr: 0.1 in the workdir, 0.2 now" in text
    assert "config.nested.a: 1 in the workdir, 2 now" in text
    assert "refusing to resume" in text and "\n" not in text


def test_another_format_and_an_unreadable_file_are_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"format": "other_run/v1"}))
    with pytest.raises(_Refused, match=r"holds no test run \(its run.json is other_run/v1"):
        run_identity.check_or_write(str(path), _record(lr=0.1), KIND)
    path.write_text("{not json")
    with pytest.raises(_Refused, match="run.json cannot be read"):
        run_identity.check_or_write(str(path), _record(lr=0.1), KIND)


def test_a_stored_record_is_upgraded_before_the_comparison(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"format": "test_run/v1", "config": {"old": 3}}))
    assert run_identity.check_or_write(str(path), _record(renamed=3), KIND) is True
    with pytest.raises(_Refused, match="config.renamed: 3 in the workdir, 4 now"):
        run_identity.check_or_write(str(path), _record(renamed=4), KIND)
