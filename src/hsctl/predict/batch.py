"""The batch function every engine calls: a pandas DataFrame in, the same rows with predictions out.

The local engine, Ray Data's ``map_batches`` and Spark's ``mapInPandas`` all go
through :func:`score_frame`, so they write the same columns and take the same
decisions. The Ray and Spark adapters load the predictor once per actor or per
executor process and, with an ONNX backend, import neither torch nor
transformers, so workers need only ``onnxruntime`` and ``tokenizers``.

Use it from your own jobs::

    spec = ScoringSpec(model_dir="/models/hate-speech", backend="onnx-int8", text_column="body")
    ds.map_batches(RayScorer, fn_constructor_kwargs={"spec": spec}, batch_format="pandas", concurrency=4)
    df.mapInPandas(spark_scorer(spec), schema)  # the input's schema plus the three result columns
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.inference import Predictor

PROB_COLUMN = "hate_probability"
LABEL_COLUMN = "label"
ERROR_COLUMN = "error"
EMPTY_TEXT = "empty text"
TORCH_FREE_BACKENDS = ("onnx", "onnx-int8")
# Characters kept per text before normalising and tokenising: max_length tokens rarely need more than
# 16 characters each, and one 50 MB "text" would otherwise cost gigabytes before truncation to max_length.
CHARS_PER_TOKEN = 16


def _free(name: str, taken: set[str]) -> str:
    """``name``, or ``predicted_<name>`` (then ``predicted_<name>_2``, ...) when an input column has it."""
    if name not in taken:
        return name
    candidate, n = f"predicted_{name}", 2
    while candidate in taken:
        candidate, n = f"predicted_{name}_{n}", n + 1
    return candidate


def result_columns(input_columns: Sequence[str]) -> tuple[str, str]:
    """The probability and label column names: ``predicted_*`` when the input already has either name."""
    taken = {str(c) for c in input_columns}
    if PROB_COLUMN in taken or LABEL_COLUMN in taken:
        return _free(PROB_COLUMN, taken | {PROB_COLUMN}), _free(LABEL_COLUMN, taken | {LABEL_COLUMN})
    return PROB_COLUMN, LABEL_COLUMN


def error_column(input_columns: Sequence[str]) -> str:
    """The error column's name: ``error``, or ``predicted_error`` when the input already has an ``error`` column."""
    return _free(ERROR_COLUMN, {str(c) for c in input_columns})


def renamed_outputs(input_columns: Sequence[str]) -> list[str]:
    """One warning per output column renamed because the input already has a column of that name."""
    prob, label = result_columns(input_columns)
    error = error_column(input_columns)
    return [
        f"the input has a column named {default!r}: the output's goes to {used!r}"
        for default, used in ((PROB_COLUMN, prob), (LABEL_COLUMN, label), (ERROR_COLUMN, error))
        if default != used and default in input_columns
    ]


def output_columns(input_columns: Sequence[str]) -> list[str]:
    """Every input column in order, then probability, label and error (null on scored rows)."""
    prob, label = result_columns(input_columns)
    return [*input_columns, prob, label, error_column(input_columns)]


def text_budget(max_length: int) -> int:
    """Characters of a text kept for scoring: ``max_length * CHARS_PER_TOKEN`` (the model sees no more)."""
    return max(1, int(max_length)) * CHARS_PER_TOKEN


@dataclass(frozen=True)
class ScoringSpec:
    """Everything a worker needs to build the predictor; small, hashable and picklable.

    ``normalize`` is the fallback text normalisation (a ``data.normalize`` dict) for
    models that do not record their own; ``prob_column`` and ``label_column`` default
    to :func:`result_columns` of the input.
    """

    model_dir: str
    backend: str = "onnx-int8"
    text_column: str = "tweet"
    batch_size: int = 32
    threads: int | None = None
    target_prior: float | None = None
    normalize: tuple[tuple[str, Any], ...] | None = None
    prob_column: str | None = None
    label_column: str | None = None
    error_column: str | None = None

    def load(self) -> Predictor:
        """A fresh predictor (validates the model folder; a bad one is a ``DataError``)."""
        from pathlib import Path

        from hsctl.inference import load_predictor
        from hsctl.settings import NormalizeSettings

        normalize = NormalizeSettings(**dict(self.normalize)) if self.normalize else None
        return load_predictor(
            Path(self.model_dir),
            self.backend,
            batch_size=self.batch_size,
            target_prior=self.target_prior,
            threads=self.threads,
            normalize=normalize,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for manifests)."""
        return asdict(self)


def as_text(value: object) -> str:
    """Cell value as text: numbers and other scalars are stringified, missing values are empty."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def score_frame(
    predictor: Predictor,
    frame: pd.DataFrame,
    text_column: str,
    *,
    prob_column: str | None = None,
    label_column: str | None = None,
    error_column_name: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """``frame`` with the probability, label and error columns added (a new frame; the input is untouched).

    Texts are cut to :func:`text_budget` characters of the model's ``max_length`` (the
    tokenizer truncates to ``max_length`` anyway; an enormous text would only cost memory),
    then normalised with the model's own rules; a row whose text is missing or empty
    after normalisation keeps null results and ``error = "empty text"``. Result columns
    that an input column already names get ``predicted_`` names (:func:`renamed_outputs`).
    """
    import numpy as np
    import pandas as pd

    from hsctl.errors import DataError

    if text_column not in frame.columns:
        found = ", ".join(map(str, frame.columns)) or "(none)"
        raise DataError(f"missing column {text_column!r} (found: {found}); choose it with --text-column")
    default_prob, default_label = result_columns([str(c) for c in frame.columns])
    prob_column, label_column = prob_column or default_prob, label_column or default_label
    error_name = error_column_name or error_column([str(c) for c in frame.columns])
    budget = text_budget(predictor.info.max_length)
    cleaned = [predictor.normalize(as_text(t)[:budget]) for t in frame[text_column].tolist()]
    good = np.array([bool(t) for t in cleaned], dtype=bool)
    probs = np.full(len(frame), np.nan)
    if good.any():
        kept = [t for t, ok in zip(cleaned, good, strict=True) if ok]
        probs[good] = predictor.predict_proba(kept, on_batch=on_batch)
    labels = predictor.info.labels
    out = frame.copy()
    out[prob_column] = pd.array([float(p) if ok else None for p, ok in zip(probs, good, strict=True)], dtype="Float64")
    out[label_column] = pd.array(
        [labels[predictor.label_id(float(p))] if ok else None for p, ok in zip(probs, good, strict=True)],
        dtype="string",
    )
    # Typed columns, so a batch whose rows are all scored (error all null) still has a string column:
    # Parquet parts written by different batches or workers must share one schema.
    out[error_name] = pd.array([None if ok else EMPTY_TEXT for ok in good], dtype="string")
    return out


def score_with_spec(spec: ScoringSpec, predictor: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`score_frame` with the column names fixed by ``spec``."""
    return score_frame(
        predictor,
        frame,
        spec.text_column,
        prob_column=spec.prob_column,
        label_column=spec.label_column,
        error_column_name=spec.error_column,
    )


class RayScorer:
    """Callable class for Ray Data's ``map_batches``: one predictor per actor, loaded in ``__init__``."""

    def __init__(self, spec: ScoringSpec) -> None:
        self.spec = spec
        self.predictor = spec.load()

    def __call__(self, batch: pd.DataFrame) -> Any:
        """Score one pandas batch; returned as an Arrow table with the result columns typed.

        Ray's own pandas conversion turns a column with no value in the batch (``error``
        when every text was scored) into Arrow's null type, and Parquet files of one
        output must share one schema.
        """
        import pyarrow as pa

        scored = score_with_spec(self.spec, self.predictor, batch)
        table = pa.Table.from_pandas(scored, preserve_index=False)
        for name, kind in zip(scored.columns[-3:], (pa.float64(), pa.string(), pa.string()), strict=True):
            index = table.schema.get_field_index(name)
            table = table.set_column(index, pa.field(name, kind), table.column(index).cast(kind))
        return table


_PREDICTORS: dict[ScoringSpec, Predictor] = {}
_LOCK = threading.Lock()


def cached_predictor(spec: ScoringSpec) -> Predictor:
    """The predictor for ``spec``, built once per process (Spark reuses its Python workers across tasks)."""
    with _LOCK:
        predictor = _PREDICTORS.get(spec)
        if predictor is None:
            predictor = _PREDICTORS[spec] = spec.load()
        return predictor


def score_partitions(batches: Iterable[pd.DataFrame], spec: ScoringSpec) -> Iterator[pd.DataFrame]:
    """Spark ``mapInPandas`` body: every pandas batch of a partition, scored with the process's predictor."""
    predictor = cached_predictor(spec)
    for batch in batches:
        yield score_with_spec(spec, predictor, batch)


def spark_scorer(spec: ScoringSpec) -> Callable[[Iterable[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function to hand to ``DataFrame.mapInPandas`` (a partial of a module function, so it pickles small)."""
    return partial(score_partitions, spec=spec)
