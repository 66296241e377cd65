"""Settings: one validated model, loaded from layered sources with provenance.

Precedence, lowest first: defaults < ``hsctl.toml`` < ``.env`` (or
``--env-file``) < ``HSCTL_*`` environment variables < command-line flags.
Nothing is read at import time; call :func:`load_settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from hsctl.core.layout import Layout
from hsctl.core.normalize import NormalizeSettings as NormalizeSettings
from hsctl.errors import ConfigError

ENV_PREFIX = "HSCTL_"
ENV_DELIMITER = "__"
DEFAULT_CONFIG_FILE = "hsctl.toml"
DEFAULT_ENV_FILE = ".env"
DEFAULT_HUB_DATASET = "thefrankhsu/hate_speech_twitter"
DEFAULT_BASE_MODEL = "sentence-transformers/all-mpnet-base-v2"
DRIFT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
# "functional" is the pass rate of the behavioural suite (evaluate --suite functional), not a data metric.
GATE_METRICS = ("accuracy", "macro_f1", "weighted_f1", "roc_auc", "pr_auc", "ece", "functional")
LOG_TEXT_ALIASES = {"full": "text", "hash": "sha256"}
EMPTY_SECRET = "a secret must not be empty or blank (unset it to switch it off)"
# HSCTL_* variables that hsctl reads directly and that are not settings (so never "unknown").
NON_SETTING_VARIABLES = frozenset(
    {
        "HSCTL_DEBUG",  # tracebacks, read before settings load (debug_enabled)
        "HSCTL_MODEL_CACHE",  # the packaged models' cache folder (hsctl.models.packaged)
        "HSCTL_SERVE_LAUNCH",  # what a server process hands its workers (hsctl.serve.launch)
        "HSCTL_SERVE_SETTINGS_FILE",  # a settings file for uvicorn --factory hsctl.serve.app:app_from_env
    }
)


class _Group(BaseModel):
    """Base for settings groups: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*", mode="after")
    @classmethod
    def _secrets_not_blank(cls, value: Any) -> Any:
        """An empty secret would compare equal to an empty credential: auth off while it looks on."""
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            raise ValueError(EMPTY_SECRET)
        return value


class PathsSettings(_Group):
    """Where hsctl reads and writes; every path derives from ``artifacts``."""

    artifacts: Path = Field(
        Path("artifacts"),
        description="Root directory of everything hsctl writes; all other paths derive from it.",
    )

    @property
    def layout(self) -> Layout:
        """Every folder and file name under ``artifacts`` (see :mod:`hsctl.core.layout`)."""
        return Layout(self.artifacts)

    @property
    def raw_dir(self) -> Path:
        """Raw dataset written by ``fetch``."""
        return self.layout.raw_dir

    @property
    def processed_dir(self) -> Path:
        """Cleaned, split ``DatasetDict`` written by ``preprocess``."""
        return self.layout.processed_dir

    @property
    def models_dir(self) -> Path:
        """Trained model folders, one per run."""
        return self.layout.models_dir

    @property
    def reports_dir(self) -> Path:
        """Evaluation, drift and load-test reports."""
        return self.layout.reports_dir

    def derived(self) -> dict[str, Path]:
        """The derived paths, for ``config show``."""
        return {
            "raw_dir": self.raw_dir,
            "processed_dir": self.processed_dir,
            "models_dir": self.models_dir,
            "reports_dir": self.reports_dir,
        }


def _seconds(value: Any) -> Any:
    """A duration setting: text such as '30s' or '2h' becomes seconds; numbers pass through to the field's checks."""
    if not isinstance(value, str):
        return value
    from hsctl.core.units import parse_duration

    return parse_duration(value)


class SplitSettings(_Group):
    """How ``preprocess`` splits the data."""

    validation_size: float = Field(0.1, gt=0, lt=0.5, description="Share of all rows held out for validation.")
    test_size: float = Field(
        0.1, ge=0, lt=0.5, description="Share of all rows held out for test when the source has no test split."
    )
    seed: int = Field(42, description="Random seed of the split, for reproducible splits.")
    stratify: bool = Field(True, description="Keep the label balance equal across splits.")

    @model_validator(mode="after")
    def _sizes_leave_training_rows(self) -> SplitSettings:
        if self.validation_size + self.test_size >= 0.9:
            raise ValueError("validation_size + test_size must leave at least 10% of rows for training")
        return self


def _parse_label_map(value: Any) -> Any:
    """Accept ``hate=1,non-hate=0`` as well as a mapping (TOML, JSON)."""
    if isinstance(value, str):
        if not value.strip():
            return None
        pairs: dict[str, Any] = {}
        for item in value.split(","):
            key, sep, val = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"expected NAME=INT pairs separated by commas, got {item!r}")
            pairs[key.strip()] = val.strip()
        return pairs
    return value


class DataSettings(_Group):
    """Where the data comes from and how it is cleaned and split."""

    source: str = Field(
        DEFAULT_HUB_DATASET,
        min_length=1,
        description="Hub dataset id, local file/glob (CSV, TSV, JSONL, Parquet), save_to_disk directory, or 'demo'.",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) to pin the dataset to.")
    text_column: str = Field("tweet", min_length=1, description="Column holding the text in the source.")
    label_column: str = Field("label", min_length=1, description="Column holding the label in the source.")
    category_column: str | None = Field(
        "categories", description="Optional column with the hate category; skipped when absent from the source."
    )
    label_map: Annotated[dict[str, int] | None, NoDecode] = Field(
        None, description="Map of string labels to label ids, e.g. 'hate=1,non-hate=0'."
    )
    labels: list[str] = Field(
        ["non-hate", "hate"], min_length=2, description="Label names, in label-id order (id 1 is the hate class)."
    )
    hub_timeout_s: float = Field(
        6.0, gt=0, le=600, description="Seconds to wait for the Hugging Face hub before failing (no retries)."
    )
    drop_conflicting_duplicates: bool = Field(
        True, description="Drop every copy of a text that occurs with different labels (always reported)."
    )
    demo_rows: int = Field(400, ge=40, le=100_000, description="Rows generated by the offline 'demo' source.")
    normalize: NormalizeSettings = Field(default_factory=NormalizeSettings, description="Text normalisation steps.")
    split: SplitSettings = Field(default_factory=SplitSettings, description="Train/validation/test split.")

    _parse_map = field_validator("label_map", mode="before")(_parse_label_map)


class TrainSettings(_Group):
    """Fine-tuning of the classifier."""

    model: str = Field(
        DEFAULT_BASE_MODEL,
        min_length=1,
        description="Base model: hub id, local folder, or 'scratch' (tiny random BERT, tests and smoke runs only).",
    )
    run_name: str | None = Field(None, description="Name of the run and its model folder; default: model-timestamp.")
    epochs: float = Field(
        1,
        gt=0,
        description="Most training epochs (early stopping may end sooner); 1 fits mpnet in 15 minutes on 2 cores.",
    )
    batch_size: int = Field(32, ge=1, description="Training batch size per process.")
    eval_batch_size: int = Field(128, ge=1, description="Batch size of the per-epoch validation pass.")
    learning_rate: float | None = Field(
        None,
        gt=0,
        description="Peak learning rate (warmup, then linear decay); unset: 5e-5 pretrained, 1e-3 for scratch.",
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps spent warming up the learning rate.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    max_length: int = Field(64, ge=8, le=4096, description="Maximum tokens per text; longer texts are truncated.")
    class_weights: bool = Field(True, description="Weight the loss by inverse class frequency (hate is the minority).")
    category_weighting: Literal["none", "sqrt", "balanced"] = Field(
        "sqrt",
        description="Loss weights of hate rows by category: 'balanced' gives every category the same total, "
        "'sqrt' the square root of its count (rare categories count more), 'none' leaves the mix as it is. "
        "Needs a category column; without one only class weights apply.",
    )
    freeze_layers: int | None = Field(
        None,
        ge=0,
        description="Bottom encoder layers kept frozen with the embeddings (faster, and keeps pretrained "
        "features that carry to unseen kinds of hate); unset: half the layers of a pretrained model, 0 for scratch.",
    )
    early_stopping_patience: int = Field(
        2, ge=0, description="Evaluations without a gain of the selection metric before stopping; 0 disables it."
    )
    selection_metric: Literal["shift", "macro_f1"] = Field(
        "shift",
        description="What picks the best checkpoint: 'shift' is the category-balanced macro-F1 at the target "
        "prior, 'macro_f1' the plain validation macro-F1.",
    )
    seed: int = Field(42, description="Random seed of the run.")
    full_determinism: bool = Field(
        False, description="Deterministic kernels and seeded workers (slower; same results on the same machine)."
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; unset lets torch decide.")
    calibrate: bool = Field(
        True,
        description="Fit temperature and bias on the validation split and fold them into the output layer, so "
        "probabilities are calibrated before the prior shift.",
    )
    threshold_mode: Literal["macro_f1", "recall"] = Field(
        "macro_f1",
        description="Choose the decision threshold to maximise (category-balanced) macro-F1, or to reach "
        "target_recall.",
    )
    target_recall: float | None = Field(
        None, gt=0, le=1, description="Hate-class recall the threshold must reach when threshold_mode is 'recall'."
    )
    target_prior: float | None = Field(
        0.5,
        ge=0,
        lt=1,
        description="Expected hate rate in deployment: probabilities are re-weighted to it and the threshold and "
        "shift-aware estimates use it; 0 keeps the validation rate and chooses the threshold on plain scores "
        "(estimates are then reported at 0.5).",
    )
    threshold_bounds: tuple[float, float] = Field(
        (0.2, 0.8),
        description="The decision threshold (on probabilities at the target prior) stays inside these bounds, "
        "so a small, easy validation split cannot push it to an extreme.",
    )
    contrast: bool = Field(
        True,
        description="Add generated contrast rows to training: identity terms in counter-speech, negated hate, "
        "positive and neutral statements (not hate) beside hate naming the same groups, and abuse of "
        "non-protected targets (not hate), so naming a group is not read as attacking it. Written apart from the "
        "behavioural suite, which stays a test.",
    )
    feedback: bool = Field(
        False,
        description="Add the reviewed rows of the feedback store (hsctl review ingest): a stable 20% (by "
        "prediction_id) to validation, the rest to training, each repeated twice.",
    )
    contrast_threshold_share: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Share of the threshold's weight given to contrast rows of templates held out of fitting "
        "(wording the model never saw); 0 chooses the threshold on validation alone.",
    )
    implicit_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Least share of each category's hate weight that implicit hate (no profanity or slur) gets "
        "when the threshold is chosen: deployment hate is less explicit than the training file's.",
    )
    functional_suite: bool = Field(
        True, description="Score the behavioural suite after training (about a minute) for hsctl.json and the card."
    )
    scratch_vocab_size: int = Field(4000, ge=100, description="WordPiece vocabulary size of the 'scratch' model.")
    logging_steps: int = Field(10, ge=1, description="Steps between loss logs (progress bar and tracking).")
    keep_checkpoints: bool = Field(False, description="Keep per-epoch checkpoints after a successful run.")

    @model_validator(mode="after")
    def _recall_mode_needs_target(self) -> TrainSettings:
        if self.threshold_mode == "recall" and self.target_recall is None:
            raise ValueError("threshold_mode 'recall' needs target_recall")
        if self.target_prior == 0:
            self.target_prior = None
        low, high = self.threshold_bounds
        if not 0 <= low < high <= 1:
            raise ValueError("threshold_bounds must be two numbers with 0 <= low < high <= 1")
        return self


class EvaluateSettings(_Group):
    """Model evaluation."""

    split: str = Field("test", min_length=1, description="Split of the preprocessed data to evaluate on.")
    model: str | None = Field(None, description="Model folder or run name to evaluate; unset: the latest model.")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "torch", description="Inference backend of evaluate and evaluate --suite."
    )
    fail_under: dict[str, float] = Field(
        default_factory=dict, description="Metric floors, e.g. {macro_f1 = 0.8}; a miss exits with code 3."
    )

    @field_validator("fail_under")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(GATE_METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(GATE_METRICS)}")
        return value


class InferenceSettings(_Group):
    """Batch inference shared by evaluate, predict, quantize and serve."""

    batch_size: int = Field(32, ge=1, description="Texts per inference batch (batches are sorted by length).")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for torch and ONNX Runtime; unset uses every core."
    )


class PredictSettings(_Group):
    """``hsctl predict``: which model, backend and engine score a file, and in what chunks."""

    model: str | None = Field(None, description="Model folder or run name to score with; unset: the latest model.")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "torch", description="Inference backend; the ray and spark engines need onnx or onnx-int8 (torch-free)."
    )
    engine: Literal["local", "ray", "spark"] = Field(
        "local", description="Where to score: this process (streaming), a Ray cluster, or a Spark cluster."
    )
    chunk_rows: int = Field(
        10_000, ge=1, description="Rows read, scored and written per chunk (local) or per batch (ray, spark)."
    )
    resume: bool = Field(
        True, description="Continue an interrupted local run from its last written chunk when input and model match."
    )
    workers: int | None = Field(
        None, ge=1, description="Ray actors or Spark partitions that score in parallel; unset: every CPU of the engine."
    )
    ray_address: str | None = Field(
        None, description="Ray cluster to join ('auto' or ray://host:10001); unset starts Ray on this machine."
    )
    spark_master: str | None = Field(
        None, description="Spark master URL (e.g. spark://host:7077); unset: the session's own, else local[*]."
    )


class ExportSettings(_Group):
    """ONNX export and quantisation."""

    opset: int = Field(18, ge=14, description="ONNX opset of the export.")
    max_auc_drop: float = Field(
        0.003,
        ge=0,
        le=1,
        description="Largest validation ROC-AUC loss of int8 against PyTorch; int8 is rejected only when the "
        "paired-bootstrap lower bound of the loss exceeds it (see gate_confidence).",
    )
    min_agreement: float = Field(
        0.98,
        ge=0,
        le=1,
        description="Smallest share of validation texts on which int8 and PyTorch decide alike at the stored "
        "threshold; int8 is rejected only when the Wilson upper bound of the share is below it.",
    )
    gate_confidence: float = Field(
        0.95, ge=0.5, lt=1, description="Confidence of the int8 gate's bounds (they widen on small validation sets)."
    )
    strict: bool = Field(
        False,
        description="A rejected int8 copy is a gate failure (exit 3); by default quantize keeps the fp32 ONNX "
        "export, warns and exits 0, so a pipeline carries on.",
    )
    reduce_range: Literal["auto", "on", "off"] = Field(
        "auto",
        description="7-bit int8 weights: 'auto' uses them on CPUs without VNNI, where 8-bit products can saturate.",
    )
    keep_fp32: list[str] = Field(
        default_factory=list,
        description="Name patterns (fnmatch) of graph nodes left in fp32 besides the defaults; "
        "see docs/commands/quantize.md for the nodes that lose the ranking.",
    )
    max_logit_diff: float = Field(
        1e-4, gt=0, description="Largest absolute logit difference accepted between fp32 ONNX and PyTorch."
    )
    per_channel: bool = Field(True, description="Quantise weights per output channel (more accurate).")
    latency_batch_sizes: list[int] = Field(
        [1, 8, 32], min_length=1, description="Batch sizes at which quantize measures latency."
    )


class ServeSettings(_Group):
    """The prediction server."""

    host: str = Field("127.0.0.1", description="Address the server binds to (0.0.0.0 in containers).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port the server listens on.")
    workers: int = Field(1, ge=1, description="Server worker processes (each loads the model once).")
    model: str | None = Field(None, description="Model folder or run name to serve; unset: the latest trained model.")
    backend: Literal["torch", "onnx", "onnx-int8", "onnx-auto"] = Field(
        "torch", description="Inference backend; 'onnx-auto' (--onnx) takes int8 ONNX if present, else fp32 ONNX."
    )
    model_name: str = Field("hsctl", min_length=1, description="Model name in Open Inference Protocol (v2) paths.")
    threads: int | None = Field(
        None,
        ge=1,
        description="Threads per model call (ONNX Runtime intra-op or torch); unset: ONNX 1 per lane "
        "(the worker's cores shared among its lanes), torch every core.",
    )
    batch_lanes: int | None = Field(
        None,
        ge=1,
        description="Micro-batches scored at the same time per worker, each on its own thread; unset: ONNX one per "
        "core of the worker (cores / workers, or cores / threads when threads is set), torch 1.",
    )
    onnx_spinning: bool = Field(
        False,
        description="Let ONNX Runtime's idle threads spin-wait for the next run; off, they sleep and leave the CPU "
        "to the event loop, which raises throughput when HTTP handling and inference share the cores.",
    )
    max_batch_size: int = Field(64, ge=1, description="Most texts coalesced from concurrent requests into one batch.")
    model_batch_size: int | None = Field(
        None,
        ge=1,
        description="Texts per model call within a micro-batch (sorted by length: less padding); unset: 4 when each "
        "call runs on one thread, 8 otherwise (the fastest on 2 AVX2 cores, benchmarks/serve.py).",
    )
    max_wait_ms: float = Field(
        2.0, ge=0, description="Longest wait to fill a micro-batch once other requests are waiting, in milliseconds."
    )
    max_queue_delay_ms: float = Field(
        500.0,
        gt=0,
        description="Admission limit: a prediction request is accepted only while its expected wait for the "
        "answer (the batch in flight, the texts queued ahead and its own batch, at the measured model time) is "
        "at most this many milliseconds; beyond, 503 overloaded at once.",
    )
    max_queue: int = Field(
        1024, ge=1, description="Hard cap on texts waiting for inference (memory bound); beyond, 503 overloaded."
    )
    request_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest a prediction request waits for the model; beyond, 503 timeout, and its texts are "
        "dropped before inference.",
    )
    retry_after_s: int = Field(1, ge=0, description="Retry-After seconds sent with a 503 (overloaded or timeout).")
    shed_backoff_ms: float = Field(
        250,
        ge=0,
        description="After a 503 overloaded, the next request on the same connection is looked at no sooner than "
        "this many milliseconds later (then admitted or shed as usual), so that clients that ignore Retry-After "
        "cannot turn shedding into a busy loop that takes the CPU from inference. 0: never.",
    )
    loop_nice: int = Field(
        5,
        ge=0,
        le=19,
        description="Niceness added to each hsctl serve worker's event-loop thread (HTTP, JSON, shedding) while "
        "it sheds load, so that a flood of rejected requests cannot starve inference (above all a flood on new "
        "connections, which shed_backoff_ms cannot slow down); restored once nothing has been shed for 5 s "
        "(where the process may raise its priority). Higher values delay every answer, 503s included. 0: never. "
        "Linux only.",
    )
    max_text_chars: int = Field(2000, ge=1, description="Longest accepted text, in characters (413 beyond).")
    max_batch_items: int = Field(64, ge=1, description="Most texts in one request (413 beyond).")
    max_body_bytes: int = Field(262_144, ge=1024, description="Largest request body in bytes (413 beyond).")
    max_header_bytes: int = Field(
        16_384,
        ge=1024,
        description="Largest request head (request line and headers) in bytes; beyond, 431 and the connection "
        "is closed before more is buffered.",
    )
    max_headers: int = Field(100, ge=8, description="Most headers in one request (431 beyond).")
    keep_alive_timeout_s: float = Field(
        5.0,
        gt=0,
        description="A connection that has not sent a complete request head this many seconds after it opened "
        "or after its last answer is closed (idle keep-alive connections and half-sent heads alike).",
    )
    body_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Longest a request body may take to arrive, in seconds; beyond, 408 and the connection closes.",
    )
    api_key: SecretStr | None = Field(None, description="API key required on prediction endpoints when set.")
    protect_health: bool = Field(False, description="Require the API key on health and metrics endpoints too.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS; empty: CORS off.")
    log_predictions: bool = Field(True, description="Write a JSON-lines prediction log for drift detection.")
    log_url: str | None = Field(
        None, description="Prediction log directory or fsspec URL (s3://, gs://); unset: <artifacts>/predictions."
    )
    log_text: Literal["text", "sha256", "none"] = Field(
        "text",
        description="Log each text as is ('text', alias 'full'), as its SHA-256 hex digest ('sha256', alias "
        "'hash': no text on disk, but drift's text-based tests are skipped), or not at all ('none').",
    )
    log_max_bytes: int = Field(10_000_000, ge=1024, description="Rotate the prediction log file at this size.")
    log_queue: int = Field(
        100_000, ge=1, description="Log records buffered in memory; beyond, records are dropped (and counted)."
    )

    @field_validator("log_text", mode="before")
    @classmethod
    def _log_text_aliases(cls, value: Any) -> Any:
        return LOG_TEXT_ALIASES.get(value, value) if isinstance(value, str) else value


class DriftSettings(_Group):
    """Drift detection."""

    alpha: float = Field(0.05, gt=0, lt=1, description="Family-wise significance level across all drift tests.")
    model: str | None = Field(
        None, description="Model whose tokenizer, encoder and scores drift uses; unset: the latest model."
    )
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description="Backend that scores the reference: auto (the server's serve.backend for a log, else the "
        "fastest export), torch, onnx or onnx-int8.",
    )
    min_rows: int = Field(100, ge=2, description="Fewest current rows a test needs; fewer skips it with a warning.")
    log_url: str | None = Field(
        None,
        description="Prediction log read by default (directory or fsspec URL); unset: serve.log_url, "
        "else <artifacts>/predictions.",
    )
    encoder: Literal["base", "model"] = Field(
        "base",
        description="Text embeddings, mean-pooled: 'base' is the packaged sentence encoder all-MiniLM-L6-v2, "
        "'model' the trained model's encoder.",
    )
    max_embed_rows: int = Field(
        2000,
        ge=20,
        le=5000,
        description="Most rows per side embedded for the embedding tests (a seeded sample beyond; at most 5000).",
    )
    permutations: int = Field(
        1000, ge=100, le=100_000, description="Permutations of the null distribution of the classifier and MMD tests."
    )
    cv_folds: int = Field(5, ge=2, le=20, description="Cross-validation folds of the domain classifier.")
    seed: int = Field(0, description="Random seed of sampling, cross-validation and permutations.")
    cache: bool = Field(
        True, description="Reuse reference embeddings and predictions from <artifacts>/cache/drift when unchanged."
    )


class LoadtestSettings(_Group):
    """Load tests (``hsctl loadtest``); durations take seconds or strings such as 500ms, 30s, 1m."""

    url: str = Field("http://127.0.0.1:8000", description="Base URL of the server under test.")
    users: int = Field(
        16, ge=1, le=100_000, description="Concurrent simulated users (closed loop); the user pool with a rate."
    )
    duration_s: float = Field(30.0, gt=0, le=86_400, description="Measured duration of the run, in seconds.")
    rate: float | None = Field(
        None, gt=0, description="Open loop: target requests per second (arrivals on a schedule); unset: closed loop."
    )
    warmup_s: float = Field(
        5.0, ge=0, le=3_600, description="Seconds of load before the measured window; excluded from results."
    )
    max_requests: int = Field(
        1_000_000, ge=1, description="Most requests sent in one run, warm-up included; the run stops when reached."
    )
    endpoint: Literal["predict", "v2"] = Field(
        "predict", description="'predict' (POST /predict) or 'v2' (POST /v2/models/{serve.model_name}/infer)."
    )
    batch: int = Field(1, ge=1, le=10_000, description="Texts per request; 1 sends one text, more send a list.")
    texts: str = Field("demo", min_length=1, description="Texts to send: any source fetch reads, or 'demo'.")
    seed: int = Field(0, description="Random seed of the text sampling.")
    timeout_s: float = Field(10.0, gt=0, le=600, description="Per-request timeout in seconds (a timeout is an error).")
    ready_timeout_s: float = Field(
        120.0, gt=0, le=3_600, description="Seconds to wait for the server to become ready before failing (exit 5)."
    )
    workers: int = Field(
        0, ge=0, le=256, description="Local Locust worker processes (master/worker mode); 0 runs in one process."
    )
    expect_workers: int = Field(
        0, ge=0, le=10_000, description="Workers started on other machines that the master waits for."
    )
    master_bind: str = Field(
        "127.0.0.1", min_length=1, description="Address the master listens on for workers from other machines."
    )
    master_port: int = Field(5557, ge=1, le=65535, description="Port the master listens on for remote workers.")
    worker_timeout_s: float = Field(
        60.0, gt=0, le=3_600, description="Seconds to wait for every worker to connect to the master."
    )
    slo: str | None = Field(None, description="Objectives, e.g. 'p99<250ms,error_rate<0.1%'; a miss exits with code 3.")

    @field_validator("duration_s", "warmup_s", "timeout_s", "ready_timeout_s", "worker_timeout_s", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return _seconds(value)

    @field_validator("slo")
    @classmethod
    def _valid_slo(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from hsctl.core.slo import parse_slo

        parse_slo(value)
        return value


class TrackingSettings(_Group):
    """Experiment tracking."""

    backend: Literal["auto", "none", "wandb", "wandb-offline"] = Field(
        "auto", description="'auto' uses wandb when WANDB_API_KEY is set, otherwise none."
    )
    project: str = Field("hsctl", min_length=1, description="wandb project name.")
    entity: str | None = Field(None, description="wandb entity (user or team).")


SWEEP_FIXED = ("model", "run_name", "seed", "threads", "keep_checkpoints", "logging_steps")


class SweepParam(_Group):
    """One searched train setting: a float or int range (optionally log-scaled or stepped) or a list of choices."""

    type: Literal["float", "int", "categorical"] = Field(
        description="'float' and 'int' sample from low..high, 'categorical' from choices."
    )
    low: float | None = Field(None, description="Smallest value (float and int).")
    high: float | None = Field(None, description="Largest value, included (float and int).")
    log: bool = Field(False, description="Sample on a log scale (low must be > 0); for learning rates.")
    step: float | None = Field(None, gt=0, description="Spacing of the sampled values, from low; unset: continuous.")
    choices: list[bool | int | float | str] | None = Field(
        None, min_length=1, description="The values to choose from (categorical)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SweepParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs choices")
            return self
        if self.low is None or self.high is None or self.low >= self.high:
            raise ValueError(f"a {self.type} parameter needs low < high")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log scale needs low > 0 and no step")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("an int parameter needs whole low and high")
        return self


def _default_space() -> dict[str, SweepParam]:
    """The default recipe's knobs around its defaults (all-mpnet-base-v2, 1 epoch)."""
    return {
        "learning_rate": SweepParam(type="float", low=1e-5, high=1e-4, log=True),
        "epochs": SweepParam(type="int", low=1, high=3),
        "batch_size": SweepParam(type="categorical", choices=[16, 32]),
        "weight_decay": SweepParam(type="float", low=0.0, high=0.1),
        "warmup_ratio": SweepParam(type="float", low=0.0, high=0.2),
        "freeze_layers": SweepParam(type="int", low=0, high=9, step=3),
        "class_weights": SweepParam(type="categorical", choices=[True, False]),
        "category_weighting": SweepParam(type="categorical", choices=["none", "sqrt", "balanced"]),
    }


class SweepSettings(_Group):
    """Hyperparameter search (``hsctl sweep``) on Optuna: study, objective, budget and search space."""

    storage: str | None = Field(
        None,
        description="Optuna storage URL shared by every process of a study: sqlite:///file.db, "
        "postgresql://user@host/db, mysql+pymysql://user@host/db; unset: sqlite:///<artifacts>/sweeps/optuna.db.",
    )
    study: str = Field(
        "hsctl",
        min_length=1,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Study name; its trials' model folders go to <artifacts>/sweeps/<study>/.",
    )
    objective: Literal["shift", "macro_f1", "functional"] = Field(
        "shift",
        description="What a trial scores: 'shift' the shift-aware score (category-balanced macro-F1 at the "
        "target prior), 'macro_f1' the plain validation macro-F1, 'functional' the behavioural suite's pass rate "
        "(no pruning: it has no per-epoch value).",
    )
    direction: Literal["maximize", "minimize"] = Field("maximize", description="Whether the objective is maximised.")
    trials: int | None = Field(
        20,
        ge=1,
        description="Trials the study should have finished (complete, pruned or failed; all processes together); "
        "unset: no limit (stop with timeout or Ctrl-C).",
    )
    timeout_s: float | None = Field(
        None, gt=0, description="Stop starting trials after this long (seconds, or e.g. 90m, 2h); unset: no limit."
    )
    n_jobs: int = Field(
        1,
        ge=1,
        le=64,
        description="Trials run at once in this process (threads); above 1 only on CPU, with tracking off, and with "
        "at least 2 cores per job; trials then share the cores and are not bit-reproducible.",
    )
    seeds_per_trial: int = Field(
        1,
        ge=1,
        le=10,
        description="Training runs per trial with seeds train.seed, +1, ...; the trial scores their mean.",
    )
    sampler_seed: int | None = Field(
        None,
        description="Seed of the TPE sampler, for a reproducible single-process study; leave unset when several "
        "processes share a study (the same seed makes them propose the same parameters).",
    )
    startup_trials: int = Field(5, ge=0, description="Random trials before TPE starts modelling the search space.")
    pruner: Literal["median", "halving", "none"] = Field(
        "median",
        description="Stop unpromising trials after an epoch: 'median' (below the median of earlier trials at the "
        "same epoch), 'halving' (successive halving), 'none'.",
    )
    pruner_startup_trials: int = Field(3, ge=0, description="Finished trials before the median pruner prunes anything.")
    pruner_warmup_epochs: int = Field(0, ge=0, description="Epochs every trial trains before it can be pruned.")
    heartbeat_s: int = Field(
        60,
        ge=1,
        description="Seconds between a running trial's heartbeats in the storage; a trial silent for three "
        "heartbeats (a crashed process or machine) is marked failed.",
    )
    max_failures: int = Field(
        3, ge=1, description="Failed trials in a row after which this process stops the sweep (exit 1)."
    )
    keep_models: bool = Field(
        False,
        description="Keep every trial's model weights; off keeps only hsctl.json and the model card of each trial "
        "(train the winner with 'hsctl train --params-from-sweep').",
    )
    space: dict[str, SweepParam] = Field(
        default_factory=_default_space,
        description="Search space: train setting name -> {type, low, high, log, step, choices}; a [sweep.space] "
        "table in hsctl.toml replaces the default space as a whole.",
    )

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _seconds(value)

    @field_validator("space")
    @classmethod
    def _train_settings_only(cls, value: dict[str, SweepParam]) -> dict[str, SweepParam]:
        unknown = sorted(set(value) - set(TrainSettings.model_fields))
        if unknown:
            raise ValueError(f"not train settings: {', '.join(unknown)}")
        fixed = sorted(set(value) & set(SWEEP_FIXED))
        if fixed:
            raise ValueError(f"cannot be searched: {', '.join(fixed)}")
        if not value:
            raise ValueError("the search space is empty")
        return value


class Settings(BaseSettings):
    """Every hsctl setting, in nested groups; see ``hsctl config show``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
        validate_default=True,
    )

    paths: PathsSettings = Field(default_factory=PathsSettings, description="Filesystem locations.")
    data: DataSettings = Field(default_factory=DataSettings, description="Data source, cleaning and splitting.")
    train: TrainSettings = Field(default_factory=TrainSettings, description="Fine-tuning.")
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings, description="Evaluation.")
    inference: InferenceSettings = Field(default_factory=InferenceSettings, description="Batch inference.")
    predict: PredictSettings = Field(default_factory=PredictSettings, description="Batch scoring (predict).")
    export: ExportSettings = Field(default_factory=ExportSettings, description="ONNX export and quantisation.")
    serve: ServeSettings = Field(default_factory=ServeSettings, description="Prediction server.")
    drift: DriftSettings = Field(default_factory=DriftSettings, description="Drift detection.")
    loadtest: LoadtestSettings = Field(default_factory=LoadtestSettings, description="Load testing.")
    tracking: TrackingSettings = Field(default_factory=TrackingSettings, description="Experiment tracking.")
    sweep: SweepSettings = Field(default_factory=SweepSettings, description="Hyperparameter search.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges the layers itself to know where each value came from.
        return (init_settings,)


@dataclass
class LoadedSettings:
    """Validated settings plus, for each dotted key, the source that set it."""

    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, key: str) -> str:
        """The source of a dotted key (``default`` when no layer set it)."""
        return self.sources.get(key, "default")


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _leaf_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and _is_group(dotted):
            keys.extend(_leaf_keys(value, dotted + "."))
        else:
            keys.append(dotted)
    return keys


def _is_group(dotted: str) -> bool:
    """Whether a dotted key names a settings group (not a dict-valued field)."""
    model: type[BaseModel] = Settings
    for part in dotted.split("."):
        info = model.model_fields.get(part)
        if info is None:
            return False
        ann = info.annotation
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return False
        model = ann
    return True


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"train.epochs": 3}`` into ``{"train": {"epochs": 3}}``, skipping None values."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", ENV_DELIMITER).upper()


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    env_file: Path | None = None,
) -> LoadedSettings:
    """Build the effective settings from every layer.

    ``overrides`` are command-line values as dotted keys (``{"train.epochs": 3}``);
    ``None`` values are ignored. An explicit ``config_file`` or ``env_file`` must
    exist; the defaults (``./hsctl.toml``, ``./.env``) are optional.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file not found: {config_file}")
    if env_file is not None and not env_file.is_file():
        raise ConfigError(f"env file not found: {env_file}")
    toml_path = config_file or Path(DEFAULT_CONFIG_FILE)
    env_path = env_file or Path(DEFAULT_ENV_FILE)

    layers: list[tuple[str, dict[str, Any]]] = []
    try:
        if toml_path.is_file():
            layers.append((str(toml_path), TomlConfigSettingsSource(Settings, toml_file=toml_path)()))
        if env_path.is_file():
            dotenv = DotEnvSettingsSource(Settings, env_file=env_path)()
            # .env files also hold other tools' variables (WANDB_API_KEY, ...): keep only ours.
            layers.append((str(env_path), {k: v for k, v in dotenv.items() if k in Settings.model_fields}))
        layers.append(("env", EnvSettingsSource(Settings)()))
    except (SettingsError, ValueError, OSError) as exc:  # malformed TOML, bad JSON in a variable
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"cannot read settings: {exc}{cause}") from exc
    layers.append(("cli", nest(overrides or {})))

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, data in layers:
        merged = _deep_merge(merged, data)
        for key in _leaf_keys(data):
            sources[key] = _env_name(key) if name == "env" else name
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, sources)) from exc
    return LoadedSettings(settings=settings, sources=sources)


def format_validation_error(exc: ValidationError, sources: Mapping[str, str]) -> str:
    """What is wrong and where it came from: one line for one field, else a header and a line per field."""
    lines = [f"invalid settings ({exc.error_count()} error{'s' if exc.error_count() != 1 else ''}):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        where = sources.get(key)
        origin = f" [from {where}]" if where else ""
        secret = _is_secret(key) or isinstance(err["input"], SecretStr)
        plain = err["type"] != "missing" and not isinstance(err["input"], dict) and not secret
        shown = f" (got {err['input']!r})" if plain else ""  # a secret's value is never shown
        lines.append(f"  {key}: {err['msg']}{shown}{origin}")
    if len(lines) == 2:
        return f"invalid settings: {lines[1].strip()}"
    return "\n".join(lines)


def _is_secret(dotted: str) -> bool:
    """Whether a dotted key names a secret field (its value must never appear in a message)."""
    model: Any = Settings
    for part in dotted.split("."):
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return False
        model = info.annotation
    return model is SecretStr or "SecretStr" in str(model)


@dataclass(frozen=True)
class UnknownVariable:
    """An ``HSCTL_*`` variable (environment or env file) that sets nothing, and the closest real name."""

    name: str
    source: str
    suggestion: str | None

    def message(self) -> str:
        """One line: what is ignored, where it came from, and what was probably meant."""
        where = "environment variable" if self.source == "env" else f"variable in {self.source}"
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return f"{where} {self.name} is not an hsctl setting and is ignored{hint}"


def _variable_names() -> tuple[set[str], tuple[str, ...]]:
    """Every variable name that sets something, and the prefixes of dict-valued settings (any key below)."""
    names: set[str] = set(NON_SETTING_VARIABLES)
    prefixes: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            env = f"{prefix}{name.upper()}"
            names.add(env)  # a group can also be set as a whole, as JSON
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, env + ENV_DELIMITER)
            elif "dict[" in str(ann):
                prefixes.append(env + ENV_DELIMITER)

    walk(Settings, ENV_PREFIX)
    return names, tuple(prefixes)


def unknown_variables(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> list[UnknownVariable]:
    """``HSCTL_*`` names in the environment and the env file that map to no setting.

    pydantic-settings ignores them silently, so a typo such as ``HSCTL_SERVE_API_KEY``
    (one underscore) would start a server without its API key. Never raises: an
    unreadable env file is reported by :func:`load_settings` instead.
    """
    import difflib

    names, prefixes = _variable_names()
    candidates = sorted(names - NON_SETTING_VARIABLES)
    found: list[tuple[str, str]] = [(k, "env") for k in (os.environ if environ is None else environ)]
    path = env_file or Path(DEFAULT_ENV_FILE)
    if path.is_file():
        try:
            from dotenv import dotenv_values

            found += [(k, str(path)) for k in dotenv_values(path)]
        except (OSError, ValueError):
            pass
    unknown = []
    for key, source in found:
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX) or upper in names or upper.startswith(prefixes):
            continue
        close = difflib.get_close_matches(upper, candidates, n=1, cutoff=0.6)
        unknown.append(UnknownVariable(key, source, close[0] if close else None))
    return unknown


def settings_table(loaded: LoadedSettings) -> list[tuple[str, Any, str]]:
    """Every effective value as ``(dotted key, value, source)`` rows, secrets masked."""
    rows: list[tuple[str, Any, str]] = []

    def walk(model: BaseModel, prefix: str) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            key = f"{prefix}{name}"
            if isinstance(value, BaseModel):
                walk(value, key + ".")
            else:
                if isinstance(value, SecretStr):
                    value = "**********"
                elif isinstance(value, Path):
                    value = str(value)
                elif isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
                    value = {k: v.model_dump(exclude_none=True) for k, v in value.items()}  # sweep.space
                rows.append((key, value, loaded.source_of(key)))

    walk(loaded.settings, "")
    for name, path in loaded.settings.paths.derived().items():
        rows.append((f"paths.{name}", str(path), "derived from paths.artifacts"))
    return rows


def debug_enabled() -> bool:
    """``HSCTL_DEBUG=1`` shows tracebacks; read directly so it works before settings load."""
    return os.environ.get("HSCTL_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
