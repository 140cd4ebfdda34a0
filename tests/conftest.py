"""Shared test set-up: quiet TensorFlow, one intra-op thread pool size that
suits a 2-core machine."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_collection_modifyitems(config, items):
    """Every test under tests/latency times real models on this CPU: it gets
    the `timing` marker, and `make test` runs those alone, after the others
    (which run on two pytest-xdist workers)."""
    import pytest

    for item in items:
        if os.path.join("tests", "latency") + os.sep in str(item.path):
            item.add_marker(pytest.mark.timing)
