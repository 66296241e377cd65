"""One trial: sample the parameters, run ``hsctl train`` once per seed, report each epoch for pruning.

A trial's runs live in the study folder, which is an artifacts folder of its own
(``runs/``, ``models/``, ``wandb/``) whose ``data`` links to the real one, so every run
is an unmodified :func:`hsctl.train.train` call and its model folder never becomes the
project's latest model.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import read_json
from hsctl.core.layout import RUN_FILE, Layout
from hsctl.errors import DataError, HsctlError, TrainingInterrupted
from hsctl.pipeline.sweep.study import ERROR_ATTR, INTERRUPTED_ATTR, ORIGIN_ATTR, RESUME_OF_ATTR, owner_attrs

if TYPE_CHECKING:
    import optuna

    from hsctl.settings import Settings, SweepParam, TrainSettings
    from hsctl.train import TrainResult
    from hsctl.train.callbacks import TrainProgress

# The per-epoch validation score (Trainer metrics) that stands for each objective when pruning.
EPOCH_METRIC = {"shift": "eval_shift_score", "macro_f1": "eval_macro_f1", "functional": None}
KEEP_WHEN_SLIM = ("hsctl.json", "README.md")


@dataclass
class TrialEvent:
    """What the caller is told when a trial starts a training run (``run``) or ends (``end``)."""

    kind: str  # run | end
    number: int
    params: dict[str, Any]
    run_name: str | None = None
    seed: int | None = None
    state: str | None = None
    value: float | None = None
    message: str = ""


def suggest(trial: optuna.Trial, space: dict[str, SweepParam]) -> dict[str, Any]:
    """Sample every parameter of the search space."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.type == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec.choices or []))
        elif spec.type == "int":
            step = int(spec.step) if spec.step else 1
            params[name] = trial.suggest_int(name, int(spec.low or 0), int(spec.high or 0), step=step, log=spec.log)
        else:
            params[name] = trial.suggest_float(name, float(spec.low or 0), float(spec.high or 0), step=spec.step,
                                               log=spec.log)  # fmt: skip
    return params


def trial_train_settings(base: TrainSettings, params: dict[str, Any], **fixed: Any) -> TrainSettings:
    """The run's train settings: the base recipe with the sampled parameters (validated)."""
    from pydantic import ValidationError

    from hsctl.errors import ConfigError
    from hsctl.settings import TrainSettings

    try:
        return TrainSettings.model_validate(base.model_dump() | params | fixed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "train"
        raise ConfigError(f"parameters {params} are not valid train settings: {where}: {first['msg']}") from exc


def check_space(settings: Settings) -> None:
    """Every bound and choice of the search space must be a valid value of its train setting."""
    for name, spec in settings.sweep.space.items():
        values = list(spec.choices or []) if spec.type == "categorical" else [spec.low, spec.high]
        for value in values:
            cast = int(value) if spec.type == "int" and value is not None else value
            trial_train_settings(settings.train, {name: cast})


def objective_value(result: TrainResult, objective: str) -> float:
    """The number a trial is scored by."""
    from hsctl.core.shift import shift_score

    if objective == "shift":
        return shift_score(result.shift_estimates)
    if objective == "macro_f1":
        return float(result.validation_metrics["macro_f1"])
    rate = (result.functional_suite or {}).get("pass_rate")
    if rate is None:
        raise DataError("the behavioural suite gave no pass rate")
    return float(rate)


def run_name_for(origin: int, seed: int, seeds: int) -> str:
    """``trial-0007``, or ``trial-0007-seed-43`` with several seeds per trial."""
    return f"trial-{origin:04d}" if seeds == 1 else f"trial-{origin:04d}-seed-{seed}"


class PruningProgress:
    """A :class:`TrainProgress` that reports each epoch's score to Optuna and prunes the trial.

    Raising :class:`optuna.TrialPruned` from the Trainer's evaluation callback stops the run at
    once, before that epoch's checkpoint is written; the inner progress display is closed first.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        metric: str | None,
        prune: bool,
        inner: TrainProgress | None = None,
        last_epoch: int | None = None,
    ) -> None:
        self.trial, self.metric, self.prune, self.inner = trial, metric, prune, inner
        self.last_epoch = last_epoch  # pruning after the last epoch would save nothing and lose the score
        self.open = False
        self.pruned_at: int | None = None

    def on_start(self, total_steps: int, start_step: int, samples_per_step: int) -> None:
        self.open = True
        if self.inner is not None:
            self.inner.on_start(total_steps, start_step, samples_per_step)

    def on_step(self, step: int, epoch: float) -> None:
        if self.inner is not None:
            self.inner.on_step(step, epoch)

    def on_log(self, logs: dict[str, float]) -> None:
        if self.inner is not None:
            self.inner.on_log(logs)

    def on_evaluate(self, metrics: dict[str, float]) -> None:
        import optuna

        if self.inner is not None:
            self.inner.on_evaluate(metrics)
        value = metrics.get(self.metric) if self.metric else None
        if value is None or not math.isfinite(value):
            return
        epoch = max(1, round(float(metrics.get("epoch", 1.0))))
        self.trial.report(float(value), epoch)
        final = self.last_epoch is not None and epoch >= self.last_epoch
        if self.prune and not final and self.trial.should_prune():
            self.pruned_at = epoch
            self.on_end()
            raise optuna.TrialPruned(f"pruned after epoch {epoch} at {value:.4f}")

    def on_end(self) -> None:
        if self.open and self.inner is not None:
            self.inner.on_end()
        self.open = False


@contextmanager
def _wandb_group(study: str) -> Any:
    """Group the trial's wandb run under the study; finish a run the trial left open (pruned, failed)."""
    saved = {k: os.environ.get(k) for k in ("WANDB_RUN_GROUP", "WANDB_JOB_TYPE")}
    os.environ["WANDB_RUN_GROUP"] = f"sweep-{study}"
    os.environ["WANDB_JOB_TYPE"] = "sweep-trial"
    try:
        yield
    finally:
        wandb = sys.modules.get("wandb")
        if wandb is not None and getattr(wandb, "run", None) is not None:
            wandb.run.finish(exit_code=1)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _slim(model_dir: Path) -> None:
    """Keep only the card of a trial's model (the weights of an mpnet trial are ~420 MB)."""
    for path in model_dir.iterdir() if model_dir.is_dir() else []:
        if path.name not in KEEP_WHEN_SLIM:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _can_resume(layout: Layout, run_name: str) -> bool:
    run_file = layout.run_dir(run_name) / RUN_FILE
    if not run_file.is_file() or read_json(run_file).get("status") == "completed":
        return False
    return any((layout.run_dir(run_name) / "checkpoints").glob("checkpoint-*"))


class Objective:
    """The callable Optuna optimises: one trial = ``seeds_per_trial`` training runs, scored by their mean."""

    def __init__(
        self,
        settings: Settings,
        folder: Path,
        *,
        threads: int | None = None,
        progress: Callable[[], TrainProgress | None] | None = None,
        on_event: Callable[[TrialEvent], None] | None = None,
    ) -> None:
        self.settings, self.folder, self.threads = settings, folder, threads
        self.layout = Layout(folder)
        self.progress = progress or (lambda: None)
        self.on_event = on_event or (lambda event: None)

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        params = suggest(trial, self.settings.sweep.space)
        for key, value in owner_attrs().items():
            trial.set_user_attr(key, value)
        started = time.perf_counter()
        try:
            value = self._runs(trial, params)
        except (TrainingInterrupted, KeyboardInterrupt):
            trial.set_user_attr(INTERRUPTED_ATTR, "ctrl-c")
            raise
        except optuna.TrialPruned:
            raise
        except HsctlError as exc:
            return self._failed(trial, str(exc))
        except Exception as exc:  # a trial that fails is recorded and the study goes on
            first = (str(exc).strip().splitlines() or [""])[0]
            return self._failed(trial, f"{type(exc).__name__}: {first}")
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        return value

    def _failed(self, trial: optuna.Trial, error: str) -> float:
        trial.set_user_attr(ERROR_ATTR, error)
        return float("nan")  # Optuna records a NaN objective as a failed trial

    def _runs(self, trial: optuna.Trial, params: dict[str, Any]) -> float:
        from hsctl.train import train

        cfg = self.settings.sweep
        origin = int(trial.user_attrs.get(ORIGIN_ATTR, trial.number))
        earlier = self._earlier_runs(trial)
        seeds = [self.settings.train.seed + i for i in range(cfg.seeds_per_trial)]
        trial.set_user_attr("seeds", seeds)
        runs: dict[str, Any] = {}
        for index, seed in enumerate(seeds):
            name = run_name_for(origin, seed, len(seeds))
            if earlier.get(name, {}).get("value") is not None:
                runs[name] = earlier[name]
                continue
            settings = self._run_settings(params, seed, name)
            resume = _can_resume(self.layout, name)
            if not resume:
                shutil.rmtree(self.layout.run_dir(name), ignore_errors=True)
            self.on_event(TrialEvent("run", trial.number, params, run_name=name, seed=seed,
                                     message="resumed from its checkpoint" if resume else ""))  # fmt: skip
            inner = self.progress()
            last = math.ceil(settings.train.epochs)
            progress = PruningProgress(trial, EPOCH_METRIC[cfg.objective], index == 0, inner, last_epoch=last)
            try:
                with _wandb_group(cfg.study):
                    result = train(settings, resume=resume, progress=progress, overwrite=True)  # the study's own
            except BaseException:
                progress.on_end()
                if progress.pruned_at is not None:
                    shutil.rmtree(self.layout.run_dir(name), ignore_errors=True)
                    trial.set_user_attr("pruned_at_epoch", progress.pruned_at)
                raise
            runs[name] = self._run_record(result, seed)
            trial.set_user_attr("runs", runs)
            if not cfg.keep_models:
                _slim(result.model_dir)
        return float(sum(r["value"] for r in runs.values()) / len(runs))

    def _earlier_runs(self, trial: optuna.Trial) -> dict[str, Any]:
        """The finished runs of the interrupted trial this one continues."""
        resume_of = trial.user_attrs.get(RESUME_OF_ATTR)
        if resume_of is None:
            return {}
        old = next((t for t in trial.study.get_trials(deepcopy=False) if t.number == int(resume_of)), None)
        return dict(old.user_attrs.get("runs", {})) if old is not None else {}

    def _run_settings(self, params: dict[str, Any], seed: int, name: str) -> Settings:
        base = self.settings
        fixed: dict[str, Any] = {"seed": seed, "run_name": name}
        if self.threads:
            fixed["threads"] = self.threads
        if base.sweep.objective == "functional":
            fixed["functional_suite"] = True
        elif "functional_suite" not in params:
            fixed["functional_suite"] = False  # a minute per trial for a number the objective ignores
        return base.model_copy(
            update={
                "paths": base.paths.model_copy(update={"artifacts": self.folder}),
                "train": trial_train_settings(base.train, params, **fixed),
            }
        )

    def _run_record(self, result: TrainResult, seed: int) -> dict[str, Any]:
        shift, metrics = result.shift_estimates, result.validation_metrics
        suite = result.functional_suite or {}
        return {
            "seed": seed,
            "value": objective_value(result, self.settings.sweep.objective),
            "shift_score": shift.get("balanced_macro_f1"),
            "macro_f1": metrics.get("macro_f1"),
            "suite_pass_rate": suite.get("pass_rate"),
            "threshold": result.threshold,
            "epochs": result.epochs_completed,
            "train_time_s": result.train_time_s,
            "model_dir": str(result.model_dir),
        }
