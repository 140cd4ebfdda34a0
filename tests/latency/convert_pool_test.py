"""Conversions in worker processes: results in order, progress, the first
failure re-raised as its own class, and the in-process path for few jobs."""

import operator
import os

import pytest

from pxnas_tf.latency.build import block_models, convert_pool, tflite_ops


def test_jobs_run_in_workers_in_order_with_progress():
    jobs = [(i, 3) for i in range(convert_pool.MIN_JOBS + 5)]
    done = []
    assert convert_pool.run_all(operator.mul, jobs, workers=2, on_done=done.append) == [
        3 * i for i in range(len(jobs))]
    assert sorted(done) == list(range(len(jobs)))


def test_a_failure_is_raised_as_its_class_and_stops_the_workers():
    jobs = [(str(i),) for i in range(convert_pool.MIN_JOBS)] + [("x",), ("y",)]
    with pytest.raises(ValueError, match="invalid literal for int.*'[xy]'"):
        convert_pool.run_all(int, jobs, workers=2)


def test_a_worker_that_dies_is_named_with_its_exit_code():
    jobs = [(3,)] * convert_pool.MIN_JOBS  # os._exit(3): gone before it reports
    with pytest.raises(convert_pool.WorkerError, match=r"stopped \(exit code 3\) before 12 of"):
        convert_pool.run_all(os._exit, jobs, workers=2)


def test_few_jobs_or_one_worker_run_here():
    # A lambda cannot reach a worker: only the in-process path can run it.
    assert convert_pool.run_all(lambda a: a + 1, [(1,), (2,)], workers=4) == [2, 3]
    many = [(i,) for i in range(convert_pool.MIN_JOBS)]
    assert convert_pool.run_all(lambda a: -a, many, workers=1) == [-i for i, in many]


def test_worker_count_from_the_environment(monkeypatch):
    monkeypatch.setenv(convert_pool.WORKERS_ENV, "3")
    assert convert_pool.default_workers() == 3
    monkeypatch.setenv(convert_pool.WORKERS_ENV, "two")
    with pytest.raises(convert_pool.WorkersSettingError,
                       match="PXNAS_CONVERT_WORKERS='two' is not a number"):
        convert_pool.default_workers()
    monkeypatch.delenv(convert_pool.WORKERS_ENV)
    assert 1 <= convert_pool.default_workers() <= convert_pool.MAX_WORKERS


@pytest.mark.slow
def test_block_models_converted_by_workers_are_the_models_converted_here(tmp_path):
    from pxnas_tf.latency.build.probes import probe_keys
    keys = probe_keys()[:convert_pool.MIN_JOBS]
    paths = convert_pool.run_all(block_models.ensure_model_file,
                                 [(k, "float32", str(tmp_path / "w"), 3) for k in keys], workers=2)
    here = [block_models.ensure_model_file(k, "float32", str(tmp_path / "h"), 3) for k in keys]
    assert [p.split("/")[-1] for p in paths] == [p.split("/")[-1] for p in here]
    for a, b in zip(paths, here):  # the same graph (the weights are random)
        ops_a = tflite_ops.ops_of_tflite(open(a, "rb").read())
        assert ops_a and ops_a == tflite_ops.ops_of_tflite(open(b, "rb").read())
        assert os.path.getsize(a) == os.path.getsize(b)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
