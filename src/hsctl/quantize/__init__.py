"""``quantize``: export a trained model to ONNX fp32 and int8, verify both, measure them.

fp32 must match PyTorch logits within ``export.max_logit_diff`` (else exit 1).
int8 must keep the ranking and the decisions of PyTorch on the validation split
(:mod:`hsctl.quantize.gate`); a copy that does not is removed, and the fp32
export serves instead (a warning, or exit 3 under ``export.strict``; ``force``
keeps it). Writes ``onnx/`` and ``quantize.json`` beside the model, atomically.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import atomic_dir, utc_now, write_json
from hsctl.core.layout import QUANTIZE_REPORT
from hsctl.errors import DataError, HsctlError
from hsctl.inference.onnx import FP32_FILE, INT8_FILE, ONNX_DIR
from hsctl.models import read_model_info, resolve_model_dir

if TYPE_CHECKING:
    from hsctl.inference import Predictor
    from hsctl.settings import Settings

REPORT = QUANTIZE_REPORT
LATENCY_TEXTS = 256


@dataclass
class QuantizeResult:
    """The report written to ``quantize.json``, whether int8 was kept, and what went wrong.

    ``gate_failures`` are failures only under ``export.strict``; otherwise a rejected
    int8 copy is a warning and the fp32 export serves.
    """

    report: dict[str, Any]
    int8_kept: bool
    gate_failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.report)


def validation_texts(settings: Settings) -> tuple[list[str], list[int]]:
    """Texts and labels of the preprocessed validation split (the data the threshold was chosen on)."""
    from hsctl.core.processed import load_processed

    split = load_processed(settings.paths.processed_dir, ("validation",), hint="(quantize verifies on it)")[
        "validation"
    ]
    return list(split["text"]), [int(y) for y in split["label"]]


def measure_latency(predictor: Predictor, texts: list[str], batch_sizes: list[int]) -> dict[str, dict[str, float]]:
    """Median milliseconds per batch and samples/s at each batch size, after a warm-up pass."""
    results: dict[str, dict[str, float]] = {}
    sample = (texts * (LATENCY_TEXTS // max(len(texts), 1) + 1))[:LATENCY_TEXTS]
    for size in batch_sizes:
        predictor.batch_size = size
        n_batches = max(4, min(64, LATENCY_TEXTS // size))
        chunk = (
            sample[: size * n_batches] if size * n_batches <= len(sample) else (sample * n_batches)[: size * n_batches]
        )
        predictor.logits(chunk[: size * 2])  # warm-up
        timings: list[float] = []
        for start in range(0, len(chunk), size):
            batch = chunk[start : start + size]
            t0 = time.perf_counter()
            predictor.logits(batch)
            timings.append(time.perf_counter() - t0)
        median = statistics.median(timings)
        results[str(size)] = {"ms_per_batch": round(median * 1000, 3), "samples_per_s": round(size / median, 1)}
    return results


def quantize(
    settings: Settings,
    *,
    model: str | Path | None = None,
    force: bool = False,
    measure: bool = True,
    output_dir: Path | None = None,
) -> QuantizeResult:
    """Export, optimise, quantise, verify and benchmark; see the module docstring for the gates."""
    import numpy as np

    from hsctl.evaluate.metrics import binary_metrics
    from hsctl.inference import TorchPredictor
    from hsctl.inference.onnx import OnnxPredictor
    from hsctl.quantize.export import (
        copy_model_files,
        cpu_flags,
        export_fp32,
        model_config,
        optimize_graph,
        quantize_int8,
    )
    from hsctl.quantize.gate import int8_gate

    started = time.perf_counter()
    cfg = settings.export
    model_dir = resolve_model_dir(settings.paths.models_dir, model)
    info = read_model_info(model_dir)
    if not any(model_dir.glob("*.safetensors")):
        raise DataError(f"{model_dir} has no safetensors weights to export")
    texts, labels = validation_texts(settings)
    threads = settings.inference.threads
    batch = settings.inference.batch_size
    torch_predictor = TorchPredictor(info, batch_size=batch, threads=threads)
    torch_logits = torch_predictor.logits(texts)
    flags = cpu_flags()
    reduce_range = {"on": True, "off": False}.get(cfg.reduce_range, not flags["vnni"])
    failures: list[str] = []
    onnx_dir = Path(output_dir) if output_dir else model_dir / ONNX_DIR
    with atomic_dir(onnx_dir) as tmp:
        export_dir = tmp / "_export"
        exporter = export_fp32(model_dir, export_dir, cfg.opset)
        fusions = optimize_graph(export_dir / FP32_FILE, tmp / FP32_FILE, model_config(model_dir))
        kept_fp32 = quantize_int8(
            tmp / FP32_FILE, tmp / INT8_FILE, per_channel=cfg.per_channel, reduce_range=reduce_range, keep=cfg.keep_fp32
        )
        for leftover in export_dir.iterdir():
            leftover.unlink()
        export_dir.rmdir()
        copy_model_files(model_dir, tmp)
        staged = read_model_info(tmp)
        fp32 = OnnxPredictor(staged, batch_size=batch, threads=threads)
        int8 = OnnxPredictor(staged, int8=True, batch_size=batch, threads=threads)
        fp32_logits = fp32.logits(texts)
        max_diff = float(np.max(np.abs(fp32_logits - torch_logits))) if len(texts) else 0.0
        if max_diff > cfg.max_logit_diff:
            raise HsctlError(
                f"fp32 ONNX logits differ from PyTorch by {max_diff:.2e} (> {cfg.max_logit_diff:g}); nothing written"
            )
        threshold = info.threshold
        # One path for every backend: the predictor's own probabilities (softmax, prior shift).
        probs = {
            "torch": torch_predictor.probabilities(torch_logits),
            "onnx": fp32.probabilities(fp32_logits),
            "onnx-int8": int8.probabilities(int8.logits(texts)),
        }
        scores = {name: binary_metrics(labels, p, threshold) for name, p in probs.items()}
        gate = int8_gate(
            labels,
            probs["torch"],
            probs["onnx-int8"],
            threshold,
            max_auc_drop=cfg.max_auc_drop,
            min_agreement=cfg.min_agreement,
            confidence=cfg.gate_confidence,
        )
        int8_kept = gate.passed or force
        latency: dict[str, Any] = {}
        if measure:
            predictors: dict[str, Predictor] = {"torch": torch_predictor, "onnx": fp32, "onnx-int8": int8}
            latency = {name: measure_latency(p, texts, cfg.latency_batch_sizes) for name, p in predictors.items()}
        del int8, fp32  # release the files before a possible removal
        if not int8_kept:
            (tmp / INT8_FILE).unlink()
            failures.append("; ".join(gate.failures) + ": kept the fp32 ONNX export only (--force keeps int8)")
        sizes = {name: (tmp / name).stat().st_size for name in (FP32_FILE, INT8_FILE) if (tmp / name).is_file()}
        report: dict[str, Any] = {
            "model": str(model_dir),
            "model_version": info.version,
            "onnx_dir": str(onnx_dir),
            "files": {name: str(onnx_dir / name) for name in sizes},
            "exporter": exporter,
            "opset": cfg.opset,
            "graph_fusions": fusions,
            "quantization": {
                "weights": "int8",
                "activations": "dynamic uint8",
                "per_channel": cfg.per_channel,
                "reduce_range": reduce_range,
                "kept_fp32": kept_fp32,
            },
            "verification": {
                "validation_rows": len(texts),
                "max_abs_logit_diff_fp32": max_diff,
                "max_logit_diff_allowed": cfg.max_logit_diff,
                "threshold": threshold,
                "macro_f1": {name: m["macro_f1"] for name, m in scores.items()},
                "roc_auc": {name: m["roc_auc"] for name, m in scores.items()},
                "int8_gate": gate.to_dict(),
            },
            "int8_kept": int8_kept,
            "forced": force and not gate.passed,
            "file_size_bytes": {**sizes, "model.safetensors": (model_dir / "model.safetensors").stat().st_size},
            "latency": latency,
            "speedup_vs_torch": _speedups(latency),
            "cpu": flags,
            "threads": threads,
            "created_at": utc_now(),
        }
        report["elapsed_s"] = round(time.perf_counter() - started, 2)
        write_json(tmp / REPORT, report)
    if output_dir is None:  # beside the model too; an explicit --output keeps the model folder untouched
        write_json(model_dir / REPORT, report)
    if cfg.strict:
        return QuantizeResult(report=report, int8_kept=int8_kept, gate_failures=failures)
    return QuantizeResult(report=report, int8_kept=int8_kept, warnings=failures)


def _speedups(latency: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    base = latency.get("torch", {})
    out: dict[str, dict[str, float]] = {}
    for name, sizes in latency.items():
        if name == "torch":
            continue
        out[name] = {
            size: round(values["samples_per_s"] / base[size]["samples_per_s"], 2)
            for size, values in sizes.items()
            if size in base and base[size]["samples_per_s"]
        }
    return out
