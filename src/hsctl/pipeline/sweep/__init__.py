"""``sweep``: hyperparameter search over ``hsctl train`` with Optuna (TPE, pruning, shared RDB storage).

Each trial is a real training run (one per seed) through :func:`hsctl.train.train`,
scored by the shift-aware score (or validation macro-F1, or the behavioural suite)
and pruned per epoch. Studies live in an Optuna RDB storage: a SQLite file by
default, PostgreSQL or MySQL to share one study between machines, which is Optuna's
own distributed mode. Ctrl-C stops after the running trial's checkpoint; ``resume``
queues interrupted and crashed trials again, and they continue from their checkpoints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.layout import Layout
from hsctl.errors import ConfigError, DataError, HsctlError, TrainingInterrupted
from hsctl.pipeline.sweep.report import StudyReport, TrialRow, build_report
from hsctl.pipeline.sweep.study import (
    counted_trials,
    fail_crashed,
    load_existing,
    masked,
    open_study,
    requeue_unfinished,
    storage_url,
    study_dir,
)
from hsctl.pipeline.sweep.trial import Objective, TrialEvent, check_space

if TYPE_CHECKING:
    import optuna

    from hsctl.settings import Settings
    from hsctl.train.callbacks import TrainProgress

__all__ = [
    "StudyReport",
    "SweepResult",
    "TrialEvent",
    "TrialRow",
    "best_params",
    "run_sweep",
    "show_study",
    "storage_url",
    "study_dir",
]


@dataclass
class SweepResult:
    """What this process did, and the study's report afterwards."""

    ran: int
    stopped: str  # trials | timeout | failures | done
    elapsed_s: float
    recovered: list[int]
    requeued: list[int]
    report: StudyReport

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ran": self.ran,
            "stopped": self.stopped,
            "elapsed_s": self.elapsed_s,
            "recovered": self.recovered,
            "requeued": self.requeued,
            **self.report.to_dict(),
        }


def _link_data(settings: Settings, folder: Path) -> None:
    """The study folder is an artifacts folder of its own; its ``data`` is the project's."""
    source = settings.paths.layout.data_dir.resolve()
    processed = settings.paths.layout.processed_dir
    if not (processed / "dataset_dict.json").is_file():
        raise DataError(f"no preprocessed data at {processed}: run 'hsctl preprocess' first")
    folder.mkdir(parents=True, exist_ok=True)
    link = Layout(folder).data_dir
    if link.is_symlink() and link.resolve() == source:
        return
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise DataError(f"{link} is not a link to {source}: move it away")
    try:
        link.symlink_to(source, target_is_directory=True)
    except FileExistsError:  # another process of the same study made it
        pass
    except OSError as exc:
        raise DataError(f"cannot link {link} to {source}: {exc}") from exc


def _threads_per_job(settings: Settings) -> int | None:
    """Parallel trials in one process are safe only on CPU, untracked, with cores to spare."""
    n_jobs = settings.sweep.n_jobs
    if n_jobs == 1:
        return None
    import torch

    from hsctl.train.tracking import plan_tracking

    cores = os.cpu_count() or 1
    if torch.cuda.is_available():
        raise ConfigError("--n-jobs above 1 runs trials side by side on CPU only; on a GPU run one process per GPU")
    if plan_tracking(settings.tracking).enabled:
        raise ConfigError("--n-jobs above 1 needs tracking off (wandb has one run per process): add --tracking none")
    if 2 * n_jobs > cores:
        raise ConfigError(f"--n-jobs {n_jobs} needs at least {2 * n_jobs} CPU cores; this machine has {cores}")
    return settings.train.threads or max(1, cores // n_jobs)


class _Budget:
    """Optuna callback: stop at ``sweep.trials`` (all processes together) or after failures in a row."""

    def __init__(self, target: int | None, max_failures: int, on_event: Callable[[TrialEvent], None]) -> None:
        self.target, self.max_failures, self.on_event = target, max_failures, on_event
        self.ran = 0
        self.failures_in_row = 0
        self.last_error = ""
        self.stopped = ""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.ran += 1
        value = trial.value if trial.state.name == "COMPLETE" else None
        error = str(trial.user_attrs.get("error", ""))
        self.on_event(TrialEvent("end", trial.number, dict(trial.params), state=trial.state.name, value=value,
                                 message=error))  # fmt: skip
        if trial.state.name == "FAIL":
            self.failures_in_row += 1
            self.last_error = error
        else:
            self.failures_in_row = 0
        if self.failures_in_row >= self.max_failures:
            self.stopped = "failures"
            study.stop()
        elif self.target is not None and counted_trials(study) >= self.target:
            self.stopped = "trials"
            study.stop()


def run_sweep(
    settings: Settings,
    *,
    resume: bool = False,
    keep_budget: bool = False,
    progress: Callable[[], TrainProgress | None] | None = None,
    on_event: Callable[[TrialEvent], None] | None = None,
) -> SweepResult:
    """Run trials of ``settings.sweep.study`` until the budget is spent, then report on the study.

    ``keep_budget`` (resuming without a new ``--trials``) keeps the trial budget the study was last run with.
    """
    cfg = settings.sweep
    check_space(settings)
    threads = _threads_per_job(settings)
    folder = study_dir(settings)
    study = open_study(settings, must_exist=True) if resume else None  # a missing study first: the clearer error
    _link_data(settings, folder)
    study = study or open_study(settings, must_exist=False)
    recovered = fail_crashed(study)
    requeued = requeue_unfinished(study) if resume else []
    notify = on_event or (lambda event: None)
    target = study.user_attrs.get("trials", cfg.trials) if keep_budget else cfg.trials
    study.set_user_attr("trials", target)
    budget = _Budget(target, cfg.max_failures, notify)
    objective = Objective(settings, folder, threads=threads, progress=progress, on_event=notify)
    started = time.perf_counter()
    if target is None or counted_trials(study) < target:
        try:
            study.optimize(objective, n_trials=None, timeout=cfg.timeout_s, n_jobs=cfg.n_jobs, callbacks=[budget])
        except (TrainingInterrupted, KeyboardInterrupt) as exc:
            raise TrainingInterrupted(
                f"sweep interrupted after {budget.ran} finished trial(s) in this process; the running trial's "
                f"checkpoint is kept under {Layout(folder).runs_dir}",
                hint=f"continue with 'hsctl sweep --resume --study {cfg.study}'",
            ) from exc
    else:
        budget.stopped = "done"
    elapsed = round(time.perf_counter() - started, 1)
    if budget.stopped == "failures":
        raise HsctlError(
            f"{budget.failures_in_row} trials in a row failed, stopping the sweep; last error: {budget.last_error}"
        )
    stopped = budget.stopped or ("timeout" if cfg.timeout_s and elapsed >= cfg.timeout_s else "trials")
    report = build_report(study, masked(storage_url(settings)), folder)
    return SweepResult(budget.ran, stopped, elapsed, recovered, requeued, report)


def show_study(settings: Settings, study: str | None = None, *, write: bool = True) -> StudyReport:
    """The report of an existing study (and, with ``write``, its best.toml, trials.md and plots)."""
    found = load_existing(settings, study)
    return build_report(found, masked(storage_url(settings)), study_dir(settings, found.study_name), write=write)


def best_params(settings: Settings, study: str) -> dict[str, Any]:
    """The best trial's parameters as dotted train settings, for ``hsctl train --params-from-sweep``."""
    report = show_study(settings, study, write=False)
    if report.best is None:
        raise DataError(f"study {study!r} has no completed trial yet", hint="run 'hsctl sweep' first")
    return {f"train.{name}": value for name, value in report.best["params"].items()}
