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
