"""``hsctl quantize``: ONNX fp32 + int8 export, verified and benchmarked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    quiet_ml_logs,
)
from hsctl.cli.evaluate import ModelOpt


@handle_errors
def quantize_cli(
    ctx: typer.Context,
    model: ModelOpt = None,
    max_f1_drop: Annotated[
        float | None,
        typer.Option(
            "--max-f1-drop",
            help="Largest int8 validation macro-F1 loss (setting export.max_f1_drop).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Keep the int8 model even when it loses more F1.")] = False,
    latency: Annotated[
        bool,
        typer.Option(
            "--latency/--no-latency", help="Measure latency at each of export.latency_batch_sizes (default 1, 8, 32)."
        ),
    ] = True,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (setting inference.threads).", show_default=False)
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="ONNX folder (default: <model>/onnx).", show_default=False),
    ] = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Export the model to ONNX (fp32, graph-optimised) and dynamic int8, and verify both.

    fp32 must match PyTorch logits within 1e-4 (else exit 1); if int8 loses more
    than --max-f1-drop validation macro-F1, only fp32 is kept and the exit code is 3.
    Writes onnx/model.onnx, onnx/model.int8.onnx and quantize.json beside the model.
    """
    from hsctl.errors import GateFailedError
    from hsctl.quantize import quantize

    settings = load(
        ctx, {"paths.artifacts": artifacts, "inference.threads": threads, "export.max_f1_drop": max_f1_drop}
    ).settings
    quiet_ml_logs()
    with err_console().status("exporting, quantising and verifying ..."):
        result = quantize(settings, model=model, force=force, measure=latency, output_dir=output)
    report = result.report
    if json_out:
        emit_json(report)
    else:
        console = out_console()
        ver = report["verification"]
        table = Table(title=f"quantized {report['model_version']} ({report['exporter'].split(' ')[0]})")
        table.add_column("check", style="cyan")
        table.add_column("value", justify="right")
        table.add_row("max |logit| diff fp32 vs torch", f"{ver['max_abs_logit_diff_fp32']:.2e}")
        for name, value in ver["macro_f1"].items():
            table.add_row(f"validation macro-F1 {name}", f"{value:.4f}")
        table.add_row("int8 macro-F1 drop", f"{ver['int8_f1_drop']:+.4f} (max {ver['max_f1_drop']:g})")
        for name, size in report["file_size_bytes"].items():
            table.add_row(f"size {name}", f"{size / 1e6:.1f} MB")
        cpu = report["cpu"]
        features = ", ".join(name for name in ("avx2", "avx512", "vnni") if cpu.get(name)) or "no AVX2"
        table.add_row("cpu", f"{cpu['cpu']} ({features})")
        console.print(table)
        if report["latency"]:
            lat = Table(title="samples/s (ms per batch)")
            lat.add_column("backend", style="cyan")
            sizes = list(next(iter(report["latency"].values())))
            for size in sizes:
                lat.add_column(f"batch {size}", justify="right")
            for name, values in report["latency"].items():
                lat.add_row(
                    name, *[f"{values[s]['samples_per_s']:.0f} ({values[s]['ms_per_batch']:.1f})" for s in sizes]
                )
            console.print(lat)
        console.print(f"wrote [bold]{report['onnx_dir']}[/]")
    if result.gate_failures:
        raise GateFailedError("; ".join(result.gate_failures))
