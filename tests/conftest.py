"""Shared test set-up: quiet TensorFlow. Tests that time real models on this
CPU carry the `timing` marker themselves (`make test` runs them alone)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
