"""What ``hsctl env`` reports: the versions, hardware and settings a bug report needs.

Everything here is a cheap probe that returns data and never raises: torch and
onnxruntime are imported only when they are installed (a serving-only install has
neither torch nor transformers), and a library that fails to import is reported with
its error instead of stopping the report.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from hsctl.__about__ import __version__

# Distributions whose versions shape hsctl's behaviour (import name differs for some).
PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "datasets",
    "onnx",
    "onnxruntime",
    "optimum",
    "optimum-onnx",
    "numpy",
    "scikit-learn",
    "fastapi",
    "uvicorn",
    "wandb",
    "dvc",
)
# CPU flags that decide which kernels PyTorch and ONNX Runtime can use (int8 speed in particular).
CPU_FEATURES = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "sve", "sve2", "i8mm", "bf16",
)  # fmt: skip
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM")
# Variables that change where models come from or whether tracking runs; values are not secret.
ENV_VARIABLES = (
    "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "CUDA_VISIBLE_DEVICES", "WANDB_MODE", "NO_COLOR",
)  # fmt: skip


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def torch_info() -> dict[str, Any]:
    """torch's version, build, devices (CUDA, MPS) and CPU kernel level; ``installed: False`` without it."""
    if not _installed("torch"):
        return {"installed": False}
    try:
        import torch
    except Exception as exc:  # a broken install (missing shared library, wrong CUDA) is what bug reports are about
        return {"installed": True, "error": f"{type(exc).__name__}: {exc}"}
    cuda = bool(torch.cuda.is_available())
    mps = getattr(torch.backends, "mps", None)
    info: dict[str, Any] = {
        "installed": True,
        "version": str(torch.__version__),
        "cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "mps_available": bool(mps is not None and mps.is_available()),
        "cpu_capability": _safe(lambda: torch.backends.cpu.get_cpu_capability()),
        "intra_op_threads": torch.get_num_threads(),
        "inter_op_threads": torch.get_num_interop_threads(),
    }
    return info


def onnxruntime_info() -> dict[str, Any]:
    """ONNX Runtime's version and execution providers; ``installed: False`` without it."""
    if not _installed("onnxruntime"):
        return {"installed": False}
    try:
        import onnxruntime as ort
    except Exception as exc:
        return {"installed": True, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "installed": True,
        "version": str(ort.__version__),
        "providers": list(ort.get_available_providers()),
        "device": _safe(ort.get_device),
    }


def cpu_info() -> dict[str, Any]:
    """CPU model and the instruction-set features that matter for inference speed.

    Linux: ``/proc/cpuinfo``; macOS: ``sysctl``; elsewhere only what :mod:`platform` knows.
    """
    model, flags = _cpu_from_proc() if sys.platform.startswith("linux") else (None, set())
    if sys.platform == "darwin":
        model = _sysctl("machdep.cpu.brand_string")
        flags = {f.lower().replace(".", "_") for f in (_sysctl("machdep.cpu.features") or "").split()}
        flags |= {f.lower() for f in (_sysctl("machdep.cpu.leaf7_features") or "").split()}
    return {
        "model": model or platform.processor() or None,
        "machine": platform.machine(),
        "features": [f for f in CPU_FEATURES if f in flags] if flags else None,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
    }


def usable_cpus() -> int | None:
    """CPUs this process may run on (a container's CPU set, not the host's count); None when unknown."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()  # macOS, Windows


def _cpu_from_proc() -> tuple[str | None, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, set()
    model = re.search(r"^(?:model name|Model|cpu model)\s*:\s*(.+)$", text, re.MULTILINE)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.MULTILINE)
    return (model.group(1).strip() if model else None), set(flags.group(1).split() if flags else ())


def _sysctl(key: str) -> str | None:
    try:
        out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _safe(probe: Any) -> Any:
    try:
        return probe()
    except Exception:
        return None


def backends() -> dict[str, bool]:
    """Which hsctl inference backends this install can run (``--backend`` of evaluate, predict, serve)."""
    tokenizers = _installed("tokenizers")
    onnx = tokenizers and _installed("onnxruntime")
    return {
        "torch": tokenizers and _installed("torch") and _installed("transformers"),
        "onnx": onnx,
        "onnx-int8": onnx,
        "quantize": _installed("torch") and _installed("onnx") and _installed("optimum"),  # the ONNX export
        "wandb": _installed("wandb"),  # experiment tracking
    }


def environment(config_file: Path | None, env_file: Path | None) -> dict[str, Any]:
    """The whole report; ``config_file`` and ``env_file`` are the settings files this invocation reads."""
    return {
        "hsctl": __version__,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "os": {"system": platform.system(), "release": platform.release(), "platform": platform.platform()},
        "packages": {name: package_version(name) for name in PACKAGES},
        "torch": torch_info(),
        "onnxruntime": onnxruntime_info(),
        "cpu": cpu_info(),
        "thread_variables": {name: os.environ.get(name) for name in THREAD_VARIABLES},
        "backends": backends(),
        "settings_files": {
            "config": _file_state(config_file),
            "env": _file_state(env_file),
            "hsctl_variables": sorted(k for k in os.environ if k.startswith("HSCTL_")),  # names only: may be secrets
        },
        "variables": {name: os.environ[name] for name in ENV_VARIABLES if name in os.environ},
    }


def _file_state(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    return {"path": str(path), "exists": Path(path).is_file()}
