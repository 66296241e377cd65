"""``hsctl train`` shift-aware output and ``--estimate-shift`` through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hsctl.cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def _demo() -> None:
    assert invoke("fetch", "--source", "demo").exit_code == 0
    assert invoke("preprocess").exit_code == 0


def test_train_prints_shift_aware_estimates(isolated: Path):
    _demo()
    out = invoke("train", "--model", "scratch", "--epochs", "1", "--patience", "0", "--run-name", "s",
                 "--category-weighting", "balanced", "--target-prior", "0.4")  # fmt: skip
    assert out.exit_code == 0, out.stderr
    text = out.stdout
    assert "shift-aware (prior 0.4)" in text and "in distribution" in text
    assert "behavioural suite pass rate" in text and "validation hate recall per category" in text
    card = json.loads((isolated / "artifacts/models/s/hsctl.json").read_text())
    assert card["target_prior"] == 0.4 and card["training"]["category_weighting"] == "balanced"
    bad = invoke("train", "--model", "scratch", "--category-weighting", "loud")
    assert bad.exit_code == 2 and "category_weighting" in bad.stderr


def test_estimate_shift_cli(isolated: Path):
    _demo()
    out = invoke("train", "--model", "scratch", "--epochs", "1", "--estimate-shift", "--loco-categories",
                 "Race,Class", "--json")  # fmt: skip
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report["per_category"]) == {"Race", "Class"}
    assert "training without Race hate rows" in out.stderr
    assert (isolated / "artifacts/reports/shift/loco.json").is_file()
    assert not (isolated / "artifacts/models").exists()  # the estimate trains no model folder
    unknown = invoke("train", "--model", "scratch", "--estimate-shift", "--loco-categories", "Nope")
    assert unknown.exit_code == 2 and "unknown category Nope" in unknown.stderr
