"""How a server hands its settings to child processes, and how those children end with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from hsctl.serve import launch
from hsctl.settings import Settings, load_settings


def test_child_env_hands_over_every_setting_and_secret_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings = load_settings({"serve.api_key": "k3y", "serve.port": 9999, "serve.workers": 2}).settings
    env = launch.child_env(settings, run_dir="/somewhere")
    assert list(env) == [launch.LAUNCH_ENV]
    payload = json.loads(env[launch.LAUNCH_ENV])
    received = Settings(**payload["settings"])
    assert received.serve.api_key is not None and received.serve.api_key.get_secret_value() == "k3y"
    assert received.model_dump() == settings.model_dump()
    assert (payload["parent"], payload["run_dir"]) == (os.getpid(), "/somewhere")
    assert list(tmp_path.iterdir()) == []  # nothing written to the temp folder
    assert not hasattr(launch, "write_settings_file")


def test_a_child_takes_the_settings_out_of_its_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(launch.LAUNCH_ENV, json.dumps({"settings": {}, "parent": 1, "run_dir": None}))
    assert launch._take_launch() == {"settings": {}, "parent": 1, "run_dir": None}
    assert launch.LAUNCH_ENV not in os.environ  # its own children do not inherit the secrets


def test_main_without_its_variable_is_one_line(capsys: pytest.CaptureFixture[str]):
    assert launch.main() == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {launch.LAUNCH_ENV} is not set")


CHILD = """
import sys, time
from hsctl.serve.launch import end_with_parent
try:
    end_with_parent(int(sys.argv[1]))
    print("watching", flush=True)
    time.sleep(120)
except KeyboardInterrupt:  # what uvicorn's drain ends with
    print("stopped", flush=True)
"""


def wait_gone(proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.02)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_child_ends_when_its_parent_is_sigkilled(tmp_path: Path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "child.out"
    middle = textwrap.dedent(f"""
        import os, subprocess, sys, time
        with open({str(out)!r}, "w") as fh:
            child = subprocess.Popen([sys.executable, {str(script)!r}, str(os.getpid())], stdout=fh)
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", middle], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 30
    while "watching" not in out.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child_pid}").exists() and "Z" not in Path(f"/proc/{child_pid}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.02)
    assert "stopped" in out.read_text()  # a graceful stop, not a kill


def test_the_watchdog_ends_a_child_whose_parent_is_gone(tmp_path: Path):
    """Without PR_SET_PDEATHSIG (other systems, or a parent that died before it): the parent-pid watchdog."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    not_the_parent = os.getpid() + 1_000_000
    child = subprocess.Popen([sys.executable, str(script), str(not_the_parent)], stdout=subprocess.PIPE, text=True)
    wait_gone(child)
    assert child.stdout is not None and child.stdout.read().split()[-1] == "stopped"


def test_the_last_worker_out_removes_the_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run_dir = tmp_path / "run"
    for sub in ("tmp", "workers", "metrics"):
        (run_dir / sub).mkdir(parents=True)
    other, me = 4_000_000, os.getpid()  # another worker, still running, and this one
    (run_dir / "workers" / str(other)).touch()
    launch._join_run_dir(str(run_dir))
    (run_dir / "metrics" / f"counter_{me}.db").touch()
    (run_dir / "metrics" / f"counter_{other}.db").touch()
    monkeypatch.setattr(launch, "_alive", lambda pid: pid in (me, other))
    launch._leave_run_dir(str(run_dir))
    assert sorted(p.name for p in (run_dir / "metrics").iterdir()) == [f"counter_{other}.db"]
    assert [p.name for p in (run_dir / "workers").iterdir()] == [str(other)]  # not the last: the folder stays
    monkeypatch.setattr(launch, "_alive", lambda pid: pid == me)  # the other one died without cleaning up
    launch._leave_run_dir(str(run_dir))
    assert not run_dir.exists()
