"""``train --feedback``: reviewed rows join training (repeated) and a stable share of validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.core.layout import Layout
from hsctl.errors import DataError
from hsctl.review.store import COLUMNS, append_part
from hsctl.train.feedback import VALIDATION_SHARE, WEIGHT, add_feedback, in_validation
from tests.unit.test_drift import artifacts_with_data

FEATURES = Features(
    {"text": Value("string"), "label": ClassLabel(names=["non-hate", "hate"]), "category": Value("string")}
)


def tiny_dataset() -> DatasetDict:
    rows = {"text": ["a kind word", "an awful word"], "label": [0, 1], "category": [None, "Race"]}
    return DatasetDict({split: Dataset.from_dict(rows, features=FEATURES) for split in ("train", "validation")})


def store_rows(layout: Layout, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "prediction_id": [f"{i:032x}" for i in range(n)],
            "label": [i % 2 for i in range(n)],
            "text": [None if i == 0 else f"Reviewed TEXT {i} @user http://x.io" for i in range(n)],
        }
    )
    for column in COLUMNS:
        if column not in frame:
            frame[column] = "2026-11-01T00:00:00+00:00" if column == "ingested_at" else None
    append_part(layout, frame, "20261101T000000", "abc")
    return frame


def test_the_validation_share_is_stable_and_about_right():
    ids = [f"{i:032x}" for i in range(5000)]
    share = sum(in_validation(i) for i in ids) / len(ids)
    assert abs(share - VALIDATION_SHARE) < 0.03
    assert [in_validation(i) for i in ids[:50]] == [in_validation(i) for i in ids[:50]]


def test_reviewed_rows_join_both_splits(tmp_path: Path):
    layout = Layout(tmp_path / "artifacts")
    frame = store_rows(layout, 60)
    out, used = add_feedback(tiny_dataset(), layout, None)
    with_text = frame[frame["text"].notna()]
    expected_val = sum(in_validation(p) for p in with_text["prediction_id"])
    assert used.without_text == 1 and used.validation == expected_val and used.train == 59 - expected_val
    assert len(out["train"]) == 2 + WEIGHT * used.train and len(out["validation"]) == 2 + used.validation
    added = out["train"].select(range(2, len(out["train"])))
    assert all(t.endswith("@USER HTTPURL") for t in added["text"])  # normalised like the training data
    assert set(added["label"]) == {0, 1} and set(added["category"]) == {None}
    with pytest.raises(DataError, match=r"feedback store .* is empty"):
        add_feedback(tiny_dataset(), Layout(tmp_path / "other"), None)


def test_train_feedback_without_a_store_exits_4(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    out = CliRunner().invoke(
        app, ["train", "--feedback", "--model", "scratch", "--tracking", "none", "--artifacts", str(artifacts)]
    )
    assert out.exit_code == 4 and "feedback store" in out.stderr


def test_a_scratch_model_trains_with_feedback(trained_model: Path, tmp_path: Path):
    from hsctl.settings import load_settings
    from hsctl.train import train

    artifacts = artifacts_with_data(trained_model, tmp_path)
    frame = store_rows(Layout(artifacts), 40)
    overrides = {
        "paths.artifacts": str(artifacts),
        "train.model": "scratch",
        "train.epochs": 1,
        "train.run_name": "with-feedback",
        "train.early_stopping_patience": 0,
        "train.feedback": True,
        "tracking.backend": "none",
    }
    result = train(load_settings(overrides).settings)
    assert (result.model_dir / "hsctl.json").is_file()
    plain = json.loads((trained_model / "hsctl.json").read_text())["validation_metrics"]["n"]
    reviewed = sum(in_validation(p) for p, t in zip(frame["prediction_id"], frame["text"], strict=True) if t)
    assert reviewed > 0 and result.validation_metrics["n"] == plain + reviewed  # judged on reviewed traffic too
