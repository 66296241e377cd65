"""``pipeline``: fetch -> preprocess -> train -> evaluate -> quantize, skipping up-to-date stages.

Each stage writes a manifest (``<artifacts>/pipeline/<stage>.json``) with a
fingerprint of its inputs, the settings it uses and the code version. A stage
whose fingerprint is unchanged and whose outputs still exist is skipped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.__about__ import __version__
from hsctl.core.io import read_json, sha256_file, utc_now, write_json
from hsctl.errors import ConfigError, GateFailedError

if TYPE_CHECKING:
    from hsctl.settings import Settings

STAGES: tuple[str, ...] = ("fetch", "preprocess", "train", "evaluate", "quantize")
PIPELINE_RUN = "pipeline"
DEMO_OVERRIDES: dict[str, Any] = {
    "data.source": "demo",
    "train.model": "scratch",
    "train.epochs": 4,
    "train.early_stopping_patience": 0,
    "tracking.backend": "none",
}


@dataclass
class StageResult:
    """One stage's outcome."""

    name: str
    status: str  # ran | skipped | gate-failed | not-selected
    elapsed_s: float = 0.0
    reason: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """Every stage in order, plus the overall gate outcome."""

    stages: list[StageResult]
    artifacts: Path
    elapsed_s: float
    gate_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "stages": [asdict(s) for s in self.stages],
            "artifacts": str(self.artifacts),
            "elapsed_s": self.elapsed_s,
            "gate_failures": self.gate_failures,
        }


def _code_version(stage: str) -> str:
    """hsctl's version plus a digest of the stage's own source files."""
    import hsctl

    root = Path(hsctl.__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted((root / stage).rglob("*.py")) if (root / stage).is_dir() else []:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _file_digest(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def _fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def stage_inputs(stage: str, settings: Settings, model_dir: Path | None) -> dict[str, Any]:
    """What a stage depends on: upstream outputs, its settings and its code."""
    paths = settings.paths
    data = settings.data.model_dump(mode="json")
    stats = _file_digest(paths.processed_dir / "stats.json")
    card = _file_digest(model_dir / "hsctl.json") if model_dir else None
    inputs: dict[str, Any] = {"code": _code_version(stage)}
    if stage == "fetch":
        source = settings.data.source
        local = Path(source)
        files = sorted(str(p) for p in local.parent.glob(local.name)) if not local.is_dir() else [source]
        inputs |= {"data": data, "files": {f: _file_digest(Path(f)) for f in files if Path(f).is_file()}}
    elif stage == "preprocess":
        inputs |= {"data": data, "fetch": _file_digest(paths.raw_dir / "fetch.json")}
    elif stage == "train":
        inputs |= {"train": settings.train.model_dump(mode="json"), "stats": stats}
    elif stage == "evaluate":
        inputs |= {"evaluate": settings.evaluate.model_dump(mode="json"), "stats": stats, "model": card}
    elif stage == "quantize":
        inputs |= {"export": settings.export.model_dump(mode="json"), "stats": stats, "model": card}
    return inputs


def _outputs_exist(stage: str, settings: Settings, model_dir: Path | None) -> bool:
    paths = settings.paths
    if stage == "fetch":
        return (paths.raw_dir / "fetch.json").is_file()
    if stage == "preprocess":
        return (paths.processed_dir / "stats.json").is_file()
    if stage == "train":
        return model_dir is not None and (model_dir / "hsctl.json").is_file()
    if stage == "evaluate":
        return (paths.reports_dir / "eval" / "eval.json").is_file()
    return model_dir is not None and (model_dir / "quantize.json").is_file()


def run_pipeline(
    settings: Settings,
    *,
    from_stage: str | None = None,
    to_stage: str | None = None,
    force: bool = False,
    force_int8: bool = False,
    on_stage: Callable[[StageResult], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Run the selected stages in order; see the module docstring for skipping."""
    for name in (from_stage, to_stage):
        if name is not None and name not in STAGES:
            raise ConfigError(f"unknown stage {name!r}: choose from {', '.join(STAGES)}")
    first = STAGES.index(from_stage) if from_stage else 0
    last = STAGES.index(to_stage) if to_stage else len(STAGES) - 1
    if first > last:
        raise ConfigError(f"--from {from_stage} comes after --to {to_stage}")
    started = time.perf_counter()
    manifests = settings.paths.artifacts / "pipeline"
    model_dir = settings.paths.models_dir / PIPELINE_RUN
    results: list[StageResult] = []
    failures: list[str] = []
    for index, stage in enumerate(STAGES):
        if not first <= index <= last:
            results.append(StageResult(stage, "not-selected"))
            continue
        inputs = stage_inputs(stage, settings, model_dir)
        fingerprint = _fingerprint(inputs)
        manifest_path = manifests / f"{stage}.json"
        previous = read_json(manifest_path) if manifest_path.is_file() else {}
        if not force and previous.get("fingerprint") == fingerprint and _outputs_exist(stage, settings, model_dir):
            # An unchanged stage gives the same outcome: a gate that failed still fails (exit 3).
            earlier = list(previous.get("gate_failures", []))
            status = "gate-failed" if earlier else "skipped"
            reason = "; ".join(earlier) or "up to date"
            result = StageResult(stage, status, reason=reason, summary=previous.get("summary", {}))
            failures += earlier
        else:
            if on_start is not None:
                on_start(stage)
            t0 = time.perf_counter()
            try:
                summary, gate = _run_stage(stage, settings, model_dir, force_int8)
            except GateFailedError as exc:  # only raised by stages that wrote their outputs
                summary, gate = {}, [str(exc)]
            status = "gate-failed" if gate else "ran"
            result = StageResult(stage, status, round(time.perf_counter() - t0, 2), "; ".join(gate), summary)
            failures += gate
            # Record the inputs after the run: the stage's own outputs feed the next fingerprints.
            write_json(
                manifest_path,
                {
                    "stage": stage,
                    "fingerprint": fingerprint,
                    "inputs": inputs,
                    "finished_at": utc_now(),
                    "summary": summary,
                    "gate_failures": gate,
                },
            )
        results.append(result)
        if on_stage is not None:
            on_stage(result)
    return PipelineResult(results, settings.paths.artifacts, round(time.perf_counter() - started, 2), failures)


def _run_stage(stage: str, settings: Settings, model_dir: Path, force_int8: bool) -> tuple[dict[str, Any], list[str]]:
    paths = settings.paths
    if stage == "fetch":
        from hsctl.fetch import fetch

        fetched = fetch(settings.data.source, settings.data, paths.raw_dir)
        return {"source": fetched.source, "splits": fetched.splits, "path": str(paths.raw_dir)}, []
    if stage == "preprocess":
        from hsctl.preprocess import preprocess

        prep = preprocess(settings.data, paths.raw_dir, paths.processed_dir)
        return {"splits": prep.splits, "dropped": prep.dropped, "path": str(paths.processed_dir)}, []
    if stage == "train":
        from hsctl.train import train

        pinned = settings.model_copy(update={"train": settings.train.model_copy(update={"run_name": PIPELINE_RUN})})
        trained = train(pinned)
        return {
            "model_dir": str(trained.model_dir),
            "validation_macro_f1": trained.validation_metrics["macro_f1"],
            "threshold": trained.threshold,
            "train_time_s": trained.train_time_s,
        }, []
    if stage == "evaluate":
        from hsctl.evaluate import evaluate

        report = evaluate(settings, model=model_dir).report
        keys = ("macro_f1", "accuracy", "roc_auc", "n")
        return {k: report[k] for k in keys} | {"path": str(paths.reports_dir / "eval")}, report["gate"]["failures"]
    from hsctl.quantize import quantize

    q = quantize(settings, model=model_dir, force=force_int8)
    ver = q.report["verification"]
    speed = q.report["speedup_vs_torch"].get("onnx-int8", {})
    return {
        "onnx_dir": q.report["onnx_dir"],
        "int8_kept": q.int8_kept,
        "int8_f1_drop": ver["int8_f1_drop"],
        "int8_speedup_b1": speed.get("1"),
    }, q.gate_failures
