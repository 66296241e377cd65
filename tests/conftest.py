"""Shared fixtures: an isolated working directory and small data files made on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

SHARED_TRAIN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hate_speech_twitter" / "train.csv"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every test in its own directory with no HSCTL_* variables and no hub access."""
    for key in list(os.environ):
        if key.startswith("HSCTL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tiny_sweep_toml(*, epochs: int = 1, sampler_seed: int | None = None) -> str:
    """An hsctl.toml for sweeps of a scratch model in seconds: the learning rate searched, ``epochs`` fixed."""
    seed = "" if sampler_seed is None else f"[sweep]\nsampler_seed = {sampler_seed}\n"
    return f"""[train]
model = "scratch"
max_length = 16
scratch_vocab_size = 100
early_stopping_patience = 0
[tracking]
backend = "none"
{seed}[sweep.space.learning_rate]
type = "float"
low = 1e-3
high = 1e-2
log = true
[sweep.space.epochs]
type = "categorical"
choices = [{epochs}]
"""


def make_frame(n: int = 60, hate_every: int = 3) -> pd.DataFrame:
    """A small labelled frame with the hub dataset's column names."""
    rows = []
    for i in range(n):
        hate = i % hate_every == 0
        rows.append(
            {
                "tweet": f"{'awful hateful' if hate else 'lovely kind'} message number {i} @someone http://x.io/{i}",
                "label": int(hate),
                "categories": "Race" if hate else "",
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """A 60-row CSV with tweet/label/categories columns."""
    path = tmp_path / "small.csv"
    make_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch model trained once on the demo set; tests must not modify it."""
    from hsctl.fetch import fetch
    from hsctl.preprocess import preprocess
    from hsctl.settings import load_settings
    from hsctl.train import train

    root = tmp_path_factory.mktemp("trained")
    overrides = {
        "paths.artifacts": str(root / "artifacts"),
        "train.model": "scratch",
        "train.epochs": 2,
        "train.run_name": "tiny",
        "train.early_stopping_patience": 0,
        "tracking.backend": "none",
    }
    settings = load_settings(overrides).settings
    fetch("demo", settings.data, settings.paths.raw_dir)
    preprocess(settings.data, settings.paths.raw_dir, settings.paths.processed_dir)
    return train(settings).model_dir


@pytest.fixture(scope="session")
def quantized_model(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the scratch model with onnx/ (int8 forced: tiny random models lose F1)."""
    import shutil

    from hsctl.quantize import quantize
    from hsctl.settings import load_settings

    artifacts = tmp_path_factory.mktemp("quantized") / "artifacts"
    shutil.copytree(trained_model.parents[1] / "data", artifacts / "data")
    target = artifacts / "models" / trained_model.name
    shutil.copytree(trained_model, target)
    settings = load_settings({"paths.artifacts": str(artifacts)}).settings
    quantize(settings, model=target, force=True, measure=False)
    return target
