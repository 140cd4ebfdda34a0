"""A search workdir's identity check (run.json): what refuses a resume and
what does not."""

import json

import pytest

from pxnas_tf.search import SearchError, records


def _record(source="/old/place/table.json", constant=0.05):
    latency = {"unit": "ms", "source": source, "constant": constant, "fastest": 0.1,
               "slowest": 2.0}
    return records.run_record({"name": "s"}, {"name": "fashion_mnist"}, {"seed": 0}, latency)


def test_a_copied_workdir_resumes_with_its_table_elsewhere(tmp_path):
    path = str(tmp_path / "run.json")
    assert records.check_or_write_run(path, _record(), write=True) is False
    assert records.check_or_write_run(path, _record(source="/new/place/table.json"),
                                      write=True) is True


def test_another_latency_model_is_refused_naming_the_difference(tmp_path):
    path = str(tmp_path / "run.json")
    records.check_or_write_run(path, _record(), write=True)
    with pytest.raises(SearchError, match=r"latency.constant: 0.05 in the workdir, 0.07 now"):
        records.check_or_write_run(path, _record(constant=0.07), write=True)


def test_a_training_workdir_is_named_as_such(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"format": "pxnas_tf.train_run/v1", "arch": {}}))
    with pytest.raises(SearchError) as e:
        records.check_or_write_run(str(path), _record(), write=True)
    assert "holds no search run (its run.json is pxnas_tf.train_run/v1" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_run_stored_before_a_field_existed_resumes_under_its_old_behaviour(tmp_path):
    path = tmp_path / "run.json"
    old = records.run_record({"name": "s"}, {"name": "fashion_mnist"}, {"seed": 0}, None)
    path.write_text(json.dumps(old))  # no weight_paths: every such run drew from p
    now = records.run_record({"name": "s"}, {"name": "fashion_mnist"},
                             {"seed": 0, "weight_paths": "p"}, None)
    assert records.check_or_write_run(str(path), now, write=True) is True
    other = records.run_record({"name": "s"}, {"name": "fashion_mnist"},
                               {"seed": 0, "weight_paths": "uniform"}, None)
    with pytest.raises(SearchError, match=r"config.weight_paths: 'p' in the workdir, 'uniform'"):
        records.check_or_write_run(str(path), other, write=True)
    with_path_seed = records.run_record({"name": "s"}, {"name": "fashion_mnist"},
                                        {"seed": 0, "path_seed": None}, None)
    assert records.check_or_write_run(str(path), with_path_seed, write=True) is True
