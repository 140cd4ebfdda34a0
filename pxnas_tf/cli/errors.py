"""Turns the library's input errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
import sys


def user_error_types() -> tuple[type, ...]:
    """Exception types that mean bad input (their message names the cause
    and the fix), as opposed to bugs, which keep their traceback."""
    from pxnas_tf.search_space import SpaceError
    types = [SpaceError, FileNotFoundError]
    try:
        from pxnas_tf.data import DataError
        types.append(DataError)
    except ImportError:
        pass
    return tuple(types)


class UsageError(ValueError):
    """A missing or contradictory flag."""


def reporting(main):
    """Wraps an absl `main` so that user errors print `pxnas: error: ...`."""
    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except (UsageError,) + user_error_types() as e:
            print(f"pxnas: error: {e}", file=sys.stderr)
            sys.exit(2)
    return wrapped
