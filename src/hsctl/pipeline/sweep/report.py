"""What a study found: the trials table, the best parameters as ``hsctl.toml``, importances and plots."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import atomic_write_text
from hsctl.pipeline.sweep.study import ERROR_ATTR, INTERRUPTED_ATTR, RESUME_OF_ATTR

if TYPE_CHECKING:
    import optuna

BEST_TOML = "best.toml"
TRIALS_MD = "trials.md"
PLOTS = ("history", "importances", "parallel_coordinates")


@dataclass
class TrialRow:
    """One trial as the table shows it."""

    number: int
    state: str  # COMPLETE | PRUNED | FAIL | RUNNING | WAITING
    value: float | None
    params: dict[str, Any]
    seconds: float | None
    seeds: list[int]
    pruned_at_epoch: int | None = None
    error: str | None = None
    interrupted: str | None = None
    resume_of: int | None = None


@dataclass
class StudyReport:
    """A study's trials, its best trial and where the report files are."""

    study: str
    storage: str
    objective: str
    direction: str
    folder: Path
    counts: dict[str, int]
    trials: list[TrialRow]
    best: dict[str, Any] | None
    importances: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["folder"] = str(self.folder)
        return data


def _row(trial: optuna.trial.FrozenTrial) -> TrialRow:
    attrs = trial.user_attrs
    seconds = attrs.get("seconds")
    if seconds is None and trial.datetime_start and trial.datetime_complete:
        seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
    value = trial.value if trial.value is not None and math.isfinite(trial.value) else None
    if trial.state.name == "PRUNED" and value is None and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    return TrialRow(
        number=trial.number,
        state=trial.state.name,
        value=value,
        params=dict(trial.params),
        seconds=seconds,
        seeds=list(attrs.get("seeds", [])),
        pruned_at_epoch=attrs.get("pruned_at_epoch"),
        error=attrs.get(ERROR_ATTR),
        interrupted=attrs.get(INTERRUPTED_ATTR),
        resume_of=attrs.get(RESUME_OF_ATTR),
    )


def _best(study: optuna.Study) -> dict[str, Any] | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    return {
        "number": best.number,
        "value": best.value,
        "params": dict(best.params),
        "seeds": best.user_attrs.get("seeds", []),
        "runs": best.user_attrs.get("runs", {}),
    }


def _importances(study: optuna.Study, notes: list[str]) -> dict[str, float]:
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as exc:  # too few finished trials, or nothing varied
        notes.append(f"no parameter importances: {exc}")
        return {}
    return {name: round(float(value), 4) for name, value in found.items()}


def best_toml(report: StudyReport) -> str:
    """The best parameters as a ready ``[train]`` fragment of ``hsctl.toml``."""
    best = report.best or {}
    lines = [
        f"# Best of sweep study {report.study!r}: trial {best.get('number')}, {report.objective} "
        f"{best.get('value', float('nan')):.4f} (mean over seeds {best.get('seeds')}).",
        "# Paste into hsctl.toml, or train with: hsctl train --params-from-sweep " + report.study,
        "[train]",
    ]
    for name, value in sorted(best.get("params", {}).items()):
        lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def markdown_table(report: StudyReport) -> str:
    """The trials as a Markdown table, best first among the completed ones."""
    names = sorted({name for row in report.trials for name in row.params})
    head = ["trial", "state", report.objective, *names, "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in ordered(report):
        cells = [str(row.number), state_label(row), fmt(row.value)]
        cells += [fmt(row.params.get(name)) for name in names]
        cells.append(fmt(row.seconds, 0))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ordered(report: StudyReport) -> list[TrialRow]:
    """Completed trials best first, then the others by number."""
    sign = -1.0 if report.direction == "maximize" else 1.0
    done = sorted((r for r in report.trials if r.state == "COMPLETE" and r.value is not None),
                  key=lambda r: sign * float(r.value or 0.0))  # fmt: skip
    return done + [r for r in report.trials if r not in done]


def state_label(row: TrialRow) -> str:
    """The state column of a trial (pruned epoch, interruption)."""
    if row.state == "PRUNED" and row.pruned_at_epoch:
        return f"pruned (epoch {row.pruned_at_epoch})"
    if row.state == "FAIL" and row.interrupted:
        return f"interrupted ({row.interrupted})"
    return row.state.lower()


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: numbers rounded, missing values as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


def _plots(study: optuna.Study, folder: Path, has_importances: bool, notes: list[str]) -> dict[str, str]:
    """Optimisation history, importances and parallel coordinates as PNG (matplotlib, no browser)."""
    from optuna.visualization import matplotlib as ovm

    from hsctl.core.plotting import pyplot

    plt = pyplot()
    makers: dict[str, Any] = {"history": ovm.plot_optimization_history,
                              "parallel_coordinates": ovm.plot_parallel_coordinate}  # fmt: skip
    if has_importances:
        makers["importances"] = ovm.plot_param_importances
    written: dict[str, str] = {}
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    for name, maker in makers.items():
        path = folder / "plots" / f"{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the matplotlib backend is marked experimental
                axes = maker(study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
            figure.set_size_inches(9, 5)
            figure.tight_layout()
            figure.savefig(path, dpi=110)
            written[name] = str(path)
        except Exception as exc:  # a plot is a convenience: never fail the report for it
            notes.append(f"no {name} plot: {type(exc).__name__}: {exc}")
        finally:
            plt.close("all")
    return written


def build_report(study: optuna.Study, storage: str, folder: Path, *, write: bool = True) -> StudyReport:
    """The report of a study; with ``write``, also ``best.toml``, ``trials.md`` and the plots in ``folder``."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    notes: list[str] = []
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    report = StudyReport(
        study=study.study_name,
        storage=storage,
        objective=str(study.user_attrs.get("objective", "?")),
        direction=study.direction.name.lower(),
        folder=folder,
        counts=counts,
        trials=[_row(t) for t in trials],
        best=_best(study),
        importances=_importances(study, notes) if len(complete) >= 2 else {},
        warnings=notes,
    )
    if not write:
        return report
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / TRIALS_MD, markdown_table(report))
    report.files["trials_md"] = str(folder / TRIALS_MD)
    if report.best is not None:
        atomic_write_text(folder / BEST_TOML, best_toml(report))
        report.files["best_toml"] = str(folder / BEST_TOML)
    if complete:
        report.files.update(_plots(study, folder, bool(report.importances), notes))
    return report
