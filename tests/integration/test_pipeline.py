"""``hsctl pipeline``: the demo run, skipping, stage selection and gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.errors import ConfigError
from hsctl.pipeline import STAGES, run_pipeline
from hsctl.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()


def test_demo_pipeline_runs_then_skips(isolated: Path):
    first = runner.invoke(app, ["pipeline", "--demo", "--json"])
    assert first.exit_code == 0, first.stderr
    stages = {s["name"]: s for s in json.loads(first.stdout)["stages"]}
    assert [s["status"] for s in stages.values()] == ["ran"] * len(STAGES)
    assert stages["evaluate"]["summary"]["n"] > 0
    assert stages["quantize"]["summary"]["int8_kept"] is True  # the demo keeps int8 whatever the F1 drop
    for path in ("data/raw/fetch.json", "data/processed/stats.json", "models/pipeline/hsctl.json",
                 "reports/eval/LATEST", "models/pipeline/onnx/model.int8.onnx", "pipeline/train.json"):  # fmt: skip
        assert (isolated / "artifacts" / path).is_file(), path

    again = runner.invoke(app, ["pipeline", "--demo", "--json"])
    assert [s["status"] for s in json.loads(again.stdout)["stages"]] == ["skipped"] * len(STAGES)

    # A changed evaluate setting reruns evaluate only; train and what feeds it stay skipped.
    changed = runner.invoke(
        app, ["pipeline", "--demo", "--json"], env={"HSCTL_EVALUATE__FAIL_UNDER": '{"macro_f1": 1.5}'}
    )
    assert changed.exit_code == 3 and "gate failed" not in changed.stdout
    statuses = {s["name"]: s["status"] for s in json.loads(changed.stdout)["stages"]}
    assert statuses == dict.fromkeys(STAGES, "skipped") | {"evaluate": "gate-failed"}
    assert "macro_f1" in changed.stderr
    rerun = runner.invoke(app, ["pipeline", "--demo"], env={"HSCTL_EVALUATE__FAIL_UNDER": '{"macro_f1": 1.5}'})
    assert rerun.exit_code == 3  # an unchanged failing gate is not turned into a pass by skipping

    forced = runner.invoke(app, ["pipeline", "--demo", "--from", "preprocess", "--to", "preprocess", "--force"])
    assert forced.exit_code == 0 and "preprocess" in forced.stdout


def test_stage_selection_errors(isolated: Path):
    settings = load_settings().settings
    with pytest.raises(ConfigError, match="unknown stage"):
        run_pipeline(settings, from_stage="deploy")
    with pytest.raises(ConfigError, match="comes after"):
        run_pipeline(settings, from_stage="quantize", to_stage="fetch")
    assert runner.invoke(app, ["pipeline", "--from", "nope"]).exit_code == 2


def test_source_flag_feeds_the_fetch_stage(isolated: Path, small_csv: Path):
    out = runner.invoke(app, ["pipeline", "--source", str(small_csv), "--to", "preprocess", "--json"])
    assert out.exit_code == 0, out.stderr
    stages = {s["name"]: s for s in json.loads(out.stdout)["stages"]}
    assert stages["fetch"]["summary"]["source"] == str(small_csv)
    assert stages["fetch"]["summary"]["splits"] == {"train": 60}
    assert stages["train"]["status"] == "not-selected"
