from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hsctl.errors import DataError
from hsctl.fetch import MANIFEST, classify_source, fetch, read_source
from hsctl.fetch.demo import demo_frame
from hsctl.settings import DataSettings
from tests.conftest import make_frame


def test_classify_source(tmp_path: Path, small_csv: Path):
    assert classify_source("demo") == "demo"
    assert classify_source(str(small_csv)) == "files"
    assert classify_source(str(tmp_path / "*.csv")) == "files"
    assert classify_source("owner/dataset") == "hub"
    with pytest.raises(DataError, match="file not found"):
        classify_source("data/missing.csv")
    with pytest.raises(DataError, match="source not found"):
        classify_source("not a source")


def test_fetch_csv_writes_parquet_and_manifest(isolated: Path, small_csv: Path):
    out = isolated / "raw"
    result = fetch(str(small_csv), DataSettings(), out)
    assert result.kind == "files"
    assert result.splits == {"train": 60}
    assert len(result.files[0]["sha256"]) == 64
    written = pd.read_parquet(out / "train.parquet")
    assert list(written.columns) == ["text", "label", "category"]
    assert written["label"].sum() == 20
    manifest = (out / MANIFEST).read_text()
    assert '"source"' in manifest and str(small_csv) in manifest


def test_glob_with_split_names(isolated: Path):
    make_frame(30).to_csv(isolated / "train.csv", index=False)
    make_frame(9).to_json(isolated / "test.jsonl", orient="records", lines=True)
    loaded = read_source(str(isolated / "*.*"), DataSettings())
    assert {k: len(v) for k, v in loaded.splits.items()} == {"test": 9, "train": 30}


def test_column_mapping_and_label_map(isolated: Path):
    frame = pd.DataFrame({"body": ["a", "b", "c"], "cls": ["hate", "non-hate", "other"], "extra": [1, 2, 3]})
    frame.to_csv(isolated / "d.csv", index=False)
    data = DataSettings(
        text_column="body", label_column="cls", category_column=None, label_map={"hate": 1, "non-hate": 0}
    )
    split = read_source(str(isolated / "d.csv"), data).splits["train"]
    # Mixed labels are stored as text so that preprocess can report the unmapped ones by row.
    assert split["label"].tolist() == ["1", "0", "other"]
    assert split["extra"].tolist() == ["1", "2", "3"]  # CSV cells are read verbatim
    assert "category" not in split.columns


def test_missing_column_names_the_flag(isolated: Path):
    pd.DataFrame({"body": ["a"], "label": [1]}).to_csv(isolated / "d.csv", index=False)
    with pytest.raises(DataError, match=r"missing column 'tweet'.*found: body, label.*--text-column"):
        read_source(str(isolated / "d.csv"), DataSettings())


def test_save_to_disk_source(isolated: Path):
    import datasets

    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_pandas(make_frame(12)),
            "valid": datasets.Dataset.from_pandas(make_frame(6)),
        }
    )
    dd.save_to_disk(str(isolated / "saved"))
    loaded = read_source(str(isolated / "saved"), DataSettings())
    assert loaded.kind == "disk"
    assert {k: len(v) for k, v in loaded.splits.items()} == {"train": 12, "validation": 6}


def test_demo_is_deterministic_and_labelled():
    first, second = demo_frame(200), demo_frame(200)
    pd.testing.assert_frame_equal(first, second)
    assert set(first["label"]) == {0, 1}
    assert 0.2 < first["label"].mean() < 0.4
    assert first.loc[first["label"] == 1, "categories"].str.len().gt(0).all()
    assert (first["tweet"] == "").sum() == 1


def test_failed_fetch_keeps_previous_output(isolated: Path, small_csv: Path):
    out = isolated / "raw"
    fetch(str(small_csv), DataSettings(), out)
    before = (out / MANIFEST).read_text()
    with pytest.raises(DataError):
        fetch(str(isolated / "missing.csv"), DataSettings(), out)
    assert (out / MANIFEST).read_text() == before
