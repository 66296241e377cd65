"""The Locust side of ``hsctl loadtest``: runs in its own processes, so gevent patches only them.

``hsctl loadtest`` starts ``python -m hsctl.loadtest.runner run --spec SPEC --out RESULT``:
a Locust ``LocalRunner`` (one process), or a ``MasterRunner`` plus ``--workers N``
local worker processes. Workers on other machines join a master with::

    python -m hsctl.loadtest.runner worker --master-host MASTER [--master-port 5557]

They receive the target URL, the request bodies and their share of the users,
rate and request budget from the master; they need nothing else.
"""

# ruff: noqa: E402  (gevent must patch the standard library before anything imports it)
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import json
import logging
import math
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import FastHttpUser, constant, task
from locust import __version__ as locust_version
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from hsctl.loadtest.pacing import ArrivalSchedule
from hsctl.loadtest.stats import Recorder, classify

DEFAULT_MASTER_PORT = 5557


class Driver:
    """One process's share of the test: bodies, request budget, open-loop schedule and recorder."""

    def __init__(self, spec: dict[str, Any], *, budget: int, rate: float | None, seed: int) -> None:
        self.bodies = [body.encode() for body in spec["bodies"]]
        self.path: str = spec["path"]
        self.name: str = spec["name"]
        self.headers: dict[str, str] = spec["headers"]
        self.expect: bytes = spec["expect"].encode()
        self.budget = budget
        self.sent = 0
        self.in_flight = 0
        self.rng = random.Random(seed)
        self.schedule = ArrivalSchedule(rate) if rate else None
        self.measure_start = math.inf
        self.measure_end = math.inf
        self.recorder = Recorder()
        self.done = Event()
        self.cpu_start = 0.0
        self.cpu_percent: float | None = None  # this process's CPU use over the measured window

    def begin(self, duration_s: float) -> None:
        """Start the measured window now (everything before was warm-up)."""
        self.recorder = Recorder()
        self.measure_start = time.time()
        self.measure_end = self.measure_start + duration_s
        self.cpu_start = time.process_time()

    def end(self) -> None:
        """Close the measured window now (if it is still open)."""
        if math.isinf(self.measure_start):
            return
        now = time.time()
        if now < self.measure_end:
            self.measure_end = now
        if self.cpu_percent is None:
            elapsed = self.measure_end - self.measure_start
            used = time.process_time() - self.cpu_start
            self.cpu_percent = round(100 * used / elapsed, 1) if elapsed > 0 else None

    def take(self) -> bool:
        """Claim one request of the budget; False once it is spent."""
        if self.sent >= self.budget:
            return False
        self.sent += 1
        self.in_flight += 1
        return True

    def release(self) -> None:
        """A claimed request finished (or was abandoned)."""
        self.in_flight -= 1
        if self.sent >= self.budget and self.in_flight == 0:
            self.done.set()

    def next_arrival(self) -> float | None:
        """Open loop: when the next request is due (arrivals no free user could start in time are dropped)."""
        if self.schedule is None:
            return None
        due, dropped = self.schedule.next(time.time(), (self.measure_start, self.measure_end))
        self.recorder.dropped_arrivals += dropped
        return due

    def record(self, started: float, ms: float, status: int, kind: str | None, detail: str, size: int) -> None:
        """Keep a request that started and ended inside the measured window."""
        end = started + ms / 1000
        if started < self.measure_start or end > self.measure_end:
            return
        self.recorder.record(end - self.measure_start, ms, status, kind, detail, size)


DRIVER: Driver | None = None


def _driver() -> Driver:
    if DRIVER is None:  # a worker spawned before the master sent the spec: cannot happen in order
        raise StopUser()
    return DRIVER


class HsctlUser(FastHttpUser):
    """POSTs prepared bodies to one path of the target, back to back (closed loop) or on schedule (open loop)."""

    wait_time = constant(0)
    max_retries = 0
    concurrency = 1  # one greenlet per user: one connection is all it uses
    cursor = 0

    def on_start(self) -> None:
        driver = _driver()
        self.cursor = driver.rng.randrange(len(driver.bodies))

    @task
    def post(self) -> None:
        driver = _driver()
        if not driver.take():
            raise StopUser()
        try:
            due = driver.next_arrival()
            if due is not None and due > time.time():
                gevent.sleep(due - time.time())
            body = driver.bodies[self.cursor]
            self.cursor = (self.cursor + 1) % len(driver.bodies)
            started = time.time()
            with self.client.request(
                "POST",
                driver.path,
                name=driver.name,
                data=body,
                headers=driver.headers,
                catch_response=True,
                allow_redirects=False,
            ) as resp:
                status = int(resp.status_code or 0)
                content = resp.content or b""
                kind, detail = classify(status, resp.request_meta["exception"], content, driver.expect)
                if kind is None:
                    resp.success()
                else:
                    resp.failure(f"{kind}: {detail}")
                ms = float(resp.request_meta["response_time"])
            driver.record(started, ms, status, kind, detail, len(content))
        finally:
            driver.release()


def _configure_user(spec: dict[str, Any]) -> None:
    HsctlUser.host = spec["url"]
    HsctlUser.network_timeout = float(spec["timeout_s"])
    HsctlUser.connection_timeout = float(spec["timeout_s"])


def scrape(spec: dict[str, Any]) -> str | None:
    """The server's /metrics text, or None when it has none (not an hsctl server, or it is protected)."""
    if not spec.get("scrape_metrics", True):
        return None
    request = urllib.request.Request(spec["url"] + "/metrics", headers=spec["headers"])
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            text: str = response.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    return text if "hsctl_requests" in text else None


def _wait(until: float, done: Any) -> bool:
    """Sleep until a time or until ``done()`` is true; returns whether it ended by ``done``."""
    while time.time() < until:
        if done():
            return True
        gevent.sleep(min(0.05, max(0.0, until - time.time())))
    return bool(done())


def _phases(spec: dict[str, Any], start: Any, begin: Any, finished: Any) -> dict[str, Any]:
    """Start the users, warm up, then the measured window; returns timing facts and the metrics snapshots."""
    warmup = float(spec["warmup_s"])
    if warmup > 0:
        start()
        if _wait(time.time() + warmup, finished):
            return {"stopped_by": "max_requests", "measured": False, "window_s": 0.0}
        before = scrape(spec)
        begin()
    else:  # no warm-up: measure from the very first request
        before = scrape(spec)
        begin()
        start()
    started = time.time()
    by_budget = _wait(started + float(spec["duration_s"]), finished)
    window = time.time() - started
    return {
        "stopped_by": "max_requests" if by_budget else "duration",
        "measured": True,
        "window_s": window,
        "metrics_before": before,
        "metrics_after": scrape(spec),
    }


def run_local(spec: dict[str, Any]) -> dict[str, Any]:
    """All users in this process (Locust's LocalRunner)."""
    global DRIVER
    DRIVER = driver = Driver(spec, budget=int(spec["max_requests"]), rate=spec["rate"], seed=int(spec["seed"]))
    _configure_user(spec)
    env = Environment(user_classes=[HsctlUser], host=spec["url"])
    runner = env.create_local_runner()
    assert isinstance(runner, LocalRunner)
    facts = _phases(
        spec,
        lambda: runner.start(int(spec["users"]), spawn_rate=float(spec["users"])),
        lambda: driver.begin(float(spec["duration_s"])),
        driver.done.is_set,
    )
    driver.end()
    runner.quit()
    recorder = driver.recorder if facts["measured"] else Recorder()
    if facts["stopped_by"] == "max_requests" and facts["measured"]:
        facts["window_s"] = min(facts["window_s"], recorder.last_end_s) or facts["window_s"]
    return {
        **facts,
        "recorder": recorder.to_dict(),
        "sent": driver.sent,
        "workers": 0,
        "cpu_warning": bool(runner.cpu_warning_emitted),
        "cpu_percent": [driver.cpu_percent] if driver.cpu_percent is not None else [],
    }


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def run_master(spec: dict[str, Any]) -> dict[str, Any]:
    """A MasterRunner with ``local_workers`` worker processes here and ``remote_workers`` joining from elsewhere."""
    local, remote = int(spec["local_workers"]), int(spec["remote_workers"])
    total = local + remote
    bind = spec["master_bind"] if remote else "127.0.0.1"
    port = int(spec["master_port"]) if remote else _free_port("127.0.0.1")
    env = Environment(user_classes=[HsctlUser], host=spec["url"])
    runner = env.create_master_runner(master_bind_host=bind, master_bind_port=port)
    assert isinstance(runner, MasterRunner)
    shares: dict[str, int] = {}
    done: set[str] = set()
    results: dict[str, dict[str, Any]] = {}
    budget, rate = int(spec["max_requests"]), spec["rate"]

    def on_hello(environment: Environment, msg: Any, **_: Any) -> None:
        # Workers ask once their handlers are registered: a spec sent on connect could arrive too early.
        index = shares.setdefault(msg.node_id, len(shares))
        share = budget // total + (1 if index < budget % total else 0)
        job = {"spec": spec, "budget": share, "rate": rate / total if rate else None, "seed": int(spec["seed"]) + index}
        runner.send_message("hsctl_spec", job, client_id=msg.node_id)

    runner.register_message("hsctl_hello", on_hello)
    runner.register_message("hsctl_done", lambda environment, msg, **_: done.add(msg.node_id))
    runner.register_message("hsctl_result", lambda environment, msg, **_: results.__setitem__(msg.node_id, msg.data))
    connect = "127.0.0.1" if bind in ("*", "0.0.0.0", "::", "localhost") else bind
    command = [sys.executable, "-m", "hsctl.loadtest.runner", "worker", "--master-host", connect]
    procs = [subprocess.Popen([*command, "--master-port", str(port)], stdout=subprocess.DEVNULL) for _ in range(local)]
    try:
        deadline = time.time() + float(spec["connect_timeout_s"])
        while len(runner.clients.ready) < total or len(shares) < total:
            if time.time() > deadline:
                joined = min(len(shares), len(runner.clients.ready))
                raise ConnectionError(
                    f"only {joined} of {total} load-test workers connected to the master on "
                    f"{bind}:{port} within {spec['connect_timeout_s']:g}s"
                )
            gevent.sleep(0.05)
        facts = _phases(
            spec,
            lambda: runner.start(int(spec["users"]), spawn_rate=float(spec["users"])),
            lambda: runner.send_message("hsctl_measure", {"duration_s": float(spec["duration_s"])}),
            lambda: len(done) >= total,
        )
        runner.send_message("hsctl_flush", {"measured": facts["measured"]})
        deadline = time.time() + 15
        while len(results) < total and time.time() < deadline:
            gevent.sleep(0.02)
    finally:
        runner.quit()  # tells every connected worker to exit
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    recorder = Recorder()
    for result in results.values():
        if facts["measured"]:
            recorder.merge_dict(result["recorder"])
    if facts["stopped_by"] == "max_requests" and facts["measured"]:
        facts["window_s"] = min(facts["window_s"], recorder.last_end_s) or facts["window_s"]
    warnings = [] if len(results) == total else [f"only {len(results)} of {total} workers sent their results"]
    return {
        **facts,
        "recorder": recorder.to_dict(),
        "sent": sum(int(r["sent"]) for r in results.values()),
        "workers": total,
        "cpu_warning": any(r["cpu_warning"] for r in results.values()),
        "cpu_percent": [r["cpu_percent"] for r in results.values() if r.get("cpu_percent") is not None],
        "warnings": warnings,
    }


def run_worker(master_host: str, master_port: int) -> None:
    """A worker: waits for the master's spec, runs its share of users, sends its recorder when told."""
    env = Environment(user_classes=[HsctlUser])
    runner = env.create_worker_runner(master_host, master_port)
    assert isinstance(runner, WorkerRunner)

    def on_spec(environment: Environment, msg: Any, **_: Any) -> None:
        global DRIVER
        job = msg.data
        _configure_user(job["spec"])
        DRIVER = Driver(job["spec"], budget=int(job["budget"]), rate=job["rate"], seed=int(job["seed"]))
        driver = DRIVER

        def report_done() -> None:
            driver.done.wait()
            runner.send_message("hsctl_done")

        gevent.spawn(report_done)

    def on_measure(environment: Environment, msg: Any, **_: Any) -> None:
        if DRIVER is not None:
            DRIVER.begin(float(msg.data["duration_s"]))

    def on_flush(environment: Environment, msg: Any, **_: Any) -> None:
        driver = DRIVER
        if driver is None:
            return
        driver.end()
        runner.send_message(
            "hsctl_result",
            {
                "recorder": driver.recorder.to_dict(),
                "sent": driver.sent,
                "cpu_warning": runner.cpu_warning_emitted,
                "cpu_percent": driver.cpu_percent,
            },
        )

    runner.register_message("hsctl_spec", on_spec)
    runner.register_message("hsctl_measure", on_measure)
    runner.register_message("hsctl_flush", on_flush)
    runner.send_message("hsctl_hello")
    runner.greenlet.join()


def _quiet_locust() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for name in ("locust", "locust.runners"):
        logging.getLogger(name).addFilter(
            lambda record: (
                "spawn rate is very high" not in record.getMessage() and "CPU usage above" not in record.getMessage()
            )
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m hsctl.loadtest.runner``."""
    parser = argparse.ArgumentParser(prog="python -m hsctl.loadtest.runner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a load test described by a JSON spec (what hsctl loadtest does)")
    run.add_argument("--spec", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True)
    worker = sub.add_parser("worker", help="join a master started by hsctl loadtest --expect-workers")
    worker.add_argument("--master-host", required=True)
    worker.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT)
    args = parser.parse_args(argv)
    _quiet_locust()
    if args.command == "worker":
        run_worker(args.master_host, args.master_port)
        return 0
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    try:
        distributed = int(spec["local_workers"]) + int(spec["remote_workers"]) > 0
        result = run_master(spec) if distributed else run_local(spec)
    except ConnectionError as exc:
        result = {"error": str(exc), "network": True}
    result["locust_version"] = locust_version
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
