from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from hsctl.__about__ import __version__
from hsctl.cli.main import app

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("fetch", "preprocess", "config"):
        assert command in result.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"hsctl {__version__}"


def test_fetch_and_preprocess_demo_json(isolated: Path):
    fetched = invoke("fetch", "--source", "demo", "--json")
    assert fetched.exit_code == 0, fetched.stderr
    data = json.loads(fetched.stdout)  # exactly one JSON object
    assert data["kind"] == "demo" and data["splits"]["train"] > 300
    processed = invoke("preprocess", "--json")
    assert processed.exit_code == 0, processed.stderr
    report = json.loads(processed.stdout)
    assert report["dropped"]["empty_text"] == 1
    assert report["dropped"]["duplicate"] >= 1
    assert set(report["splits"]) == {"train", "validation", "test"}
    assert (isolated / "artifacts" / "data" / "processed" / "stats.json").is_file()


def test_human_output_has_tables(isolated: Path):
    assert "fetched demo" in invoke("fetch", "--source", "demo").stdout
    out = invoke("preprocess").stdout
    assert "validation" in out and "dropped:" in out


def test_artifacts_flag_and_env_var(isolated: Path):
    assert invoke("fetch", "--source", "demo", "--artifacts", "elsewhere").exit_code == 0
    assert (isolated / "elsewhere" / "data" / "raw" / "train.parquet").is_file()
    assert invoke("preprocess", env={"HSCTL_PATHS__ARTIFACTS": "elsewhere"}).exit_code == 0
    assert (isolated / "elsewhere" / "data" / "processed" / "stats.json").is_file()


def test_missing_file_exit_4_one_line(isolated: Path):
    result = invoke("fetch", "--source", "nope.csv")
    assert result.exit_code == 4
    assert result.stderr.strip() == "error: file not found: nope.csv"
    assert "Traceback" not in result.stderr


def test_wrong_columns_exit_4(isolated: Path):
    pd.DataFrame({"body": ["x"], "label": [0]}).to_csv("d.csv", index=False)
    result = invoke("fetch", "--source", "d.csv")
    assert result.exit_code == 4
    assert "missing column 'tweet'" in result.stderr and "--text-column" in result.stderr
    assert invoke("fetch", "--source", "d.csv", "--text-column", "body").exit_code == 0


def test_bad_labels_exit_4_and_keep_previous_output(isolated: Path):
    assert invoke("fetch", "--source", "demo").exit_code == 0
    assert invoke("preprocess").exit_code == 0
    stats = (isolated / "artifacts/data/processed/stats.json").read_text()
    pd.DataFrame({"tweet": ["a", "b", "c"], "label": ["0", "yes", "1"]}).to_csv("bad.csv", index=False)
    assert invoke("fetch", "--source", "bad.csv").exit_code == 0
    result = invoke("preprocess")
    assert result.exit_code == 4
    assert "1 row(s) have labels outside" in result.stderr and "rows 2;" in result.stderr
    assert (isolated / "artifacts/data/processed/stats.json").read_text() == stats


def test_label_map_flag(isolated: Path):
    pd.DataFrame({"tweet": [f"t{i}" for i in range(30)], "label": ["hate", "non-hate", "non-hate"] * 10}).to_csv(
        "s.csv", index=False
    )
    assert invoke("fetch", "--source", "s.csv", "--label-map", "hate=1,non-hate=0").exit_code == 0
    report = json.loads(invoke("preprocess", "--json").stdout)
    assert report["stats"]["splits"]["train"]["labels"]["hate"]["count"] > 0


def test_invalid_settings_exit_2(isolated: Path):
    result = invoke("config", "show", env={"HSCTL_SERVE__PORT": "not-a-port"})
    assert result.exit_code == 2
    assert "serve.port" in result.stderr and "HSCTL_SERVE__PORT" in result.stderr
    assert invoke("preprocess", "--validation-size", "0.9").exit_code == 2


def test_config_show_json_sources(isolated: Path):
    Path("hsctl.toml").write_text("[serve]\nport = 9000\n")
    result = invoke("config", "show", "--json", env={"HSCTL_TRAIN__EPOCHS": "4"})
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["settings"]["serve.port"] == 9000
    assert data["sources"]["serve.port"] == "hsctl.toml"
    assert data["sources"]["train.epochs"] == "HSCTL_TRAIN__EPOCHS"
    assert data["sources"]["data.source"] == "default"
    assert "serve.port" in invoke("config", "show").stdout


def test_config_flags_and_validate(isolated: Path):
    Path("other.toml").write_text("[train]\nepochs = 0\n")
    result = invoke("--config", "other.toml", "config", "validate")
    assert result.exit_code == 2 and "train.epochs" in result.stderr
    Path("ok.env").write_text("HSCTL_TRAIN__EPOCHS=2\n")
    result = invoke("--env-file", "ok.env", "config", "validate", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["overridden"] == ["train.epochs"]
    assert invoke("--env-file", "missing.env", "config", "show").exit_code == 2


def test_unexpected_errors_are_one_line_unless_debug(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    import hsctl.fetch

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(hsctl.fetch, "fetch", boom)
    result = invoke("fetch", "--source", "demo")
    assert result.exit_code == 1
    assert (
        result.stderr.strip() == "error: unexpected RuntimeError: disk on fire (rerun with --debug for the traceback)"
    )
    debug = invoke("--debug", "fetch", "--source", "demo")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr
    assert "Traceback" in invoke("fetch", "--source", "demo", env={"HSCTL_DEBUG": "1"}).stderr


def test_usage_error_exit_2():
    assert invoke("fetch", "--no-such-flag").exit_code == 2
    assert invoke("nosuchcommand").exit_code == 2
