"""The CLI's error boundary: bad input and faults of the environment become
one line on stderr, never a traceback.

    bad input (`PxnasError`, a missing file, a number flag outside its
        range in `pxnas_tf.limits`) -> "pxnas: error: ...", exit 2
    an OS fault (permission, full disk, ...) -> "pxnas: error: PATH: reason", exit 1
    Ctrl-C -> "pxnas: interrupted ...", exit 130; SIGTERM -> "pxnas:
        terminated ...", exit 143 (both unwind the stack, so temporary files
        are removed; what was saved stays and the long commands resume when
        run again)

Anything else is a bug and keeps its traceback. With PXNAS_TRACEBACK=1 in
the environment every error shows its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
import threading

from pxnas_tf import limits
from pxnas_tf.cli.flags import ALIASES
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


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every `finally` runs."""


_SIGNALLED = {"term": False}


def _terminate(signum, frame):
    _SIGNALLED["term"] = True
    raise Terminated()


def check_number_flags(flag_values) -> None:
    """Refuses a number flag that is not finite (absl accepts NaN and inf)
    or lies outside its range in `pxnas_tf.limits`, before any work; a
    flag set through an alias (`pxnas_tf.cli.flags.ALIASES`) is named as typed."""
    aliases = {a: f for a, f in ALIASES.items() if a in flag_values}
    typed = {f for a, f in aliases.items() if flag_values[a].present}
    names = [n for n in flag_values
             if n not in typed and (n not in aliases or flag_values[n].present)]
    problems = limits.flag_problems(flag_values, names)
    if problems:
        raise UsageError(problems[0] + (f" (and {len(problems) - 1} more flag(s) out of range)"
                                        if len(problems) > 1 else ""))


def os_error_line(e: OSError) -> str:
    """One line for an OS fault: the path, the reason and the fix."""
    where = f"{e.filename}: " if e.filename else ""
    reason = e.strerror or str(e)
    fix = _OS_FIXES.get(e.errno)
    return f"{where}{reason}" + (f" ({fix})" if fix else "")


def catch_sigterm() -> None:
    """From now on SIGTERM raises `Terminated` in the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


@contextlib.contextmanager
def stopping_cleanly():
    """Ctrl-C and SIGTERM inside the block: their one line and exit code."""
    try:
        yield
    except KeyboardInterrupt:
        print("pxnas: interrupted; what was finished is saved: run the same command again "
              "to resume", file=sys.stderr)
        sys.exit(130)
    except Terminated:
        _terminated()
    except Exception:
        # A SIGTERM raised inside a library that turned it into an error of
        # its own (the TFLite converter: "'NoneType' object is not callable").
        if _SIGNALLED["term"]:
            _terminated()
        raise


def _terminated():
    print("pxnas: terminated; what was finished is saved: run the same command again "
          "to resume", file=sys.stderr)
    sys.exit(143)


def reporting(main):
    """Wraps an absl `main` with the error boundary (module docstring)."""
    @functools.wraps(main)
    def wrapped(argv):
        from absl import flags
        catch_sigterm()
        if os.environ.get("PXNAS_TRACEBACK"):
            check_number_flags(flags.FLAGS)
            return main(argv)
        try:
            with stopping_cleanly():
                check_number_flags(flags.FLAGS)
                return main(argv)
        except user_error_types() as e:
            print(f"pxnas: error: {e}", file=sys.stderr)
            sys.exit(2)
        except UnicodeDecodeError as e:
            print(f"pxnas: error: a file given as text is not UTF-8 text ({e.reason} at byte "
                  f"{e.start}); check the paths passed to the flags", file=sys.stderr)
            sys.exit(2)
        except OSError as e:
            print(f"pxnas: error: {os_error_line(e)}", file=sys.stderr)
            sys.exit(1)
    return wrapped
