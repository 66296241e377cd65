"""One prediction interface over PyTorch and ONNX Runtime.

Both backends share tokenisation (the ``tokenizers`` library and the saved
``tokenizer.json``), length-sorted batching, the stored threshold, the optional
prior shift and the output type, so they differ only in the forward pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hsctl.models import ModelInfo, read_model_info
from hsctl.settings import NormalizeSettings

if TYPE_CHECKING:
    import numpy as np

    from hsctl.settings import Settings

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")


@dataclass(frozen=True)
class Prediction:
    """One text's decision: the label the model's own threshold gives its probability."""

    label: str
    label_id: int
    hate_probability: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"label": self.label, "label_id": self.label_id, "hate_probability": self.hate_probability}


class Predictor(ABC):
    """Normalise, tokenise, batch by length, run the model, apply the prior shift and the threshold.

    The rules that belong to the model live here and nowhere else: the text
    normalisation its training data went through (:meth:`normalize`, from
    ``hsctl.json``, so serving cannot drift from training when settings change)
    and the decision ``labels[P(hate) >= threshold]`` (:meth:`decide`).
    """

    backend: str = "abstract"

    def __init__(
        self,
        info: ModelInfo,
        *,
        batch_size: int = 32,
        target_prior: float | None = None,
        normalize: NormalizeSettings | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        self.info = info
        # The model's own record wins; ``normalize`` is only the fallback for models that lack one.
        self.normalization = info.normalize or normalize or NormalizeSettings()
        self.batch_size = max(1, batch_size)
        self.target_prior = target_prior if target_prior is not None else info.target_prior
        self.tokenizer = Tokenizer.from_file(str(info.path / "tokenizer.json"))
        self.tokenizer.no_padding()  # padding is done per length-sorted batch
        self.tokenizer.enable_truncation(max_length=info.max_length)
        self.pad_id = pad_token_id(info.path, self.tokenizer)

    @property
    def threshold(self) -> float:
        """The decision threshold stored with the model."""
        return self.info.threshold

    @property
    def model_version(self) -> str:
        """Version string reported with every prediction."""
        return self.info.version

    @abstractmethod
    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        """Logits of shape (batch, labels) for one padded batch."""

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (truncated, unpadded)."""
        return [enc.ids for enc in self.tokenizer.encode_batch(list(texts))]

    def logits(self, texts: Sequence[str], *, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Raw logits per text, in input order; batches are sorted by token count to cut padding."""
        import numpy as np

        ids = self.encode(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            batch_idx = order[start : start + self.batch_size]
            input_ids, mask = pad_batch([ids[i] for i in batch_idx], self.pad_id)
            logits = self.forward(input_ids, mask, np.zeros_like(input_ids))
            if out is None:
                out = np.empty((len(ids), logits.shape[1]), dtype=np.float32)
            out[batch_idx] = logits
            if on_batch is not None:
                on_batch(len(batch_idx))
        return out if out is not None else np.empty((0, len(self.info.labels)), dtype=np.float32)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """P(hate) of this model's raw logits: softmax, then the prior shift when a target prior is set.

        Every backend and every consumer (quantize's gate, evaluate, the suite, serve)
        goes through here, so probabilities are always comparable.
        """
        from hsctl.core.decision import deployed_probabilities

        probs: np.ndarray = deployed_probabilities(logits, self.info.validation_prior, self.target_prior)
        return probs

    def predict_proba(self, texts: Sequence[str], *, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """P(hate) per text, in input order (see :meth:`probabilities`)."""
        return self.probabilities(self.logits(texts, on_batch=on_batch))

    def normalize(self, text: str) -> str:
        """``text`` as the model's training data was normalised (empty stays empty)."""
        from hsctl.core.text import normalize_text

        return normalize_text(text, self.normalization)

    def label_id(self, probability: float) -> int:
        """1 (hate) when ``probability`` reaches the model's threshold, else 0."""
        return int(probability >= self.threshold)

    def decide(self, probabilities: Sequence[float] | np.ndarray) -> list[Prediction]:
        """The decision for each probability: label, label id and the probability itself."""
        labels = self.info.labels
        out = []
        for p in probabilities:
            label_id = self.label_id(float(p))
            out.append(Prediction(label=labels[label_id], label_id=label_id, hate_probability=float(p)))
        return out

    def predict(self, texts: Sequence[str], *, on_batch: Callable[[int], None] | None = None) -> list[Prediction]:
        """Raw texts in, decisions out: normalised with the model's rules, scored, thresholded."""
        return self.decide(self.predict_proba([self.normalize(t) for t in texts], on_batch=on_batch))


def pad_batch(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-pad token ids into ``(input_ids, attention_mask)`` int64 arrays."""
    import numpy as np

    width = max((len(x) for x in batch), default=1) or 1
    input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, seq in enumerate(batch):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return input_ids, mask


def pad_token_id(path: Path, tokenizer: Any) -> int:
    """The id of the model's pad token, from its tokenizer files (BERT's [PAD] by default)."""
    import json

    token = "[PAD]"
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        file = path / name
        if file.is_file():
            value = json.loads(file.read_text(encoding="utf-8")).get("pad_token")
            if isinstance(value, dict):
                value = value.get("content")
            if value:
                token = str(value)
                break
    pad = tokenizer.token_to_id(token)
    return int(pad) if pad is not None else 0


class TorchPredictor(Predictor):
    """PyTorch backend: the safetensors weights through transformers."""

    backend = "torch"

    def __init__(self, info: ModelInfo, *, threads: int | None = None, **kwargs: Any) -> None:
        super().__init__(info, **kwargs)
        import torch
        from transformers import AutoModelForSequenceClassification

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.model = AutoModelForSequenceClassification.from_pretrained(str(info.path), use_safetensors=True).eval()
        self._uses_token_types = "token_type_ids" in self.model.forward.__code__.co_varnames

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        torch = self._torch
        inputs = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention_mask)}
        if self._uses_token_types:
            inputs["token_type_ids"] = torch.from_numpy(token_type_ids)
        with torch.inference_mode():
            return self.model(**inputs).logits.float().numpy()


def load_predictor(
    model_dir: Path,
    backend: str = "torch",
    *,
    batch_size: int = 32,
    target_prior: float | None = None,
    threads: int | None = None,
    normalize: NormalizeSettings | None = None,
) -> Predictor:
    """A predictor for a model folder; the folder is validated first (exit 4 when bad).

    ``normalize`` applies only to models that do not record their own normalisation.

    The ONNX backends import neither torch nor transformers.
    """
    from hsctl.errors import ConfigError

    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    info = read_model_info(model_dir)
    if backend == "torch":
        return TorchPredictor(
            info, batch_size=batch_size, target_prior=target_prior, threads=threads, normalize=normalize
        )
    from hsctl.inference.onnx import OnnxPredictor

    return OnnxPredictor(
        info,
        int8=backend == "onnx-int8",
        batch_size=batch_size,
        target_prior=target_prior,
        threads=threads,
        normalize=normalize,
    )


def predictor_for(
    settings: Settings, model: str | Path | None, backend: str = "torch", *, target_prior: float | None = None
) -> Predictor:
    """The predictor for ``--model`` (a folder, a run name, or the latest run) with the inference settings."""
    from hsctl.models import resolve_model_dir

    return load_predictor(
        resolve_model_dir(settings.paths.models_dir, model),
        backend,
        batch_size=settings.inference.batch_size,
        target_prior=target_prior,
        threads=settings.inference.threads,
        normalize=settings.data.normalize,
    )
