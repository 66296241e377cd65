from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hsctl.errors import DataError
from hsctl.fetch import fetch
from hsctl.preprocess import PLOT, STATS, clean_frames, preprocess
from hsctl.preprocess.split import make_splits
from hsctl.preprocess.validate import invalid_label_rows, validate_labels
from hsctl.settings import DataSettings, SplitSettings
from tests.conftest import make_frame


def canonical(rows: list[tuple[object, object]], category: list[object] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["text", "label"])
    if category is not None:
        frame["category"] = category
    return frame


def test_end_to_end_counts_and_outputs(isolated: Path):
    frame = make_frame(200)
    frame = pd.concat([frame, frame.iloc[:7], pd.DataFrame([{"tweet": "   ", "label": 0, "categories": ""}])])
    frame.to_csv(isolated / "in.csv", index=False)
    fetch(str(isolated / "in.csv"), DataSettings(), isolated / "raw")
    result = preprocess(DataSettings(), isolated / "raw", isolated / "processed")
    assert result.rows_in == 208
    assert result.dropped == {"empty_text": 1, "conflicting_labels": 0, "duplicate": 7}
    assert result.rows_out == 200
    assert result.splits == {"train": 160, "validation": 20, "test": 20}
    stats = json.loads((isolated / "processed" / STATS).read_text())
    assert stats["splits"]["test"]["labels"]["hate"]["count"] == 7  # stratified: a third of 20, rounded
    assert stats["splits"]["train"]["categories"] == {"Race": stats["splits"]["train"]["labels"]["hate"]["count"]}
    assert set(stats["splits"]["train"]["length_chars"]) >= {"p5", "p50", "p95", "max"}
    assert stats["input"]["fetch_manifest_sha256"]
    assert (isolated / "processed" / PLOT).read_bytes()[:4] == b"\x89PNG"

    import datasets

    dd = datasets.load_from_disk(str(isolated / "processed"))
    assert dd["train"].features["label"].names == ["non-hate", "hate"]
    assert all("@USER" in t and "HTTPURL" in t for t in dd["test"]["text"])


def test_split_is_reproducible_and_seeded(isolated: Path):
    make_frame(100).to_csv(isolated / "in.csv", index=False)
    fetch(str(isolated / "in.csv"), DataSettings(), isolated / "raw")
    a = preprocess(DataSettings(), isolated / "raw", isolated / "a")
    b = preprocess(DataSettings(), isolated / "raw", isolated / "b")
    c = preprocess(DataSettings(split=SplitSettings(seed=7)), isolated / "raw", isolated / "c")
    import datasets

    texts = {n: datasets.load_from_disk(str(isolated / n))["test"]["text"] for n in "abc"}
    assert texts["a"] == texts["b"]
    assert texts["a"] != texts["c"]
    assert a.splits == b.splits == c.splits


def test_conflicting_duplicates_reported_and_dropped():
    frame = canonical([("same text", 0), ("same text", 1), ("other", 1), ("other", 1), ("x", 0)])
    cleaned, dropped, conflicts, warnings = clean_frames({"train": frame}, DataSettings())
    assert conflicts["texts"] == 1 and conflicts["rows"] == 2
    assert conflicts["examples"][0]["rows"] == ["train:1", "train:2"]
    assert dropped == {"empty_text": 0, "conflicting_labels": 2, "duplicate": 1}
    assert cleaned["train"]["text"].tolist() == ["other", "x"]
    assert "different labels" in warnings[0]

    kept, dropped, _, _ = clean_frames({"train": frame}, DataSettings(drop_conflicting_duplicates=False))
    assert kept["train"]["text"].tolist() == ["same text", "other", "x"]
    assert dropped["duplicate"] == 2


def test_duplicates_across_splits_keep_the_test_copy():
    train = canonical([("shared", 1), ("only train", 0)])
    test = canonical([("shared", 1)])
    cleaned, dropped, _, _ = clean_frames({"train": train, "test": test}, DataSettings())
    assert cleaned["test"]["text"].tolist() == ["shared"]
    assert cleaned["train"]["text"].tolist() == ["only train"]
    assert dropped["duplicate"] == 1


def test_invalid_labels_name_rows():
    frame = canonical([("a", 0), ("b", 2), ("c", "hate"), ("d", None), ("e", "1")])
    with pytest.raises(DataError, match=r"3 row\(s\) have labels outside \{0=non-hate, 1=hate\} \(rows 2, 3, 4;"):
        validate_labels(frame, ["non-hate", "hate"], "train")


def test_missing_columns_and_all_empty():
    with pytest.raises(DataError, match=r"missing column.*'label'"):
        clean_frames({"train": pd.DataFrame({"text": ["a"]})}, DataSettings())
    with pytest.raises(DataError, match="every row has an empty text"):
        clean_frames({"train": canonical([("", 0), (None, 1), ("  ", 0)])}, DataSettings())


def test_source_test_split_is_kept():
    frames = {"train": canonical([(f"t{i}", i % 2) for i in range(50)]), "test": canonical([("held", 1), ("out", 0)])}
    out = make_splits(frames, SplitSettings(), [])
    assert out["test"]["text"].tolist() == ["held", "out"]
    assert len(out["validation"]) + len(out["train"]) == 50


def test_tiny_data_falls_back_to_unstratified_split():
    warnings: list[str] = []
    frames = {"train": canonical([(f"t{i}", 0) for i in range(19)] + [("lone", 1)])}
    out = make_splits(frames, SplitSettings(), warnings)
    assert sum(len(f) for f in out.values()) == 20
    assert any("stratif" in w for w in warnings)
    with pytest.raises(DataError, match="no 'train' split"):
        make_splits({"test": frames["train"]}, SplitSettings(), [])


def test_preprocess_without_fetch_is_clear(isolated: Path):
    with pytest.raises(DataError, match="run 'hsctl fetch' first"):
        preprocess(DataSettings(), isolated / "nothing", isolated / "out")


labels = st.one_of(st.integers(-3, 4), st.sampled_from(["0", "1", "2", "hate", "", "1.0", "0.5"]), st.none())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(labels, min_size=1, max_size=30))
def test_validation_flags_exactly_the_bad_labels(values: list[object]):
    expected_bad = [i for i, v in enumerate(values) if v not in (0, 1, "0", "1", "1.0")]
    frame = canonical([(f"t{i}", v) for i, v in enumerate(values)])
    frame["label"] = frame["label"].astype(object)
    assert invalid_label_rows(frame["label"], 2) == expected_bad
    if expected_bad:
        with pytest.raises(DataError, match=f"{len(expected_bad)} row"):
            validate_labels(frame, ["non-hate", "hate"], "train")
    else:
        validate_labels(frame, ["non-hate", "hate"], "train")
