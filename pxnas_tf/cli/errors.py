"""Turns the library's input errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
import sys

from pxnas_tf.errors import PxnasError


class UsageError(PxnasError, ValueError):
    """A missing or contradictory flag."""


def user_error_types() -> tuple[type, ...]:
    """The exception types that mean bad input (their message names the
    cause and the fix), as opposed to bugs, which keep their traceback."""
    return (PxnasError, FileNotFoundError)


def reporting(main):
    """Wraps an absl `main` so that user errors print `pxnas: error: ...`."""
    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except user_error_types() as e:
            print(f"pxnas: error: {e}", file=sys.stderr)
            sys.exit(2)
    return wrapped
