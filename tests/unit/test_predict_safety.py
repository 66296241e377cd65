"""predict never destroys data: not the input, not an existing output, not an input column; big texts are cut."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app
from hsctl.errors import ConfigError
from hsctl.predict import predict_file
from hsctl.predict.batch import CHARS_PER_TOKEN, error_column, renamed_outputs, result_columns, score_frame, text_budget
from hsctl.settings import NormalizeSettings, load_settings

runner = CliRunner()


class StubPredictor:
    """Enough of :class:`hsctl.inference.Predictor` for scoring: records the texts it is given."""

    def __init__(self, max_length: int = 8) -> None:
        self.info = SimpleNamespace(labels=["non-hate", "hate"], max_length=max_length)
        self.seen: list[str] = []
        self.threshold, self.model_version, self.target_prior = 0.5, "stub-1", None
        self.normalization = NormalizeSettings()

    def normalize(self, text: str) -> str:
        return text.strip()

    def predict_proba(self, texts, *, on_batch=None):
        self.seen.extend(texts)
        return np.array([0.9 if "vile" in t else 0.1 for t in texts])

    def label_id(self, probability: float) -> int:
        return int(probability >= self.threshold)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> StubPredictor:
    """predict_file with the stub predictor, whatever the model setting says."""
    import hsctl.inference
    import hsctl.models

    predictor = StubPredictor()
    monkeypatch.setattr(hsctl.models, "resolve_model_dir", lambda *a, **k: tmp_path)
    monkeypatch.setattr(hsctl.inference, "load_predictor", lambda *a, **k: predictor)
    return predictor


def settings(**overrides: object):
    return load_settings({"paths.artifacts": "artifacts", **overrides}).settings


def frame() -> pd.DataFrame:
    return pd.DataFrame({"tweet": ["you are vile", "lovely day", ""], "error": ["kept", "kept too", "mine"]})


def test_output_equal_to_the_input_is_refused_in_every_spelling(isolated: Path, stub: StubPredictor):
    (isolated / "sub").mkdir()
    source = isolated / "in.csv"
    frame().to_csv(source, index=False)
    before = source.read_bytes()
    os.symlink(source, isolated / "link.csv")
    for output in ("in.csv", "./in.csv", "sub/../in.csv", str(source), "link.csv"):
        for force in (False, True):
            with pytest.raises(ConfigError, match="is the input"):
                predict_file(settings(), "in.csv", output=output, overwrite=force)
    with pytest.raises(ConfigError, match="is the input"):
        predict_file(settings(), "link.csv", output="in.csv", overwrite=True)
    assert source.read_bytes() == before
    result = runner.invoke(app, ["predict", "in.csv", "-o", "sub/../in.csv", "--force"])
    assert result.exit_code == 2 and "is the input" in result.stderr
    assert source.read_bytes() == before


def test_an_existing_output_needs_force(isolated: Path, stub: StubPredictor):
    frame().to_csv("in.csv", index=False)
    Path("out.csv").write_text("precious\n")
    with pytest.raises(ConfigError, match="exists"):
        predict_file(settings(), "in.csv", output="out.csv")
    assert Path("out.csv").read_text() == "precious\n"
    refused = runner.invoke(app, ["predict", "in.csv", "-o", "out.csv"])
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert Path("out.csv").read_text() == "precious\n"
    for flag in ("--force", "--overwrite"):
        assert runner.invoke(app, ["predict", "in.csv", "-o", "out.csv", flag]).exit_code == 0
        assert "hate_probability" in Path("out.csv").read_text()


def test_resume_still_continues_its_own_run(isolated: Path, stub: StubPredictor):
    frame().to_csv("in.csv", index=False)
    s = settings(**{"predict.chunk_rows": 1})

    def stop(event):
        if event.chunks == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(s, "in.csv", output="out.csv", on_progress=stop)
    assert not Path("out.csv").exists()
    resumed = predict_file(s, "in.csv", output="out.csv")
    assert resumed.resumed_chunks == 2 and resumed.rows == 3
    # an interrupted --force run over an existing output resumes too
    with pytest.raises(KeyboardInterrupt):
        predict_file(s, "in.csv", output="out.csv", on_progress=stop, overwrite=True)
    assert predict_file(s, "in.csv", output="out.csv").resumed_chunks == 2


def test_an_input_column_named_like_an_output_column_is_kept(isolated: Path, stub: StubPredictor):
    frame().to_csv("in.csv", index=False)
    result = predict_file(settings(), "in.csv", output="out.csv")
    out = pd.read_csv("out.csv", keep_default_na=False)
    assert out["error"].tolist() == ["kept", "kept too", "mine"]
    assert out["predicted_error"].tolist() == ["", "", "empty text"]
    assert any("'error'" in w and "predicted_error" in w for w in result.warnings)
    assert result.bad_rows == 1
    cli = runner.invoke(app, ["predict", "in.csv", "-o", "cli.jsonl", "--json"])
    assert cli.exit_code == 0 and any("predicted_error" in w for w in json.loads(cli.stdout)["warnings"])


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["tweet"], ("hate_probability", "label", "error")),
        (["tweet", "error"], ("hate_probability", "label", "predicted_error")),
        (["tweet", "label", "error", "predicted_error"], ("predicted_hate_probability", "predicted_label",
                                                          "predicted_error_2")),
        (["tweet", "label", "predicted_label"], ("predicted_hate_probability", "predicted_label_2", "error")),
    ],
)  # fmt: skip
def test_output_column_names_never_collide(columns: list[str], expected: tuple[str, str, str]):
    names = (*result_columns(columns), error_column(columns))
    assert names == expected
    assert not set(names) & set(columns)
    assert len(renamed_outputs(columns)) == sum(1 for n in ("hate_probability", "label", "error") if n in columns)
    scored = score_frame(StubPredictor(), pd.DataFrame({c: ["you are vile"] for c in columns}), "tweet")
    assert list(scored.columns) == [*columns, *expected]


@pytest.mark.parametrize("engine", ["ray", "spark"])
@pytest.mark.parametrize("output", ["out.csv", "out.jsonl", "out.csv.gz", "out.json"])
def test_engines_refuse_an_output_name_they_cannot_write(isolated: Path, engine: str, output: str):
    pd.DataFrame({"tweet": ["a"]}).to_csv("in.csv", index=False)
    with pytest.raises(ConfigError, match="Parquet"):
        predict_file(settings(**{"predict.engine": engine, "predict.backend": "onnx"}), "in.csv", output=output)
    result = runner.invoke(app, ["predict", "in.csv", "--engine", engine, "--backend", "onnx", "-o", output])
    assert result.exit_code == 2 and "Parquet" in result.stderr
    assert not Path(output).exists()


def test_engines_refuse_to_replace_an_existing_folder_without_force(isolated: Path):
    pd.DataFrame({"tweet": ["a"]}).to_csv("in.csv", index=False)
    Path("out.parquet").mkdir()
    (Path("out.parquet") / "keep.parquet").write_text("x")
    with pytest.raises(ConfigError, match="exists"):
        predict_file(settings(**{"predict.engine": "ray", "predict.backend": "onnx"}), "in.csv", output="out.parquet")
    assert (Path("out.parquet") / "keep.parquet").exists()


def test_texts_are_cut_to_a_budget_from_max_length():
    predictor = StubPredictor(max_length=8)
    huge = "you are vile " + "x" * 5_000_000
    scored = score_frame(predictor, pd.DataFrame({"tweet": [huge, "lovely"]}), "tweet")
    assert text_budget(8) == 8 * CHARS_PER_TOKEN
    assert max(len(t) for t in predictor.seen) <= text_budget(8)
    assert predictor.seen[0].startswith("you are vile")
    assert scored["label"].tolist() == ["hate", "non-hate"]
    assert scored["tweet"].iloc[0] == huge  # the output keeps the input column whole


def test_stream_cuts_texts_too(isolated: Path, stub: StubPredictor):
    pd.DataFrame({"tweet": ["y" * 100_000, "short"]}).to_csv("in.csv", index=False)
    predict_file(settings(), "in.csv", output="out.csv")
    assert [len(t) for t in stub.seen] == [text_budget(stub.info.max_length), 5]
