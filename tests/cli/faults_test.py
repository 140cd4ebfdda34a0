"""Faults: `latency build`, `search`, `train` and `export` stopped by SIGTERM
or Ctrl-C (SIGINT) at a random point of their work, then run again.

The stopped process must end with its exit code (143 / 130) and one line
saying how to resume, leave no temporary file and no unreadable JSON; the
rerun must finish, resuming where the work was saved. (SIGKILL, which runs
no cleanup at all, has its own tests beside each command.)"""

import json
import os
import random
import signal
import subprocess

import pytest

from pxnas_tf.testing import (
    TINY_SPACE, pxnas_command, quiet_env, run_pxnas, search_args, tiny16_arch, tiny16_space_dict,
    wait_for_cpu,
)

EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130}
WORDS = {signal.SIGTERM: "pxnas: terminated", signal.SIGINT: "pxnas: interrupted"}


def _commands(tmp_path) -> dict:
    """Each command's arguments (the first run and the rerun alike) and the
    file its finished run writes."""
    arch = tiny16_arch(classes=10)
    arch_file = tmp_path / "arch.json"
    arch.save(str(arch_file))
    space = tmp_path / "space16.json"
    space.write_text(json.dumps(tiny16_space_dict(classes=10)))
    tiny = tmp_path / "space8.json"
    tiny.write_text(json.dumps(TINY_SPACE))
    data = ["--dataset=fashion_mnist", "--image_size=16"]
    return {
        "latency_build": (["latency", "build", f"--space={space}", "--device=host",
                           "--precision=int8", "--max_wait_s=1", "--noprogress",
                           f"--out={tmp_path / 'table.json'}"], tmp_path / "table.json"),
        "search": (search_args(tiny, tmp_path / "search", "--search_epochs=4"),
                   tmp_path / "search" / "arch.json"),
        "train": (["train", f"--arch={arch_file}", f"--workdir={tmp_path / 'train'}",
                   "--epochs=4", "--train_examples=4096", "--val_examples=128", "--batch_size=32",
                   "--noprogress", *data], tmp_path / "train" / "results.json"),
        "export": (["export", f"--model={tmp_path / 'net.keras'}", f"--arch={arch_file}",
                    "--mode=int8", "--calibration_examples=64", "--verify_examples=500",
                    f"--out={tmp_path / 'net.tflite'}", *data], tmp_path / "net.tflite"),
    }


def _finished(command, path) -> bool:
    """Whether the command's run finished (a table build saves its table
    after every measurement, marked incomplete until the last)."""
    if not path.exists():
        return False
    if command == "latency_build":
        return json.loads(path.read_text())["metadata"].get("complete", True)
    return True


def _check_files(folder):
    """No temporary file anywhere under `folder`; every JSON file parses."""
    for d, _, names in os.walk(folder):
        for name in names:
            assert ".tmp-" not in name and ".unverified-" not in name, os.path.join(d, name)
            if name.endswith(".json"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    json.load(f)


@pytest.mark.slow
@pytest.mark.parametrize("command,sig", [
    # Every command once, each signal twice (both go through cli/errors.py's boundary).
    ("latency_build", signal.SIGINT), ("search", signal.SIGTERM),
    ("train", signal.SIGINT), ("export", signal.SIGTERM),
])
def test_stopped_then_run_again(tmp_path, command, sig):
    args, done_file = _commands(tmp_path)[command]
    if command == "export":
        from pxnas_tf.models import build_model
        build_model(tiny16_arch(classes=10)).save(tmp_path / "net.keras")
    # A random point of the work: after 4 to 10 s of CPU (the imports take
    # about 3), seeded by the case so that a failure can be rerun.
    cpu = random.Random(f"{command}-{int(sig)}").uniform(4.0, 10.0)
    # Ctrl-C's default action in the child even where this process ignores it (a suite
    # started in the background from a shell: Python then leaves SIGINT ignored).
    proc = subprocess.Popen(pxnas_command(*args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=quiet_env(), cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for_cpu(proc.pid, cpu, timeout=240)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == EXIT[sig], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("pxnas: ")]
    assert lines == [f"{WORDS[sig]}; what was finished is saved: run the same command again to "
                     "resume"], stderr[-3000:]
    assert not _finished(command, done_file)
    _check_files(tmp_path)

    again = run_pxnas(*args, timeout=600, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _finished(command, done_file)
    _check_files(tmp_path)
    if command == "export":
        from pxnas_tf.export import read_sidecar
        assert read_sidecar(str(done_file))["verification"] is not None


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
