"""``hsctl predict`` options go through the predict.* settings; engine mistakes are one-line usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from hsctl.cli.main import app

runner = CliRunner()


def test_engine_needs_an_onnx_backend_from_flag_or_settings(isolated: Path):
    pd.DataFrame({"tweet": ["hello"]}).to_csv(isolated / "in.csv", index=False)
    refused = runner.invoke(app, ["predict", "in.csv", "--engine", "spark"])
    assert refused.exit_code == 2 and "runs torch-free" in refused.stderr
    # the backend from the environment layer passes that check and reaches the model lookup (exit 4)
    env = {"HSCTL_PREDICT__BACKEND": "onnx-int8"}
    from_env = runner.invoke(app, ["predict", "in.csv", "--engine", "ray"], env=env)
    assert from_env.exit_code == 4 and "no trained model" in from_env.stderr
    # the flag beats the environment
    flag = runner.invoke(app, ["predict", "in.csv", "--engine", "ray", "--backend", "torch"], env=env)
    assert flag.exit_code == 2 and "runs torch-free" in flag.stderr


def test_bad_engine_and_chunk_rows_are_usage_errors(isolated: Path):
    pd.DataFrame({"tweet": ["hello"]}).to_csv(isolated / "in.csv", index=False)
    bogus = runner.invoke(app, ["predict", "in.csv", "--engine", "dask"])
    assert bogus.exit_code == 2 and "predict.engine" in bogus.stderr
    zero = runner.invoke(app, ["predict", "in.csv", "--chunk-rows", "0"])
    assert zero.exit_code == 2 and "predict.chunk_rows" in zero.stderr


def test_predict_settings_are_listed(isolated: Path):
    shown = runner.invoke(app, ["config", "show", "--json"], env={"HSCTL_PREDICT__CHUNK_ROWS": "500"})
    assert shown.exit_code == 0, shown.stderr
    text = json.dumps(json.loads(shown.stdout))
    assert "chunk_rows" in text and "500" in text
