"""The predictor owns the model's rules: its recorded normalisation and its decision threshold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hsctl.errors import DataError
from hsctl.inference import load_predictor
from hsctl.settings import NormalizeSettings


def copy_with_card(model: Path, tmp: Path, **changes: object) -> Path:
    target = tmp / "model"
    shutil.copytree(model, target)
    card_path = target / "hsctl.json"
    card = json.loads(card_path.read_text())
    for key, value in changes.items():
        if value is None:
            card.pop(key, None)
        else:
            card[key] = value
    card_path.write_text(json.dumps(card))
    return target


def test_training_records_the_normalisation_of_its_data(trained_model: Path):
    card = json.loads((trained_model / "hsctl.json").read_text())
    assert NormalizeSettings(**card["normalize"]) == NormalizeSettings()


def test_the_models_own_normalisation_wins_over_current_settings(quantized_model: Path, tmp_path: Path):
    recorded = NormalizeSettings(urls=False, mentions=True, mention_token="@SOMEONE").model_dump()
    model = copy_with_card(quantized_model, tmp_path, normalize=recorded)
    current = NormalizeSettings(urls=True, mentions=False)
    predictor = load_predictor(model, "onnx-int8", normalize=current)
    assert predictor.normalize("hi @bob see http://x.io") == "hi @SOMEONE see http://x.io"


def test_models_without_a_record_use_the_given_settings(quantized_model: Path, tmp_path: Path):
    model = copy_with_card(quantized_model, tmp_path, normalize=None)
    predictor = load_predictor(model, "onnx-int8", normalize=NormalizeSettings(mentions=False))
    assert predictor.normalize("hi @bob  http://x.io") == "hi @bob HTTPURL"


def test_an_invalid_record_is_a_data_error(quantized_model: Path, tmp_path: Path):
    model = copy_with_card(quantized_model, tmp_path, normalize={"url_token": ""})
    with pytest.raises(DataError, match="invalid 'normalize'"):
        load_predictor(model, "onnx-int8")


def test_decisions_follow_the_stored_threshold(quantized_model: Path, tmp_path: Path):
    model = copy_with_card(quantized_model, tmp_path, threshold=0.25)
    predictor = load_predictor(model, "onnx-int8")
    decided = predictor.decide([0.0, 0.2499, 0.25, 0.9])
    assert [d.label_id for d in decided] == [0, 0, 1, 1]
    assert [d.label for d in decided] == [predictor.info.labels[i] for i in (0, 0, 1, 1)]
    texts = ["you are lovely", "  @someone   http://a.b  "]
    predicted = predictor.predict(texts)
    probs = predictor.predict_proba([predictor.normalize(t) for t in texts])
    assert [p.hate_probability for p in predicted] == pytest.approx([float(p) for p in probs])
    assert [p.label_id for p in predicted] == [int(p >= 0.25) for p in probs]
