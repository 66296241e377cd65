"""The server under test: URL checks, readiness, ``--spawn-server`` and the server's own /metrics figures."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hsctl.errors import ServerUnreachableError as ServerUnreachableError  # re-exported

if TYPE_CHECKING:
    from hsctl.settings import Settings

READY_PATH = "/v2/health/ready"


def check_url(url: str) -> str:
    """The base URL without a trailing slash; anything but an absolute http(s) URL is refused."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ServerUnreachableError(f"bad URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerUnreachableError(
            f"bad URL {url!r}: give an absolute http:// or https:// URL such as http://127.0.0.1:8000"
        )
    if parts.query or parts.fragment:
        raise ServerUnreachableError(f"bad URL {url!r}: give the server's base URL, without a query or fragment")
    if port == 0:
        raise ServerUnreachableError(f"bad URL {url!r}: port 0")
    return url.strip().rstrip("/")


def _get(url: str, headers: dict[str, str], timeout: float) -> int:
    """Status code of a GET; connection problems raise OSError."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise reason if isinstance(reason, OSError) else OSError(str(reason)) from exc


def _reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    return str(exc.strerror or exc)


def wait_ready(
    url: str,
    *,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    process: subprocess.Popen[bytes] | None = None,
    stderr_file: Path | None = None,
) -> None:
    """Wait until ``URL/v2/health/ready`` answers 200.

    A server that is not an hsctl server (404 there) counts as ready once it answers.
    Without ``process`` (a server started elsewhere), a refused or failed connection is
    an immediate error; with it, the server is polled until ``timeout_s`` or until it exits.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        if process is not None and process.poll() is not None:
            detail = last_line(stderr_file)
            raise ServerUnreachableError(
                f"hsctl serve exited with code {process.returncode} before it was ready"
                + (f": {detail}" if detail else "")
            )
        try:
            status = _get(url + READY_PATH, headers or {}, timeout=max(0.1, min(2.0, deadline - time.monotonic())))
        except OSError as exc:
            last = _reason(exc)
            if process is None and not isinstance(exc, TimeoutError | socket.timeout):
                raise ServerUnreachableError(f"cannot reach {url}: {last}") from None
        else:
            if status in (200, 404):
                return
            if status in (401, 403):
                raise ServerUnreachableError(
                    f"{url}{READY_PATH} answered {status}: set the API key (HSCTL_SERVE__API_KEY) to test this server"
                )
            last = f"{READY_PATH} answered {status}"
        if time.monotonic() >= deadline:
            raise ServerUnreachableError(f"{url} did not become ready within {timeout_s:g}s ({last})")
        time.sleep(0.1)


def last_line(path: Path | None) -> str:
    """The last non-empty line of a log file ('' when there is none)."""
    if path is None or not path.is_file():
        return ""
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on a loopback address right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class SpawnedServer:
    """``hsctl serve`` on a free loopback port, for ``loadtest --spawn-server``; a context manager.

    It runs with ``settings`` (so ``--config``, ``--env-file`` and ``HSCTL_*`` reach it
    exactly as they reached this process), handed over through the environment by
    :mod:`hsctl.serve.launch`. The prediction log is switched off (synthetic load must
    not reach drift detection); the server stops gracefully, then hard after the
    server's drain time (on Windows too).
    """

    def __init__(self, settings: Settings, host: str = "127.0.0.1") -> None:
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        serve = settings.serve.model_copy(update={"host": host, "port": self.port, "log_predictions": False})
        self.settings = settings.model_copy(update={"serve": serve})
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self._log: IO[bytes] | None = None
        self.log_path: Path | None = None
        self._settings_path: Path | None = None

    def start(self, ready_timeout_s: float, headers: dict[str, str] | None = None) -> None:
        """Start the server and wait until it is ready (else stop it and raise exit 5)."""
        from hsctl.core.process import group_kwargs
        from hsctl.serve.launch import child_command, child_env, prepare

        prepare(self.settings, check_listen=False)  # a bad model folder is a one-line error here, not a log line
        handle, name = tempfile.mkstemp(prefix="hsctl-loadtest-serve-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop)
        env = {**os.environ, **child_env(self.settings)}  # settings (secrets too) through the environment only
        self.process = subprocess.Popen(
            child_command(), stdout=subprocess.DEVNULL, stderr=self._log, env=env, **group_kwargs()
        )
        try:
            wait_ready(
                self.url, timeout_s=ready_timeout_s, headers=headers, process=self.process, stderr_file=self.log_path
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Graceful stop, hard stop if the drain hangs; removes the log and settings files."""
        from hsctl.core.process import stop_process
        from hsctl.serve.launch import GRACEFUL_SHUTDOWN_S

        if self.process is not None:
            self.exit_code = stop_process(self.process, GRACEFUL_SHUTDOWN_S)
        if self._log is not None:
            self._log.close()
            self._log = None
        for attr in ("log_path", "_settings_path"):
            path = getattr(self, attr)
            if path is not None:
                path.unlink(missing_ok=True)
                setattr(self, attr, None)

    def __enter__(self) -> SpawnedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the server's own figures, from two /metrics snapshots ---------------------------------------------------


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out: list[tuple[str, dict[str, str], float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.append((sample.name, dict(sample.labels), float(sample.value)))
    return out


def _delta(before: list[tuple[str, dict[str, str], float]], after: list[tuple[str, dict[str, str], float]]) -> Any:
    def key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted(labels.items()))

    base = {key(n, lab): v for n, lab, v in before}
    return [(n, lab, v - base.get(key(n, lab), 0.0)) for n, lab, v in after]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' estimate: linear interpolation in the cumulative ``(le, count)`` buckets."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # in the +Inf bucket: the largest finite bound, as Prometheus does
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def server_figures(before: str | None, after: str | None, endpoint: str, window_s: float) -> dict[str, Any] | None:
    """What the server itself counted during the measured window (None without hsctl metrics).

    Latency percentiles are estimated from the server's histogram buckets (as
    Prometheus' ``histogram_quantile`` does), so they are coarse: bucket edges are
    1, 2.5, 5, 10, 25, 50, 100, 250 ms and so on.
    """
    if not after:
        return None
    samples = _delta(_samples(before), _samples(after)) if before else _samples(after)
    by_status: dict[str, int] = {}
    duration_buckets: list[tuple[float, float]] = []
    dur_sum = dur_count = batch_sum = batch_count = inf_sum = inf_count = 0.0
    info: dict[str, str] = {}
    for name, labels, value in samples:
        if name == "hsctl_requests_total" and labels.get("endpoint") == endpoint:
            by_status[labels["status"]] = by_status.get(labels["status"], 0) + round(value)
        elif name == "hsctl_request_duration_seconds_bucket" and labels.get("endpoint") == endpoint:
            duration_buckets.append((float(labels["le"]), value))
        elif name == "hsctl_request_duration_seconds_sum" and labels.get("endpoint") == endpoint:
            dur_sum += value
        elif name == "hsctl_request_duration_seconds_count" and labels.get("endpoint") == endpoint:
            dur_count += value
        elif name == "hsctl_batch_size_sum":
            batch_sum += value
        elif name == "hsctl_batch_size_count":
            batch_count += value
        elif name == "hsctl_inference_duration_seconds_sum":
            inf_sum += value
        elif name == "hsctl_inference_duration_seconds_count":
            inf_count += value
        elif name == "hsctl_model_info":
            info = {k: labels[k] for k in ("version", "backend") if k in labels}
    requests = sum(by_status.values())

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1000

    return {
        "endpoint": endpoint,
        "requests": requests,
        "requests_by_status": dict(sorted(by_status.items())),
        "errors": sum(n for status, n in by_status.items() if not status.startswith("2")),
        "throughput_rps": requests / window_s if window_s > 0 else None,
        "latency_ms": {
            "mean": ms(dur_sum / dur_count) if dur_count else None,
            "p50": ms(histogram_quantile(0.5, duration_buckets)),
            "p90": ms(histogram_quantile(0.9, duration_buckets)),
            "p95": ms(histogram_quantile(0.95, duration_buckets)),
            "p99": ms(histogram_quantile(0.99, duration_buckets)),
        },
        "batch_size_mean": batch_sum / batch_count if batch_count else None,
        "batches": round(batch_count),
        "inference_ms_per_batch": ms(inf_sum / inf_count) if inf_count else None,
        "model": info or None,
    }
