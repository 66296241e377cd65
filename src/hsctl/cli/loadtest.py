"""``hsctl loadtest``: load a running server with Locust; ``--slo`` gates CI (exit 3)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from hsctl.cli._common import (
    ArtifactsOpt,
    JsonOpt,
    emit_json,
    err_console,
    handle_errors,
    load,
    out_console,
    reporter,
)
from hsctl.cli.evaluate import ModelOpt
from hsctl.cli.fetch import TextColOpt

if TYPE_CHECKING:
    from hsctl.loadtest import LoadtestResult


def _opt(flag: str, help_text: str, *aliases: str) -> Any:
    return typer.Option(flag, *aliases, help=help_text, show_default=False)


@handle_errors
def loadtest_cli(
    ctx: typer.Context,
    url: Annotated[str | None, _opt("--url", "Base URL of the server under test (setting loadtest.url).")] = None,
    users: Annotated[
        int | None,
        _opt("--users", "Concurrent users; the user pool with --rate (setting loadtest.users).", "-u"),
    ] = None,
    rate: Annotated[
        float | None,
        _opt("--rate", "Open loop: target requests per second; unset: closed loop (setting loadtest.rate)."),
    ] = None,
    duration: Annotated[
        str | None,
        _opt("--duration", "Measured time, e.g. 30s, 1m, 500ms (setting loadtest.duration_s).", "-d"),
    ] = None,
    warmup: Annotated[
        str | None, _opt("--warmup", "Warm-up before measuring, excluded (setting loadtest.warmup_s).")
    ] = None,
    max_requests: Annotated[
        int | None,
        _opt("--max-requests", "Stop after this many requests, warm-up included (setting loadtest.max_requests)."),
    ] = None,
    endpoint: Annotated[
        str | None, _opt("--endpoint", "predict (/predict) or v2 (/v2/models/NAME/infer) (setting loadtest.endpoint).")
    ] = None,
    batch: Annotated[int | None, _opt("--batch", "Texts per request (setting loadtest.batch).")] = None,
    texts: Annotated[
        str | None, _opt("--texts", "Texts to send: any file fetch reads, or demo (setting loadtest.texts).")
    ] = None,
    text_column: TextColOpt = None,
    timeout: Annotated[
        str | None, _opt("--timeout", "Per-request timeout, e.g. 10s (setting loadtest.timeout_s).")
    ] = None,
    ready_timeout: Annotated[
        str | None,
        _opt("--ready-timeout", "Wait this long for the server to be ready (setting loadtest.ready_timeout_s)."),
    ] = None,
    workers: Annotated[
        int | None, _opt("--workers", "Local Locust worker processes; 0: one process (setting loadtest.workers).", "-w")
    ] = None,
    expect_workers: Annotated[
        int | None,
        _opt("--expect-workers", "Workers on other machines to wait for (setting loadtest.expect_workers)."),
    ] = None,
    master_bind: Annotated[
        str | None,
        _opt("--master-bind", "Address the master listens on for remote workers (setting loadtest.master_bind)."),
    ] = None,
    master_port: Annotated[
        int | None, _opt("--master-port", "Port for remote workers (setting loadtest.master_port).")
    ] = None,
    slo: Annotated[
        str | None,
        _opt("--slo", "Objectives, e.g. 'p99<250ms,error_rate<0.1%'; a miss exits with 3 (setting loadtest.slo)."),
    ] = None,
    spawn_server: Annotated[
        bool,
        typer.Option("--spawn-server", help="Start hsctl serve on a free loopback port, test it, then stop it."),
    ] = False,
    model: ModelOpt = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="With --spawn-server: serve ONNX (int8 if present).")] = False,
    output: Annotated[
        Path | None, _opt("--output", "Report folder (default: new folder under <artifacts>/reports/loadtest).", "-o")
    ] = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Load-test a server with Locust: throughput, latency, errors, SLO gates.

    Closed loop (--users, no think time) or open loop (--rate requests/s from
    a pool of --users); the warm-up is excluded. Writes loadtest.json and
    loadtest.png; a missed --slo objective exits with 3. Only --url is
    targeted; a bad URL or a server that never gets ready exits with 5.
    """
    from hsctl.errors import ConfigError, GateFailedError
    from hsctl.loadtest import run_loadtest

    if spawn_server and url is not None:
        raise ConfigError("--url and --spawn-server exclude each other: --spawn-server tests a server it starts")
    if not spawn_server and (model is not None or onnx):
        raise ConfigError("--model and --onnx choose what --spawn-server serves; add --spawn-server")
    overrides = {
        "paths.artifacts": artifacts,
        "data.text_column": text_column,
        "loadtest.url": url,
        "loadtest.users": users,
        "loadtest.rate": rate,
        "loadtest.duration_s": duration,
        "loadtest.warmup_s": warmup,
        "loadtest.max_requests": max_requests,
        "loadtest.endpoint": endpoint,
        "loadtest.batch": batch,
        "loadtest.texts": texts,
        "loadtest.timeout_s": timeout,
        "loadtest.ready_timeout_s": ready_timeout,
        "loadtest.workers": workers,
        "loadtest.expect_workers": expect_workers,
        "loadtest.master_bind": master_bind,
        "loadtest.master_port": master_port,
        "loadtest.slo": slo,
    }
    settings = load(ctx, overrides).settings
    cfg = settings.loadtest
    if not spawn_server:  # a bad URL is the only line printed, before any progress
        from hsctl.loadtest.server import check_url

        check_url(cfg.url)
    what = "hsctl serve" if spawn_server else cfg.url
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so the generator and a spawned server are stopped too.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        progress = reporter("s")
        progress.log(f"load testing {what} for {cfg.warmup_s:g}s warm-up + {cfg.duration_s:g}s ...")
        with progress.ticking("loadtest", cfg.warmup_s + cfg.duration_s):
            result = run_loadtest(settings, spawn_server=spawn_server, model=model, onnx=onnx, output_dir=output)
    finally:
        signal.signal(signal.SIGTERM, previous)
    report = result.report
    errors = err_console()
    for warning in report["warnings"]:
        errors.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True, markup=True)
    if json_out:
        emit_json(result.to_dict())
    else:
        _print_report(result)
    if result.slo_failures:
        raise GateFailedError("SLO missed: " + "; ".join(result.slo_failures))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _ms(value: float | None, approx: bool = False) -> str:
    if value is None:
        return "-"
    return f"{'~' if approx else ''}{value:.1f}"


def _print_report(result: LoadtestResult) -> None:
    report = result.report
    client, server, load_cfg, target = report["client"], report["server"], report["load"], report["target"]
    mode = (
        f"open loop, {load_cfg['target_rate_rps']:g} req/s target, {load_cfg['users']} users"
        if load_cfg["mode"] == "open"
        else f"closed loop, {load_cfg['users']} users"
    )
    workers = f", {load_cfg['workers']} workers" if load_cfg["workers"] else ""
    console = out_console()
    console.print(
        f"[bold]{target['url']}{target['path']}[/]: {mode}{workers}, {report['window_s']:.1f}s measured "
        f"(+{load_cfg['warmup_s']:g}s warm-up), stopped by {report['stopped_by'].replace('_', '-')}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table()
    table.add_column("metric", style="cyan")
    table.add_column("client", justify="right")
    if server is not None:
        table.add_column("server /metrics", justify="right")

    def row(name: str, mine: str, theirs: str = "-") -> None:
        table.add_row(name, mine, *([theirs] if server is not None else []))

    srv_lat = server["latency_ms"] if server else {}
    row("requests", str(client["requests"]), str(server["requests"]) if server else "-")
    row(
        "throughput req/s",
        _ms(client["throughput_rps"]),
        _ms(server["throughput_rps"]) if server else "-",
    )
    if target["batch"] > 1:
        row("texts/s", _ms(client["texts_per_s"]))
    if load_cfg["mode"] == "open":
        row("dropped arrivals", str(client["dropped_arrivals"]))
    rate = "-" if client["error_rate"] is None else f"{client['error_rate']:.2%}"
    row("errors", f"{client['failures']} ({rate})", str(server["errors"]) if server else "-")
    lat = client["latency_ms"]
    row("latency mean ms", _ms(lat["mean"]), _ms(srv_lat.get("mean")))
    for key in ("p50", "p90", "p95", "p99", "max"):
        row(f"latency {key} ms", _ms(lat[key]), _ms(srv_lat.get(key), approx=True))
    if server is not None:
        row(
            "mean micro-batch size",
            "-",
            "-" if server["batch_size_mean"] is None else f"{server['batch_size_mean']:.2f}",
        )
        row("inference ms per batch", "-", _ms(server["inference_ms_per_batch"]))
    console.print(table)
    if report["errors"]:
        errs = Table(title="errors")
        for name in ("status", "kind", "count", "example"):
            errs.add_column(name, justify="right" if name == "count" else "left")
        for entry in report["errors"]:
            errs.add_row(str(entry["status"] or "-"), entry["kind"], str(entry["count"]), entry["example"][:80])
        console.print(errs)
    if report["slo"]:
        slo = Table(title="service-level objectives")
        slo.add_column("objective", style="cyan")
        slo.add_column("measured", justify="right")
        slo.add_column("verdict")
        for check in report["slo"]["objectives"]:
            actual = check["actual"]
            shown = "-" if actual is None else f"{actual:.3%}" if check["metric"] == "error_rate" else f"{actual:.1f}ms"
            slo.add_row(check["objective"], shown, "[green]met[/]" if check["passed"] else "[bold red]MISSED[/]")
        console.print(slo)
    console.print(f"wrote [bold]{result.output_dir}[/]")
