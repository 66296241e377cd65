"""ONNX Runtime backend: numpy, ``tokenizers`` and onnxruntime only (no torch, no transformers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hsctl.core.layout import ONNX_DIR as ONNX_DIR
from hsctl.errors import DataError
from hsctl.inference import Predictor
from hsctl.models import ModelInfo

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def onnx_file(model_dir: Path, int8: bool) -> Path | None:
    """The ONNX file of a model folder (``onnx/`` inside it, or the folder itself when it is the export)."""
    name = INT8_FILE if int8 else FP32_FILE
    for candidate in (Path(model_dir) / ONNX_DIR / name, Path(model_dir) / name):
        if candidate.is_file():
            return candidate
    return None


def session_options(threads: int | None) -> Any:
    """Full graph optimisation, sequential execution, one inter-op thread, ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return options


class OnnxPredictor(Predictor):
    """fp32 or int8 ONNX model on the CPU execution provider."""

    def __init__(self, info: ModelInfo, *, int8: bool = False, threads: int | None = None, **kwargs: Any) -> None:
        super().__init__(info, **kwargs)
        import onnxruntime as ort

        path = onnx_file(info.path, int8)
        if path is None:
            kind = "int8" if int8 else "fp32"
            if int8 and onnx_file(info.path, int8=False) is not None:
                raise DataError(
                    f"no int8 ONNX model in {info.path}: quantize kept only fp32 (int8 lost too much F1); "
                    "use --backend onnx, or 'hsctl quantize --force' to keep int8"
                )
            raise DataError(f"no {kind} ONNX model in {info.path}: run 'hsctl quantize --model {info.path}' first")
        self.backend = "onnx-int8" if int8 else "onnx"
        self.path = path
        try:
            self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
            raise DataError(f"cannot load {path}: {str(exc).splitlines()[0]}") from exc
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.output_name = self.session.get_outputs()[0].name

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.session.run([self.output_name], {k: v for k, v in feed.items() if k in self.input_names})[0]
