"""Run folders: unique names created atomically, a lock while a run writes, no silent replacement of a model."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.errors import ConfigError
from hsctl.train import default_run_name
from hsctl.train.runs import LOCK_FILE, claim_run

runner = CliRunner()


def test_names_started_in_the_same_second_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import hsctl.train.runs as runs

    monkeypatch.setattr(runs.time, "strftime", lambda *a: "20260101-000000")
    suffixes = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(runs.secrets, "token_hex", lambda n: next(suffixes))
    first, lock1 = claim_run(tmp_path / "runs", tmp_path / "models", None, "scratch", resume=False, overwrite=False)
    second, lock2 = claim_run(tmp_path / "runs", tmp_path / "models", None, "scratch", resume=False, overwrite=False)
    assert first == "scratch-20260101-000000-aaaaaa" and second == "scratch-20260101-000000-bbbbbb"
    assert (tmp_path / "runs" / first).is_dir() and (tmp_path / "runs" / second).is_dir()
    for lock in (lock1, lock2):
        assert lock is not None
        lock.release()


def test_concurrent_claims_get_distinct_folders(tmp_path: Path):
    names: list[str] = []
    barrier = threading.Barrier(12)

    def claim() -> None:
        barrier.wait()
        name, lock = claim_run(tmp_path / "runs", tmp_path / "models", None, "m", resume=False, overwrite=False)
        names.append(name)
        assert lock is not None
        lock.release()

    threads = [threading.Thread(target=claim) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == 12
    assert default_run_name("org/all-MiniLM-L6-v2").startswith("all-MiniLM-L6-v2-")


def test_a_locked_run_is_refused_until_released(tmp_path: Path):
    runs, models = tmp_path / "runs", tmp_path / "models"
    _, lock = claim_run(runs, models, "r", "scratch", resume=False, overwrite=False)
    assert lock is not None and (runs / "r" / LOCK_FILE).is_file()
    for resume in (False, True):
        with pytest.raises(ConfigError, match="being written by another hsctl train"):
            claim_run(runs, models, "r", "scratch", resume=resume, overwrite=True)
    lock.release()
    _, again = claim_run(runs, models, "r", "scratch", resume=False, overwrite=False)
    assert again is not None
    again.release()


def test_the_lock_of_another_process_is_seen_and_dies_with_it(tmp_path: Path):
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from hsctl.train.runs import claim_run
        name, lock = claim_run(Path({str(tmp_path / "runs")!r}), Path({str(tmp_path / "models")!r}), "r", "m",
                               resume=False, overwrite=False)
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
            claim_run(tmp_path / "runs", tmp_path / "models", "r", "m", resume=False, overwrite=False)
    finally:
        holder.kill()
        holder.wait()
    _, lock = claim_run(tmp_path / "runs", tmp_path / "models", "r", "m", resume=False, overwrite=False)
    assert lock is not None
    lock.release()


def test_an_existing_named_model_needs_force(tmp_path: Path):
    runs, models = tmp_path / "runs", tmp_path / "models"
    (models / "r").mkdir(parents=True)
    with pytest.raises(ConfigError, match="--force"):
        claim_run(runs, models, "r", "scratch", resume=False, overwrite=False)
    _, lock = claim_run(runs, models, "r", "scratch", resume=False, overwrite=True)
    assert lock is not None
    lock.release()


def test_train_cli_refuses_to_replace_a_model_in_one_line(isolated: Path):
    model = isolated / "artifacts" / "models" / "keep"
    model.mkdir(parents=True)
    (model / "hsctl.json").write_text("{}")
    result = runner.invoke(app, ["train", "--model", "scratch", "--run-name", "keep"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--force" in lines[0] and "keep" in lines[0]
    assert (model / "hsctl.json").read_text() == "{}"
    json_result = runner.invoke(app, ["train", "--model", "scratch", "--run-name", "keep", "--json"])
    assert json_result.exit_code == 2 and "--force" in json_result.stdout


def test_train_releases_its_lock_and_refuses_a_second_write_of_the_model(trained_model: Path):
    runs, models = trained_model.parents[1] / "runs", trained_model.parent
    assert (runs / trained_model.name / LOCK_FILE).is_file()
    with pytest.raises(ConfigError, match="--force"):
        claim_run(runs, models, trained_model.name, "scratch", resume=False, overwrite=False)
    _, lock = claim_run(runs, models, trained_model.name, "scratch", resume=False, overwrite=True)  # released
    assert lock is not None
    lock.release()


def test_a_run_stopped_before_writing_leaves_no_folder(tmp_path: Path):
    runs, models = tmp_path / "runs", tmp_path / "models"
    name, lock = claim_run(runs, models, None, "scratch", resume=False, overwrite=False)
    assert lock is not None and (runs / name).is_dir()
    lock.release()
    assert not (runs / name).exists()
    kept, lock = claim_run(runs, models, None, "scratch", resume=False, overwrite=False)
    (runs / kept / "run.json").write_text("{}")
    assert lock is not None
    lock.release()
    assert (runs / kept / "run.json").is_file()
