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
    max_auc_drop: Annotated[
        float | None,
        typer.Option(
            "--max-auc-drop",
            help="Largest int8 validation ROC-AUC loss (setting export.max_auc_drop).",
            show_default=False,
        ),
    ] = None,
    min_agreement: Annotated[
        float | None,
        typer.Option(
            "--min-agreement",
            help="Smallest share of validation decisions int8 must share with PyTorch (setting export.min_agreement).",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--no-strict",
            help="A rejected int8 copy exits 3 instead of warning (setting export.strict).",
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

    fp32 must match PyTorch logits within 1e-4 (else exit 1). int8 must keep the
    validation ranking (ROC-AUC) and decisions of PyTorch within bounds that allow
    for the split's size; if not, only fp32 is kept with a warning (exit 3 with
    --strict). Writes onnx/model.onnx, onnx/model.int8.onnx and quantize.json.
    """
    from hsctl.errors import GateFailedError
    from hsctl.quantize import quantize

    settings = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            "inference.threads": threads,
            "export.max_auc_drop": max_auc_drop,
            "export.min_agreement": min_agreement,
            "export.strict": strict,
        },
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
        for name, value in ver["roc_auc"].items():
            table.add_row(f"validation ROC-AUC {name}", f"{value:.4f}")
        for name, value in ver["macro_f1"].items():
            table.add_row(f"validation macro-F1 {name}", f"{value:.4f}")
        gate = ver["int8_gate"]
        table.add_row("int8 ROC-AUC drop", f"{gate['auc_drop']:+.4f} (max {gate['max_auc_drop']:g})")
        table.add_row("int8 decision agreement", f"{gate['agreement']:.2%} (min {gate['min_agreement']:.0%})")
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
    for warning in result.warnings:
        err_console().print(f"[yellow]warning:[/] {warning}")
    if result.gate_failures:
        raise GateFailedError("; ".join(result.gate_failures))
