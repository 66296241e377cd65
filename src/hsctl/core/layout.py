"""The one map of the artifacts directory: every folder and file name hsctl writes.

Stage code asks a :class:`Layout` (``settings.paths.layout``) for paths
instead of spelling ``"runs"`` or ``"eval.json"`` itself, so moving a folder
is one edit here. Reports keep history: each run of evaluate, drift or
loadtest gets its own timestamped folder under ``reports/<stage>/``, and a
``latest`` pointer names the newest (a symlink where the system allows one,
plus a ``LATEST`` text file that works everywhere, Windows included).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# File names inside folders.
RUN_FILE = "run.json"  # runs/<run>/: training state, for --resume
MODEL_CARD = "hsctl.json"  # models/<run>/: threshold, labels, metrics, provenance
LATEST_FILE = "LATEST"  # models/ and reports/<stage>/: name of the newest folder
LATEST_LINK = "latest"  # reports/<stage>/: symlink to the newest report
ONNX_DIR = "onnx"  # models/<run>/onnx: quantize's exports
FETCH_MANIFEST = "fetch.json"  # data/raw/
EVAL_REPORT = "eval.json"  # reports/eval/<time>/: evaluate's report
QUANTIZE_REPORT = "quantize.json"  # models/<run>/: quantize's report
SWEEP_STORAGE = "optuna.db"  # sweeps/: the default Optuna storage of every study
FEEDBACK_GLOB = "feedback-*.parquet"  # feedback/: one part per `review ingest`, never rewritten
STAMP_FORMAT = "%Y%m%d-%H%M%S"

# Report stages with history (timestamped folders and a latest pointer).
HISTORY_STAGES = ("eval", "drift", "loadtest")


@dataclass(frozen=True)
class Layout:
    """Paths under one artifacts root."""

    artifacts: Path

    @property
    def data_dir(self) -> Path:
        """Raw and processed data."""
        return self.artifacts / "data"

    @property
    def raw_dir(self) -> Path:
        """``fetch``: one parquet file per split and ``fetch.json``."""
        return self.data_dir / "raw"

    @property
    def processed_dir(self) -> Path:
        """``preprocess``: the split ``DatasetDict`` and ``stats.json``."""
        return self.data_dir / "processed"

    @property
    def models_dir(self) -> Path:
        """``train``: one folder per run, and ``LATEST``."""
        return self.artifacts / "models"

    @property
    def runs_dir(self) -> Path:
        """``train``: run state (``run.json``) and checkpoints, one folder per run."""
        return self.artifacts / "runs"

    @property
    def reports_dir(self) -> Path:
        """``evaluate``, ``drift``, ``loadtest`` and other reports, one folder per stage."""
        return self.artifacts / "reports"

    @property
    def pipeline_dir(self) -> Path:
        """``pipeline``: one manifest per stage."""
        return self.artifacts / "pipeline"

    @property
    def predictions_dir(self) -> Path:
        """``serve``: the prediction log (``serve.log_url`` moves it)."""
        return self.artifacts / "predictions"

    @property
    def feedback_dir(self) -> Path:
        """``review ingest``: the append-only feedback store (reviewed labels), one Parquet part per ingest."""
        return self.artifacts / "feedback"

    @property
    def review_exports_dir(self) -> Path:
        """``review export``: the rows of every exported queue, so labels join even after the log is gone."""
        return self.artifacts / "review-queues"

    def feedback_part(self, stamp: str, digest: str) -> Path:
        """A new part of the feedback store (matches ``FEEDBACK_GLOB``)."""
        return self.feedback_dir / f"feedback-{stamp}-{digest}.parquet"

    @property
    def cache_dir(self) -> Path:
        """Caches that can be deleted at any time."""
        return self.artifacts / "cache"

    @property
    def drift_cache_dir(self) -> Path:
        """``drift``: reference embeddings and predictions."""
        return self.cache_dir / "drift"

    @property
    def tracking_dir(self) -> Path:
        """``train``: offline experiment-tracking runs."""
        return self.artifacts / "wandb"

    @property
    def sweeps_dir(self) -> Path:
        """``sweep``: the default study storage and one folder per study."""
        return self.artifacts / "sweeps"

    def sweep_dir(self, study: str) -> Path:
        """This machine's folder of the sweep study ``study``: an artifacts root of its own (runs, models)."""
        return self.sweeps_dir / study

    def run_dir(self, name: str) -> Path:
        """State folder of the training run ``name``."""
        return self.runs_dir / name

    def model_dir(self, name: str) -> Path:
        """Folder of the model ``name``."""
        return self.models_dir / name

    @staticmethod
    def onnx_dir(model_dir: Path) -> Path:
        """ONNX exports of a model folder."""
        return Path(model_dir) / ONNX_DIR

    def report_root(self, stage: str) -> Path:
        """``reports/<stage>``: the report history of one stage."""
        return self.reports_dir / stage

    def new_report_dir(self, stage: str, now: datetime | None = None) -> Path:
        """A fresh ``reports/<stage>/<YYYYmmdd-HHMMSS>`` (UTC; ``-2``, ``-3`` ... when taken)."""
        root = self.report_root(stage)
        stamp = (now or datetime.now(UTC)).strftime(STAMP_FORMAT)
        candidate, n = root / stamp, 1
        while candidate.exists():
            n += 1
            candidate = root / f"{stamp}-{n}"
        return candidate

    def latest_report(self, stage: str) -> Path | None:
        """The newest report folder of ``stage`` (from ``LATEST``, else the symlink), or None."""
        root = self.report_root(stage)
        try:
            name = (root / LATEST_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            name = ""
        if name and (root / name).is_dir():
            return root / name
        link = root / LATEST_LINK
        return link.resolve() if link.is_dir() else None

    def point_latest(self, stage: str, folder: Path) -> None:
        """Make ``folder`` the ``latest`` report of ``stage`` (text file always, symlink where possible)."""
        root = self.report_root(stage)
        folder = Path(folder)
        if folder.parent.resolve() != root.resolve():
            return  # an --output elsewhere is not part of the history
        tmp = root / f".{LATEST_FILE}.{os.getpid()}"
        tmp.write_text(folder.name + "\n", encoding="utf-8")
        os.replace(tmp, root / LATEST_FILE)
        link_tmp = root / f".{LATEST_LINK}.{os.getpid()}"
        try:
            if link_tmp.is_symlink():
                link_tmp.unlink()
            link_tmp.symlink_to(folder.name, target_is_directory=True)
            os.replace(link_tmp, root / LATEST_LINK)
        except OSError:  # Windows without developer mode: LATEST is enough
            link_tmp.unlink(missing_ok=True)
