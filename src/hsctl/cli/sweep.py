"""``hsctl sweep``: hyperparameter search on Optuna; ``hsctl sweep show``: a study's results."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hsctl.cli._common import ArtifactsOpt, JsonOpt, emit_json, err_console, handle_errors, load, out_console

app = typer.Typer(invoke_without_command=True)

StudyOpt = Annotated[str | None, typer.Option("--study", help="Study name (setting sweep.study).", show_default=False)]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage URL: sqlite:///file.db, postgresql://..., mysql+pymysql://... (setting sweep.storage).",
        show_default=False,
    ),
]


@app.callback()
@handle_errors
def sweep_cli(
    ctx: typer.Context,
    trials: Annotated[
        int | None,
        typer.Option("--trials", help="Trials the study should have, all processes together (setting sweep.trials)."),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help="Stop starting trials after this long, e.g. 90m or 2h (sweep.timeout_s)."),
    ] = None,
    n_jobs: Annotated[
        int | None,
        typer.Option("--n-jobs", help="Trials at once in this process; CPU only, tracking off (sweep.n_jobs)."),
    ] = None,
    study: StudyOpt = None,
    storage: StorageOpt = None,
    objective: Annotated[
        str | None,
        typer.Option("--objective", help="shift, macro_f1 or functional (setting sweep.objective)."),
    ] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", help="maximize or minimize (setting sweep.direction).")
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option("--seeds", help="Training runs per trial, scored by their mean (setting sweep.seeds_per_trial)."),
    ] = None,
    pruner: Annotated[
        str | None, typer.Option("--pruner", help="median, halving or none (setting sweep.pruner).")
    ] = None,
    sampler_seed: Annotated[
        int | None, typer.Option("--sampler-seed", help="TPE seed, one process only (setting sweep.sampler_seed).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Base model of every trial (setting train.model).")
    ] = None,
    tracking: Annotated[
        str | None,
        typer.Option("--tracking", help="none, wandb, wandb-offline or auto (setting tracking.backend)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an existing study; interrupted trials continue from checkpoints."),
    ] = False,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search train settings with Optuna; every trial is a real training run, pruned per epoch.

    The search space, objective and budget come from the [sweep] settings. Several
    processes or machines given the same --storage and --study share one study. Ctrl-C
    stops after the running trial's checkpoint (exit 130); --resume continues. Writes
    <artifacts>/sweeps/<study>/: trials.md, best.toml (a ready hsctl.toml fragment) and
    plots/*.png. Train the winner with 'hsctl train --params-from-sweep STUDY'.
    """
    if ctx.invoked_subcommand is not None:
        return
    import optuna

    from hsctl.cli._common import quiet_ml_logs
    from hsctl.cli.train import TrainReporter
    from hsctl.pipeline.sweep import run_sweep

    loaded = load(
        ctx,
        {
            "paths.artifacts": artifacts,
            "sweep.trials": trials,
            "sweep.timeout_s": timeout,
            "sweep.n_jobs": n_jobs,
            "sweep.study": study,
            "sweep.storage": storage,
            "sweep.objective": objective,
            "sweep.direction": direction,
            "sweep.seeds_per_trial": seeds,
            "sweep.pruner": pruner,
            "sweep.sampler_seed": sampler_seed,
            "train.model": model,
            "tracking.backend": tracking,
        },
    )
    settings = loaded.settings
    quiet_ml_logs()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    one_at_a_time = settings.sweep.n_jobs == 1
    result = run_sweep(
        settings,
        resume=resume,
        keep_budget=resume and loaded.source_of("sweep.trials") == "default",
        progress=TrainReporter if one_at_a_time else None,
        on_event=_print_event,
    )
    if result.recovered:
        err_console().print(f"[yellow]marked failed:[/] trials {result.recovered} of dead processes", highlight=False)
    if json_out:
        emit_json(result.to_dict())
        return
    _render(result.report)
    out_console().print(
        f"this process ran {result.ran} trial(s) in {result.elapsed_s:.0f} s (stopped: {result.stopped})",
        highlight=False,
    )


def _print_event(event: Any) -> None:
    """One stderr line per training run started and per trial finished."""
    from hsctl.pipeline.sweep.report import fmt

    params = ", ".join(f"{k}={fmt(v)}" for k, v in event.params.items())
    console = err_console()
    if event.kind == "run":
        extra = f" ({event.message})" if event.message else ""
        console.print(f"[bold]trial {event.number}[/] {event.run_name} seed {event.seed}: {escape(params)}{extra}")
    else:
        colour = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}.get(event.state or "", "white")
        value = f" {fmt(event.value)}" if event.value is not None else ""
        why = f": {escape(event.message)}" if event.message else ""
        console.print(f"[bold]trial {event.number}[/] [{colour}]{(event.state or '').lower()}[/]{value}{why}")


def _render(report: Any) -> None:
    """The trials table, best parameters, importances and file paths."""
    from hsctl.pipeline.sweep.report import fmt, ordered, state_label

    names = sorted({name for row in report.trials for name in row.params})
    table = Table(title=f"study {report.study} ({report.objective}, {report.direction}) in {report.storage}")
    for column in ("trial", "state", report.objective, *names, "seconds"):
        table.add_column(column, justify="left" if column == "state" else "right")
    for row in ordered(report):
        cells = [str(row.number), state_label(row), fmt(row.value), *[fmt(row.params.get(n)) for n in names]]
        table.add_row(*cells, fmt(row.seconds, 0))
    console = out_console()
    console.print(table)
    if report.best is not None:
        best = ", ".join(f"{k}={fmt(v)}" for k, v in report.best["params"].items())
        console.print(f"best: trial {report.best['number']}, {report.objective} {fmt(report.best['value'])}: {best}")
    if report.importances:
        console.print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in report.importances.items()))
    for name, path in report.files.items():
        console.print(f"wrote {name}: [bold]{escape(path)}[/]", highlight=False)
    for note in report.warnings:
        err_console().print(f"[yellow]warning:[/] {escape(note)}", highlight=False)


@app.command("show")
@handle_errors
def show_cli(
    ctx: typer.Context,
    study: StudyOpt = None,
    storage: StorageOpt = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the trials as a Markdown table.")] = False,
    artifacts: ArtifactsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a study: trials table, best parameters, importances; (re)writes best.toml, trials.md and plots."""
    from hsctl.pipeline.sweep import show_study
    from hsctl.pipeline.sweep.report import markdown_table

    settings = load(ctx, {"paths.artifacts": artifacts, "sweep.study": study, "sweep.storage": storage}).settings
    report = show_study(settings)
    if json_out:
        emit_json(report.to_dict())
    elif markdown:
        typer.echo(markdown_table(report), nl=False)
    else:
        _render(report)
