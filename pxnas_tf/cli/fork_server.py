"""The server behind `pxnas_tf.testing.ForkServer`: `pxnas` commands as
real processes forked from one process that has already imported
TensorFlow, Keras and every subcommand's module.

    python -m pxnas_tf.cli.fork_server

reads one JSON request a line on stdin (``{"args", "cwd", "stdout",
"stderr"}``: the command's arguments, its folder, and the files its stdout
and stderr go to), forks, and replies ``{"pid": ...}`` then ``{"code": ...}``
(its exit status as `subprocess` gives it) on stdout. It never runs a
TensorFlow op, so each child starts TensorFlow's runtime itself. It lives
beside the console script (`pxnas_tf.cli.main`), which its children run;
the tests reach it only as a process.
"""

from __future__ import annotations

import importlib
import os
import sys


def serve() -> None:
    """The server's loop: one JSON request a line on stdin, replies
    ``{"pid": ...}`` then ``{"code": ...}`` on stdout."""
    import json

    import pxnas_tf.cli.main as cli_main

    # The seconds each fresh `pxnas` spends importing; imports only: each
    # child defines its flags and starts TensorFlow's runtime.
    for name in ("tensorflow", "keras", *(m for m, _ in cli_main.COMMANDS.values())):
        importlib.import_module(name)
    reply = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_forked(request)
        reply.write(json.dumps({"pid": pid}).encode() + b"\n")
        reply.flush()
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
        reply.flush()


def _run_forked(request: dict) -> None:
    """The child of `serve`: runs `pxnas ARGS` as its process would,
    then exits with its code (never returns)."""
    import atexit
    import traceback

    code = 1
    try:
        for fd, path in ((1, request["stdout"]), (2, request["stderr"]), (0, os.devnull)):
            target = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT)
            os.dup2(target, fd)
            os.close(target)
        if request["cwd"]:
            os.chdir(request["cwd"])
        from pxnas_tf.cli.main import run
        try:
            run(["pxnas", *request["args"]])
            code = 0
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
        atexit._run_exitfuncs()
    except BaseException:  # what an uncaught exception prints in a real process
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve()
