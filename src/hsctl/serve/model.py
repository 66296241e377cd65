"""The served model: a small class with ``load()`` and ``ready`` (as in KServe's model server)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.env import usable_cpus
from hsctl.errors import ConfigError

if TYPE_CHECKING:
    from hsctl.inference import Prediction, Predictor
    from hsctl.settings import NormalizeSettings

PROBE_TEXT = "warm up"
WARMUP_TEXT = "a warm-up text about as long as a short tweet, to measure the model time per text"


def resolve_backend(model_dir: Path, backend: str) -> str:
    """Turn ``onnx-auto`` into ``onnx-int8`` when an int8 export exists, else ``onnx``."""
    if backend != "onnx-auto":
        return backend
    from hsctl.inference.onnx import onnx_file

    return "onnx-int8" if onnx_file(model_dir, int8=True) else "onnx"


@dataclass(frozen=True)
class Parallelism:
    """How one worker spreads inference over its cores."""

    lanes: int
    """Micro-batches scored at the same time, each on its own thread."""
    threads: int | None
    """Threads per model call; None lets torch decide."""
    model_batch_size: int
    """Texts per model call."""


def parallelism(
    backend: str,
    *,
    workers: int,
    lanes: int | None,
    threads: int | None,
    model_batch_size: int | None = None,
    cores: int | None = None,
) -> Parallelism:
    """The settings of one worker, with the unset values filled from the cores it gets.

    ONNX: by default one lane per core with one thread each, since concurrent single-threaded
    ONNX Runtime calls outscore one call on every core; single-threaded calls are fastest on
    small length-sorted chunks (4 texts), where padding costs more than the per-call overhead.
    torch keeps one lane and lets torch pick its threads unless told. (Measured on 2 AVX2
    cores: benchmarks/serve.py.)
    """
    if not backend.startswith("onnx"):
        lanes = lanes or 1
    else:
        share = max(1, (cores or usable_cpus() or 1) // max(1, workers))
        if lanes is None:
            lanes = max(1, share // (threads or 1))
        if threads is None:
            threads = max(1, share // lanes)
    if model_batch_size is None:
        model_batch_size = 4 if threads == 1 else 8
    return Parallelism(lanes, threads, model_batch_size)


class ServedModel:
    """Loads a predictor once and answers batches of texts."""

    def __init__(
        self,
        name: str,
        model_dir: Path,
        backend: str,
        *,
        batch_size: int,
        threads: int | None,
        onnx_spinning: bool = True,
        normalize: NormalizeSettings | None = None,
    ) -> None:
        if backend not in {"torch", "onnx", "onnx-int8", "onnx-auto"}:
            raise ConfigError(f"unknown backend {backend!r}")
        self.name = name
        self.model_dir = Path(model_dir)
        self.requested_backend = backend
        self.batch_size = batch_size
        self.threads = threads
        self.onnx_spinning = onnx_spinning
        self.fallback_normalize = normalize
        self.predictor: Predictor | None = None
        self.warmup_batches: list[tuple[int, float]] = []

    @property
    def ready(self) -> bool:
        """True once the model is loaded."""
        return self.predictor is not None

    def load(self) -> None:
        """Load the model and warm it up (blocking: call from a worker thread at start-up).

        The warm-up also times a batch of one text and a batch of ``batch_size`` texts
        (:attr:`warmup_batches`), which seed admission control.
        """
        import time

        from hsctl.inference import load_predictor

        backend = resolve_backend(self.model_dir, self.requested_backend)
        predictor = load_predictor(
            self.model_dir, backend, batch_size=self.batch_size, threads=self.threads, normalize=self.fallback_normalize
        )
        if backend.startswith("onnx") and not self.onnx_spinning:
            _stop_spinning(predictor, self.threads)
        predictor.predict_proba([PROBE_TEXT])  # first-run allocations happen now, not on a request
        predictor.predict_proba([WARMUP_TEXT] * self.batch_size)
        self.warmup_batches = []
        for size in (1, self.batch_size):
            texts = [f"{WARMUP_TEXT} {i}" for i in range(size)]
            started = time.perf_counter()
            predictor.predict_proba(texts)
            self.warmup_batches.append((size, time.perf_counter() - started))
        self.predictor = predictor

    def probe(self) -> None:
        """Score a known-good text; raises when the model itself is broken (tells a bad text from a bad model)."""
        probs = self._require().predict_proba([PROBE_TEXT])
        if len(probs) != 1:
            raise RuntimeError("the model returned no result for the probe text")

    def _require(self) -> Predictor:
        if self.predictor is None:
            raise RuntimeError("model not loaded")
        return self.predictor

    def predict_proba(self, texts: list[str]) -> Any:
        """P(hate) per text (runs on the inference thread)."""
        return self._require().predict_proba(texts)

    def normalize(self, text: str) -> str:
        """``text`` normalised as the model's training data was."""
        return self._require().normalize(text)

    def decide(self, probabilities: list[float]) -> list[Prediction]:
        """The model's decision for each probability."""
        return self._require().decide(probabilities)

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


def _stop_spinning(predictor: Any, threads: int | None) -> None:
    """Re-create an ONNX Runtime session whose idle threads sleep instead of spinning.

    ONNX Runtime's pool threads spin for a while after each run, waiting for the
    next one; in a server that burns the CPU the event loop needs to parse the
    requests that would make up that next run (and, on a shared machine, other
    processes' CPU). The session is otherwise built exactly as the predictor's.
    """
    import onnxruntime as ort

    from hsctl.inference.onnx import session_options

    options = session_options(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    predictor.session = ort.InferenceSession(str(predictor.path), options, providers=["CPUExecutionProvider"])
