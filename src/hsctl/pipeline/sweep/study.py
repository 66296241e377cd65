"""Optuna storage and study: open or join a study, recover crashed trials, queue interrupted ones again.

Several processes (on one machine or many) share a study through one RDB storage;
Optuna hands out trial numbers from the database, so they never clash. Each process
keeps the trials it runs in its own study folder under ``<artifacts>/sweeps/<study>``.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hsctl.core.layout import SWEEP_STORAGE
from hsctl.errors import ConfigError, DataError, HubUnreachableError

if TYPE_CHECKING:
    import optuna

    from hsctl.settings import Settings, SweepSettings

SQLITE_TIMEOUT_S = 60
SCHEMA_ATTEMPTS = 5
# Trial attributes hsctl writes (user attributes in the storage).
ERROR_ATTR = "error"
INTERRUPTED_ATTR = "interrupted"
RESUME_OF_ATTR = "resume_of"
ORIGIN_ATTR = "origin"


def study_dir(settings: Settings, study: str | None = None) -> Path:
    """This machine's folder of a study: trial runs, model cards, plots and the best parameters."""
    return settings.paths.layout.sweep_dir(study or settings.sweep.study)


def storage_url(settings: Settings) -> str:
    """The storage URL: ``sweep.storage``, else a SQLite file under the artifacts folder."""
    if settings.sweep.storage:
        return settings.sweep.storage
    return f"sqlite:///{(settings.paths.layout.sweeps_dir / SWEEP_STORAGE).resolve()}"


def masked(url: str) -> str:
    """The URL with its password hidden, for tables and errors."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy parses: the storage call will say so
        return url


def open_storage(url: str, *, heartbeat_s: int | None = None, create: bool = True) -> optuna.storages.RDBStorage:
    """An RDB storage; a missing SQLite file is an error unless ``create``; driver and network errors are one line."""
    import optuna
    import sqlalchemy.exc

    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url.removeprefix("sqlite:///"))
        if not create and not path.is_file():
            raise DataError(f"no sweep storage at {path}: run 'hsctl sweep' first (or pass --storage)")
        path.parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {}
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the heartbeat is marked experimental
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_s,
                    grace_period=3 * heartbeat_s if heartbeat_s else None,
                )
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as exc:
            # Processes that open a new storage at once race to create its tables and stamp its schema
            # version: the loser retries and finds them made.
            racing = isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in str(exc)
            if not racing or attempt == SCHEMA_ATTEMPTS - 1:
                _raise_storage_error(url, exc)
            time.sleep(0.5 * (attempt + 1))
        except Exception as exc:
            _raise_storage_error(url, exc)
    raise AssertionError("unreachable")


def _raise_storage_error(url: str, exc: Exception) -> NoReturn:
    """One line for a missing driver, a bad URL or a database that cannot be opened or reached."""
    import sqlalchemy.exc

    if isinstance(exc, ModuleNotFoundError):
        raise ConfigError(
            f"storage {masked(url)} needs the database driver {exc.name!r}",
            hint="e.g. pip install psycopg2-binary (PostgreSQL) or pymysql (MySQL)",
        ) from exc
    if isinstance(exc, sqlalchemy.exc.ArgumentError | sqlalchemy.exc.NoSuchModuleError):
        raise ConfigError(f"invalid storage URL {masked(url)}: {exc}") from exc
    if isinstance(exc, sqlalchemy.exc.OperationalError):
        first = str(exc.orig or exc).strip().splitlines()[0]
        if url.startswith("sqlite"):
            raise DataError(f"cannot open sweep storage {masked(url)}: {first}") from exc
        raise HubUnreachableError(f"cannot reach sweep storage {masked(url)}: {first}") from exc
    raise exc


def _sampler(cfg: SweepSettings) -> Any:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # multivariate/constant_liar are marked experimental
        return optuna.samplers.TPESampler(
            seed=cfg.sampler_seed, n_startup_trials=cfg.startup_trials, multivariate=True, constant_liar=True
        )


def _pruner(cfg: SweepSettings) -> Any:
    import optuna

    if cfg.pruner == "none" or cfg.objective == "functional":
        return optuna.pruners.NopPruner()
    if cfg.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, cfg.pruner_warmup_epochs))
    return optuna.pruners.MedianPruner(
        n_startup_trials=cfg.pruner_startup_trials, n_warmup_steps=cfg.pruner_warmup_epochs
    )


def open_study(settings: Settings, *, must_exist: bool) -> optuna.Study:
    """Create the study or join it; an existing study must have the same objective and direction."""
    import optuna

    cfg = settings.sweep
    url = storage_url(settings)
    storage = open_storage(url, heartbeat_s=cfg.heartbeat_s, create=not must_exist)
    if must_exist and cfg.study not in optuna.get_all_study_names(storage):
        raise DataError(f"no study {cfg.study!r} in {masked(url)}: nothing to resume", hint=_known(storage))
    study = optuna.create_study(
        storage=storage,
        sampler=_sampler(cfg),
        pruner=_pruner(cfg),
        study_name=cfg.study,
        direction=cfg.direction,
        load_if_exists=True,
    )
    known = study.user_attrs.get("objective")
    if known is None:
        study.set_user_attr("objective", cfg.objective)
    elif known != cfg.objective:
        raise ConfigError(f"study {cfg.study!r} optimises {known!r}, not {cfg.objective!r}: use another --study")
    if study.direction.name.lower() != cfg.direction:
        raise ConfigError(f"study {cfg.study!r} is set to {study.direction.name.lower()}, not {cfg.direction}")
    return study


def load_existing(settings: Settings, study: str | None = None) -> optuna.Study:
    """An existing study, read-only use (``sweep show``, ``train --params-from-sweep``)."""
    import optuna

    name = study or settings.sweep.study
    url = storage_url(settings)
    storage = open_storage(url, create=False)
    if name not in optuna.get_all_study_names(storage):
        raise DataError(f"no study {name!r} in {masked(url)}", hint=_known(storage))
    return optuna.load_study(study_name=name, storage=storage)


def _known(storage: Any) -> str:
    import optuna

    names = optuna.get_all_study_names(storage)
    return f"studies there: {', '.join(names)}" if names else "the storage holds no study yet"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_attrs() -> dict[str, Any]:
    """Who runs a trial: a later run on this machine fails it when that process is gone."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def fail_crashed(study: optuna.Study) -> list[int]:
    """Mark running trials of dead processes on this machine as failed (other machines: the heartbeat does)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("host") != host or _alive(trial.user_attrs.get("pid")):
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, "crashed")
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            failed.append(trial.number)
        except UpdateFinishedTrialError:  # another process got there first
            continue
    return failed


def requeue_unfinished(study: optuna.Study) -> list[int]:
    """Queue again every failed trial that did not fail by itself (Ctrl-C, crash) and was not queued yet.

    The new trial takes the same parameters and continues the old trial's runs from their checkpoints.
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    taken = {t.user_attrs.get(RESUME_OF_ATTR) for t in trials}
    queued = []
    for trial in trials:
        if trial.state != TrialState.FAIL or ERROR_ATTR in trial.user_attrs or trial.number in taken:
            continue
        origin = trial.user_attrs.get(ORIGIN_ATTR, trial.number)
        study.enqueue_trial(trial.params, user_attrs={RESUME_OF_ATTR: trial.number, ORIGIN_ATTR: origin})
        queued.append(trial.number)
    return queued


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards ``sweep.trials``: finished, except those interrupted (they run again)."""
    from optuna.trial import TrialState

    done = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs
        ):
            done += 1
    return done
