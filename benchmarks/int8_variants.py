"""int8 variants side by side: which quantisation keeps the ranking of a trained model, and at what speed.

Exports the model once (fp32, graph-optimised, as ``hsctl quantize`` does), then
quantises it several ways and scores each on the validation split through the
predictors' one probability path: ROC-AUC against PyTorch, the int8 gate's
verdict (paired-bootstrap AUC drop, Wilson bound on decision agreement) and
samples/s at batch 32, all in one run. ``--texts FILE`` adds the ROC-AUC on another
labelled CSV (tweet,label).

    python benchmarks/int8_variants.py --model artifacts/models/RUN --artifacts artifacts
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

VARIANTS: dict[str, dict[str, Any]] = {
    "s8 per-channel, 7-bit": {"per_channel": True, "reduce_range": True, "keep": []},
    "s8 per-channel, 8-bit": {"per_channel": True, "reduce_range": False, "keep": []},
    "u8 per-channel": {"weights": "u8", "per_channel": True, "reduce_range": False, "keep": []},
    "u8 per-tensor": {"weights": "u8", "per_channel": False, "reduce_range": False, "keep": []},
    "s8 per-channel, 7-bit, FFN down-projections fp32": {
        "per_channel": True,
        "reduce_range": True,
        "keep": ["*output/dense/MatMul*"],
    },
    "u8 per-channel, FFN down-projections fp32": {
        "weights": "u8",
        "per_channel": True,
        "reduce_range": False,
        "keep": ["*output/dense/MatMul*"],
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--artifacts", type=Path, required=True, help="the artifacts folder with data/processed")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()

    import numpy as np

    from hsctl.inference import TorchPredictor
    from hsctl.inference.onnx import FP32_FILE, INT8_FILE, OnnxPredictor
    from hsctl.models import read_model_info
    from hsctl.quantize import validation_texts
    from hsctl.quantize.export import copy_model_files, export_fp32, model_config, nodes_matching, optimize_graph
    from hsctl.quantize.gate import int8_gate
    from hsctl.settings import load_settings

    settings = load_settings({"paths.artifacts": str(args.artifacts)}).settings
    texts, labels = validation_texts(settings)
    info = read_model_info(args.model)
    torch_probs = TorchPredictor(info).predict_proba(texts)
    work = Path(tempfile.mkdtemp(prefix="int8-variants-"))
    try:
        export_fp32(args.model, work / "export", settings.export.opset)
        optimize_graph(work / "export" / FP32_FILE, work / FP32_FILE, model_config(args.model))
        copy_model_files(args.model, work)
        rows = []
        fp32 = OnnxPredictor(read_model_info(work))
        rows.append(("fp32 ONNX", measure(fp32, texts, labels, torch_probs, info.threshold, int8_gate, np), 0))
        del fp32
        from onnxruntime.quantization import QuantType, quantize_dynamic

        for name in args.variants:
            spec = VARIANTS[name]
            excluded = nodes_matching(work / FP32_FILE, spec["keep"])
            quantize_dynamic(
                str(work / FP32_FILE),
                str(work / INT8_FILE),
                weight_type=QuantType.QUInt8 if spec.get("weights") == "u8" else QuantType.QInt8,
                per_channel=spec["per_channel"],
                reduce_range=spec["reduce_range"],
                nodes_to_exclude=excluded,
                extra_options={"DefaultTensorType": 1},
            )
            predictor = OnnxPredictor(read_model_info(work), int8=True)
            rows.append(
                (name, measure(predictor, texts, labels, torch_probs, info.threshold, int8_gate, np), len(excluded))
            )
            del predictor
        print(
            f"{'variant':50} {'nodes fp32':>10} {'ROC-AUC':>8} {'drop':>8} {'agree':>7} {'gate':>5} {'samples/s':>10}"
        )
        for name, m, kept in rows:
            print(
                f"{name:50} {kept:>10} {m['auc']:>8.4f} {m['drop']:>+8.4f} {m['agreement']:>7.2%} "
                f"{'pass' if m['passed'] else 'FAIL':>5} {m['speed']:>10.1f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(
    predictor: Any, texts: list[str], labels: list[int], ref: Any, threshold: float, gate: Any, np: Any
) -> dict[str, Any]:
    probs = predictor.predict_proba(texts)
    verdict = gate(labels, ref, probs, threshold, max_auc_drop=0.003, min_agreement=0.98)
    predictor.batch_size = 32
    sample = (texts * 2)[:512]
    predictor.predict_proba(sample[:64])
    started = time.perf_counter()
    predictor.predict_proba(sample)
    return {
        "auc": verdict.auc_int8,
        "drop": verdict.auc_drop,
        "agreement": verdict.agreement,
        "passed": verdict.passed,
        "speed": len(sample) / (time.perf_counter() - started),
    }


if __name__ == "__main__":
    main()
