"""Child processes that can be stopped as a group on every OS (load generators, spawned servers).

POSIX: the child leads its own session, so Ctrl-C reaches only hsctl, and stopping
sends SIGTERM (graceful) then SIGKILL to the whole group. Windows has neither
process groups of that kind nor SIGKILL: the child gets its own process group
(``CREATE_NEW_PROCESS_GROUP``), a graceful stop is ``CTRL_BREAK_EVENT``, and the
hard stop is ``TerminateProcess`` (``Popen.kill``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

WINDOWS = sys.platform == "win32"


def group_kwargs() -> dict[str, Any]:
    """``Popen`` keyword arguments that put the child in its own process group."""
    if WINDOWS:
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


def _graceful(proc: subprocess.Popen[Any], group: bool) -> None:
    if WINDOWS:
        proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
    elif group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.terminate()


def _hard(proc: subprocess.Popen[Any], group: bool) -> None:
    if not WINDOWS and group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()


def stop_process(proc: subprocess.Popen[Any], grace_s: float, *, group: bool = True) -> int | None:
    """Stop ``proc`` gracefully, then hard after ``grace_s`` seconds; returns its exit code.

    ``group``: the child was started with :func:`group_kwargs` and its own children go too.
    """
    for step in (_graceful, _hard):
        if proc.poll() is not None:
            break
        try:
            step(proc, group)
        except (ProcessLookupError, PermissionError, OSError):
            break
        try:
            proc.wait(timeout=grace_s if step is _graceful else 10)
            break
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()
