"""Shared test set-up: quiet TensorFlow, one intra-op thread pool size that
suits a 2-core machine."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
