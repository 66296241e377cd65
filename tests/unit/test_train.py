from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hsctl.errors import DataError, HubUnreachableError
from hsctl.models import LATEST, read_model_info, resolve_model_dir
from hsctl.settings import load_settings
from hsctl.train import default_run_name, find_resumable, train
from hsctl.train.base import SCRATCH, packaged_model_dir, resolve_base_model


def test_model_folder_contents(trained_model: Path):
    names = {p.name for p in trained_model.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json", "hsctl.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)  # no pickles
    config = json.loads((trained_model / "config.json").read_text())
    assert config["id2label"] == {"0": "non-hate", "1": "hate"}
    assert config["label2id"] == {"non-hate": 0, "hate": 1}
    card = json.loads((trained_model / "hsctl.json").read_text())
    assert card["base_model"]["kind"] == "scratch"
    assert 0 < card["threshold"] < 1
    assert card["validation_metrics"]["n"] > 0
    assert card["data"]["stats_sha256"] and card["data"]["fetch_manifest_sha256"]
    assert card["settings"]["train"]["model"] == "scratch"
    assert {"torch", "transformers", "hsctl"} <= set(card["libraries"])
    assert card["training"]["global_step"] > 0 and card["training"]["samples_per_s"] > 0
    assert card["training"]["learning_rate"] == 1e-3  # scratch default
    artifacts = trained_model.parents[1]
    assert (artifacts / "models" / LATEST).read_text().strip() == "tiny"
    assert resolve_model_dir(artifacts / "models", None) == trained_model
    run = json.loads((artifacts / "runs" / "tiny" / "run.json").read_text())
    assert run["status"] == "completed"
    assert not (artifacts / "runs" / "tiny" / "checkpoints").exists()


def test_read_model_info(trained_model: Path, tmp_path: Path):
    info = read_model_info(trained_model)
    assert info.labels == ["non-hate", "hate"]
    assert info.version.startswith("tiny@")
    with pytest.raises(DataError, match="model folder not found"):
        read_model_info(tmp_path / "none")
    broken = tmp_path / "broken"
    shutil.copytree(trained_model, broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(DataError, match=r"incomplete model folder.*tokenizer\.json"):
        read_model_info(broken)
    encoder = tmp_path / "encoder"
    shutil.copytree(trained_model, encoder)
    config = json.loads((encoder / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (encoder / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match="not a sequence classifier"):
        read_model_info(encoder)


def test_resolve_base_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert resolve_base_model(SCRATCH, hub_timeout_s=1).kind == "scratch"
    default = resolve_base_model("sentence-transformers/all-MiniLM-L6-v2", hub_timeout_s=1)
    assert default.kind == "packaged"
    assert Path(default.location) == packaged_model_dir("sentence-transformers/all-MiniLM-L6-v2")
    assert (Path(default.location) / "model.safetensors").is_file()
    with pytest.raises(DataError, match="model folder not found"):
        resolve_base_model("./no/such/dir", hub_timeout_s=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no config\.json"):
        resolve_base_model(str(tmp_path / "empty"), hub_timeout_s=1)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(HubUnreachableError, match="--model scratch"):
        resolve_base_model("prajjwal1/bert-tiny", hub_timeout_s=1)


def test_train_needs_preprocessed_data(isolated: Path):
    with pytest.raises(DataError, match="run 'hsctl preprocess' first"):
        train(load_settings({"train.model": "scratch"}).settings)


def test_nothing_to_resume(isolated: Path):
    with pytest.raises(DataError, match="nothing to resume"):
        find_resumable(isolated / "runs", None)


def test_default_run_name():
    assert default_run_name("sentence-transformers/all-MiniLM-L6-v2").startswith("all-MiniLM-L6-v2-")
    assert default_run_name("scratch").startswith("scratch-")


def test_scratch_vocabulary_is_deterministic():
    from hsctl.train.base import scratch_vocabulary

    texts = ["Hello world, hello there!", "Über café @USER HTTPURL", "b a b a c"]
    first = scratch_vocabulary(texts, 60)
    assert first == scratch_vocabulary(list(texts), 60)
    assert first[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "hello" in first and "##o" in first and "," in first
    assert "cafe" in first  # accents stripped like BERT's uncased tokenizer
    assert len(scratch_vocabulary(texts, 20)) <= max(20, len(set("".join(first))) * 2 + 5)


def test_fail_under_setting_is_validated():
    from hsctl.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown metric"):
        load_settings({"evaluate.fail_under": {"f1": 0.5}})
    assert load_settings({"evaluate.fail_under": {"macro_f1": 0.5}}).settings.evaluate.fail_under == {"macro_f1": 0.5}


def test_shift_aware_card_and_model_card(trained_model: Path):
    card = json.loads((trained_model / "hsctl.json").read_text())
    assert card["target_prior"] == 0.5
    low, high = card["threshold_bounds"]
    assert low <= card["threshold"] <= high
    shift = card["shift_estimates"]
    assert {"balanced_macro_f1", "balanced_roc_auc", "per_category_recall", "implicit_hate_recall"} <= set(shift)
    assert shift["per_category_recall"] and all(0 <= v["recall"] <= 1 for v in shift["per_category_recall"].values())
    assert card["calibration"]["scale"] > 0
    assert card["training"]["selection_metric"] == "shift"
    suite = card["functional_suite"]
    assert suite["n"] >= 1000 and 0 <= suite["pass_rate"] <= 1
    assert len(suite["per_functionality"]) >= 25
    readme = (trained_model / "README.md").read_text()
    assert readme.startswith("---\nlanguage: en\n")
    assert "## Intended use" in readme and "## Out of scope and misuse" in readme
    assert "## Behavioural suite" in readme and "## Known failure modes" in readme
    assert f"{card['threshold']:.3f}" in readme
    # contrast rows joined training; the held-out ones are scored at the stored threshold
    from hsctl.train.contrast import contrast_rows

    assert card["training"]["contrast_rows"] == {
        "fit": len(contrast_rows("fit")),
        "holdout": len(contrast_rows("holdout")),
    }
    held = shift["contrast_holdout"]
    assert held["n"] == len(contrast_rows("holdout")) and 0 <= held["macro_f1"] <= 1
    assert f"{card['training']['contrast_rows']['fit']} generated rows in training" in readme


def test_calibration_is_folded_into_the_weights(trained_model: Path):
    """The predictor applies no calibration of its own: the saved logits already carry it."""
    from hsctl.inference import load_predictor

    card = json.loads((trained_model / "hsctl.json").read_text())
    predictor = load_predictor(trained_model, "torch")
    probs = predictor.predict_proba(["awful hateful words about them", "a lovely day"])
    assert ((probs >= 0) & (probs <= 1)).all()
    assert card["calibration"]["scale"] != 1.0 or card["calibration"]["bias"] != 0.0


def _demo_settings(tmp: Path, **train: object):
    from hsctl.fetch import fetch
    from hsctl.preprocess import preprocess

    overrides = {"paths.artifacts": str(tmp / "artifacts"), "train.model": "scratch", "train.epochs": 1,
                 "train.early_stopping_patience": 0, "train.functional_suite": False, "tracking.backend": "none",
                 **{f"train.{k}": v for k, v in train.items()}}  # fmt: skip
    settings = load_settings(overrides).settings
    fetch("demo", settings.data, settings.paths.raw_dir)
    preprocess(settings.data, settings.paths.raw_dir, settings.paths.processed_dir)
    return settings


@pytest.mark.parametrize("weighting", ["none", "balanced"])
def test_recipe_switches(isolated: Path, weighting: str):
    settings = _demo_settings(isolated, category_weighting=weighting, class_weights=weighting == "balanced",
                              target_prior=0, selection_metric="macro_f1", run_name=weighting)  # fmt: skip
    result = train(settings)
    card = json.loads((result.model_dir / "hsctl.json").read_text())
    assert card["training"]["category_weighting"] == weighting
    assert card["target_prior"] is None and result.target_prior is None
    assert card["shift_estimates"]["prior"] == 0.5
    assert "functional_suite" not in card and result.functional_suite is None
    assert card["training"]["selection_metric"] == "macro_f1"


def test_freeze_bottom_layers():
    from transformers import BertConfig, BertForSequenceClassification

    from hsctl.train.base import freeze_bottom

    model = BertForSequenceClassification(
        BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32)
    )
    assert freeze_bottom(model, None) == 2  # half by default
    frozen = [all(not p.requires_grad for p in layer.parameters()) for layer in model.bert.encoder.layer]
    assert frozen == [True, True, False, False]
    assert not any(p.requires_grad for p in model.bert.embeddings.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    fresh = BertForSequenceClassification(model.config)
    assert freeze_bottom(fresh, 0) == 0 and all(p.requires_grad for p in fresh.parameters())
    assert freeze_bottom(BertForSequenceClassification(model.config), 99) == 4


def test_suite_leak_is_refused_before_fitting(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    import hsctl.evaluate.suite as suite

    settings = _demo_settings(isolated, run_name="leak")
    texts = load_processed_texts(settings)
    monkeypatch.setattr(
        suite, "suite_texts", lambda name="functional": frozenset({suite.normalize_for_overlap(texts[0])})
    )
    from hsctl.errors import DataError

    with pytest.raises(DataError, match="1 training/validation texts are behavioural-suite cases"):
        train(settings)
    run_dir = settings.paths.layout.runs_dir / "leak"
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "run.json").exists()  # refused before fitting
    assert not (settings.paths.models_dir / "leak").exists()


def load_processed_texts(settings) -> list[str]:
    from hsctl.train import load_processed

    return list(load_processed(settings.paths.processed_dir)["train"]["text"])


def test_leave_one_category_out(isolated: Path):
    from hsctl.errors import ConfigError
    from hsctl.train.loco import estimate_shift

    settings = _demo_settings(isolated)
    seen: list[str] = []
    result = estimate_shift(settings, categories=["Race", "Religion"], on_category=lambda c, i, n: seen.append(c))
    assert seen == ["Race", "Religion"]
    assert set(result.per_category) == {"Race", "Religion"}
    for value in result.per_category.values():
        assert value["support"] > 0 and 0 <= value["recall"] <= 1
    assert result.worst_recall == min(v["recall"] for v in result.per_category.values())
    saved = json.loads(result.output.read_text())
    assert saved["per_category"] == json.loads(json.dumps(result.per_category))
    with pytest.raises(ConfigError, match="unknown category Martians"):
        estimate_shift(settings, categories=["Martians"])


def test_estimates_are_aligned_with_the_validation_rows(trained_model: Path):
    """Scores, categories and texts must describe the same rows (the Trainer reorders by length otherwise)."""
    from collections import Counter

    from hsctl.train import load_processed

    card = json.loads((trained_model / "hsctl.json").read_text())
    validation = load_processed(trained_model.parents[1] / "data" / "processed")["validation"]
    hate_categories = Counter(c for c, y in zip(validation["category"], validation["label"], strict=True) if y == 1)
    supports = {k: v["support"] for k, v in card["shift_estimates"]["per_category_recall"].items()}
    assert supports == dict(hate_categories)
