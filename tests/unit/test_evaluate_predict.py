from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsctl.errors import ConfigError, DataError
from hsctl.evaluate import REPORT, SUMMARY, evaluate, parse_fail_under
from hsctl.fetch.demo import demo_frame
from hsctl.inference import load_predictor
from hsctl.predict import default_output, predict_file
from hsctl.settings import load_settings


def settings_for(model_dir: Path):
    return load_settings({"paths.artifacts": str(model_dir.parents[1])}).settings


def test_evaluate_default_split(trained_model: Path, tmp_path: Path):
    result = evaluate(settings_for(trained_model), output_dir=tmp_path / "eval", fail_under={"macro_f1": 0.0})
    report = result.report
    for key in ("accuracy", "macro_f1", "weighted_f1", "roc_auc", "pr_auc", "threshold", "n", "per_category"):
        assert key in report
    assert report["data"] == "split:test"
    assert report["threshold"] == pytest.approx(json.loads((trained_model / "hsctl.json").read_text())["threshold"])
    assert sum(sum(row) for row in report["confusion_matrix"]) == report["n"]
    assert report["at_0.5"]["threshold"] == 0.5
    assert set(report["per_category"]) <= {
        "Race",
        "Religion",
        "Gender",
        "Sexual Orientation",
        "Ethnicity",
        "Disability",
        "Physical Appearance",
        "Class",
    }
    files = {p.name for p in (tmp_path / "eval").iterdir()}
    assert {REPORT, SUMMARY, "roc.png", "pr.png", "confusion.png", "reliability.png"} <= files
    assert result.gate_failures == []
    assert "| macro_f1 |" in (tmp_path / "eval" / SUMMARY).read_text()


def test_evaluate_gate_and_external_file(trained_model: Path, tmp_path: Path):
    frame = demo_frame(120, seed=99)
    frame.to_csv(tmp_path / "other.csv", index=False)
    result = evaluate(
        settings_for(trained_model),
        data=str(tmp_path / "other.csv"),
        output_dir=tmp_path / "eval",
        fail_under={"macro_f1": 1.01, "ece": 0.0},
    )
    assert result.report["n"] == len(frame) - 1  # the empty row is dropped, duplicates are kept
    assert result.report["data"].endswith("other.csv")
    assert len(result.gate_failures) == 2
    assert "macro_f1" in result.gate_failures[0] and "below" in result.gate_failures[0]


def test_evaluate_bad_inputs(trained_model: Path, tmp_path: Path):
    settings = settings_for(trained_model)
    with pytest.raises(DataError, match="no split 'nope'"):
        evaluate(settings, data="nope", output_dir=tmp_path / "e")
    pd.DataFrame({"tweet": ["a", "b"], "label": [0, 7]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="labels outside"):
        evaluate(settings, data=str(tmp_path / "bad.csv"), output_dir=tmp_path / "e")
    with pytest.raises(DataError, match="model folder not found"):
        evaluate(settings, model=str(tmp_path / "missing"), output_dir=tmp_path / "e")
    assert not (tmp_path / "e").exists()


def test_parse_fail_under():
    assert parse_fail_under(["macro_f1=0.8", "roc_auc=0.9,accuracy=0.5"]) == {
        "macro_f1": 0.8,
        "roc_auc": 0.9,
        "accuracy": 0.5,
    }
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_fail_under(["f2=0.5"])
    with pytest.raises(ConfigError, match="not a number"):
        parse_fail_under(["macro_f1=high"])


def test_predictor_order_batching_and_prior(trained_model: Path):
    texts = ["short", "a somewhat longer text about glorbians", "", "mid length text here", "x " * 200]
    batched = load_predictor(trained_model, batch_size=2).predict_proba(texts)
    single = [load_predictor(trained_model, batch_size=1).predict_proba([t])[0] for t in texts]
    assert np.allclose(batched, single, atol=1e-5)  # length sorting never reorders results
    shifted = load_predictor(trained_model, target_prior=0.9).predict_proba(texts)
    assert np.all(shifted > batched)
    preds = load_predictor(trained_model).predict(texts)
    assert {p.label for p in preds} <= {"hate", "non-hate"}
    assert all((p.label_id == 1) == (p.hate_probability >= load_predictor(trained_model).threshold) for p in preds)


def test_unknown_backend(trained_model: Path):
    with pytest.raises(ConfigError, match="unknown backend"):
        load_predictor(trained_model, "tensorflow")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_predict_file_formats(trained_model: Path, tmp_path: Path, suffix: str):
    frame = pd.DataFrame({"tweet": ["hello there", None, "all glorbians are worthless", "   "], "id": [1, 2, 3, 4]})
    source = tmp_path / f"in{suffix}"
    {
        ".csv": lambda: frame.to_csv(source, index=False),
        ".jsonl": lambda: frame.to_json(source, orient="records", lines=True),
        ".parquet": lambda: frame.to_parquet(source),
    }[suffix]()
    result = predict_file(settings_for(trained_model), str(source))
    assert result.output == default_output(str(source)) == str(tmp_path / f"in.scored{suffix}")
    assert (result.rows, result.scored, result.bad_rows, result.bad_row_numbers) == (4, 2, 2, [2, 4])
    from hsctl.core.tables import read_table

    out = read_table(Path(result.output))
    assert list(out.columns) == ["tweet", "id", "hate_probability", "label", "error"]
    assert out["error"].tolist()[1] == "empty text"
    assert sum(result.label_counts.values()) == 2


def test_predict_bad_inputs(trained_model: Path, tmp_path: Path):
    settings = settings_for(trained_model)
    pd.DataFrame({"body": ["x"]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(DataError, match="missing column 'tweet'"):
        predict_file(settings, str(tmp_path / "x.csv"))
    with pytest.raises(ConfigError, match="unsupported output"):
        predict_file(settings, str(tmp_path / "x.csv"), output=str(tmp_path / "out.xlsx"))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("tweets.csv", "tweets.scored.csv"),
        ("my.data.csv", "my.data.scored.csv"),
        ("x.csv.gz", "x.scored.csv.gz"),
        ("dir/a.jsonl", "dir/a.scored.jsonl"),
        ("-", "-"),
    ],
)
def test_default_output_names(source: str, expected: str):
    assert default_output(source) == str(Path(expected)) if source != "-" else default_output(source) == "-"


def test_predict_compressed_output_and_label_column(trained_model: Path, tmp_path: Path):
    import gzip

    frame = pd.DataFrame({"tweet": ["hello", 42, "all glorbians are worthless"], "label": [0, 0, 1]})
    frame.to_csv(tmp_path / "in.csv.gz", index=False)
    result = predict_file(settings_for(trained_model), str(tmp_path / "in.csv.gz"))
    assert result.output.endswith("in.scored.csv.gz")
    with gzip.open(result.output, "rt") as fh:
        out = pd.read_csv(fh)
    assert out["label"].tolist() == [0, 0, 1]  # the true labels survive
    assert out["predicted_label"].notna().all()  # 42 is scored as the text "42"
    assert any("predicted_label" in w for w in result.warnings)
    with pytest.raises(DataError, match="unsupported input type"):
        predict_file(settings_for(trained_model), str(tmp_path / "notes.txt"))


def test_evaluate_counts_dropped_empty_rows(trained_model: Path, tmp_path: Path):
    frame = pd.DataFrame({"tweet": ["a nice day", "", "all glorbians are worthless"], "label": [0, 1, 1]})
    frame.to_csv(tmp_path / "e.csv", index=False)
    report = evaluate(settings_for(trained_model), data=str(tmp_path / "e.csv"), output_dir=tmp_path / "out").report
    assert report["n"] == 2 and report["dropped_empty_text"] == 1


def test_threshold_gap_finds_the_better_threshold():
    import numpy as np

    from hsctl.evaluate import threshold_gap

    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    probs = np.array([0.9, 0.3, 0.25, 0.2, 0.1, 0.05, 0.02, 0.01])  # shifted traffic: hate scores low
    gap = threshold_gap(y, probs, 0.5)
    assert gap is not None
    assert gap["stored_threshold"] == 0.5 and gap["best_threshold"] < 0.2
    assert gap["macro_f1_at_best"] == pytest.approx(1.0)
    assert gap["macro_f1_at_stored"] < 0.6
    assert gap["macro_f1_gap"] == pytest.approx(gap["macro_f1_at_best"] - gap["macro_f1_at_stored"])
    assert threshold_gap(np.array([1, 1]), np.array([0.2, 0.9]), 0.5) is None


def test_evaluate_reports_the_threshold_gap(trained_model: Path, tmp_path: Path):
    settings = load_settings({"paths.artifacts": str(trained_model.parents[1])}).settings
    report = evaluate(settings, model=trained_model, output_dir=tmp_path / "eval").report
    gap = report["threshold_gap"]
    assert gap is not None and gap["stored_threshold"] == report["threshold"]
    assert gap["macro_f1_at_best"] >= gap["macro_f1_at_stored"] - 1e-9
    assert gap["macro_f1_at_stored"] == pytest.approx(report["macro_f1"])
    assert "Best threshold on these data" in (tmp_path / "eval" / "eval.md").read_text()
