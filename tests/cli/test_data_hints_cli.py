"""Data errors say what to do: the delimiter, the encoding, a header without rows, the label map."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.core.tables import read_table
from hsctl.errors import DataError

runner = CliRunner()


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("sep", [";", "|", "\t"])
def test_a_csv_with_another_delimiter_is_read_and_reported(isolated: Path, sep: str):
    Path("in.csv").write_text(sep.join(["tweet", "label"]) + "\n" + f"hello there{sep}0\nyou are vile{sep}1\n")
    result = runner.invoke(app, ["fetch", "--source", "in.csv", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["splits"] == {"train": 2} and "delimiter (detected)" in data["notes"][0]
    assert "delimiter (detected)" in result.stderr
    assert "--text-column" not in result.stderr
    frame = pd.read_parquet("artifacts/data/raw/train.parquet")
    assert frame["text"].tolist() == ["hello there", "you are vile"]


def test_a_comma_csv_with_semicolons_in_the_text_stays_comma(isolated: Path):
    Path("in.csv").write_text('tweet,label\n"a; b; c",0\n"d; e",1\n')
    frame = read_table(Path("in.csv"))
    assert frame.columns.tolist() == ["tweet", "label"] and "delimiter" not in frame.attrs


def test_a_latin1_file_gets_the_encoding_option(isolated: Path):
    Path("in.csv").write_bytes("tweet,label\ncafé olé,0\nvile,1\n".encode("latin-1"))
    failed = runner.invoke(app, ["fetch", "--source", "in.csv"])
    assert failed.exit_code == 4
    line = one_error_line(failed)
    assert "--encoding" in line and "not utf-8" in line
    ok = runner.invoke(app, ["fetch", "--source", "in.csv", "--encoding", "cp1252", "--json"])
    assert ok.exit_code == 0, ok.stderr
    assert pd.read_parquet("artifacts/data/raw/train.parquet")["text"].iloc[0] == "café olé"
    bogus = runner.invoke(app, ["fetch", "--source", "in.csv", "--encoding", "klingon"])
    assert bogus.exit_code == 2 and "unknown encoding" in one_error_line(bogus)


def test_predict_reads_other_delimiters_and_encodings_too(isolated: Path):
    from hsctl.predict.stream import ChunkReader

    Path("semi.csv").write_text("tweet;id\nhello;1\nthere;2\n")
    reader = ChunkReader("semi.csv", "tweet", 10)
    assert [c.frame["tweet"].tolist() for c in reader] == [["hello", "there"]]
    assert reader.notes and "detected" in reader.notes[0]
    Path("lat.csv").write_bytes("tweet\ncafé\n".encode("latin-1"))
    with pytest.raises(DataError, match="--encoding"):
        list(ChunkReader("lat.csv", "tweet", 10))
    assert [c.frame["tweet"].tolist() for c in ChunkReader("lat.csv", "tweet", 10, encoding="latin-1")] == [["café"]]


@pytest.mark.parametrize("content", ["tweet,label\n", "tweet;label\n", "tweet,label\r\n"])
def test_a_header_without_rows_fails_fetch(isolated: Path, content: str):
    Path("in.csv").write_text(content)
    result = runner.invoke(app, ["fetch", "--source", "in.csv"])
    assert result.exit_code == 4
    assert "no data rows" in one_error_line(result)
    assert not Path("artifacts/data/raw").exists()


def test_an_empty_split_among_several_fails_fetch(isolated: Path):
    Path("d").mkdir()
    Path("d/train.csv").write_text("tweet,label\nhello,0\n")
    Path("d/test.csv").write_text("tweet,label\n")
    result = runner.invoke(app, ["fetch", "--source", "d"])
    assert result.exit_code == 4 and "test" in one_error_line(result)


def test_the_label_map_hint_names_the_command_that_has_it(isolated: Path):
    Path("in.csv").write_text("tweet,label\nhello,none\nvile words,hate\n")
    assert runner.invoke(app, ["fetch", "--source", "in.csv"]).exit_code == 0
    result = runner.invoke(app, ["preprocess"])
    assert result.exit_code == 4
    line = one_error_line(result)
    assert "hsctl fetch --label-map" in line
    help_text = runner.invoke(app, ["preprocess", "--help"]).stdout
    assert "--label-map" not in help_text  # so the hint must not send the user there
    fixed = runner.invoke(app, ["fetch", "--source", "in.csv", "--label-map", "hate=1,none=0"])
    assert fixed.exit_code == 0
    assert "labels outside" not in runner.invoke(app, ["preprocess"]).stderr  # the hint's way works
