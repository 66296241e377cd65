"""``hsctl loadtest`` against a tiny HTTP server on loopback: short runs, exit codes, JSON, PNG, bounds."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app

runner = CliRunner()
SHORT = ("--duration", "2s", "--warmup", "0.5s", "--users", "4")


@dataclass
class TinyServer:
    """A stand-in for hsctl serve: /predict, v2 infer, readiness; optional delay, errors and no readiness."""

    delay_s: float = 0.0
    fail_every: int = 0  # every n-th POST answers 503
    ready: bool = True
    posts: int = 0
    bodies: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


def _handler(state: TinyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v2/health/ready":
                self._send(200 if state.ready else 503, {"ready": state.ready})
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with state.lock:
                state.posts += 1
                n = state.posts
                if len(state.bodies) < 50:
                    state.bodies.append(body)
            if state.delay_s:
                time.sleep(state.delay_s)
            if state.fail_every and n % state.fail_every == 0:
                self._send(503, {"error": "queue_full"})
            elif self.path.startswith("/v2/models/"):
                self._send(200, {"outputs": [{"name": "label", "data": ["non-hate"]}]})
            elif "texts" in body:
                self._send(200, {"predictions": [{"label": "non-hate"}] * len(body["texts"])})  # type: ignore[arg-type]
            else:
                self._send(200, {"label": "non-hate"})

    return Handler


@pytest.fixture
def tiny() -> Iterator[TinyServer]:
    state = TinyServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def invoke(*args: str):
    return runner.invoke(app, ["loadtest", *args])


def test_closed_loop_json_report_and_png(tiny: TinyServer, isolated: Path):
    out = invoke("--url", tiny.url, *SHORT, "--slo", "p99<5s,error_rate<1%", "--json")
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    client = report["client"]
    assert report["load"]["mode"] == "closed" and report["stopped_by"] == "duration"
    assert 1.9 < report["window_s"] < 2.5
    assert client["requests"] > 20 and client["failures"] == 0 and client["error_rate"] == 0
    assert client["throughput_rps"] == pytest.approx(client["requests"] / report["window_s"], rel=0.01)
    assert set(client["latency_ms"]) == {"mean", "min", "p50", "p90", "p95", "p99", "max"}
    lat = client["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert client["sent_including_warmup"] > client["requests"]  # the warm-up is excluded
    assert report["slo"]["passed"] and report["slo_failures"] == []
    assert report["server"] is None  # not an hsctl server: no /metrics figures
    assert [row["t"] for row in report["timeline"]] == [0, 1]
    folder = Path(report["output_dir"])
    assert folder.parent == Path("artifacts/reports/loadtest")  # a timestamped folder per run
    assert (folder.parent / "LATEST").read_text().strip() == folder.name
    assert json.loads((folder / "loadtest.json").read_text())["client"] == client
    assert (folder / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert tiny.bodies[0].keys() == {"text"}


def test_slo_miss_exits_3_after_printing(tiny: TinyServer):
    tiny.delay_s = 0.02
    out = invoke("--url", tiny.url, *SHORT, "--slo", "p50<1ms,max<10s")
    assert out.exit_code == 3
    # Progress lines come first on stderr (not a terminal here); the error is the last line.
    assert (
        out.stderr.strip().splitlines()[-1].startswith("error: SLO missed: p50 ") and "objective p50<1ms" in out.stderr
    )
    assert "max" not in out.stderr.split("SLO missed:")[1]  # only the missed objective is named
    assert "MISSED" in out.stdout and "latency p99 ms" in out.stdout and "wrote" in out.stdout


def test_open_loop_counts_errors_by_status(tiny: TinyServer):
    tiny.fail_every = 4
    out = invoke("--url", tiny.url, *SHORT, "--rate", "40", "--slo", "error_rate<1%", "--json")
    assert out.exit_code == 3, out.stderr
    report = json.loads(out.stdout)
    client = report["client"]
    assert report["load"]["mode"] == "open" and report["load"]["target_rate_rps"] == 40
    assert client["throughput_rps"] == pytest.approx(40, rel=0.15)
    assert client["dropped_arrivals"] <= 2  # 4 users are plenty for 40 req/s at a few ms each
    assert client["error_rate"] == pytest.approx(0.25, abs=0.05)
    [error] = report["errors"]
    assert (error["status"], error["kind"]) == (503, "http") and "queue_full" in error["example"]
    assert error["count"] == client["failures"]
    assert "error_rate" in out.stderr


def test_v2_batched_with_worker_processes(tiny: TinyServer):
    out = invoke("--url", tiny.url, *SHORT, "--endpoint", "v2", "--batch", "3", "--workers", "2", "--json")
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["load"]["workers"] == 2 and report["target"]["path"] == "/v2/models/hsctl/infer"
    assert report["client"]["requests"] > 10 and report["client"]["failures"] == 0
    assert report["client"]["texts_per_s"] == pytest.approx(3 * report["client"]["success_rps"], rel=0.01)
    tensor = tiny.bodies[0]["inputs"][0]  # type: ignore[index]
    assert tensor["datatype"] == "BYTES" and tensor["shape"] == [3]


def test_max_requests_bounds_the_run(tiny: TinyServer):
    started = time.monotonic()
    out = invoke("--url", tiny.url, "--duration", "30s", "--warmup", "0s", "--max-requests", "40", "--json")
    assert out.exit_code == 0, out.stderr
    assert time.monotonic() - started < 15
    report = json.loads(out.stdout)
    assert report["stopped_by"] == "max_requests" and report["client"]["sent_including_warmup"] == 40
    assert tiny.posts == 40 and report["client"]["requests"] == 40
    assert any("--max-requests 40" in w for w in report["warnings"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "localhost:8000", "http://:80", None])
def test_bad_url_exits_5_in_one_line(url: str | None):
    target = url or f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    out = invoke("--url", target, "--duration", "1s")
    assert out.exit_code == 5
    assert time.monotonic() - started < 5
    lines = out.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in out.stderr
    assert ("refused" if url is None else "bad URL") in errors[0]
    if url is not None:  # a malformed URL is refused before anything else is printed
        assert len(lines) == 1


def test_server_never_ready_exits_5_without_load(tiny: TinyServer):
    tiny.ready = False
    out = invoke("--url", tiny.url, "--ready-timeout", "1s", "--duration", "1s")
    assert out.exit_code == 5
    assert "did not become ready within 1s" in out.stderr and "answered 503" in out.stderr
    assert tiny.posts == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spawn-server", "--url", "http://127.0.0.1:1"], "exclude each other"),
        (["--onnx"], "add --spawn-server"),
        (["--slo", "p99<=fast"], "loadtest.slo"),
        (["--duration", "soon"], "loadtest.duration_s"),
        (["--workers", "3", "--users", "2"], "cannot be shared"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str, tiny: TinyServer):
    if "--url" not in args and "--spawn-server" not in args:
        args = ["--url", tiny.url, *args]
    out = invoke(*args)
    assert out.exit_code == 2, out.stderr
    assert message in out.stderr
    assert tiny.posts == 0


def test_hsctl_process_stays_free_of_gevent_and_locust(tiny: TinyServer, tmp_path: Path):
    code = (
        "import sys\n"
        "from hsctl.cli.main import app\n"
        f"args = ['loadtest', '--url', {tiny.url!r}, '--duration', '1s', '--warmup', '0s', '-u', '2', "
        f"'-o', {str(tmp_path / 'o')!r}]\n"
        "try:\n    app(args, prog_name='hsctl')\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('LEAKED=' + ','.join(m for m in ('gevent', 'locust', 'zmq') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HSCTL_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LEAKED="
    assert (tmp_path / "o" / "loadtest.json").is_file()


def test_remote_worker_form(tiny: TinyServer, monkeypatch: pytest.MonkeyPatch):
    port = _closed_port()
    monkeypatch.setenv("HSCTL_LOADTEST__WORKER_TIMEOUT_S", "1s")
    missing = invoke("--url", tiny.url, *SHORT, "--expect-workers", "1", "--master-port", str(port))
    assert missing.exit_code == 5
    assert "0 of 1 load-test workers connected to the master on 127.0.0.1:" in missing.stderr
    assert tiny.posts == 0
    # The documented form for another machine, here on loopback.
    monkeypatch.setenv("HSCTL_LOADTEST__WORKER_TIMEOUT_S", "30s")
    command = [sys.executable, "-m", "hsctl.loadtest.runner", "worker", "--master-host", "127.0.0.1"]
    worker = subprocess.Popen([*command, "--master-port", str(port)], stdout=subprocess.DEVNULL)
    try:
        out = invoke("--url", tiny.url, *SHORT, "--expect-workers", "1", "--master-port", str(port), "--json")
        assert out.exit_code == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["load"]["workers"] == 1 and report["client"]["requests"] > 10
        assert worker.wait(timeout=20) == 0  # the worker leaves when the master ends the test
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
