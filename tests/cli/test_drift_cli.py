"""``hsctl drift`` through Typer: exit codes 0 (no drift), 3 (drift), 4 (nothing usable), 2 (usage)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.core.layout import Layout
from tests.unit.test_drift import artifacts_with_data, shifted_csv, unshifted_texts, write_serve_log

runner = CliRunner()
FAST = {"HSCTL_DRIFT__ENCODER": "model", "HSCTL_DRIFT__PERMUTATIONS": "200", "COLUMNS": "200"}


def invoke(*args: str):
    return runner.invoke(app, ["drift", *args], env=FAST)


def test_no_drift_exits_0_with_a_table(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    write_serve_log(artifacts / "predictions", trained_model, unshifted_texts(), extra=["{broken"])
    out = invoke("--artifacts", str(artifacts), "--model", str(trained_model), "--since", "2026-11-01")
    assert out.exit_code == 0, out.stderr
    assert "embedding_classifier" in out.stdout and "no drift (8 tests" in out.stdout
    assert "label skipped: the prediction log holds predicted labels only" in out.stdout
    assert "wrote" in out.stdout and (Layout(artifacts).latest_report("drift") / "drift.html").is_file()
    assert "warning: 1 log line(s) that are not JSON objects skipped" in out.stderr


def test_drift_exits_3_after_writing_outputs(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    current = shifted_csv(tmp_path / "shifted.csv")
    out = invoke(
        "--artifacts",
        str(artifacts),
        "--model",
        str(trained_model),
        "--current",
        str(current),
        "--report",
        str(tmp_path / "drift.html"),
        "--output",
        str(tmp_path / "out"),
        "--json",
    )
    assert out.exit_code == 3, out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"]["drift"] is True and "label" in report["verdict"]["drifted_tests"]
    assert report["output_dir"] == str(tmp_path / "out") and report["html"][1] == str(tmp_path / "drift.html")
    assert out.stderr.strip().splitlines()[-1].startswith("error: drift detected: embedding_classifier")
    assert (tmp_path / "drift.html").is_file() and (tmp_path / "out" / "drift.json").is_file()


def test_nothing_usable_exits_4(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    missing = invoke("--artifacts", str(artifacts), "--model", str(trained_model))
    assert missing.exit_code == 4 and missing.stderr.startswith("error: no prediction log at")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "predictions-1.jsonl").write_text('not json\n{"time": "2026-11-01T00:00:00Z"}\n')
    bad = invoke("--artifacts", str(artifacts), "--model", str(trained_model), "--current", str(logs))
    assert bad.exit_code == 4 and "nothing usable" in bad.stderr and "1 log line(s)" in bad.stderr
    write_serve_log(artifacts / "predictions", trained_model, unshifted_texts(60))
    few = invoke("--artifacts", str(artifacts), "--model", str(trained_model), "--json")
    assert few.exit_code == 4 and "no drift test could run" in few.stderr
    assert json.loads(few.stdout)["verdict"]["status"] == "insufficient data"  # still printed and written


def test_usage_errors_exit_2(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    write_serve_log(artifacts / "predictions", trained_model, unshifted_texts(40))
    since = invoke("--artifacts", str(artifacts), "--model", str(trained_model), "--since", "yesterday")
    assert since.exit_code == 2 and "not an ISO date" in since.stderr
    backend = invoke("--artifacts", str(artifacts), "--model", str(trained_model), "--backend", "gpu")
    assert backend.exit_code == 2 and "drift.backend" in backend.stderr and "gpu" in backend.stderr
    alpha = invoke("--artifacts", str(artifacts), "--alpha", "2")
    assert alpha.exit_code == 2 and "drift.alpha" in alpha.stderr


def test_help_lists_the_options():
    out = runner.invoke(app, ["drift", "--help"], env={"COLUMNS": "300"})
    text = " ".join(out.stdout.split())
    for option in ("--reference", "--current", "--since", "--until", "--last", "--report", "--json", "--model"):
        assert option in text
    assert "3 drift detected" in text
