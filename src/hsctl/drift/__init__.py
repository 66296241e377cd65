"""``drift``: does live traffic still look like the training data?

The reference is the preprocessed training split (or any file ``fetch``
reads); the current data is the prediction log that ``hsctl serve`` writes (or
any file). Embedding, text-descriptor, prediction and label tests run on them
(see :mod:`hsctl.drift.stats`), their p-values are Bonferroni-corrected, and
``drift.json`` and a self-contained ``drift.html`` are written atomically.
The library never prints or exits; the verdict is in the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hsctl.core.io import atomic_dir, atomic_write_text, utc_now, write_json
from hsctl.core.progress import ProgressFn, counter
from hsctl.drift.log import is_prediction_log
from hsctl.drift.types import DriftReport, SideInfo
from hsctl.errors import ConfigError, DataError
from hsctl.models import ModelInfo, read_model_info, resolve_model_dir

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from hsctl.drift.log import LogStats
    from hsctl.drift.performance import Performance
    from hsctl.settings import Settings

REPORT = "drift.json"
HTML = "drift.html"
MARKDOWN = "drift.md"
DEFAULT_REFERENCE_SPLIT = "train"
PREDICTION_REFERENCE_SPLIT = "validation"
BACKEND_CHOICES = ("auto", "torch", "onnx", "onnx-int8")
HASHED_REASON = "the log holds sha256 hashes of the texts only (serve.log_text = 'sha256'); this test needs texts"
NO_TEXT_REASON = "the log holds no texts (serve.log_text = 'none'); this test needs texts"

# (stage, completed, total): told while texts are embedded or scored.


@dataclass
class DriftResult:
    """The drift report (the content of ``drift.json``) and where it was written."""

    report: DriftReport
    output_dir: Path
    html_paths: list[Path] = field(default_factory=list)

    @property
    def drifted(self) -> bool | None:
        """True when drift was detected, False when not, None when no test could run."""
        value = self.report["verdict"]["drift"]
        return None if value is None else bool(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the report plus where it was written."""
        return {**self.report, "output_dir": str(self.output_dir), "html": [str(p) for p in self.html_paths]}


@dataclass
class Data:
    """A loaded side: normalised texts (None where not logged), probabilities, labels, and its description."""

    frame: pd.DataFrame
    name: str
    kind: str  # "split", "file" or "log"
    info: dict[str, Any] = field(default_factory=dict)
    log_stats: LogStats | None = None


# --- loading --------------------------------------------------------------------------------------------------


def _is_split_name(name: str) -> bool:
    return "/" not in name and "." not in name and not Path(name).exists()


def _load_split(settings: Settings, split: str) -> pd.DataFrame:
    from hsctl.core.processed import load_processed

    dataset = load_processed(settings.paths.processed_dir, (split,), hint="or pass --reference FILE")
    frame: pd.DataFrame = dataset[split].to_pandas()
    return frame


def _tidy(frame: pd.DataFrame, settings: Settings, n_labels: int, info: dict[str, Any]) -> pd.DataFrame:
    """Normalise texts, validate labels and probabilities; invalid values become missing and are counted."""
    import numpy as np
    import pandas as pd

    from hsctl.core.text import normalize_text
    from hsctl.fetch.sources import LABEL, TEXT
    from hsctl.preprocess.validate import as_label_id

    out = pd.DataFrame(index=frame.index)
    out[TEXT] = (
        frame[TEXT]
        .map(lambda t: normalize_text(t, settings.data.normalize) if isinstance(t, str) else None)
        .astype(object)
    )
    info["missing_text"] = int(out[TEXT].isna().sum())
    if LABEL in frame.columns:
        ids = frame[LABEL].map(lambda v: None if v is None else as_label_id(v))
        valid = ids.map(lambda v: v is not None and 0 <= v < n_labels)
        info["invalid_labels"] = int((~valid & frame[LABEL].notna()).sum())
        out[LABEL] = pd.array([int(v) if ok else pd.NA for v, ok in zip(ids, valid, strict=True)], dtype="Int64")
    if "hate_probability" in frame.columns:
        probs = pd.to_numeric(frame["hate_probability"], errors="coerce").astype(float)
        bad = probs.isna() | (probs < 0) | (probs > 1)
        info["invalid_probabilities"] = int(bad.sum())
        out["hate_probability"] = probs.where(~bad, np.nan)
    return out.reset_index(drop=True)


def load_data(settings: Settings, spec: str, n_labels: int) -> Data:
    """A split of the preprocessed data, or any file ``fetch`` reads, as a tidy frame."""
    import pandas as pd

    from hsctl.fetch.sources import read_source

    if _is_split_name(spec):
        frame = _load_split(settings, spec)
        info: dict[str, Any] = {"source": f"split:{spec}"}
        return Data(frame=_tidy(frame, settings, n_labels, info), name=f"split:{spec}", kind="split", info=info)
    source = read_source(spec, settings.data, require_label=False)
    frame = pd.concat(list(source.splits.values()), ignore_index=True)
    info = {"source": spec, "files": source.files}
    return Data(frame=_tidy(frame, settings, n_labels, info), name=spec, kind="file", info=info)


def default_log_location(settings: Settings) -> str:
    """``drift.log_url``, else ``serve.log_url``, else ``<artifacts>/predictions``."""
    from hsctl.serve.predlog import default_log_dir

    return settings.drift.log_url or settings.serve.log_url or default_log_dir(settings.paths.artifacts)


def load_current(
    settings: Settings,
    spec: str | None,
    n_labels: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
) -> Data:
    """The prediction log (filtered by time) or a file."""
    from hsctl.drift.log import read_prediction_log

    location = spec or default_log_location(settings)
    if spec is None or is_prediction_log(location):
        frame, stats = read_prediction_log(location, since=since, until=until, last=last)
        info = {"source": location, "log": stats.to_dict()}
        data = Data(frame=_tidy(frame, settings, n_labels, info), name=location, kind="log", log_stats=stats, info=info)
        for column in ("text_sha256", "model_version", "time", "prediction_id", "threshold", "predicted_label"):
            data.frame[column] = frame[column].to_numpy()
        return data
    if since is not None or until is not None:
        raise ConfigError("--since and --until filter a prediction log; --current names a data file")
    data = load_data(settings, location, n_labels)
    if last is not None and len(data.frame) > last:
        data.frame = data.frame.iloc[-last:].reset_index(drop=True)
        data.info["last"] = last
    return data


def choose_backend(model_dir: Path, requested: str, current_is_log: bool, serve_backend: str) -> str:
    """``auto``: the server's backend for a log (its probabilities must be comparable); else the fastest export."""
    from hsctl.inference.onnx import onnx_file
    from hsctl.serve.model import resolve_backend

    if requested not in BACKEND_CHOICES:
        raise ConfigError(f"unknown backend {requested!r}: choose one of {', '.join(BACKEND_CHOICES)}")
    if requested != "auto":
        return requested
    if current_is_log:
        return resolve_backend(model_dir, serve_backend)
    if onnx_file(model_dir, int8=True):
        return "onnx-int8"
    return "onnx" if onnx_file(model_dir, int8=False) else "torch"


# --- computing ------------------------------------------------------------------------------------------------


def _cached(
    settings: Settings, kind: str, identity: list[str], texts: list[str], compute: Callable[[], np.ndarray]
) -> tuple[np.ndarray, bool]:
    """``compute()``, or its earlier result for the same texts and model (best effort: errors recompute)."""
    import numpy as np

    if not settings.drift.cache:
        return compute(), False
    digest = hashlib.sha256(json.dumps([kind, *identity, texts], ensure_ascii=False).encode("utf-8")).hexdigest()
    path = settings.paths.layout.drift_cache_dir / f"{kind}-{digest[:32]}.npy"
    if path.is_file():
        try:
            value = np.load(path, allow_pickle=False)
            if len(value) == len(texts):
                return value, True
        except (OSError, ValueError):
            pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npy")
        np.save(tmp, value)
        os.replace(tmp, path)
    except OSError:
        pass
    return value, False


def _texts(data: Data) -> list[str]:
    from hsctl.fetch.sources import TEXT

    return [t for t in data.frame[TEXT].tolist() if isinstance(t, str)]


def _labels(data: Data) -> np.ndarray | None:
    from hsctl.fetch.sources import LABEL

    if LABEL not in data.frame.columns:
        return None
    values = data.frame[LABEL].dropna()
    return values.to_numpy(dtype="int64") if len(values) else None


def _text_reason(data: Data) -> str:
    stats = data.log_stats
    if stats is not None and stats.hashed:
        return HASHED_REASON
    if stats is not None:
        return NO_TEXT_REASON
    return f"{data.name} has no texts"


def drift(
    settings: Settings,
    *,
    reference: str | None = None,
    current: str | None = None,
    since: str | None = None,
    until: str | None = None,
    last: int | None = None,
    model: str | Path | None = None,
    backend: str | None = None,
    output_dir: Path | None = None,
    report_path: Path | None = None,
    progress: ProgressFn | None = None,
) -> DriftResult:
    """Compare current data with the reference and write ``drift.json`` and ``drift.html``."""
    from hsctl.drift.log import parse_when
    from hsctl.drift.report import make_plots, render_html, render_markdown
    from hsctl.drift.stats import Side, apply_bonferroni, load_tokenizer, run_tests, text_descriptors

    model = model if model is not None else settings.drift.model  # unset: the setting, then the latest
    backend = backend or settings.drift.backend
    started = time.perf_counter()
    timings: dict[str, float] = {}
    cfg = settings.drift
    if last is not None and last < 1:
        raise ConfigError("--last must be at least 1")
    since_t = parse_when(since) if since else None
    until_t = parse_when(until, end=True) if until else None
    if since_t and until_t and since_t >= until_t:
        raise ConfigError("--since must be before --until")

    model_dir = resolve_model_dir(settings.paths.models_dir, model)
    info = read_model_info(model_dir)
    ref, cur, pred_ref, warnings = _load_sides(
        settings, reference, current, info, since=since_t, until=until_t, last=last
    )
    timings["load"] = time.perf_counter() - started
    performance = _performance(settings, cur, info.threshold, info.labels)

    ref_texts, cur_texts = _texts(ref), _texts(cur)
    if cur_texts and len(cur_texts) < len(cur.frame):
        warnings.append(
            f"{len(cur.frame) - len(cur_texts)} of {len(cur.frame)} current rows have no text (hashed or not logged): "
            f"text tests use the {len(cur_texts)} rows with text"
        )

    # Text descriptors (the model's tokenizer decides which words are unknown).
    mark = time.perf_counter()
    tokenizer = load_tokenizer(model_dir)
    ref_side = Side(reasons={})
    cur_side = Side(reasons={})
    for side_obj, texts, data in ((ref_side, ref_texts, ref), (cur_side, cur_texts, cur)):
        if texts:
            side_obj.descriptors = text_descriptors(texts, tokenizer, settings.data.normalize)
        else:
            side_obj.reasons["descriptors"] = side_obj.reasons["embeddings"] = _text_reason(data)
    timings["descriptors"] = time.perf_counter() - mark

    # Embeddings of a seeded sample of each side.
    mark = time.perf_counter()
    encoder_info = _embed(settings, model_dir, info.version, (ref_side, ref_texts), (cur_side, cur_texts), progress)
    timings["embeddings"] = time.perf_counter() - mark

    # Predictions: the model's scores on the (prediction) reference; the log's or the model's on current.
    mark = time.perf_counter()
    scoring = _score_sides(
        settings, model_dir, info, backend, (ref_side, pred_ref), (cur_side, cur, cur_texts), progress
    )
    timings["predictions"] = time.perf_counter() - mark

    # Labels (the log's 'label' is the model's prediction, not the truth).
    ref_side.labels = _labels(ref)
    cur_side.labels = _labels(cur) if cur.kind != "log" else None
    if ref_side.labels is None:
        ref_side.reasons["labels"] = f"{ref.name} has no labels"
    if cur_side.labels is None:
        cur_side.reasons["labels"] = (
            "the prediction log holds predicted labels only, no true labels"
            if cur.kind == "log"
            else f"{cur.name} has no labels"
        )

    mark = time.perf_counter()
    tests = run_tests(ref_side, cur_side, cfg, threshold=info.threshold, labels=info.labels)
    verdict = apply_bonferroni(tests, cfg.alpha)
    timings["tests"] = time.perf_counter() - mark
    for test in tests:
        if test.skipped and test.reason and test.reason.startswith("too few"):
            warnings.append(f"{test.name} skipped: {test.reason}")

    report: DriftReport = {
        "verdict": verdict,
        "tests": [t.to_dict() for t in tests],
        "reference": {
            **_side_info(ref),
            "prediction_source": pred_ref.name,
            "prediction_rows": scoring.reference_rows,
            "prediction_cached": scoring.reference_cached,
        },
        "current": {**_side_info(cur), "prediction_source": scoring.current_source},
        "model": {
            "path": str(model_dir),
            "version": info.version,
            "backend": scoring.backend,
            "threshold": info.threshold,
            "labels": info.labels,
        },
        "encoder": encoder_info,
        "performance": performance,
        "settings": cfg.model_dump(),
        "warnings": warnings,
        "created_at": utc_now(),
    }
    layout = settings.paths.layout
    out = output_dir or layout.new_report_dir("drift")  # history: one folder per run
    mark = time.perf_counter()
    with atomic_dir(out) as tmp:
        plots = make_plots(tests)
        timings["report"] = time.perf_counter() - mark
        report["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
        report["elapsed_s"] = round(time.perf_counter() - started, 3)
        html = render_html(report, plots)
        write_json(tmp / REPORT, report)
        (tmp / HTML).write_text(html, encoding="utf-8")
        (tmp / MARKDOWN).write_text(render_markdown(report), encoding="utf-8")
    html_paths = [out / HTML]
    if report_path is not None:
        atomic_write_text(Path(report_path), html)
        html_paths.append(Path(report_path))
    if output_dir is None:
        layout.point_latest("drift", out)
    return DriftResult(report=report, output_dir=out, html_paths=html_paths)


def _performance(settings: Settings, cur: Data, threshold: float, labels: list[str]) -> Performance | None:
    """Estimated performance of the current data, and realized where labels are known (the store, for a log)."""
    from hsctl.drift.performance import performance
    from hsctl.review import read_feedback

    feedback = read_feedback(settings.paths.layout) if cur.kind == "log" else None
    return performance(
        cur.frame,
        threshold,
        feedback=feedback,
        own_labels=cur.kind != "log",
        seed=settings.drift.seed,
        positive_label=labels[-1],
    )


def _load_sides(
    settings: Settings,
    reference: str | None,
    current: str | None,
    info: ModelInfo,
    *,
    since: datetime | None,
    until: datetime | None,
    last: int | None,
) -> tuple[Data, Data, Data, list[str]]:
    """Reference, current and prediction-reference data, with the warnings their contents call for."""
    n_labels = len(info.labels)
    warnings: list[str] = []
    ref = load_data(settings, reference or DEFAULT_REFERENCE_SPLIT, n_labels)
    cur = load_current(settings, current, n_labels, since=since, until=until, last=last)
    pred_ref = ref
    if ref.name == f"split:{DEFAULT_REFERENCE_SPLIT}":
        try:
            pred_ref = load_data(settings, PREDICTION_REFERENCE_SPLIT, n_labels)
        except DataError:
            warnings.append(
                "no validation split: prediction drift compares with the model's scores on its own training rows, "
                "which are over-confident"
            )
    for data, side_name in ((ref, "reference"), (cur, "current")):
        if data.info.get("invalid_labels"):
            warnings.append(
                f"{data.info['invalid_labels']} {side_name} row(s) with labels outside the label set ignored"
            )
        if data.info.get("invalid_probabilities"):
            warnings.append(
                f"{data.info['invalid_probabilities']} {side_name} row(s) with invalid hate_probability ignored"
            )
    if cur.log_stats is not None:
        warnings.extend(cur.log_stats.problems())
        other = {v: n for v, n in cur.log_stats.model_versions.items() if v != info.version}
        if other:
            shown = ", ".join(f"{v} ({n} rows)" for v, n in other.items())
            warnings.append(
                f"the log holds predictions of other model versions than {info.version}: {shown}; "
                "prediction drift then compares different models (pick one with --model)"
            )
    return ref, cur, pred_ref, warnings


def _embed(
    settings: Settings,
    model_dir: Path,
    version: str,
    reference: tuple[Any, list[str]],
    current: tuple[Any, list[str]],
    progress: ProgressFn | None,
) -> dict[str, Any]:
    """Embed a seeded sample of each side's texts (the reference's cached); returns the encoder's description."""
    from hsctl.drift.embed import TextEncoder, resolve_encoder
    from hsctl.drift.stats import subsample

    cfg = settings.drift
    (ref_side, ref_texts), (cur_side, cur_texts) = reference, current
    encoder_ref = resolve_encoder(cfg.encoder, model_dir, version)
    encoder_info: dict[str, Any] = {**encoder_ref.describe(), "max_rows_per_side": cfg.max_embed_rows}
    if ref_texts and cur_texts:
        ref_sample = [ref_texts[i] for i in subsample(len(ref_texts), cfg.max_embed_rows, cfg.seed)]
        cur_sample = [cur_texts[i] for i in subsample(len(cur_texts), cfg.max_embed_rows, cfg.seed + 1)]
        encoder: TextEncoder | None = None

        def get_encoder() -> TextEncoder:
            nonlocal encoder
            if encoder is None:
                encoder = TextEncoder(
                    encoder_ref, batch_size=settings.inference.batch_size, threads=settings.inference.threads
                )
            return encoder

        identity = ["embed", encoder_ref.name, str(encoder_ref.path)]
        ref_side.embeddings, cached = _cached(
            settings,
            "embeddings",
            identity,
            ref_sample,
            lambda: get_encoder().encode(
                ref_sample, on_batch=counter(progress, "embedding reference", len(ref_sample))
            ),
        )
        cur_side.embeddings = get_encoder().encode(
            cur_sample, on_batch=counter(progress, "embedding current", len(cur_sample))
        )
        encoder_info.update(reference_rows=len(ref_sample), current_rows=len(cur_sample), reference_cached=cached)
    return encoder_info


@dataclass(frozen=True)
class _Scoring:
    """Where each side's probabilities came from."""

    backend: str
    reference_rows: int
    reference_cached: bool
    current_source: str


def _score_sides(
    settings: Settings,
    model_dir: Path,
    info: ModelInfo,
    backend: str,
    reference: tuple[Any, Data],
    current: tuple[Any, Data, list[str]],
    progress: ProgressFn | None,
) -> _Scoring:
    """The model's scores on the prediction reference; the log's (or the file's, or the model's) on current."""
    import numpy as np

    from hsctl.inference import predictor_for

    (ref_side, pred_ref), (cur_side, cur, cur_texts) = reference, current
    chosen = choose_backend(model_dir, backend, cur.kind == "log", settings.serve.backend)
    predictor = None

    def get_predictor() -> Any:
        nonlocal predictor
        if predictor is None:
            predictor = predictor_for(settings, model_dir, chosen)
        return predictor

    pred_texts = [t for t in _texts(pred_ref) if t]
    if pred_texts:
        ref_side.probabilities, pred_cached = _cached(
            settings,
            "probabilities",
            ["predict", info.version, chosen, str(info.target_prior)],
            pred_texts,
            lambda: get_predictor().predict_proba(
                pred_texts, on_batch=counter(progress, "scoring reference", len(pred_texts))
            ),
        )
    else:
        ref_side.reasons["probabilities"] = f"{pred_ref.name} has no texts to score"
        pred_cached = False
    if "hate_probability" in cur.frame.columns:
        probs = cur.frame["hate_probability"].dropna().to_numpy(dtype=np.float64)
        cur_side.probabilities = probs if len(probs) else None
        cur_source = "log" if cur.kind == "log" else "file column hate_probability"
        if not len(probs):
            cur_side.reasons["probabilities"] = f"{cur.name} has no valid hate_probability values"
    elif cur_texts:
        scored = [t for t in cur_texts if t]
        cur_side.probabilities = get_predictor().predict_proba(
            scored, on_batch=counter(progress, "scoring current", len(scored))
        )
        cur_source = "scored by the model"
    else:
        cur_side.reasons["probabilities"] = f"{cur.name} has neither texts nor hate_probability"
        cur_source = "none"
    return _Scoring(
        backend=chosen, reference_rows=len(pred_texts), reference_cached=pred_cached, current_source=cur_source
    )


def _side_info(data: Data) -> SideInfo:
    from hsctl.fetch.sources import LABEL, TEXT

    frame = data.frame
    info: dict[str, Any] = {
        "source": data.name,
        "kind": data.kind,
        "rows": len(frame),
        "with_text": int(frame[TEXT].map(lambda t: isinstance(t, str)).sum()),
        "with_label": int(frame[LABEL].notna().sum()) if LABEL in frame.columns else 0,
    }
    info.update({k: v for k, v in data.info.items() if k != "source"})
    return cast(SideInfo, info)


__all__ = ["HTML", "REPORT", "DriftResult", "drift", "is_prediction_log", "load_current", "load_data"]
