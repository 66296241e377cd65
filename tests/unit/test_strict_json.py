"""Undefined numbers are ``null`` in every JSON hsctl writes or prints, never ``NaN``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.core.io import dumps, finite, write_json
from hsctl.evaluate.metrics import binary_metrics, undefined_metrics


def strict_loads(text: str):
    """``json.loads`` as JavaScript, jq or Go read it: NaN and Infinity are errors."""

    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_everywhere(tmp_path: Path):
    data = {
        "nan": float("nan"),
        "inf": float("-inf"),
        "np32": np.float32("nan"),
        "np64": np.float64("inf"),
        "nested": [{"x": np.array([1.5, np.nan])}, (2, float("nan"))],
        "fine": [0.25, 3, True, None, "NaN"],
    }
    expected = {"nan": None, "inf": None, "np32": None, "np64": None,
                "nested": [{"x": [1.5, None]}, [2, None]], "fine": [0.25, 3, True, None, "NaN"]}  # fmt: skip
    assert finite(data) == expected
    assert strict_loads(dumps(data)) == expected
    write_json(tmp_path / "out.json", data)
    assert strict_loads((tmp_path / "out.json").read_text()) == expected


def test_unknown_types_still_fail_loudly():
    with pytest.raises(TypeError, match="not JSON serialisable"):
        dumps({"x": object()})


def test_auc_on_one_class_is_none_with_a_reason():
    metrics = binary_metrics([0, 0, 0], [0.1, 0.7, 0.2], 0.5)
    assert metrics["roc_auc"] is None and metrics["pr_auc"] is None
    assert metrics["macro_f1"] >= 0
    assert "only one class (label 0)" in (undefined_metrics([0, 0, 0]) or "")
    assert undefined_metrics([0, 1]) is None


@pytest.mark.slow
def test_evaluate_on_one_class_data_writes_strict_json(trained_model: Path, isolated: Path):
    data = isolated / "one-class.csv"
    data.write_text("tweet,label\n" + "".join(f"a kind message number {i},0\n" for i in range(12)))
    out = isolated / "report"
    result = CliRunner().invoke(
        app, ["evaluate", "--model", str(trained_model), "--data", str(data), "--output", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    printed = strict_loads(result.stdout)
    assert printed["roc_auc"] is None and printed["pr_auc"] is None and printed["at_0.5"]["roc_auc"] is None
    assert any("roc_auc and pr_auc are undefined" in w for w in printed["warnings"])
    assert "warning:" in result.stderr and "undefined" in result.stderr
    written = strict_loads((out / "eval.json").read_text())
    assert written["roc_auc"] is None and written["warnings"] == printed["warnings"]
    assert "n/a" in (out / "eval.md").read_text()

    gated = CliRunner().invoke(
        app, ["evaluate", "--model", str(trained_model), "--data", str(data), "--output", str(out),
              "--fail-under", "roc_auc=0.5"],
    )  # fmt: skip
    assert gated.exit_code == 3 and "roc_auc is undefined on this data" in gated.stderr
    table = CliRunner().invoke(
        app, ["evaluate", "--model", str(trained_model), "--data", str(data), "--output", str(out)]
    )
    assert table.exit_code == 0 and "n/a" in table.stdout
