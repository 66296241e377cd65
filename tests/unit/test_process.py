"""Child processes stop as a group, gracefully first, on POSIX and (simulated) on Windows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from hsctl.core import process
from hsctl.core.process import group_kwargs, stop_process

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@posix_only
def test_a_graceful_child_stops_on_the_first_signal():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], **group_kwargs())
    started = time.monotonic()
    assert stop_process(proc, grace_s=20) == -signal.SIGTERM
    assert time.monotonic() - started < 10


@posix_only
def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period_with_its_children():
    code = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']); "
        "print(child.pid, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, **group_kwargs())
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    assert stop_process(proc, grace_s=0.5) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            import os

            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild survived the group kill")


def test_windows_uses_ctrl_break_then_terminate(monkeypatch: pytest.MonkeyPatch):
    """On Windows there is no killpg or SIGKILL: CTRL_BREAK_EVENT to the group, then TerminateProcess."""
    monkeypatch.setattr(process, "WINDOWS", True)
    monkeypatch.setattr(process.os, "killpg", None, raising=False)  # would fail if called
    calls: list[object] = []

    class FakeProc:
        pid = 1234
        returncode: int | None = None

        def poll(self) -> int | None:
            return self.returncode

        def send_signal(self, sig: object) -> None:
            calls.append(("signal", sig))

        def kill(self) -> None:
            calls.append("kill")
            self.returncode = 1

        def wait(self, timeout: float) -> int:
            if self.returncode is None:
                raise subprocess.TimeoutExpired("x", timeout)
            return self.returncode

    assert "creationflags" in group_kwargs() and "start_new_session" not in group_kwargs()
    assert stop_process(FakeProc(), grace_s=0.01) == 1  # type: ignore[arg-type]
    assert calls == [("signal", getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM)), "kill"]
