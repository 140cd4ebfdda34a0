"""A thin, strict wrapper of the ``adb`` command line.

Every call runs the real ``adb`` executable with a timeout and turns its
failures into `AdbError` messages that say what to do: adb missing, no
device, an unauthorized or offline device, a device that disappeared
mid-run, a command that timed out.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
from typing import Sequence

from pxnas_tf.latency.measure.runner import RunnerError

REMOTE_DIR = "/data/local/tmp"
_RC_MARK = "__pxnas_rc="


class AdbError(RunnerError):
    """adb failed; the message names the cause and the fix."""


@dataclasses.dataclass(frozen=True)
class DeviceState:
    """One line of ``adb devices``: serial and state (``device``,
    ``unauthorized``, ``offline``, ``no permissions``, ...)."""

    serial: str
    state: str


def parse_devices(output: str) -> list[DeviceState]:
    """Parses ``adb devices`` output (pure)."""
    out = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*", "adb server")):
            continue
        parts = re.split(r"\s+", line, maxsplit=1)
        if len(parts) == 2:
            out.append(DeviceState(parts[0], parts[1].split(" usb:")[0].strip()))
    return out


def state_problem(serial: str, state: str) -> str | None:
    """What to do about a device that is not ready (pure); None if ready."""
    if state == "device":
        return None
    if state == "unauthorized":
        return (f"device {serial} is unauthorized: unlock the phone and accept the 'Allow USB "
                "debugging?' prompt (tick 'Always allow'), then run again")
    if state == "offline":
        return (f"device {serial} is offline: unplug and replug it, or run `adb kill-server` and "
                "try again")
    if "permission" in state:
        return (f"device {serial}: no permissions ({state}); add a udev rule for the phone or run "
                "adb as a user in the plugdev group")
    return f"device {serial} is in state {state!r}, not 'device'; wait for it to boot and retry"


def no_device_message(serial: str | None, listed: Sequence[DeviceState]) -> str:
    """The message for a serial that `adb devices` does not list (pure)."""
    seen = ", ".join(f"{d.serial} ({d.state})" for d in listed) or "none"
    if serial:
        return (f"Android device {serial!r} is not attached (adb devices lists: {seen}); check "
                "the cable and USB debugging, or pass the serial `adb devices` shows")
    return ("no Android device attached (adb devices lists none): connect a phone with USB "
            "debugging enabled (Settings > Developer options) and check `adb devices`")


class Adb:
    """``adb [-s SERIAL] ...`` with timeouts and clear errors.

    Args:
        adb: the executable (``adb`` on PATH by default).
        serial: the device; None for adb's default device.
        timeout_s: timeout of calls that do not pass their own.
    """

    def __init__(self, adb: str = "adb", serial: str | None = None, timeout_s: float = 20.0):
        self.adb, self.serial, self.timeout_s = adb, serial, timeout_s

    def command(self, *args: str) -> list[str]:
        """The argv of one adb call (pure)."""
        return [self.adb, *(["-s", self.serial] if self.serial else []), *args]

    def run(self, *args: str, timeout_s: float | None = None) -> str:
        """Runs adb; returns stdout + stderr.

        Raises:
            AdbError: adb missing, timeout, or a non-zero exit (quoting adb).
        """
        argv = self.command(*args)
        timeout = timeout_s or self.timeout_s
        try:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        except FileNotFoundError:
            raise AdbError(f"adb executable {self.adb!r} not found: install it (Debian/Ubuntu: "
                           "`sudo apt-get install adb`) or pass --adb=PATH") from None
        except PermissionError:
            raise AdbError(f"adb executable {self.adb!r} is not executable") from None
        except subprocess.TimeoutExpired:
            raise AdbError(f"`{shlex.join(argv)}` timed out after {timeout:g} s; check that the "
                           "phone is awake and connected (`adb devices`), or raise the "
                           "timeout") from None
        text = done.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
        if done.returncode != 0:
            raise AdbError(self._explain(argv, text))
        return text

    def _explain(self, argv: list[str], text: str) -> str:
        lowered = text.lower()
        if ("not found" in lowered and "device" in lowered) or "no devices" in lowered:
            return no_device_message(self.serial, self._devices_quietly())
        if "unauthorized" in lowered:
            return state_problem(self.serial or "(default)", "unauthorized")
        if "offline" in lowered:
            return state_problem(self.serial or "(default)", "offline")
        if "more than one device" in lowered:
            return ("more than one Android device is attached: name them with "
                    "--device=adb:SERIAL[,SERIAL...] (see `adb devices`)")
        last = "\n".join("    " + line for line in text.strip().splitlines()[-8:]) or "    (none)"
        return f"`{shlex.join(argv)}` failed. adb said:\n{last}"

    def _devices_quietly(self) -> list[DeviceState]:
        try:
            return Adb(self.adb, None, self.timeout_s).devices()
        except AdbError:
            return []

    def devices(self) -> list[DeviceState]:
        """``adb devices``."""
        return parse_devices(Adb(self.adb, None, self.timeout_s).run("devices"))

    def check_ready(self) -> None:
        """Raises `AdbError` unless the device is attached and authorized."""
        listed = self.devices()
        if self.serial is None:
            ready = [d for d in listed if d.state == "device"]
            if not listed:
                raise AdbError(no_device_message(None, listed))
            if not ready:
                raise AdbError(state_problem(listed[0].serial, listed[0].state))
            if len(listed) > 1:
                raise AdbError("more than one Android device is attached: name them with "
                               "--device=adb:SERIAL[,SERIAL...] (see `adb devices`)")
            return
        match = [d for d in listed if d.serial == self.serial]
        if not match:
            raise AdbError(no_device_message(self.serial, listed))
        problem = state_problem(self.serial, match[0].state)
        if problem:
            raise AdbError(problem)

    def shell(self, command: str, timeout_s: float | None = None) -> tuple[int, str]:
        """Runs `command` in ``adb shell``; returns (exit status, output).
        The status is read from a marker line, since old adb versions do not
        pass it through."""
        text = self.run("shell", f"{command}; echo {_RC_MARK}$?", timeout_s=timeout_s)
        match = re.search(rf"{_RC_MARK}(\d+)\s*$", text)
        if not match:
            raise AdbError(f"`adb shell {command}` ended without its status line; the device may "
                           f"have disconnected. Output:\n{text[-800:]}")
        return int(match.group(1)), text[:match.start()]

    def push(self, local: str, remote: str, timeout_s: float | None = None) -> None:
        self.run("push", local, remote, timeout_s=timeout_s)

    def getprop(self, name: str) -> str:
        _, out = self.shell(f"getprop {shlex.quote(name)}")
        return out.strip()
