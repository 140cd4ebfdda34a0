"""Errors of the search that mean bad input or a stopped run."""

from __future__ import annotations


class SearchError(ValueError):
    """Bad input to the search (target out of range, workdir of another
    run, ...); the message names the cause and the fix."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
