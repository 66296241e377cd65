from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hsctl.core.io import atomic_dir, atomic_write_text, read_json, sha256_dir, write_json
from hsctl.core.tables import expand_paths, read_table
from hsctl.errors import DataError


def test_atomic_dir_replaces_on_success(tmp_path: Path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp or backup left behind


def test_atomic_dir_keeps_old_content_on_failure(tmp_path: Path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("partial")
        raise RuntimeError("crash mid-write")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_write_and_json_roundtrip(tmp_path: Path):
    path = tmp_path / "a" / "m.json"
    write_json(path, {"p": Path("x"), "n": 1})
    assert read_json(path) == {"p": "x", "n": 1}
    atomic_write_text(path, "{}")
    assert read_json(path) == {}


def test_sha256_dir_changes_with_content(tmp_path: Path):
    (tmp_path / "f").write_text("1")
    first = sha256_dir(tmp_path)
    (tmp_path / "f").write_text("2")
    assert sha256_dir(tmp_path) != first


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_read_table_formats(tmp_path: Path, suffix: str):
    frame = pd.DataFrame({"tweet": ["a", ""], "label": [0, 1]})
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        frame.to_json(path, orient="records")
    else:
        frame.to_parquet(path)
    out = read_table(path)
    assert out["tweet"].tolist() == ["a", ""]
    assert [int(v) for v in out["label"]] == [0, 1]


def test_read_table_errors(tmp_path: Path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot read"):
        read_table(tmp_path / "bad.parquet")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(DataError, match="cannot read"):
        read_table(tmp_path / "bad.jsonl")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataError, match="unsupported file type"):
        read_table(tmp_path / "x.xlsx")


def test_expand_paths(tmp_path: Path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("x\n2\n")
    (tmp_path / "notes.txt").write_text("")
    assert [p.name for p in expand_paths(str(tmp_path / "*.csv"))] == ["a.csv", "b.csv"]
    assert [p.name for p in expand_paths(str(tmp_path))] == ["a.csv", "b.csv"]
    with pytest.raises(DataError, match="no files match"):
        expand_paths(str(tmp_path / "*.parquet"))
    with pytest.raises(DataError, match="file not found"):
        expand_paths(str(tmp_path / "zzz.csv"))
