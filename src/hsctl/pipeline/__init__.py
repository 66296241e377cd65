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
from hsctl.core.layout import EVAL_REPORT, FETCH_MANIFEST, MODEL_CARD, QUANTIZE_REPORT
from hsctl.core.processed import STATS as PROCESSED_STATS
from hsctl.errors import ConfigError, GateFailedError

if TYPE_CHECKING:
    from hsctl.settings import Settings


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


def _fetch_inputs(settings: Settings, model_dir: Path) -> dict[str, Any]:
    source = settings.data.source
    local = Path(source)
    files = sorted(str(p) for p in local.parent.glob(local.name)) if not local.is_dir() else [source]
    return {
        "data": settings.data.model_dump(mode="json"),
        "files": {f: _file_digest(Path(f)) for f in files if Path(f).is_file()},
    }


def _run_fetch(settings: Settings, model_dir: Path, force_int8: bool) -> tuple[dict[str, Any], list[str]]:
    from hsctl.fetch import fetch

    fetched = fetch(settings.data.source, settings.data, settings.paths.raw_dir)
    return {"source": fetched.source, "splits": fetched.splits, "path": str(settings.paths.raw_dir)}, []


def _preprocess_inputs(settings: Settings, model_dir: Path) -> dict[str, Any]:
    return {
        "data": settings.data.model_dump(mode="json"),
        "fetch": _file_digest(settings.paths.raw_dir / FETCH_MANIFEST),
    }


def _run_preprocess(settings: Settings, model_dir: Path, force_int8: bool) -> tuple[dict[str, Any], list[str]]:
    from hsctl.preprocess import preprocess

    paths = settings.paths
    prep = preprocess(settings.data, paths.raw_dir, paths.processed_dir)
    return {"splits": prep.splits, "dropped": prep.dropped, "path": str(paths.processed_dir)}, []


def _stats(settings: Settings) -> str | None:
    return _file_digest(settings.paths.processed_dir / PROCESSED_STATS)


def _card(model_dir: Path) -> str | None:
    return _file_digest(model_dir / MODEL_CARD)


def _run_train(settings: Settings, model_dir: Path, force_int8: bool) -> tuple[dict[str, Any], list[str]]:
    from hsctl.train import train

    pinned = settings.model_copy(update={"train": settings.train.model_copy(update={"run_name": PIPELINE_RUN})})
    trained = train(pinned, overwrite=True)  # the pipeline's own run, retrained when out of date
    return {
        "model_dir": str(trained.model_dir),
        "validation_macro_f1": trained.validation_metrics["macro_f1"],
        "threshold": trained.threshold,
        "train_time_s": trained.train_time_s,
    }, []


def _evaluated(settings: Settings, model_dir: Path) -> bool:
    latest = settings.paths.layout.latest_report("eval")
    return latest is not None and (latest / EVAL_REPORT).is_file()


def _run_evaluate(settings: Settings, model_dir: Path, force_int8: bool) -> tuple[dict[str, Any], list[str]]:
    from hsctl.evaluate import evaluate

    evaluated = evaluate(settings, model=model_dir)
    report = evaluated.report
    summary = {"macro_f1": report["macro_f1"], "accuracy": report["accuracy"], "roc_auc": report["roc_auc"]}
    return summary | {"n": report["n"], "path": str(evaluated.output_dir)}, report["gate"]["failures"]


def _run_quantize(settings: Settings, model_dir: Path, force_int8: bool) -> tuple[dict[str, Any], list[str]]:
    from hsctl.quantize import quantize

    q = quantize(settings, model=model_dir, force=force_int8)
    ver = q.report["verification"]
    speed = q.report["speedup_vs_torch"].get("onnx-int8", {})
    summary: dict[str, Any] = {
        "onnx_dir": q.report["onnx_dir"],
        "int8_kept": q.int8_kept,
        "int8_auc_drop": round(ver["int8_gate"]["auc_drop"], 4),
        "int8_agreement": round(ver["int8_gate"]["agreement"], 4),
        "int8_speedup_b1": speed.get("1"),
    }
    if q.warnings:
        summary["warning"] = "; ".join(q.warnings)
    return summary, q.gate_failures


StageRun = Callable[["Settings", Path, bool], tuple[dict[str, Any], list[str]]]


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: what it depends on, whether its outputs exist, and how to run it.

    ``inputs`` lists the stage's own dependencies (upstream outputs and settings);
    its code version is added for every stage. ``run`` returns a short summary and
    the gate failures of the run.
    """

    name: str
    inputs: Callable[[Settings, Path], dict[str, Any]]
    done: Callable[[Settings, Path], bool]
    run: StageRun


STAGE_TABLE: tuple[Stage, ...] = (
    Stage("fetch", _fetch_inputs, lambda s, m: (s.paths.raw_dir / FETCH_MANIFEST).is_file(), _run_fetch),
    Stage(
        "preprocess",
        _preprocess_inputs,
        lambda s, m: (s.paths.processed_dir / PROCESSED_STATS).is_file(),
        _run_preprocess,
    ),
    Stage(
        "train",
        lambda s, m: {"train": s.train.model_dump(mode="json"), "stats": _stats(s)},
        lambda s, m: (m / MODEL_CARD).is_file(),
        _run_train,
    ),
    Stage(
        "evaluate",
        lambda s, m: {"evaluate": s.evaluate.model_dump(mode="json"), "stats": _stats(s), "model": _card(m)},
        _evaluated,
        _run_evaluate,
    ),
    Stage(
        "quantize",
        lambda s, m: {"export": s.export.model_dump(mode="json"), "stats": _stats(s), "model": _card(m)},
        lambda s, m: (m / QUANTIZE_REPORT).is_file(),
        _run_quantize,
    ),
)
STAGES: tuple[str, ...] = tuple(stage.name for stage in STAGE_TABLE)


def stage_inputs(stage: str, settings: Settings, model_dir: Path) -> dict[str, Any]:
    """What a stage depends on: upstream outputs, its settings and its code."""
    by_name = {s.name: s for s in STAGE_TABLE}
    return {"code": _code_version(stage)} | by_name[stage].inputs(settings, model_dir)


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
    manifests = settings.paths.layout.pipeline_dir
    model_dir = settings.paths.models_dir / PIPELINE_RUN
    results: list[StageResult] = []
    failures: list[str] = []
    for index, spec in enumerate(STAGE_TABLE):
        stage = spec.name
        if not first <= index <= last:
            results.append(StageResult(stage, "not-selected"))
            continue
        inputs = stage_inputs(stage, settings, model_dir)
        fingerprint = _fingerprint(inputs)
        manifest_path = manifests / f"{stage}.json"
        previous = read_json(manifest_path) if manifest_path.is_file() else {}
        if not force and previous.get("fingerprint") == fingerprint and spec.done(settings, model_dir):
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
                summary, gate = spec.run(settings, model_dir, force_int8)
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
