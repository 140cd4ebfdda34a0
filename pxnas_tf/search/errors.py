"""Errors of the search that mean bad input or a stopped run."""

from __future__ import annotations

from pxnas_tf.errors import PxnasError


class SearchError(PxnasError, ValueError):
    """Bad input to the search (target out of range, workdir of another
    run, ...); the message names the cause and the fix."""


class NonFiniteLossError(PxnasError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
