"""Trained model folders: their metadata (``hsctl.json``), lookup and validation.

A model folder holds safetensors weights, the tokenizer (with ``tokenizer.json``)
and a config with ``id2label``; ``hsctl.json`` adds the decision threshold and
the provenance of the run. ``models/LATEST`` names the newest folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsctl.core.io import atomic_write_text
from hsctl.core.layout import LATEST_FILE
from hsctl.core.layout import MODEL_CARD as MODEL_CARD
from hsctl.errors import DataError
from hsctl.settings import NormalizeSettings

LATEST = LATEST_FILE
REQUIRED_FILES = ("config.json", "tokenizer.json")


@dataclass
class ModelInfo:
    """What inference needs from ``hsctl.json``, plus the folder it lives in."""

    path: Path
    threshold: float = 0.5
    labels: list[str] = field(default_factory=lambda: ["non-hate", "hate"])
    validation_prior: float | None = None
    target_prior: float | None = None
    max_length: int = 128
    version: str = "unknown"
    card: dict[str, Any] = field(default_factory=dict)
    normalize: NormalizeSettings | None = None
    """The normalisation the training data went through; None for models trained before it was recorded."""

    @property
    def positive_label(self) -> str:
        """The hate class name (label id 1)."""
        return self.labels[1]


def model_version(path: Path, card: dict[str, Any]) -> str:
    """A short, stable version string: run name plus a digest prefix of the weights."""
    digest = str(card.get("weights_sha256", ""))[:8]
    name = str(card.get("run_name") or path.name)
    return f"{name}@{digest}" if digest else name


def read_model_info(path: Path) -> ModelInfo:
    """Validate a model folder and read its metadata; a bad folder is a ``DataError`` (exit 4)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"model folder not found: {path}")
    if not path.is_dir():
        raise DataError(f"not a model folder: {path}")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not any(path.glob("*.safetensors")) and not (path / "onnx").is_dir() and not (path / "model.onnx").is_file():
        missing.append("model.safetensors")
    if missing:
        raise DataError(f"incomplete model folder {path}: missing {', '.join(missing)}")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable config.json in {path}: {exc}") from exc
    archs = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in archs):
        raise DataError(f"{path} is not a sequence classifier (architectures: {', '.join(archs) or 'none'})")
    card: dict[str, Any] = {}
    if (path / MODEL_CARD).is_file():
        try:
            card = json.loads((path / MODEL_CARD).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"unreadable {MODEL_CARD} in {path}: {exc}") from exc
    normalize = None
    if isinstance(card.get("normalize"), dict):
        try:
            normalize = NormalizeSettings(**card["normalize"])
        except ValueError as exc:
            raise DataError(f"invalid 'normalize' in {path / MODEL_CARD}: {str(exc).splitlines()[0]}") from exc
    id2label = config.get("id2label") or {}
    labels = [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(len(id2label) or 2)]
    return ModelInfo(
        path=path,
        threshold=float(card.get("threshold", 0.5)),
        labels=labels,
        validation_prior=card.get("validation_prior"),
        target_prior=card.get("target_prior"),
        max_length=int(card.get("max_length", 128)),
        version=model_version(path, card),
        card=card,
        normalize=normalize,
    )


def resolve_model_dir(models_dir: Path, model: str | Path | None) -> Path:
    """The folder for ``--model``: an explicit path, a run name under ``models_dir``, or the latest run."""
    if model:
        candidate = Path(model)
        if candidate.exists():
            return candidate
        if (Path(models_dir) / str(model)).exists():
            return Path(models_dir) / str(model)
        raise DataError(f"model folder not found: {model}")
    pointer = Path(models_dir) / LATEST
    if not pointer.is_file():
        raise DataError(f"no trained model in {models_dir}: run 'hsctl train' first or pass --model DIR")
    latest = Path(models_dir) / pointer.read_text(encoding="utf-8").strip()
    if not latest.is_dir():
        raise DataError(f"{pointer} names {latest.name}, which does not exist: pass --model DIR")
    return latest


def set_latest(models_dir: Path, run_name: str) -> None:
    """Point ``models/LATEST`` at a run folder (a text file: works on every OS)."""
    atomic_write_text(Path(models_dir) / LATEST, run_name + "\n")
