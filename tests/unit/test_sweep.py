"""``hsctl.pipeline.sweep``: search space, storage, crash recovery, and real studies on the scratch model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hsctl.errors import ConfigError, DataError, TrainingInterrupted
from hsctl.settings import SweepParam, load_settings
from tests.conftest import make_frame

ROOT = Path(__file__).resolve().parents[2]
TINY_SPACE = {
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "epochs": {"type": "categorical", "choices": [2]},
}


def tiny_settings(root: Path, **overrides: Any) -> Any:
    """Settings of a fast study: the scratch model on a few rows, no tracking."""
    base = {
        "paths.artifacts": str(root / "artifacts"),
        "train.model": "scratch",
        "train.max_length": 16,
        "train.scratch_vocab_size": 100,
        "train.early_stopping_patience": 0,
        "tracking.backend": "none",
        "sweep.sampler_seed": 0,
        "sweep.space": TINY_SPACE,
    }
    return load_settings(base | overrides).settings


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """An artifacts folder with 80 preprocessed rows."""
    from hsctl.fetch import fetch
    from hsctl.preprocess import preprocess

    make_frame(80).to_csv(tmp_path / "small.csv", index=False)
    settings = tiny_settings(tmp_path)
    fetch(str(tmp_path / "small.csv"), settings.data, settings.paths.raw_dir)
    preprocess(settings.data, settings.paths.raw_dir, settings.paths.processed_dir)
    return tmp_path


# --- settings and search space ---------------------------------------------------------------


def test_default_space_is_valid_for_the_default_recipe():
    from hsctl.pipeline.sweep.trial import check_space

    settings = load_settings().settings
    check_space(settings)  # raises on a bound that is not a valid train setting
    assert {"learning_rate", "epochs", "batch_size", "category_weighting"} <= set(settings.sweep.space)
    assert settings.sweep.objective == "shift" and settings.sweep.direction == "maximize"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1.0, "high": 0.5}, "low < high"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale"),
        ({"type": "int", "low": 0.5, "high": 3}, "whole"),
        ({"type": "categorical"}, "needs choices"),
    ],
)
def test_invalid_parameter_specs(spec: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        SweepParam(**spec)


def test_space_must_name_searchable_train_settings():
    with pytest.raises(ConfigError, match="not train settings: nope"):
        load_settings({"sweep.space": {"nope": {"type": "int", "low": 1, "high": 2}}})
    with pytest.raises(ConfigError, match="cannot be searched: seed"):
        load_settings({"sweep.space": {"seed": {"type": "int", "low": 1, "high": 2}}})


def test_space_bounds_must_be_valid_train_values():
    from hsctl.pipeline.sweep.trial import check_space

    settings = load_settings({"sweep.space": {"warmup_ratio": {"type": "float", "low": 0.5, "high": 1.5}}}).settings
    with pytest.raises(ConfigError, match="warmup_ratio"):
        check_space(settings)


def test_timeout_takes_durations_and_toml_space(tmp_path: Path):
    (tmp_path / "hsctl.toml").write_text(
        '[sweep]\ntimeout_s = "1h30m"\n[sweep.space.batch_size]\ntype = "categorical"\nchoices = [8, 16]\n'
    )
    sweep = load_settings(config_file=tmp_path / "hsctl.toml").settings.sweep
    assert sweep.timeout_s == 5400
    assert list(sweep.space) == ["batch_size"]  # a [sweep.space] table replaces the default space
    assert sweep.space["batch_size"].choices == [8, 16]


def test_suggest_gives_each_type():
    import optuna

    from hsctl.pipeline.sweep.trial import suggest

    space = {
        "learning_rate": SweepParam(type="float", low=1e-5, high=1e-3, log=True),
        "freeze_layers": SweepParam(type="int", low=0, high=6, step=3),
        "class_weights": SweepParam(type="categorical", choices=[True, False]),
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        params = suggest(study.ask(), space)
        assert 1e-5 <= params["learning_rate"] <= 1e-3
        assert params["freeze_layers"] in (0, 3, 6)
        assert isinstance(params["class_weights"], bool)


# --- storage, crash recovery and the report -------------------------------------------------


def test_storage_errors_are_one_line(tmp_path: Path):
    from hsctl.pipeline.sweep.study import masked, open_storage

    with pytest.raises(DataError, match="no sweep storage"):
        open_storage(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    with pytest.raises(ConfigError):
        open_storage("nosuchdialect://x/y")
    assert masked("postgresql://me:secret@db.example/hsctl") == "postgresql://me:***@db.example/hsctl"


def test_show_missing_study_names_the_known_ones(tmp_path: Path):
    from hsctl.pipeline.sweep import show_study
    from hsctl.pipeline.sweep.study import open_study

    settings = tiny_settings(tmp_path, **{"sweep.study": "one"})
    open_study(settings, must_exist=False)
    with pytest.raises(DataError, match=r"no study 'two'.*studies there: one"):
        show_study(settings, "two")


def test_existing_study_must_keep_its_objective(tmp_path: Path):
    from hsctl.pipeline.sweep.study import open_study

    open_study(tiny_settings(tmp_path), must_exist=False)
    with pytest.raises(ConfigError, match="optimises 'shift'"):
        open_study(tiny_settings(tmp_path, **{"sweep.objective": "macro_f1"}), must_exist=False)
    with pytest.raises(DataError, match="nothing to resume"):
        open_study(tiny_settings(tmp_path, **{"sweep.study": "other"}), must_exist=True)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_crashed_trials_are_failed_and_queued_again(tmp_path: Path):
    from optuna.trial import TrialState

    from hsctl.pipeline.sweep.study import counted_trials, fail_crashed, open_study, requeue_unfinished

    study = open_study(tiny_settings(tmp_path), must_exist=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    crashed = study.ask()
    crashed.suggest_float("learning_rate", 1e-3, 1e-2)
    crashed.set_user_attr("host", os.uname().nodename)
    crashed.set_user_attr("pid", int(dead.stdout))  # that process has exited
    alive = study.ask()
    alive.set_user_attr("host", os.uname().nodename)
    alive.set_user_attr("pid", os.getpid())
    broken = study.ask()
    broken.set_user_attr("error", "DataError: bad")
    study.tell(broken, state=TrialState.FAIL)

    assert fail_crashed(study) == [crashed.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[crashed.number] == TrialState.FAIL and states[alive.number] == TrialState.RUNNING
    assert counted_trials(study) == 1  # the failed-by-itself trial counts, the crashed one runs again
    assert requeue_unfinished(study) == [crashed.number]
    assert requeue_unfinished(study) == []  # queued once only
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert waiting[0].params == {} and waiting[0].user_attrs["resume_of"] == crashed.number


def test_best_toml_is_valid_toml(tmp_path: Path):
    from hsctl.pipeline.sweep.report import StudyReport, best_toml

    report = StudyReport(
        study="s", storage="sqlite://", objective="shift", direction="maximize", folder=tmp_path, counts={},
        trials=[], best={"number": 3, "value": 0.81, "seeds": [42],
                         "params": {"learning_rate": 3e-05, "epochs": 2, "class_weights": False,
                                    "category_weighting": "sqrt"}},
    )  # fmt: skip
    parsed = tomllib.loads(best_toml(report))
    assert parsed == {"train": {"learning_rate": 3e-05, "epochs": 2, "class_weights": False,
                                "category_weighting": "sqrt"}}  # fmt: skip
    # and the fragment loads as hsctl settings
    (tmp_path / "hsctl.toml").write_text(best_toml(report))
    assert load_settings(config_file=tmp_path / "hsctl.toml").settings.train.learning_rate == 3e-05


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study_without_duplicate_numbers(tmp_path: Path):
    """Optuna's distributed mode on the default storage: trial numbers come from the database."""
    import optuna

    from hsctl.pipeline.sweep.study import open_storage, storage_url

    code = (
        "import sys, optuna\n"
        "from hsctl.settings import load_settings\n"
        "from hsctl.pipeline.sweep.study import open_study\n"
        "optuna.logging.set_verbosity(optuna.logging.ERROR)\n"
        "s = load_settings({'paths.artifacts': sys.argv[1]}).settings\n"
        "study = open_study(s, must_exist=False)\n"
        "study.optimize(lambda t: t.suggest_float('learning_rate', 1e-5, 1e-3, log=True), n_trials=12)\n"
    )
    artifacts = tmp_path / "artifacts"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(artifacts)], env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    settings = load_settings({"paths.artifacts": str(artifacts)}).settings
    study = optuna.load_study(study_name="hsctl", storage=open_storage(storage_url(settings), create=False))
    numbers = [t.number for t in study.get_trials()]
    assert sorted(numbers) == list(range(24))
    assert all(t.state.name == "COMPLETE" for t in study.get_trials())


def test_pruning_progress_reports_each_epoch_and_never_prunes_the_last():
    import optuna

    from hsctl.pipeline.sweep.trial import PruningProgress

    class AlwaysPrune:
        def __init__(self) -> None:
            self.reported: list[tuple[float, int]] = []

        def report(self, value: float, step: int) -> None:
            self.reported.append((value, step))

        def should_prune(self) -> bool:
            return True

    trial = AlwaysPrune()
    last = PruningProgress(trial, "eval_shift_score", True, last_epoch=2)  # type: ignore[arg-type]
    last.on_evaluate({"eval_shift_score": 0.5, "epoch": 2.0})  # the final epoch: keep the real score
    assert trial.reported == [(0.5, 2)] and last.pruned_at is None
    early = PruningProgress(trial, "eval_shift_score", True, last_epoch=3)  # type: ignore[arg-type]
    with pytest.raises(optuna.TrialPruned):
        early.on_evaluate({"eval_shift_score": 0.4, "epoch": 1.0})
    assert early.pruned_at == 1
    off = PruningProgress(trial, None, True, last_epoch=3)  # type: ignore[arg-type]  # functional: nothing per epoch
    off.on_evaluate({"eval_shift_score": 0.4, "epoch": 1.0})
    assert len(trial.reported) == 2


def test_parallel_jobs_only_where_safe(monkeypatch: pytest.MonkeyPatch):
    from hsctl.pipeline.sweep import _threads_per_job

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("WANDB_MODE", raising=False)  # "disabled" in tests would turn tracking off
    assert _threads_per_job(load_settings({"tracking.backend": "none"}).settings) is None
    assert _threads_per_job(load_settings({"tracking.backend": "none", "sweep.n_jobs": 2}).settings) == 4
    with pytest.raises(ConfigError, match="tracking off"):
        _threads_per_job(load_settings({"tracking.backend": "wandb-offline", "sweep.n_jobs": 2}).settings)
    with pytest.raises(ConfigError, match="at least 10 CPU cores"):
        _threads_per_job(load_settings({"tracking.backend": "none", "sweep.n_jobs": 5}).settings)


# --- real studies on the scratch model ------------------------------------------------------


@pytest.mark.slow
def test_three_trial_study_with_a_pruned_trial(prepared: Path, monkeypatch: pytest.MonkeyPatch):
    import optuna

    from hsctl.pipeline.sweep import run_sweep, show_study

    real = optuna.trial.Trial.should_prune
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: self.number == 1 or real(self))
    events: list[Any] = []
    settings = tiny_settings(prepared, **{"sweep.trials": 3})
    result = run_sweep(settings, on_event=events.append)

    report = result.report
    assert result.ran == 3 and result.stopped == "trials"
    assert report.counts == {"COMPLETE": 2, "PRUNED": 1}
    pruned = next(r for r in report.trials if r.state == "PRUNED")
    assert pruned.number == 1 and pruned.pruned_at_epoch == 1
    assert not (prepared / "artifacts/sweeps/hsctl/runs/trial-0001").exists()  # its checkpoints are gone
    assert [e.state for e in events if e.kind == "end"] == ["COMPLETE", "PRUNED", "COMPLETE"]
    # every completed trial is a real run with its own model folder (card kept, weights dropped)
    for row in report.trials:
        if row.state == "COMPLETE":
            model = prepared / f"artifacts/sweeps/hsctl/models/trial-{row.number:04d}"
            assert sorted(p.name for p in model.iterdir()) == ["README.md", "hsctl.json"]
            assert row.seeds == [42] and 0 <= (row.value or -1) <= 1
    assert report.best is not None and report.best["number"] in (0, 2)
    best = tomllib.loads(Path(report.files["best_toml"]).read_text())["train"]
    assert best["learning_rate"] == report.best["params"]["learning_rate"]
    assert {"history", "parallel_coordinates", "trials_md"} <= set(report.files)
    assert Path(report.files["history"]).stat().st_size > 1000
    # the project's own models folder is untouched: no trial became the latest model
    assert not (prepared / "artifacts/models").exists()
    # a second run finds the budget spent and starts nothing
    again = run_sweep(settings)
    assert again.ran == 0 and again.stopped == "done"
    assert show_study(settings).counts == report.counts


@pytest.mark.slow
def test_failing_trials_are_recorded_and_stop_the_sweep(prepared: Path):
    from hsctl.errors import HsctlError
    from hsctl.pipeline.sweep import run_sweep, show_study

    # a base model that does not exist: every trial fails with a one-line error
    settings = tiny_settings(prepared, **{"train.model": str(prepared / "no-such-model"), "sweep.max_failures": 2})
    with pytest.raises(HsctlError, match="2 trials in a row failed"):
        run_sweep(settings)
    report = show_study(settings, write=False)
    assert report.counts == {"FAIL": 2}
    assert all(row.error for row in report.trials)


@pytest.mark.slow
def test_interrupted_trial_resumes_from_its_checkpoint(prepared: Path):
    from hsctl.pipeline.sweep import run_sweep

    class CtrlCAtFirstStep:
        """Press Ctrl-C after the first step of the second trial."""

        calls = 0

        def __init__(self) -> None:
            type(self).calls += 1

        def on_start(self, total_steps: int, start_step: int, samples_per_step: int) -> None: ...
        def on_log(self, logs: dict[str, float]) -> None: ...
        def on_evaluate(self, metrics: dict[str, float]) -> None: ...
        def on_end(self) -> None: ...

        def on_step(self, step: int, epoch: float) -> None:
            if type(self).calls == 2 and step == 1:
                os.kill(os.getpid(), signal.SIGINT)

    settings = tiny_settings(prepared, **{"sweep.trials": 2, "sweep.pruner": "none"})
    with pytest.raises(TrainingInterrupted, match="--resume"):
        run_sweep(settings, progress=CtrlCAtFirstStep)
    checkpoints = list((prepared / "artifacts/sweeps/hsctl/runs/trial-0001/checkpoints").glob("checkpoint-*"))
    assert checkpoints, "Ctrl-C must leave the running trial's checkpoint"

    events: list[Any] = []
    result = run_sweep(settings, resume=True, on_event=events.append)
    assert result.requeued == [1]
    report = result.report
    assert report.counts == {"COMPLETE": 2, "FAIL": 1}
    interrupted = next(r for r in report.trials if r.number == 1)
    assert interrupted.interrupted == "ctrl-c"
    resumed = next(r for r in report.trials if r.number == 2)
    assert resumed.resume_of == 1 and resumed.params == interrupted.params
    assert [e.message for e in events if e.kind == "run"] == ["resumed from its checkpoint"]
    card = (prepared / "artifacts/sweeps/hsctl/models/trial-0001/hsctl.json").read_text()
    assert '"resumed_from": "' in card  # the run continued from the checkpoint, not from scratch


def test_trial_runs_are_grouped_by_study_in_wandb(monkeypatch: pytest.MonkeyPatch):
    import types

    from hsctl.pipeline.sweep.trial import _wandb_group

    finished: list[int] = []
    fake_run = types.SimpleNamespace(finish=lambda exit_code=0: finished.append(exit_code))
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(run=fake_run))
    monkeypatch.delenv("WANDB_RUN_GROUP", raising=False)
    with _wandb_group("big"):
        assert os.environ["WANDB_RUN_GROUP"] == "sweep-big"  # read by wandb.init in train's tracking
        assert os.environ["WANDB_JOB_TYPE"] == "sweep-trial"
    assert "WANDB_RUN_GROUP" not in os.environ
    assert finished == [1]  # a run left open by a pruned or failed trial is finished as failed
