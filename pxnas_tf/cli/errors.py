"""The CLI's error boundary: bad input and faults of the environment become
one line on stderr, never a traceback.

    bad input (`PxnasError`, a missing file, a non-finite number flag)
        -> "pxnas: error: ...", exit 2
    an OS fault (permission, full disk, ...) -> "pxnas: error: PATH: reason", exit 1
    Ctrl-C -> "pxnas: interrupted ...", exit 130 (what was saved stays; the
        long commands resume when run again)

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import functools
import math
import sys

from pxnas_tf.errors import PxnasError


class UsageError(PxnasError, ValueError):
    """A missing or contradictory flag."""


def user_error_types() -> tuple[type, ...]:
    """The exception types that mean bad input (their message names the
    cause and the fix), as opposed to bugs, which keep their traceback."""
    return (PxnasError, FileNotFoundError)


_OS_FIXES = {
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.EROFS: "the file system is read-only: choose another path",
    errno.ENOSPC: "free some disk space and run the same command again",
    errno.EEXIST: "remove it or choose another path",
    errno.EISDIR: "give a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def check_finite_flags(flag_values) -> None:
    """Refuses a float flag set to NaN or infinity (absl accepts both)."""
    for name in flag_values:
        value = flag_values[name].value
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"--{name}={value}: expected a finite number")


def os_error_line(e: OSError) -> str:
    """One line for an OS fault: the path, the reason and the fix."""
    where = f"{e.filename}: " if e.filename else ""
    reason = e.strerror or str(e)
    fix = _OS_FIXES.get(e.errno)
    return f"{where}{reason}" + (f" ({fix})" if fix else "")


def reporting(main):
    """Wraps an absl `main` with the error boundary (module docstring)."""
    @functools.wraps(main)
    def wrapped(argv):
        from absl import flags
        try:
            check_finite_flags(flags.FLAGS)
            return main(argv)
        except user_error_types() as e:
            print(f"pxnas: error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("pxnas: interrupted; what was finished is saved: run the same command again "
                  "to resume", file=sys.stderr)
            sys.exit(130)
        except UnicodeDecodeError as e:
            print(f"pxnas: error: a file given as text is not UTF-8 text ({e.reason} at byte "
                  f"{e.start}); check the paths passed to the flags", file=sys.stderr)
            sys.exit(2)
        except OSError as e:
            print(f"pxnas: error: {os_error_line(e)}", file=sys.stderr)
            sys.exit(1)
    return wrapped
