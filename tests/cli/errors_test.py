"""The CLI's error boundary: bad input and OS faults are one line on stderr
(no traceback), Ctrl-C says how to resume, bugs keep their traceback."""

import errno

import pytest
from absl import flags

from pxnas_tf.cli import errors


def _one_line_error(result, code):
    assert result.returncode == code, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("pxnas: ")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def test_a_non_finite_number_flag_is_refused(tmp_path, pxnas_forked):
    line = _one_line_error(pxnas_forked.run("build", "--arch=proxyless_mobile", "--width_mult=nan",
                                     f"--out={tmp_path / 'n.keras'}"), 2)
    assert line == "pxnas: error: --width_mult=nan: expected a finite number"
    assert not list(tmp_path.iterdir())


def test_a_zero_batch_size_is_refused(tmp_path, pxnas_forked):
    line = _one_line_error(pxnas_forked.run("build", "--arch=proxyless_mobile", "--batch_size=0",
                                     f"--out={tmp_path / 'n.keras'}"), 2)
    assert "--batch_size=0: expected >= 1" in line


def test_a_negative_count_is_named_by_its_own_flag(tmp_path, pxnas_forked):
    line = _one_line_error(pxnas_forked.run("export", f"--model={tmp_path / 'net.keras'}",
                                     "--calibration_examples=-5"), 2)
    assert line.startswith("pxnas: error: --calibration_examples=-5: expected >= 1")


def test_an_os_fault_is_one_line_naming_the_path(tmp_path, pxnas_forked):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    line = _one_line_error(pxnas_forked.run("build", "--arch=proxyless_mobile",
                                     f"--out={blocker / 'net.keras'}"), 1)
    assert str(blocker) in line and line.startswith("pxnas: error: ")


def test_pxnas_traceback_shows_the_traceback(tmp_path):
    import subprocess

    from pxnas_tf.testing import pxnas_command, quiet_env
    argv = pxnas_command("build", "--arch=no_such_net", f"--out={tmp_path / 'n.keras'}")
    plain = subprocess.run(argv, capture_output=True, text=True, env=quiet_env())
    shown = subprocess.run(argv, capture_output=True, text=True,
                           env=quiet_env(PXNAS_TRACEBACK="1"))
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert shown.returncode == 1 and "Traceback" in shown.stderr and "no_such_net" in shown.stderr


def _wrapped(exc):
    def main(argv):
        raise exc
    flags.FLAGS.mark_as_parsed()
    return errors.reporting(main)


def test_ctrl_c_says_how_to_resume(capsys):
    with pytest.raises(SystemExit) as e:
        _wrapped(KeyboardInterrupt())(["pxnas"])
    assert e.value.code == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_a_sigterm_a_library_turned_into_its_own_error_still_says_terminated(capsys):
    import os
    import signal
    import time

    from pxnas_tf.errors import PxnasError

    def main(argv):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
        except BaseException as e:  # as the TFLite converter's internals do
            raise PxnasError("TFLite could not convert model 'net'") from e

    flags.FLAGS.mark_as_parsed()
    old = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as e:
            errors.reporting(main)(["pxnas"])
    finally:
        signal.signal(signal.SIGTERM, old)
        errors._SIGNALLED["term"] = False
    assert e.value.code == 143
    err = capsys.readouterr().err
    assert "pxnas: terminated; what was finished is saved" in err and "convert" not in err
    # The same error without a signal is bad input: exit 2.
    with pytest.raises(SystemExit) as e:
        _wrapped(PxnasError("TFLite could not convert model 'net'"))(["pxnas"])
    assert e.value.code == 2


def test_os_error_lines_name_path_reason_and_fix():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/t.json")
    assert errors.os_error_line(full) == ("/data/t.json: No space left on device (free some "
                                          "disk space and run the same command again)")
    assert errors.os_error_line(OSError(errno.EIO, "Input/output error")) == "Input/output error"


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        _wrapped(ZeroDivisionError("a bug"))(["pxnas"])


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
