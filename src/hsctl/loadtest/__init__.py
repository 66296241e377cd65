"""``loadtest``: measure a running server with Locust and gate CI on latency objectives.

Locust runs in a child process (``python -m hsctl.loadtest.runner``): gevent's
monkey-patching stays out of this process. The child reports a mergeable
:class:`~hsctl.loadtest.stats.Recorder`; this module turns it into the report
(``loadtest.json``), the plot (``loadtest.png``) and the SLO verdict. Library
code only: nothing here prints or exits.

Keep the imports light: the settings model imports submodules of this package.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.__about__ import __version__
from hsctl.core.io import atomic_dir, utc_now, write_json
from hsctl.core.slo import Objective, SloCheck, check_slo, parse_slo
from hsctl.errors import ConfigError, DataError, HsctlError
from hsctl.loadtest.server import (
    ServerUnreachableError,
    SpawnedServer,
    check_url,
    last_line,
    server_figures,
    wait_ready,
)
from hsctl.loadtest.stats import Recorder

if TYPE_CHECKING:
    from hsctl.settings import Settings

__all__ = [
    "LoadtestResult",
    "Objective",
    "ServerUnreachableError",
    "SloCheck",
    "build_bodies",
    "check_slo",
    "parse_slo",
    "run_loadtest",
]

REPORT = "loadtest.json"
PLOT = "loadtest.png"
MAX_BODIES = 5000  # distinct request bodies prepared up front (users cycle through them)
CPU_WARNING_PERCENT = 90.0  # a generator process this busy may be what limits the throughput
GRACE_S = 60.0  # beyond warm-up + duration (+ worker start-up), the generator is stopped


@dataclass
class LoadtestResult:
    """The load-test report (the content of ``loadtest.json``) and the SLO verdict."""

    report: dict[str, Any]
    output_dir: Path
    slo_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the report plus where it was written and the missed objectives."""
        return {**self.report, "output_dir": str(self.output_dir), "slo_failures": self.slo_failures}


def load_texts(source: str, settings: Settings) -> list[str]:
    """Non-empty texts from any source ``fetch`` reads (all splits), or the built-in demo texts."""
    from hsctl.fetch.sources import TEXT, read_source

    data = read_source(source, settings.data, require_label=False)
    texts = [t for frame in data.splits.values() for t in frame[TEXT].tolist() if isinstance(t, str) and t.strip()]
    if not texts:
        raise DataError(f"no texts in {source}")
    return texts


def build_bodies(
    texts: list[str], *, endpoint: str, batch: int, seed: int, limit: int = MAX_BODIES
) -> tuple[list[str], str]:
    """JSON request bodies (texts shuffled, ``batch`` per request) and the key a valid answer contains."""
    order = list(texts)
    random.Random(seed).shuffle(order)
    count = max(1, min(limit, math.ceil(len(order) / batch)))
    bodies: list[str] = []
    for i in range(count):
        chunk = [order[(i * batch + j) % len(order)] for j in range(batch)]
        if endpoint == "v2":
            body: dict[str, Any] = {
                "inputs": [{"name": "text", "shape": [len(chunk)], "datatype": "BYTES", "data": chunk}]
            }
        elif batch == 1:
            body = {"text": chunk[0]}
        else:
            body = {"texts": chunk}
        bodies.append(json.dumps(body, ensure_ascii=False))
    expect = '"outputs"' if endpoint == "v2" else '"label"' if batch == 1 else '"predictions"'
    return bodies, expect


def _run_generator(spec: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """Run the Locust child process on a spec; its stderr is kept for error messages."""
    with tempfile.TemporaryDirectory(prefix="hsctl-loadtest-") as tmp:
        spec_path, out_path, log_path = Path(tmp, "spec.json"), Path(tmp, "result.json"), Path(tmp, "locust.log")
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        from hsctl.core.process import group_kwargs

        command = [sys.executable, "-m", "hsctl.loadtest.runner", "run", "--spec", str(spec_path)]
        with open(log_path, "wb") as log:
            # Own session: Ctrl-C reaches only hsctl, which then stops the whole generator group.
            proc = subprocess.Popen(
                [*command, "--out", str(out_path)], stdout=subprocess.DEVNULL, stderr=log, **group_kwargs()
            )
            try:
                proc.wait(timeout=limit_s)
            except BaseException as exc:
                _kill_group(proc)
                if isinstance(exc, subprocess.TimeoutExpired):
                    raise HsctlError(
                        f"the load generator did not finish within {limit_s:.0f}s and was stopped"
                    ) from None
                raise
        if proc.returncode != 0 or not out_path.is_file():
            detail = last_line(log_path) or f"exit code {proc.returncode}"
            raise HsctlError(f"the load generator failed: {detail}")
        result: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
        result["log_errors"] = [
            line.strip()
            for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.startswith(("ERROR", "CRITICAL"))
        ][:5]
    if "error" in result:
        if result.get("network"):
            raise ServerUnreachableError(result["error"])
        raise HsctlError(result["error"])
    return result


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    from hsctl.core.process import stop_process

    stop_process(proc, 5)


def run_loadtest(
    settings: Settings,
    *,
    spawn_server: bool = False,
    model: str | None = None,
    onnx: bool = False,
    output_dir: Path | None = None,
) -> LoadtestResult:
    """Run one load test as ``settings.loadtest`` describes and write ``loadtest.json`` and ``loadtest.png``.

    With ``spawn_server``, ``hsctl serve`` is started with these settings (``model`` and
    ``onnx`` override ``serve.model`` and ``serve.backend``) on a free loopback port,
    tested and stopped. Raises :class:`ServerUnreachableError` (exit 5) for a bad URL or a server that
    never becomes ready, before any load is sent.
    """
    cfg = settings.loadtest
    objectives = parse_slo(cfg.slo) if cfg.slo else []
    total_workers = cfg.workers + cfg.expect_workers
    if total_workers and cfg.users < total_workers:
        raise ConfigError(f"{cfg.users} users cannot be shared by {total_workers} workers: give at least one each")
    texts = load_texts(cfg.texts, settings)
    bodies, expect = build_bodies(texts, endpoint=cfg.endpoint, batch=cfg.batch, seed=cfg.seed)
    template = f"/v2/models/{settings.serve.model_name}/infer"
    path = template if cfg.endpoint == "v2" else "/predict"
    label = "/v2/models/{model_name}/infer" if cfg.endpoint == "v2" else "/predict"
    headers = {"Content-Type": "application/json"}
    if settings.serve.api_key is not None:
        headers["X-API-Key"] = settings.serve.api_key.get_secret_value()

    server: SpawnedServer | None = None
    if spawn_server:
        serve = settings.serve.model_copy(
            update={k: v for k, v in {"model": model, "backend": "onnx-auto" if onnx else None}.items() if v}
        )
        server = SpawnedServer(settings.model_copy(update={"serve": serve}))
        server.start(cfg.ready_timeout_s, headers)
        url = server.url
    else:
        url = check_url(cfg.url)
        wait_ready(url, timeout_s=cfg.ready_timeout_s, headers=headers)

    spec = {
        "url": url,
        "path": path,
        "name": label,
        "bodies": bodies,
        "headers": headers,
        "expect": expect,
        "users": cfg.users,
        "rate": cfg.rate,
        "warmup_s": cfg.warmup_s,
        "duration_s": cfg.duration_s,
        "max_requests": cfg.max_requests,
        "timeout_s": cfg.timeout_s,
        "local_workers": cfg.workers,
        "remote_workers": cfg.expect_workers,
        "master_bind": cfg.master_bind,
        "master_port": cfg.master_port,
        "connect_timeout_s": cfg.worker_timeout_s,
        "scrape_metrics": True,
        "seed": cfg.seed,
    }
    limit = cfg.warmup_s + cfg.duration_s + cfg.timeout_s + GRACE_S
    limit += cfg.worker_timeout_s if total_workers else 0
    started = time.monotonic()
    try:
        raw = _run_generator(spec, limit)
    finally:
        if server is not None:
            server.stop()
    elapsed = time.monotonic() - started
    report = _report(settings, raw, url=url, path=path, label=label, n_texts=len(texts), spawned=server, model=model)
    report["elapsed_s"] = round(elapsed, 3)
    checks = check_slo(objectives, report["client"]["latency_ms"], report["client"]["error_rate"])
    report["slo"] = (
        {"objectives": [c.to_dict() for c in checks], "passed": all(c.passed for c in checks)} if checks else None
    )
    failures = [c.describe() for c in checks if not c.passed]

    layout = settings.paths.layout
    out = output_dir or layout.new_report_dir("loadtest")  # history: one folder per run
    with atomic_dir(out) as tmp:
        from hsctl.loadtest.report import write_plot

        title = f"{url}{path}: " + (
            f"open loop, {cfg.rate:g} req/s target" if cfg.rate else f"closed loop, {cfg.users} users"
        )
        write_plot(report["timeline"], tmp / PLOT, title)
        write_json(tmp / REPORT, report)
    if output_dir is None:
        layout.point_latest("loadtest", out)
    return LoadtestResult(report=report, output_dir=out, slo_failures=failures)


def _report(
    settings: Settings,
    raw: dict[str, Any],
    *,
    url: str,
    path: str,
    label: str,
    n_texts: int,
    spawned: SpawnedServer | None,
    model: str | None,
) -> dict[str, Any]:
    cfg = settings.loadtest
    recorder = Recorder.from_dict(raw["recorder"])
    window = float(raw["window_s"])
    requests, failures = recorder.requests, recorder.failures
    successes = requests - failures
    latency = {k: (None if v is None else round(v, 3)) for k, v in recorder.latency.summary().items()}
    errors = sorted(recorder.errors.values(), key=lambda e: (-e["count"], e["kind"], e["status"] or 0))

    def per_s(n: float) -> float | None:
        return round(n / window, 3) if window > 0 else None

    throughput = per_s(requests)
    cpu = [float(c) for c in raw.get("cpu_percent", [])]
    client: dict[str, Any] = {
        "requests": requests,
        "successes": successes,
        "failures": failures,
        "error_rate": failures / requests if requests else None,
        "throughput_rps": throughput,
        "success_rps": per_s(successes),
        "texts_per_s": per_s(successes * cfg.batch),
        "latency_ms": latency,
        "bytes_received": recorder.bytes,
        "dropped_arrivals": recorder.dropped_arrivals if cfg.rate else None,
        "sent_including_warmup": int(raw["sent"]),
        "generator_cpu_percent": max(cpu) if cpu else None,
    }
    warnings: list[str] = list(raw.get("warnings", [])) + list(raw.get("log_errors", []))
    if not raw["measured"]:
        warnings.append(f"--max-requests {cfg.max_requests} was spent during the warm-up: nothing was measured")
    elif raw["stopped_by"] == "max_requests":
        warnings.append(f"stopped after --max-requests {cfg.max_requests} requests, {window:.1f}s into the window")
    if raw.get("cpu_warning") or (cpu and max(cpu) >= CPU_WARNING_PERCENT):
        busiest = f" ({max(cpu):.0f}% of a core)" if cpu else ""
        warnings.append(
            f"the load generator was CPU-bound{busiest}: the client may be the bottleneck; "
            "add --workers or machines (benchmarks/loadgen.py measures this machine's ceiling)"
        )
    if cfg.rate and throughput is not None and throughput < 0.95 * cfg.rate:
        warnings.append(
            f"achieved {throughput:.1f} of the {cfg.rate:g} req/s target; "
            f"{recorder.dropped_arrivals} arrivals were dropped because all {cfg.users} users were busy "
            "(the server is saturated, or give more --users)"
        )
    server = server_figures(raw.get("metrics_before"), raw.get("metrics_after"), label, window)
    return {
        "created": utc_now(),
        "hsctl_version": __version__,
        "locust_version": raw.get("locust_version"),
        "target": {
            "url": url,
            "path": path,
            "endpoint": cfg.endpoint,
            "batch": cfg.batch,
            "spawned_server": spawned is not None,
            "spawned_model": model if spawned is not None else None,
        },
        "load": {
            "mode": "open" if cfg.rate else "closed",
            "users": cfg.users,
            "target_rate_rps": cfg.rate,
            "warmup_s": cfg.warmup_s,
            "duration_s": cfg.duration_s,
            "max_requests": cfg.max_requests,
            "timeout_s": cfg.timeout_s,
            "workers": int(raw.get("workers", 0)),
            "texts": cfg.texts,
            "n_texts": n_texts,
        },
        "stopped_by": raw["stopped_by"],
        "window_s": round(window, 3),
        "client": client,
        "errors": errors,
        "server": server,
        "server_exit_code": spawned.exit_code if spawned is not None else None,
        "timeline": recorder.timeline_rows(window),
        "warnings": warnings,
        "files": {"report": REPORT, "plot": PLOT},
    }
