"""ONNX export (optimum, with a torch.onnx fallback), graph optimisation and int8 quantisation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "merges.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "added_tokens.json",
)
# Architectures ONNX Runtime's transformer optimiser knows how to fuse.
_ORT_MODEL_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "deberta-v2", "mpnet"}


def export_fp32(model_dir: Path, out_dir: Path, opset: int) -> str:
    """Export with optimum's ONNX exporter; fall back to ``torch.onnx.export`` when it cannot.

    Returns a description of the exporter used. Both give dynamic batch and
    sequence axes and a ``logits`` output.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        from optimum.exporters.onnx import main_export

        main_export(
            str(model_dir),
            str(out_dir),
            task="text-classification",
            opset=opset,
            device="cpu",
            do_validation=False,
            local_files_only=True,
        )
        return "optimum"
    except (ValueError, KeyError, NotImplementedError) as exc:  # architecture not supported by optimum
        reason = str(exc).splitlines()[0][:200]
    _torch_export(model_dir, out_dir / "model.onnx", opset)
    return f"torch.onnx (optimum could not export: {reason})"


def _torch_export(model_dir: Path, path: Path, opset: int) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), use_safetensors=True).eval()
    sample = {
        "input_ids": torch.ones((2, 8), dtype=torch.long),
        "attention_mask": torch.ones((2, 8), dtype=torch.long),
        "token_type_ids": torch.zeros((2, 8), dtype=torch.long),
    }
    names = [n for n in sample if n in model.forward.__code__.co_varnames]
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in names}
    torch.onnx.export(
        model,
        (tuple(sample[n] for n in names),),
        str(path),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={**axes, "logits": {0: "batch_size"}},
        opset_version=opset,
        dynamo=False,
    )


def optimize_graph(src: Path, dst: Path, config: dict[str, Any]) -> str:
    """ONNX Runtime transformer fusions (attention, LayerNorm, GELU), saved portable (no hardware ops)."""
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = str(config.get("model_type", ""))
    if model_type not in _ORT_MODEL_TYPES:
        shutil.copyfile(src, dst)
        return f"none (no fusions for model type {model_type or 'unknown'})"
    optimized = optimize_model(
        str(src),
        model_type="bert" if model_type in {"camembert", "xlm-roberta", "roberta", "electra", "mpnet"} else model_type,
        num_heads=int(config.get("num_attention_heads", config.get("n_heads", 0))),
        hidden_size=int(config.get("hidden_size", config.get("dim", 0))),
        opt_level=1,
        use_gpu=False,
    )
    optimized.save_model_to_file(str(dst))
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    return ", ".join(f"{k} {v}" for k, v in sorted(fused.items())) or "no fusions applied"


DEFAULT_KEEP_FP32: tuple[str, ...] = ("*output/dense/MatMul*",)
"""Node-name patterns left in fp32 by default: the feed-forward down-projections (and, in BERT-named graphs,
the attention output projections). Their inputs carry the large activation outliers of transformer
encoders, which dynamic int8 clips: on the default mpnet model, quantising them cost 0.006 validation
ROC-AUC and 4% of the decisions; kept in fp32 the int8 copy loses 0.0002 and agrees on 99.1%
(``benchmarks/int8_variants.py``)."""


def nodes_matching(src: Path, patterns: list[str] | tuple[str, ...]) -> list[str]:
    """Names of the graph's nodes matching any fnmatch pattern."""
    from fnmatch import fnmatchcase

    import onnx

    if not patterns:
        return []
    graph = onnx.load(str(src), load_external_data=False).graph
    return [node.name for node in graph.node if any(fnmatchcase(node.name, p) for p in patterns)]


def quantize_int8(
    src: Path, dst: Path, *, per_channel: bool, reduce_range: bool, keep: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """Dynamic int8 quantisation of weights (activations quantised at run time).

    Nodes matching ``keep`` (and :data:`DEFAULT_KEEP_FP32`) stay in fp32; returns their names.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = nodes_matching(src, (*DEFAULT_KEEP_FP32, *keep))
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        reduce_range=reduce_range,
        nodes_to_exclude=excluded,
        # fused contrib ops defeat shape inference; their outputs are float
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return excluded


def copy_model_files(model_dir: Path, out_dir: Path) -> None:
    """Make the ONNX folder self-contained: config, tokenizer and hsctl.json beside the graphs."""
    for name in (*TOKENIZER_FILES, "config.json", "hsctl.json"):
        src = model_dir / name
        if src.is_file():
            shutil.copyfile(src, out_dir / name)


def cpu_flags() -> dict[str, Any]:
    """Instruction-set flags that decide int8 speed-ups (VNNI above all)."""
    import platform

    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "vnni": bool({"avx512_vnni", "avx_vnni", "avx512vnni"} & flags),
        "amx": "amx_int8" in flags,
        "known": bool(flags),
    }


def model_config(model_dir: Path) -> dict[str, Any]:
    """The model's config.json."""
    return dict(json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
