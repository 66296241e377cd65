"""The served model: a small class with ``load()`` and ``ready`` (as in KServe's model server)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.errors import ConfigError

if TYPE_CHECKING:
    from hsctl.inference import Predictor


def resolve_backend(model_dir: Path, backend: str) -> str:
    """Turn ``onnx-auto`` into ``onnx-int8`` when an int8 export exists, else ``onnx``."""
    if backend != "onnx-auto":
        return backend
    from hsctl.inference.onnx import onnx_file

    return "onnx-int8" if onnx_file(model_dir, int8=True) else "onnx"


class ServedModel:
    """Loads a predictor once and answers batches of texts."""

    def __init__(self, name: str, model_dir: Path, backend: str, *, batch_size: int, threads: int | None) -> None:
        if backend not in {"torch", "onnx", "onnx-int8", "onnx-auto"}:
            raise ConfigError(f"unknown backend {backend!r}")
        self.name = name
        self.model_dir = Path(model_dir)
        self.requested_backend = backend
        self.batch_size = batch_size
        self.threads = threads
        self.predictor: Predictor | None = None

    @property
    def ready(self) -> bool:
        """True once the model is loaded."""
        return self.predictor is not None

    def load(self) -> None:
        """Load the model (blocking: call from a worker thread at start-up)."""
        from hsctl.inference import load_predictor

        backend = resolve_backend(self.model_dir, self.requested_backend)
        self.predictor = load_predictor(self.model_dir, backend, batch_size=self.batch_size, threads=self.threads)
        self.predictor.predict_proba(["warm up"])  # first-run allocations happen now, not on a request

    def _require(self) -> Predictor:
        if self.predictor is None:
            raise RuntimeError("model not loaded")
        return self.predictor

    def predict_proba(self, texts: list[str]) -> Any:
        """P(hate) per text (runs on the inference thread)."""
        return self._require().predict_proba(texts)

    @property
    def backend(self) -> str:
        """The backend actually in use."""
        return self._require().backend if self.predictor else resolve_backend(self.model_dir, self.requested_backend)

    @property
    def version(self) -> str:
        """Model version reported with each prediction."""
        return self._require().model_version

    @property
    def threshold(self) -> float:
        """Decision threshold stored with the model."""
        return self._require().threshold

    @property
    def labels(self) -> list[str]:
        """Label names by id."""
        return list(self._require().info.labels)
