"""``hsctl sweep``, ``hsctl sweep show`` and ``hsctl train --params-from-sweep`` through Typer's runner."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from tests.conftest import make_frame, tiny_sweep_toml

runner = CliRunner()
TOML = tiny_sweep_toml(sampler_seed=0)


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def fake_study(name: str = "cli") -> None:
    """A study with two completed trials and a failed one, without training anything."""
    import optuna
    from optuna.trial import TrialState

    from hsctl.pipeline.sweep.study import open_storage

    storage = open_storage(f"sqlite:///{Path('artifacts/sweeps/optuna.db').resolve()}")
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.set_user_attr("objective", "shift")
    for lr, epochs, value in ((2e-5, 2, 0.71), (4e-5, 1, 0.78)):
        study.enqueue_trial({"learning_rate": lr, "epochs": epochs})
        trial = study.ask()
        trial.suggest_float("learning_rate", 1e-5, 1e-4, log=True)
        trial.suggest_int("epochs", 1, 3)
        study.tell(trial, value)
    failed = study.ask()
    failed.set_user_attr("error", "DataError: broken")
    study.tell(failed, state=TrialState.FAIL)


def test_show_table_markdown_json_and_best_toml(isolated: Path):
    fake_study()
    out = invoke("sweep", "show", "--study", "cli")
    assert out.exit_code == 0, out.stderr
    assert "best: trial 1, shift 0.7800" in out.stdout and "learning_rate=4e-05" in out.stdout
    assert out.stdout.index("0.7800") < out.stdout.index("0.7100")  # best first
    best = tomllib.loads((isolated / "artifacts/sweeps/cli/best.toml").read_text())
    assert best == {"train": {"epochs": 1, "learning_rate": 4e-05}}
    assert (isolated / "artifacts/sweeps/cli/plots/history.png").is_file()

    md = invoke("sweep", "show", "--study", "cli", "--markdown")
    assert md.exit_code == 0
    assert md.stdout.splitlines()[0] == "| trial | state | shift | epochs | learning_rate | seconds |"
    assert "| 2 | fail | - |" in md.stdout

    js = invoke("sweep", "show", "--study", "cli", "--json")
    data = json.loads(js.stdout)
    assert data["counts"] == {"COMPLETE": 2, "FAIL": 1}
    assert data["best"]["params"] == {"learning_rate": 4e-05, "epochs": 1}
    assert data["trials"][2]["error"] == "DataError: broken"


def test_show_errors_are_one_line(isolated: Path):
    out = invoke("sweep", "show")
    assert out.exit_code == 4 and "no sweep storage" in out.stderr
    fake_study()
    out = invoke("sweep", "show", "--study", "nope")
    assert out.exit_code == 4 and "no study 'nope'" in out.stderr and "studies there: cli" in out.stderr
    assert "Traceback" not in out.stderr


def test_sweep_usage_errors(isolated: Path):
    bad = invoke("sweep", "--timeout", "soon")
    assert bad.exit_code == 2 and "not a duration" in bad.stderr
    bad = invoke("sweep", "--objective", "accuracy")
    assert bad.exit_code == 2 and "sweep.objective" in bad.stderr
    missing = invoke("sweep", "--trials", "1")
    assert missing.exit_code == 4 and "hsctl preprocess" in missing.stderr
    resume = invoke("sweep", "--resume", "--study", "never")
    assert resume.exit_code == 4 and "no sweep storage" in resume.stderr  # nothing was ever run here


def test_train_params_from_sweep_sits_under_flags(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    import hsctl.train
    from hsctl.errors import HsctlError

    seen: dict[str, Any] = {}

    def fake_train(settings: Any, **kwargs: Any) -> Any:
        seen["train"] = settings.train
        raise HsctlError("stop here")

    monkeypatch.setattr(hsctl.train, "train", fake_train)
    fake_study()
    out = invoke("train", "--params-from-sweep", "cli", "--epochs", "3")
    assert out.exit_code == 1 and "stop here" in out.stderr
    assert seen["train"].learning_rate == 4e-05  # from the study's best trial
    assert seen["train"].epochs == 3  # the flag wins over the study
    missing = invoke("train", "--params-from-sweep", "nope")
    assert missing.exit_code == 4 and "no study 'nope'" in missing.stderr
    clash = invoke("train", "--resume", "--params-from-sweep", "cli")
    assert clash.exit_code == 2 and "--params-from-sweep" in clash.stderr


def test_sweep_runs_a_study_end_to_end(isolated: Path):
    make_frame(80).to_csv("small.csv", index=False)
    Path("hsctl.toml").write_text(TOML)
    assert invoke("fetch", "--source", "small.csv").exit_code == 0
    assert invoke("preprocess").exit_code == 0
    out = invoke("sweep", "--trials", "2", "--study", "e2e", "--json")
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ran"] == 2 and data["counts"] == {"COMPLETE": 2}
    assert "trial 0 trial-0000 seed 42" in out.stderr and "trial 1 complete" in out.stderr
    trained = invoke("train", "--params-from-sweep", "e2e", "--run-name", "winner", "--json")
    assert trained.exit_code == 0, trained.stderr
    card = json.loads((isolated / "artifacts/models/winner/hsctl.json").read_text())
    assert card["training"]["learning_rate"] == data["best"]["params"]["learning_rate"]


@pytest.mark.parametrize("command", [["sweep"], ["sweep", "show"]])
def test_help_imports_neither_optuna_nor_torch(command: list[str]):
    import subprocess
    import sys

    code = (
        "import sys, runpy\n"
        f"sys.argv = ['hsctl', *{command!r}, '--help']\n"
        "try:\n    runpy.run_module('hsctl', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('HEAVY=' + ','.join(m for m in ('optuna', 'torch', 'sqlalchemy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--trials" in out.stdout or "--markdown" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_config_show_json_lists_the_search_space(isolated: Path):
    Path("hsctl.toml").write_text(TOML)
    out = invoke("config", "show", "--json")
    assert out.exit_code == 0, out.stderr
    space = json.loads(out.stdout)["settings"]["sweep.space"]
    assert space["epochs"] == {"type": "categorical", "log": False, "choices": [1]}
    assert space["learning_rate"]["log"] is True
