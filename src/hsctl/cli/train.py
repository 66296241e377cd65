"""``hsctl train``: fine-tune the classifier (also under ``torchrun -m hsctl train``)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.markup import escape
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
    reporter,
)


class TrainReporter:
    """Forwards the trainer's events (``TrainProgress``) to the CLI reporter: a bar, or a line every few seconds."""

    def __init__(self) -> None:
        self.reporter = reporter("steps")
        self.total = 0
        self.started = 0.0
        self.start_step = 0
        self.samples_per_step = 1
        self.loss: float | None = None

    def on_start(self, total_steps: int, start_step: int, samples_per_step: int) -> None:
        import time

        self.started, self.start_step, self.samples_per_step = time.perf_counter(), start_step, samples_per_step
        self.total = total_steps
        self.reporter("train", start_step, total_steps)

    def on_step(self, step: int, epoch: float) -> None:
        import time

        elapsed = time.perf_counter() - self.started
        rate = (step - self.start_step) * self.samples_per_step / elapsed if elapsed > 0 else 0.0
        details: dict[str, float | str] = {"epoch": f"{epoch:.2f}", "samples/s": f"{rate:.1f}"}
        if self.loss is not None:
            details["loss"] = f"{self.loss:.4f}"
        self.reporter("train", step, self.total, **details)

    def on_log(self, logs: dict[str, float]) -> None:
        if "loss" in logs:
            self.loss = float(logs["loss"])

    def on_evaluate(self, metrics: dict[str, float]) -> None:
        f1, auc = metrics.get("eval_macro_f1"), metrics.get("eval_roc_auc")
        epoch = metrics.get("epoch", 0.0)
        if f1 is not None:
            auc_text = "n/a" if auc is None else f"{auc:.4f}"
            self.reporter.log(
                f"epoch {epoch:.0f}: validation macro-F1 {f1:.4f}, ROC-AUC {auc_text}, "
                f"{metrics.get('eval_samples_per_second', 0):.0f} samples/s"
            )

    def on_end(self) -> None:
        self.reporter.close()


ParamsFromSweepOpt = Annotated[
    str | None,
    typer.Option(
        "--params-from-sweep",
        help="Start from the best parameters of this sweep study (hsctl sweep; its storage: setting sweep.storage); "
        "flags given here still win.",
        show_default=False,
    ),
]


FLAGS: dict[str, tuple[str, str]] = {
    "model": ("--model", "train.model"),
    "epochs": ("--epochs", "train.epochs"),
    "batch_size": ("--batch-size", "train.batch_size"),
    "learning_rate": ("--learning-rate", "train.learning_rate"),
    "max_length": ("--max-length", "train.max_length"),
    "seed": ("--seed", "train.seed"),
    "threads": ("--threads", "train.threads"),
    "run_name": ("--run-name", "train.run_name"),
    "class_weights": ("--class-weights", "train.class_weights"),
    "patience": ("--patience", "train.early_stopping_patience"),
    "full_determinism": ("--full-determinism", "train.full_determinism"),
    "threshold_mode": ("--threshold-mode", "train.threshold_mode"),
    "target_recall": ("--target-recall", "train.target_recall"),
    "target_prior": ("--target-prior", "train.target_prior"),
    "category_weighting": ("--category-weighting", "train.category_weighting"),
    "freeze_layers": ("--freeze-layers", "train.freeze_layers"),
    "selection_metric": ("--selection-metric", "train.selection_metric"),
    "contrast": ("--contrast", "train.contrast"),
    "feedback": ("--feedback", "train.feedback"),
    "tracking": ("--tracking", "tracking.backend"),
}
"""Each flag that overrides a setting, named once: parameter -> (flag, setting)."""

RESUMABLE = frozenset({"--threads", "--run-name", "--tracking"})
"""Flags a ``--resume`` may still take: they do not change the recipe of the run it continues."""


@handle_errors
def train_cli(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Base model: hub id, local folder, or 'scratch' (a tiny random BERT for tests and smoke runs "
            "only). Default: sentence-transformers/all-mpnet-base-v2, installable offline (setting train.model).",
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
        str | None,
        typer.Option(
            "--run-name",
            help="Run and model folder name (setting train.run_name; default: model, UTC time and a random suffix).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the model folder of an existing --run-name (refused otherwise).")
    ] = False,
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
        typer.Option(
            "--target-prior", help="Deployment hate rate (default 0.5); probabilities, threshold and estimates use it."
        ),
    ] = None,
    category_weighting: Annotated[
        str | None,
        typer.Option("--category-weighting", help="none, sqrt or balanced (setting train.category_weighting)."),
    ] = None,
    freeze_layers: Annotated[
        int | None,
        typer.Option("--freeze-layers", help="Bottom encoder layers kept frozen (setting train.freeze_layers)."),
    ] = None,
    selection_metric: Annotated[
        str | None,
        typer.Option("--selection-metric", help="shift or macro_f1 (setting train.selection_metric)."),
    ] = None,
    contrast: Annotated[
        bool | None,
        typer.Option(
            "--contrast/--no-contrast",
            help="Add the generated contrast rows (group mentions that are not hate) to training (setting "
            "train.contrast, default on).",
            show_default=False,
        ),
    ] = None,
    feedback: Annotated[
        bool | None,
        typer.Option(
            "--feedback/--no-feedback",
            help="Add the reviewed rows of the feedback store (hsctl review ingest) to training and validation "
            "(setting train.feedback, default off).",
            show_default=False,
        ),
    ] = None,
    tracking: Annotated[
        str | None,
        typer.Option("--tracking", help="none, wandb, wandb-offline or auto (setting tracking.backend)."),
    ] = None,
    estimate_shift: Annotated[
        bool,
        typer.Option(
            "--estimate-shift",
            help="Instead of one model, train once per category without its hate rows and report the recall on "
            "them (leave-one-category-out; one run per category). Writes reports/shift/loco.json.",
        ),
    ] = False,
    loco_categories: Annotated[
        str | None,
        typer.Option("--loco-categories", help="Comma-separated categories for --estimate-shift (default: all)."),
    ] = None,
    params_from_sweep: ParamsFromSweepOpt = None,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fine-tune a classifier on the preprocessed data and write the model folder.

    Ctrl-C saves a checkpoint (exit 130), --resume continues. Probabilities are calibrated
    and re-weighted to the deployment hate rate (--target-prior); the threshold maximises
    category-balanced macro-F1. Prints validation scores next to shift-aware estimates.
    """
    from hsctl.train import train

    loaded = load(ctx, {"paths.artifacts": artifacts} | {key: ctx.params.get(name) for name, (_, key) in FLAGS.items()})
    clashes = {flag: ctx.params.get(name) for name, (flag, _) in FLAGS.items() if flag not in RESUMABLE}
    _refuse_overrides_on_resume(resume, clashes | {"--params-from-sweep": params_from_sweep})
    settings = _with_sweep_params(ctx, loaded, params_from_sweep)
    if estimate_shift:
        _estimate_shift(settings, loco_categories, json_out)
        return
    rank = int(os.environ.get("RANK", "0"))
    quiet_ml_logs()
    result = train(settings, resume=resume, progress=TrainReporter() if rank == 0 else None, overwrite=force)
    if rank != 0:
        return
    for warning in result.warnings:
        err_console().print(f"[yellow]warning:[/] {warning}", highlight=False)
    for note in result.notes:  # the wandb offline run and its sync command, or WANDB_MODE=disabled
        err_console().print(f"[cyan]info:[/] {escape(note)}", highlight=False)
    if json_out:
        emit_json(result.to_dict())
        return
    console = out_console()
    console.print(result_table(result))
    if result.shift_estimates.get("per_category_recall"):
        console.print(category_table(result.shift_estimates))
    console.print(f"wrote [bold]{result.model_dir}[/] (model card: README.md)")


def _with_sweep_params(ctx: typer.Context, loaded: Any, study: str | None) -> Any:
    """Settings with a sweep study's best parameters as a layer under the command-line flags."""
    from hsctl.pipeline.sweep import best_params

    if not study:
        return loaded.settings
    flags = {key for key, source in loaded.sources.items() if source == "cli"}
    kept: dict[str, Any] = {}
    for key in flags:
        value: Any = loaded.settings
        for part in key.split("."):
            value = getattr(value, part)
        kept[key] = value
    params = {key: value for key, value in best_params(loaded.settings, study).items() if key not in flags}
    return load(ctx, kept | params).settings


def _refuse_overrides_on_resume(resume: bool, given: dict[str, Any]) -> None:
    """A resumed run keeps its own settings: recipe flags next to --resume are a usage error."""
    if not resume:
        return
    clash = [flag for flag, value in given.items() if value is not None]
    if clash:
        from hsctl.errors import ConfigError

        raise ConfigError(f"--resume continues the interrupted run with its own settings; drop {', '.join(clash)}")


def _estimate_shift(settings: Any, categories: str | None, json_out: bool) -> None:
    """Run the leave-one-category-out estimate and print its table."""
    from hsctl.train.loco import estimate_shift

    quiet_ml_logs()
    chosen = [c.strip() for c in categories.split(",") if c.strip()] if categories else None

    def on_category(name: str, index: int, total: int) -> None:
        err_console().print(f"[{index + 1}/{total}] training without {name} hate rows ...", highlight=False)

    result = estimate_shift(settings, categories=chosen, on_category=on_category)
    if json_out:
        emit_json(result.to_dict())
        return
    table = Table(title=f"leave-one-category-out hate recall ({result.epochs:g} epochs each)")
    table.add_column("held-out category", style="cyan")
    table.add_column("recall", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("threshold", justify="right")
    for name, value in result.per_category.items():
        table.add_row(name, _fmt(value["recall"], 3), str(value["support"]), _fmt(value["threshold"], 3))
    table.add_row("mean / worst", f"{_fmt(result.mean_recall, 3)} / {_fmt(result.worst_recall, 3)}", "", "")
    console = out_console()
    console.print(table)
    console.print(f"wrote [bold]{result.output}[/] in {result.seconds:.0f} s")


def _fmt(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def result_table(result: Any) -> Table:
    """Plain validation scores beside the shift-aware estimates and the suite."""
    m, s = result.validation_metrics, result.shift_estimates
    prior = f"{result.target_prior:g}" if result.target_prior else "validation rate"
    table = Table(title=f"trained {result.run_name}")
    table.add_column("measure", style="cyan")
    table.add_column("in distribution", justify="right")
    table.add_column(f"shift-aware (prior {prior})", justify="right")
    suite = result.functional_suite or {}
    rows = [
        ("macro-F1 at the threshold", _fmt(m["macro_f1"]), _fmt(s.get("balanced_macro_f1"))),
        ("ROC-AUC", _fmt(m["roc_auc"]), _fmt(s.get("balanced_roc_auc"))),
        ("macro-F1 at 0.5", _fmt(m["macro_f1_at_0.5"]), ""),
        ("implicit-hate recall", "", f"{_fmt(s.get('implicit_hate_recall'))} (n={s.get('implicit_hate_support', 0)})"),
        ("worst category recall", "", _fmt(s.get("worst_category_recall"))),
        ("behavioural suite pass rate", "", _fmt(suite.get("pass_rate"))),
        ("threshold", _fmt(result.threshold), ""),
    ]
    for row in rows:
        table.add_row(*row)
    table.add_row("base model", result.base_model, f"{result.frozen_layers} layers frozen")
    table.add_row("steps / epochs", f"{result.global_step} / {result.epochs_completed:g}", "")
    table.add_row("train time", f"{result.train_time_s:.1f} s", f"{result.samples_per_s:.1f} samples/s")
    return table


def category_table(shift: dict[str, Any]) -> Table:
    """Hate recall per category on validation (rare categories rest on few rows)."""
    table = Table(title="validation hate recall per category")
    table.add_column("category", style="cyan")
    table.add_column("recall", justify="right")
    table.add_column("rows", justify="right")
    for name, value in shift["per_category_recall"].items():
        table.add_row(name, _fmt(value["recall"], 3), str(value["support"]))
    return table
