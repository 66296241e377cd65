"""``hsctl evaluate --suite``: JSON shape, files, the gate (exit 3) and usage errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.evaluate.suite import CATEGORIES, NO_CATEGORY, SUITE_CASES, SUITE_REPORT, SUITE_SUMMARY, load_suite

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def test_suite_json_and_files(trained_model: Path, tmp_path: Path):
    artifacts = str(trained_model.parents[1])
    out = tmp_path / "s"
    result = invoke("evaluate", "--suite", "functional", "--artifacts", artifacts, "--json", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one JSON object
    cases = load_suite()
    assert report["suite"] == "functional" and report["n"] == len(cases) >= 1000
    assert 0.0 <= report["pass_rate"] <= 1.0
    assert report["passed"] == round(report["pass_rate"] * report["n"])
    assert len(report["per_functionality"]) == report["n_functionalities"] >= 25
    assert set(report["per_category"]) == {*CATEGORIES, NO_CATEGORY}
    assert {v["label"] for v in report["per_functionality"].values()} == {0, 1}
    assert len(report["worst"]) <= 20
    assert all({"id", "text", "label", "probability", "passed"} <= set(w) for w in report["worst"])
    assert report["gate"]["passed"] is True and report["gate_failures"] == []
    assert report["output_dir"] == str(out) and report["normalized"] is True
    assert report["model"] == str(trained_model)
    assert json.loads((out / SUITE_REPORT).read_text(encoding="utf-8"))["pass_rate"] == report["pass_rate"]
    assert len((out / SUITE_CASES).read_text(encoding="utf-8").splitlines()) == report["n"]
    assert "| derog_dehum | hate |" in (out / SUITE_SUMMARY).read_text(encoding="utf-8")


def test_suite_gate_exits_3_and_human_tables(trained_model: Path, tmp_path: Path):
    artifacts = str(trained_model.parents[1])
    out = tmp_path / "gated"
    gated = invoke(
        "evaluate",
        "--suite",
        "functional",
        "--model",
        str(trained_model),
        "--artifacts",
        artifacts,
        "-o",
        str(out),
        "--fail-under",
        "functional=1.01,functional.negated_hate=1.01",
        env={"COLUMNS": "200"},
    )
    assert gated.exit_code == 3, gated.stderr
    error = gated.stderr.strip()
    assert error.startswith("error: gate failed: functional ") and "functional.negated_hate" in error
    assert len(error.splitlines()) == 1
    for text in ("derog_dehum", "counter_quote", "Sexual Orientation", "pass rate", "wrote"):
        assert text in gated.stdout  # the tables and the report come before the gate fails
    report = json.loads((out / SUITE_REPORT).read_text(encoding="utf-8"))
    assert report["gate"]["passed"] is False and len(report["gate"]["failures"]) == 2


def test_suite_usage_errors_exit_2(isolated: Path):
    unknown = invoke("evaluate", "--suite", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == "error: unknown suite 'nope': choose one of functional"
    for args in (
        ["--suite", "functional", "--data", "test"],  # one source of cases per run
        ["--suite", "functional", "--fail-under", "macro_f1=0.5"],  # a data floor on a suite run
        ["--suite", "functional", "--fail-under", "functional.nope=0.5"],  # no such functionality
        ["--fail-under", "functional=0.5"],  # a suite floor without --suite
        ["--suite", "functional", "--fail-under", "functional=high"],
    ):
        result = invoke("evaluate", *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1, args
    assert not (isolated / "artifacts" / "reports").exists()
