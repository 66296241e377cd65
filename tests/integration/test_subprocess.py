"""Real ``hsctl`` processes: import hygiene, the hub's fast failure and the shared dataset."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED_TRAIN

pytestmark = pytest.mark.integration
HEAVY = ("torch", "transformers", "datasets", "onnxruntime")
COMMANDS = (
    "fetch",
    "preprocess",
    "train",
    "evaluate",
    "predict",
    "quantize",
    "drift",
    "loadtest",
    "config",
    "config show",
    "env",
    "sweep",
    "sweep show",
)


def hsctl(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hsctl", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_imports_no_heavy_modules(command: str):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['hsctl', *{command.split()!r}, '--help']\n"
        "try:\n    runpy.run_module('hsctl', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_python_m_version():
    out = hsctl("--version")
    assert out.returncode == 0 and out.stdout.startswith("hsctl ")


def test_hub_refused_fails_fast_with_exit_5():
    started = time.monotonic()
    out = hsctl("fetch", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert time.monotonic() - started < 10
    assert out.returncode == 5, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and "--source PATH" in lines[0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a hub that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_hanging_hub_times_out_within_the_setting(silent_server: int):
    started = time.monotonic()
    out = hsctl("fetch", env={"HF_ENDPOINT": f"http://127.0.0.1:{silent_server}", "HSCTL_DATA__HUB_TIMEOUT_S": "1.5"})
    elapsed = time.monotonic() - started
    assert out.returncode == 5, out.stderr
    assert elapsed < 10
    assert "within 1.5s" in out.stderr


def test_hf_hub_offline_is_respected(tmp_path: Path):
    out = hsctl("fetch", env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert out.returncode == 5
    assert "HF_HUB_OFFLINE" in out.stderr and "--source PATH" in out.stderr


@pytest.mark.skipif(not SHARED_TRAIN.is_file(), reason="shared training file not present")
def test_shared_training_file(isolated: Path):
    fetched = hsctl("fetch", "--source", str(SHARED_TRAIN), "--json")
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)["splits"] == {"train": 5679}
    processed = hsctl("preprocess", "--json")
    assert processed.returncode == 0, processed.stderr
    report = json.loads(processed.stdout)
    assert report["rows_in"] == 5679
    assert report["dropped"]["empty_text"] == 1
    assert report["dropped"]["duplicate"] == 93
    assert report["rows_out"] == 5679 - 1 - 93 - report["dropped"]["conflicting_labels"]
    hate_share = {name: s["labels"]["hate"]["share"] for name, s in report["stats"]["splits"].items()}
    assert all(0.25 < share < 0.29 for share in hate_share.values())
