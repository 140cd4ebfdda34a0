"""Shared set-up of the latency tests: a tiny search space (16x16 input, 2
stages, 3 searchable blocks, 2 candidates) whose whole table builds and
measures in seconds, and quick measurement settings."""

import pytest

from pxnas_tf.latency.build.settings import BuildSettings
from pxnas_tf.latency.measure.runner import MeasureSettings
from pxnas_tf.search_space import load_space
from pxnas_tf.testing import tiny16_space_dict

TINY = tiny16_space_dict(classes=4, channels=3, name="tiny_latency")

# Few, short rounds: enough to exercise every code path quickly. The load
# gate is off (max_load far above the CPU count): tests check plumbing, not
# figures, and must not wait for a shared machine to go quiet
# (host_runner_test checks the gate itself).
QUICK = MeasureSettings(warmup_runs=5, runs=5, round_s=0.005, min_rounds=3, max_rounds=6,
                        max_spread=0.05, quiet_tol=0.05, min_quiet=2, max_load=1000.0)
QUICK_BUILD = BuildSettings(min_passes=2, max_passes=3, agree_tol=0.5, batch_size=4,
                            weight_streaming=False, footprint=False)


@pytest.fixture(scope="session")
def tiny_space():
    return load_space(TINY)


@pytest.fixture(scope="session")
def quick():
    """`MeasureSettings` for tests."""
    return QUICK


@pytest.fixture(scope="session")
def quick_build():
    """`BuildSettings` for tests."""
    return QUICK_BUILD


@pytest.fixture(scope="session")
def tiny_table_path(tmp_path_factory, tiny_space):
    """A complete int8 table of the tiny space, measured on this host."""
    from pxnas_tf.latency.build.builder import build_table
    from pxnas_tf.latency.measure.host_runner import HostRunner
    path = str(tmp_path_factory.mktemp("tiny_table") / "tiny.json")
    report = build_table(tiny_space, HostRunner(settings=QUICK), path, "int8", QUICK_BUILD,
                         progress=False)
    assert report.complete
    return path
