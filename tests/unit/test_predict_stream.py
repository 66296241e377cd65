"""Streaming local predict: chunked reading and writing, resumability, and the shared batch function."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsctl.core.tables import read_table
from hsctl.errors import ConfigError, DataError
from hsctl.inference import load_predictor
from hsctl.predict import ProgressEvent, predict_file
from hsctl.predict.batch import ERROR_COLUMN, ScoringSpec, result_columns, score_frame
from hsctl.predict.stream import parts_dir
from hsctl.settings import load_settings


def settings_for(model_dir: Path, **overrides: object):
    return load_settings({"paths.artifacts": str(model_dir.parents[1]), **overrides}).settings


def texts_frame(n: int = 23) -> pd.DataFrame:
    words = ["all glorbians are worthless", "a lovely day in the park", "", "vexari are disgusting", "good morning"]
    return pd.DataFrame({"tweet": [f"{words[i % 5]} {i}" if i % 5 != 2 else "" for i in range(n)], "id": range(n)})


def write(frame: pd.DataFrame, path: Path) -> Path:
    fmt = path.name.split(".", 1)[1]
    if fmt.startswith("csv"):
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif fmt == "json":
        frame.to_json(path, orient="records")
    else:
        frame.to_parquet(path)
    return path


def assert_same(a: pd.DataFrame, b: pd.DataFrame, prob: str = "hate_probability") -> None:
    """Equal frames; probabilities to float noise (batches of different texts pad differently)."""
    pd.testing.assert_frame_equal(a.drop(columns=prob), b.drop(columns=prob))
    as_float = [pd.to_numeric(f[prob].replace("", np.nan), errors="raise").astype(float) for f in (a, b)]
    assert np.allclose(*as_float, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("name", ["in.csv", "in.jsonl", "in.parquet", "in.json", "in.csv.gz"])
def test_chunked_output_equals_one_chunk(trained_model: Path, tmp_path: Path, name: str):
    source = write(texts_frame(), tmp_path / name)
    events: list[ProgressEvent] = []
    one = predict_file(
        settings_for(trained_model, **{"predict.chunk_rows": 1000}), str(source), output=str(tmp_path / f"one-{name}")
    )
    many = predict_file(
        settings_for(trained_model, **{"predict.chunk_rows": 4}),
        str(source),
        output=str(tmp_path / f"many-{name}"),
        on_progress=events.append,
    )
    assert (one.chunks, many.chunks) == (1, 6)
    assert [e.rows for e in events] == [4, 8, 12, 16, 20, 23]
    assert events[-1].fraction == pytest.approx(1.0, abs=0.05)
    a, b = read_table(Path(one.output)), read_table(Path(many.output))
    assert_same(a, b)
    assert list(b.columns) == ["tweet", "id", "hate_probability", "label", ERROR_COLUMN]
    assert len(b) == 23 and b[ERROR_COLUMN].eq("empty text").sum() == many.bad_rows == 5
    assert many.bad_row_numbers == [3, 8, 13, 18, 23]
    assert many.label_counts == one.label_counts and sum(many.label_counts.values()) == many.scored == 18
    assert not parts_dir(Path(many.output)).exists()


def test_resume_skips_written_chunks_and_refuses_a_changed_input(trained_model: Path, tmp_path: Path):
    source = write(texts_frame(30), tmp_path / "in.csv")
    out = tmp_path / "out.csv.gz"
    settings = settings_for(trained_model, **{"predict.chunk_rows": 5})

    def interrupt_after_two(event: ProgressEvent) -> None:
        if event.chunks == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(settings, str(source), output=str(out), on_progress=interrupt_after_two)
    assert not out.exists()
    manifest = json.loads((parts_dir(out) / "manifest.json").read_text())
    assert [p["rows"] for p in manifest["parts"]] == [5, 5]

    resumed = predict_file(settings, str(source), output=str(out))
    assert (resumed.resumed_chunks, resumed.chunks, resumed.rows) == (2, 6, 30)
    assert any("resuming an interrupted run: 2 chunk(s), 10 rows" in w for w in resumed.warnings)
    with gzip.open(out, "rt") as fh:
        joined = pd.read_csv(fh, keep_default_na=False, dtype=str)
    fresh = predict_file(settings, str(source), output=str(tmp_path / "fresh.csv.gz"))
    with gzip.open(fresh.output, "rt") as fh:
        expected = pd.read_csv(fh, keep_default_na=False, dtype=str)
    assert_same(joined, expected)  # one header, every row once, in order
    assert resumed.label_counts == fresh.label_counts and resumed.bad_row_numbers == fresh.bad_row_numbers

    with pytest.raises(KeyboardInterrupt):  # replacing the finished output needs overwrite (--force)
        predict_file(settings, str(source), output=str(out), on_progress=interrupt_after_two, overwrite=True)
    write(texts_frame(31), source)  # the input changes between the runs
    restarted = predict_file(settings, str(source), output=str(out))
    assert restarted.resumed_chunks == 0 and restarted.rows == 31
    assert any("cannot resume" in w and "input changed" in w for w in restarted.warnings)


def test_parquet_parts_share_one_schema(trained_model: Path, tmp_path: Path):
    """A chunk without empty texts has an all-null error column; it must still be a string column."""
    source = write(pd.DataFrame({"tweet": ["a lovely day", "good morning", "", "vexari are bad"]}), tmp_path / "in.csv")
    result = predict_file(
        settings_for(trained_model, **{"predict.chunk_rows": 2}), str(source), output=str(tmp_path / "o.parquet")
    )
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert result.chunks == 2 and out["error"].fillna("").tolist() == ["", "", "empty text", ""]


def test_no_resume_starts_over(trained_model: Path, tmp_path: Path):
    source = write(texts_frame(12), tmp_path / "in.jsonl")
    out = tmp_path / "out.parquet"
    settings = settings_for(trained_model, **{"predict.chunk_rows": 5})

    def stop(event: ProgressEvent) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(settings, str(source), output=str(out), on_progress=stop)
    result = predict_file(
        settings_for(trained_model, **{"predict.chunk_rows": 5, "predict.resume": False}), str(source), output=str(out)
    )
    assert result.resumed_chunks == 0 and any("resume is off" in w for w in result.warnings)
    assert len(pd.read_parquet(out)) == 12


def test_stdin_streams_json_lines(
    trained_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello there\n\nall glorbians are worthless\n"))
    result = predict_file(settings_for(trained_model, **{"predict.chunk_rows": 2}), "-")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["tweet"] for r in lines] == ["hello there", "", "all glorbians are worthless"]
    assert lines[1]["error"] == "empty text" and lines[1]["label"] is None
    assert (result.rows, result.bad_rows, result.chunks) == (3, 1, 2)


def test_jsonl_column_appearing_late_is_a_clear_error(trained_model: Path, tmp_path: Path):
    source = tmp_path / "late.jsonl"
    source.write_text('{"tweet": "a"}\n{"tweet": "b"}\n{"tweet": "c", "extra": 1}\n')
    with pytest.raises(DataError, match="extra first appear at row 3"):
        predict_file(
            settings_for(trained_model, **{"predict.chunk_rows": 2}), str(source), output=str(tmp_path / "o.csv")
        )
    source.write_text('{"tweet": "a", "extra": 1}\n{"tweet": "b", "extra": 2}\n{"tweet": "c"}\n')
    result = predict_file(
        settings_for(trained_model, **{"predict.chunk_rows": 2}), str(source), output=str(tmp_path / "o.csv")
    )
    assert result.rows == 3 and pd.read_csv(tmp_path / "o.csv")["extra"].isna().tolist() == [False, False, True]


def test_engine_and_output_checks(trained_model: Path, tmp_path: Path):
    source = write(texts_frame(3), tmp_path / "in.csv")
    with pytest.raises(ConfigError, match="runs torch-free"):
        predict_file(settings_for(trained_model, **{"predict.engine": "ray"}), str(source))
    with pytest.raises(ConfigError, match="reads and writes files"):
        predict_file(settings_for(trained_model, **{"predict.engine": "spark", "predict.backend": "onnx"}), "-")
    with pytest.raises(ConfigError, match=r"\.zip cannot be streamed"):
        predict_file(settings_for(trained_model), str(source), output=str(tmp_path / "o.csv.zip"))
    with pytest.raises(ConfigError, match="Parquet compresses itself"):
        predict_file(settings_for(trained_model), str(source), output=str(tmp_path / "o.parquet.gz"))
    empty = tmp_path / "header.csv"
    empty.write_text("tweet,id\n")
    result = predict_file(settings_for(trained_model), str(empty), output=str(tmp_path / "e.csv"))
    assert result.rows == 0 and (tmp_path / "e.csv").read_text().startswith("tweet,id,hate_probability,label,error")


def test_score_frame_is_the_shared_batch_function(trained_model: Path):
    predictor = load_predictor(trained_model)
    frame = pd.DataFrame({"tweet": ["all glorbians are worthless", None, 42], "label": [1, 0, 0]})
    out = score_frame(predictor, frame, "tweet")
    assert list(out.columns) == ["tweet", "label", "predicted_hate_probability", "predicted_label", "error"]
    assert result_columns(["tweet"]) == ("hate_probability", "label")
    assert out["error"].fillna("").tolist() == ["", "empty text", ""]
    assert str(out["error"].dtype) == str(out["predicted_label"].dtype) == "string"  # typed even when all null
    probs = predictor.predict_proba([predictor.normalize("all glorbians are worthless"), "42"])
    assert np.allclose(out["predicted_hate_probability"].dropna().astype(float), probs)
    assert list(frame.columns) == ["tweet", "label"]  # the input is untouched
    with pytest.raises(DataError, match="missing column 'body'"):
        score_frame(predictor, frame, "body")


def test_batch_function_on_onnx_imports_no_torch(quantized_model: Path):
    code = (
        "import sys, pandas as pd\n"
        "from hsctl.predict.batch import RayScorer, ScoringSpec, score_partitions\n"
        f"spec = ScoringSpec(model_dir={str(quantized_model)!r}, backend='onnx-int8')\n"
        "out = RayScorer(spec)(pd.DataFrame({'tweet': ['hello', '']})).to_pandas()\n"
        "clean = RayScorer(spec)(pd.DataFrame({'tweet': ['hello']}))\n"
        "assert str(clean.schema.field('error').type) == 'string', clean.schema  # typed although all null\n"
        "parts = list(score_partitions(iter([pd.DataFrame({'tweet': ['a']})] * 2), spec))\n"
        "print(out['error'].isna().tolist(), len(parts), 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[True,", "False]", "2", "False", "False"]  # error is null when scored


def test_scoring_spec_pickles_small():
    import pickle

    from hsctl.predict.batch import spark_scorer

    spec = ScoringSpec(model_dir="/m", text_column="body", normalize=(("lowercase", True),))
    assert pickle.loads(pickle.dumps(spec)) == spec and hash(spec) == hash(pickle.loads(pickle.dumps(spec)))
    assert len(pickle.dumps(spark_scorer(spec))) < 2000


def test_engine_input_formats(tmp_path: Path):
    from hsctl.predict.engines import input_format

    folder = tmp_path / "posts"
    folder.mkdir()
    texts_frame(3).to_parquet(folder / "part-0.parquet")
    (folder / "_SUCCESS").write_text("")
    assert input_format(str(folder)) == "parquet"
    assert input_format(str(write(texts_frame(3), tmp_path / "a.csv"))) == "csv"
    assert input_format("s3://bucket/posts/") == "parquet" and input_format("s3://bucket/posts.jsonl") == "jsonl"
    with pytest.raises(DataError, match="file not found"):
        input_format(str(tmp_path / "missing.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CSV"):
        input_format(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="not a JSON array"):
        input_format(str(write(texts_frame(3), tmp_path / "a.json")))


def test_engines_without_their_extra_or_java_are_usage_errors(
    quantized_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import shutil

    source = write(texts_frame(3), tmp_path / "in.csv")
    settings = load_settings(
        {"predict.model": str(quantized_model), "predict.backend": "onnx-int8", "predict.engine": "ray"}
    ).settings
    monkeypatch.setitem(sys.modules, "ray", None)  # an import of ray now fails as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'hsctl\[ray\]'"):
        predict_file(settings, str(source))
    spark = settings.model_copy(update={"predict": settings.predict.model_copy(update={"engine": "spark"})})
    if importlib.util.find_spec("pyspark") is not None:
        monkeypatch.setattr(shutil, "which", lambda name: None)
        monkeypatch.delenv("JAVA_HOME", raising=False)
        with pytest.raises(ConfigError, match="needs a Java runtime"):
            predict_file(spark, str(source))
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError, match=r"pip install 'hsctl\[spark\]'"):
        predict_file(spark, str(source))
