"""``predict``: score a CSV, JSONL or Parquet file, or lines on stdin, in chunks.

The output keeps every input column and adds ``hate_probability``, ``label`` and
``error``; rows that cannot be scored (no text) keep empty results, ``error =
"empty text"``, and are counted, never silently skipped. The local engine
streams (memory flat in the input size) and resumes interrupted runs; the Ray
and Spark engines (:mod:`hsctl.predict.engines`) call the same batch function,
:func:`hsctl.predict.batch.score_frame`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.tables import TABLE_SUFFIXES, table_format
from hsctl.errors import ConfigError, DataError
from hsctl.predict.batch import (
    TORCH_FREE_BACKENDS,
    ScoringSpec,
    error_column,
    renamed_outputs,
    result_columns,
    score_frame,
)

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.inference import Predictor
    from hsctl.settings import Settings

STDIO = "-"
MAX_BAD_ROWS_SHOWN = 5
log = logging.getLogger(__name__)


@dataclass
class PredictResult:
    """Summary of a scoring run."""

    rows: int
    scored: int
    bad_rows: int
    bad_row_numbers: list[int]
    label_counts: dict[str, int]
    output: str
    model_version: str
    backend: str
    threshold: float
    elapsed_s: float
    rows_per_s: float
    warnings: list[str] = field(default_factory=list)
    engine: str = "local"
    chunks: int = 0
    resumed_chunks: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProgressEvent:
    """How far a run is: rows written so far and, when known, the share of the input read."""

    rows: int
    chunks: int
    fraction: float | None


def default_output(source: str, engine: str = "local") -> str:
    """``tweets.csv`` -> ``tweets.scored.csv``, ``my.data.csv.gz`` -> ``my.data.scored.csv.gz``; stdin -> stdout.

    The ray and spark engines write a folder of Parquet files: ``tweets.scored.parquet/``.
    """
    if source == STDIO:
        return STDIO
    path = Path(source)
    suffixes = path.suffixes
    start = next((i for i, s in enumerate(suffixes) if s.lower() in TABLE_SUFFIXES), len(suffixes))
    tail = "".join(suffixes[start:])
    stem = path.name[: len(path.name) - len(tail)] if tail else path.name
    if engine != "local":
        return str(path.with_name(f"{stem}.scored.parquet"))
    return str(path.with_name(f"{stem}.scored{tail}"))


def scoring_spec(settings: Settings, model_dir: Path, backend: str, target_prior: float | None) -> ScoringSpec:
    """The picklable description of the scorer that workers rebuild (settings, not flags, decide it)."""
    return ScoringSpec(
        model_dir=str(Path(model_dir).resolve()),
        backend=backend,
        text_column=settings.data.text_column,
        batch_size=settings.inference.batch_size,
        threads=settings.inference.threads,
        target_prior=target_prior,
        normalize=tuple(settings.data.normalize.model_dump().items()),
    )


@dataclass
class Tally:
    """Running totals across chunks (also restored from the manifest of a resumed run, or counted by engines)."""

    rows: int = 0
    scored: int = 0
    bad: int = 0
    bad_numbers: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, summary: dict[str, Any]) -> None:
        self.rows += int(summary["rows"])
        self.scored += int(summary["scored"])
        self.bad += int(summary["bad"])
        self.bad_numbers.extend(summary["bad_numbers"][: max(0, 100 - len(self.bad_numbers))])
        for name, n in summary["label_counts"].items():
            self.counts[name] = self.counts.get(name, 0) + int(n)


def _chunk_summary(scored: pd.DataFrame, first_row: int, label_column: str, error_name: str) -> dict[str, Any]:
    errors = scored[error_name].notna().to_numpy()
    bad_numbers = [first_row + int(i) for i in errors.nonzero()[0][:100]]
    counts = scored[label_column].value_counts().to_dict()
    return {
        "rows": len(scored),
        "scored": int((~errors).sum()),
        "bad": int(errors.sum()),
        "bad_numbers": bad_numbers,
        "label_counts": {str(k): int(v) for k, v in counts.items()},
    }


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: resolved (symlinks, ``..``), and by inode when both exist."""
    first, second = Path(a), Path(b)
    if first.exists() and second.exists():
        try:
            return os.path.samefile(first, second)
        except OSError:
            pass
    return first.resolve() == second.resolve()


def _check_paths(source: str, destination: str, engine: str, *, overwrite: bool, resume: bool) -> None:
    """Usage errors found before any work: formats, an output that is the input, an output that exists."""
    if source != STDIO and destination != STDIO and same_file(source, destination):
        raise ConfigError(f"the output {destination} is the input file: choose another --output")
    if engine != "local":  # the engines also read folders and URLs (hsctl.predict.engines.input_format)
        if source == STDIO or destination == STDIO:
            raise ConfigError(f"the {engine} engine reads and writes files: give an input file and an output folder")
        if table_format(Path(source)) == "json":
            raise ConfigError(f"the {engine} engine reads CSV, TSV, JSON lines or Parquet, not a JSON array")
        wanted = table_format(Path(destination))
        if wanted not in (None, "parquet"):
            raise ConfigError(
                f"the {engine} engine writes a folder of Parquet files, not {wanted}: "
                f"name the output FOLDER or FOLDER.parquet (not {destination})"
            )
        if Path(destination).exists() and not overwrite:
            raise ConfigError(f"{destination} exists: pass --force to replace it")
        return
    if source != STDIO and table_format(Path(source)) is None:
        raise DataError(f"unsupported input type for {source}: use .csv, .tsv, .jsonl, .json, .parquet or '-'")
    if destination == STDIO:
        return
    if table_format(Path(destination)) is None:
        raise ConfigError(f"unsupported output type for {destination}: use .csv, .tsv, .jsonl, .json or .parquet")
    if Path(destination).exists() and not overwrite:
        from hsctl.predict.stream import MANIFEST, parts_dir

        if not (resume and (parts_dir(Path(destination)) / MANIFEST).is_file()):  # --resume continues its own run
            raise ConfigError(f"{destination} exists: pass --force to replace it")


def predict_file(
    settings: Settings,
    source: str,
    *,
    output: str | None = None,
    model: str | Path | None = None,
    backend: str | None = None,
    target_prior: float | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    overwrite: bool = False,
    encoding: str | None = None,
) -> PredictResult:
    """Score ``source`` and write ``output`` (default: beside the input) with the engine of ``predict.engine``.

    ``model`` and ``backend`` override ``predict.model`` and ``predict.backend``. An existing
    output is replaced only with ``overwrite`` (an interrupted run's own output is resumed),
    and never when it is the input. ``encoding`` is that of CSV/TSV/JSON input (default UTF-8).
    """
    from hsctl.core.tables import check_encoding
    from hsctl.models import resolve_model_dir

    started = time.perf_counter()
    cfg = settings.predict
    engine, backend = cfg.engine, backend or cfg.backend
    destination = output or default_output(source, engine)
    check_encoding(encoding)
    _check_paths(source, destination, engine, overwrite=overwrite, resume=cfg.resume)
    if engine != "local" and backend not in TORCH_FREE_BACKENDS:
        raise ConfigError(f"the {engine} engine runs torch-free: use --backend onnx or onnx-int8")
    model_dir = resolve_model_dir(settings.paths.models_dir, model or cfg.model)
    if engine != "local":
        from hsctl.predict.engines import run_engine

        spec = scoring_spec(settings, model_dir, backend, target_prior)
        return run_engine(settings, spec, source, destination, started=started)
    from hsctl.inference import load_predictor

    predictor = load_predictor(
        model_dir,
        backend,
        batch_size=settings.inference.batch_size,
        target_prior=target_prior,
        threads=settings.inference.threads,
        normalize=settings.data.normalize,
    )
    log.info("model %s (%s), %s engine: %s -> %s", model_dir, backend, engine, source, destination)
    return _stream(settings, predictor, source, destination, backend, started, on_progress, encoding)


def _stream(
    settings: Settings,
    predictor: Predictor,
    source: str,
    destination: str,
    backend: str,
    started: float,
    on_progress: Callable[[ProgressEvent], None] | None,
    encoding: str | None = None,
) -> PredictResult:
    """The local engine: read a chunk, score it, write it as a part; resume from the manifest when it matches."""
    from hsctl.predict.stream import ChunkReader, PartWriter, input_fingerprint, write_stdout

    cfg = settings.predict
    text_column = settings.data.text_column
    reader = ChunkReader(source, text_column, cfg.chunk_rows, encoding=encoding)
    writer: PartWriter | None = None
    tally, warnings, resumed, chunks = Tally(), [], 0, 0
    columns: tuple[str, str, str] | None = None
    for chunk in reader:
        if columns is None:
            columns = (*result_columns(reader.columns or []), error_column(reader.columns or []))
            warnings.extend(reader.notes)
            warnings.extend(renamed_outputs(reader.columns or []))
            if destination != STDIO:
                key = {
                    "input": input_fingerprint(source) if source != STDIO else {"stdin": True},
                    "model": {"version": predictor.model_version, "backend": backend, "threshold": predictor.threshold},
                    "options": {
                        "chunk_rows": cfg.chunk_rows,
                        "text_column": text_column,
                        "target_prior": predictor.target_prior,
                        "normalize": predictor.normalization.model_dump(),
                        "output": str(Path(destination).resolve()),
                    },
                }
                writer = PartWriter(Path(destination), key, resume=cfg.resume and source != STDIO)
                if writer.resume_note:
                    warnings.append(writer.resume_note)
                for part in writer.parts:
                    tally.add(part)
                resumed = writer.done_chunks
        if writer is not None and chunk.index < writer.done_chunks:
            continue  # written by the interrupted run
        scored = score_frame(
            predictor,
            chunk.frame,
            text_column,
            prob_column=columns[0],
            label_column=columns[1],
            error_column_name=columns[2],
        )
        summary = _chunk_summary(scored, chunk.first_row, columns[1], columns[2])
        log.debug("chunk %d: %d rows scored", chunk.index, summary["scored"])
        if writer is not None:
            writer.write(chunk.index, scored, summary)
        else:
            write_stdout(scored)
        tally.add(summary)
        chunks = chunk.index + 1
        if on_progress is not None:
            on_progress(ProgressEvent(rows=tally.rows, chunks=chunk.index + 1, fraction=chunk.fraction))
    if writer is not None:
        writer.finish()
    labels = predictor.info.labels
    return summarise(
        tally=tally,
        labels=labels,
        output=destination,
        model_version=predictor.model_version,
        backend=backend,
        threshold=predictor.threshold,
        started=started,
        warnings=warnings,
        engine="local",
        chunks=max(chunks, resumed),
        resumed=resumed,
    )


def summarise(
    *,
    tally: Tally,
    labels: list[str],
    output: str,
    model_version: str,
    backend: str,
    threshold: float,
    started: float,
    warnings: list[str],
    engine: str,
    chunks: int,
    resumed: int = 0,
) -> PredictResult:
    """The run summary; rows without text become one warning with the first row numbers."""
    elapsed = time.perf_counter() - started
    if tally.bad:
        shown = ", ".join(map(str, tally.bad_numbers[:MAX_BAD_ROWS_SHOWN])) + (
            ", ..." if tally.bad > MAX_BAD_ROWS_SHOWN else ""
        )
        warnings.append(f"{tally.bad} row(s) have no text and were not scored (rows {shown})")
    return PredictResult(
        rows=tally.rows,
        scored=tally.scored,
        bad_rows=tally.bad,
        bad_row_numbers=tally.bad_numbers[:100],
        label_counts={name: int(tally.counts.get(name, 0)) for name in labels},
        output=output,
        model_version=model_version,
        backend=backend,
        threshold=threshold,
        elapsed_s=round(elapsed, 3),
        rows_per_s=round(tally.rows / elapsed, 1) if elapsed > 0 else 0.0,
        warnings=warnings,
        engine=engine,
        chunks=chunks,
        resumed_chunks=resumed,
    )
