"""``hsctl train``: fine-tune the classifier (also under ``torchrun -m hsctl train``)."""

from __future__ import annotations

import os
from typing import Annotated, Any

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


class RichTrainProgress:
    """A rich progress bar on stderr with loss and throughput."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epoch {task.fields[epoch]:.2f}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} samples/s"),
            TimeRemainingColumn(),
            console=err_console(),
            transient=False,
        )
        self.task: Any = None
        self.started = 0.0
        self.start_step = 0
        self.samples_per_step = 1

    def on_start(self, total_steps: int, start_step: int, samples_per_step: int) -> None:
        import time

        self.started, self.start_step, self.samples_per_step = time.perf_counter(), start_step, samples_per_step
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=total_steps, completed=start_step, epoch=0.0, loss="-", rate="-"
        )

    def on_step(self, step: int, epoch: float) -> None:
        import time

        elapsed = time.perf_counter() - self.started
        rate = (step - self.start_step) * self.samples_per_step / elapsed if elapsed > 0 else 0.0
        self.progress.update(self.task, completed=step, epoch=epoch, rate=f"{rate:.1f}")

    def on_log(self, logs: dict[str, float]) -> None:
        if "loss" in logs:
            self.progress.update(self.task, loss=f"{logs['loss']:.4f}")

    def on_evaluate(self, metrics: dict[str, float]) -> None:
        f1, auc = metrics.get("eval_macro_f1"), metrics.get("eval_roc_auc")
        epoch = metrics.get("epoch", 0.0)
        if f1 is not None:
            self.progress.console.print(
                f"epoch {epoch:.0f}: validation macro-F1 {f1:.4f}, ROC-AUC {auc:.4f}, "
                f"{metrics.get('eval_samples_per_second', 0):.0f} samples/s"
            )

    def on_end(self) -> None:
        self.progress.stop()


@handle_errors
def train_cli(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Base model: hub id, local folder, or 'scratch' (a tiny random BERT for tests and smoke runs "
            "only). Default: sentence-transformers/all-MiniLM-L6-v2, shipped offline (setting train.model).",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Most epochs (setting train.epochs).")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Batch size (setting train.batch_size).")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option("--learning-rate", "--lr", help="Peak learning rate (setting train.learning_rate).")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="Max tokens per text (setting train.max_length).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (setting train.seed).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads (setting train.threads).")] = None,
    run_name: Annotated[
        str | None, typer.Option("--run-name", help="Run and model folder name (setting train.run_name).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the newest interrupted run (or --run-name) from its checkpoint.")
    ] = False,
    class_weights: Annotated[
        bool | None,
        typer.Option("--class-weights/--no-class-weights", help="Class-weighted loss (setting train.class_weights)."),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option("--patience", help="Early-stopping patience in epochs, 0 = off (train.early_stopping_patience)."),
    ] = None,
    full_determinism: Annotated[
        bool | None,
        typer.Option("--full-determinism/--no-full-determinism", help="Deterministic kernels (slower)."),
    ] = None,
    threshold_mode: Annotated[
        str | None,
        typer.Option("--threshold-mode", help="macro_f1 or recall (setting train.threshold_mode)."),
    ] = None,
    target_recall: Annotated[
        float | None, typer.Option("--target-recall", help="Hate recall to reach in recall mode.")
    ] = None,
    target_prior: Annotated[
        float | None,
        typer.Option("--target-prior", help="Deployment hate rate; probabilities are re-weighted to it."),
    ] = None,
    tracking: Annotated[
        str | None,
        typer.Option("--tracking", help="none, wandb, wandb-offline or auto (setting tracking.backend)."),
    ] = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fine-tune a classifier on the preprocessed data and write the model folder.

    Checkpoints every epoch; Ctrl-C saves and exits (code 130), --resume continues.
    The decision threshold is chosen on the validation split and stored with the
    model. Works offline with the default model; other hub ids fail fast (exit 5).
    """
    from hsctl.train import train

    settings = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            "train.model": model,
            "train.epochs": epochs,
            "train.batch_size": batch_size,
            "train.learning_rate": learning_rate,
            "train.max_length": max_length,
            "train.seed": seed,
            "train.threads": threads,
            "train.run_name": run_name,
            "train.class_weights": class_weights,
            "train.early_stopping_patience": patience,
            "train.full_determinism": full_determinism,
            "train.threshold_mode": threshold_mode,
            "train.target_recall": target_recall,
            "train.target_prior": target_prior,
            "tracking.backend": tracking,
        },
    ).settings
    if resume:
        given = {
            "--model": model, "--epochs": epochs, "--batch-size": batch_size, "--learning-rate": learning_rate,
            "--max-length": max_length, "--seed": seed, "--class-weights": class_weights, "--patience": patience,
            "--full-determinism": full_determinism, "--threshold-mode": threshold_mode,
            "--target-recall": target_recall, "--target-prior": target_prior,
        }  # fmt: skip
        clash = [flag for flag, value in given.items() if value is not None]
        if clash:
            from hsctl.errors import ConfigError

            raise ConfigError(f"--resume continues the interrupted run with its own settings; drop {', '.join(clash)}")
    rank = int(os.environ.get("RANK", "0"))
    quiet_ml_logs()
    progress = RichTrainProgress() if rank == 0 else None
    result = train(settings, resume=resume, progress=progress)
    if rank != 0:
        return
    for warning in result.warnings:
        err_console().print(f"[yellow]warning:[/] {warning}", highlight=False)
    if json_out:
        emit_json(result.to_dict())
        return
    m = result.validation_metrics
    table = Table(title=f"trained {result.run_name}")
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    rows = [
        ("base model", result.base_model),
        ("validation macro-F1", f"{m['macro_f1']:.4f}"),
        ("validation macro-F1 at 0.5", f"{m['macro_f1_at_0.5']:.4f}"),
        ("validation ROC-AUC", f"{m['roc_auc']:.4f}"),
        ("threshold", f"{result.threshold:.4f}"),
        ("steps / epochs", f"{result.global_step} / {result.epochs_completed:g}"),
        ("train time", f"{result.train_time_s:.1f} s"),
        ("samples/s", f"{result.samples_per_s:.1f}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console = out_console()
    console.print(table)
    console.print(f"wrote [bold]{result.model_dir}[/]")
