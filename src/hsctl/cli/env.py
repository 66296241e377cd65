"""``hsctl env``: the versions, hardware and settings files to paste into a bug report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hsctl.cli._common import JsonOpt, emit_json, global_options, handle_errors, load, out_console
from hsctl.errors import HsctlError
from hsctl.settings import DEFAULT_CONFIG_FILE, DEFAULT_ENV_FILE


@handle_errors
def env_cli(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print hsctl's environment for bug reports: versions, CPU, GPU, threads, backends, settings files.

    Works on every install, the torch-free serving one included; nothing is downloaded.
    """
    from hsctl.core.env import environment

    opts = global_options(ctx)
    data = environment(opts.config_file or Path(DEFAULT_CONFIG_FILE), opts.env_file or Path(DEFAULT_ENV_FILE))
    try:
        load(ctx)
        data["settings_files"]["problem"] = None
    except HsctlError as exc:  # an invalid hsctl.toml is worth reporting, not a reason to fail
        data["settings_files"]["problem"] = str(exc)
    if json_out:
        emit_json(data)
        return
    console = out_console()
    console.print("Paste the lines below into your bug report.\n", style="dim", highlight=False)
    for name, value in render(data):
        console.print(f"- {name}: {value}", highlight=False, markup=False, soft_wrap=True)


def render(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The report as ``(name, text)`` lines, the shape of ``huggingface-cli env``."""
    py, osinfo, cpu, torch, ort = data["python"], data["os"], data["cpu"], data["torch"], data["onnxruntime"]
    packages = data["packages"]
    lines = [
        ("hsctl", data["hsctl"]),
        ("Python", f"{py['version']} ({py['implementation']}, {py['executable']})"),
        ("OS", osinfo["platform"]),
        ("torch", _torch_text(torch)),
        ("GPUs", ", ".join(torch.get("gpus") or []) or "none"),
        ("onnxruntime", _ort_text(ort)),
    ]
    lines += [(name, packages.get(name) or "not installed") for name in ("transformers", "optimum", "datasets")]
    lines += [(name, v) for name, v in packages.items() if v and name not in {"torch", "onnxruntime", *dict(lines)}]
    features = cpu["features"]
    lines += [
        ("CPU", f"{cpu['model'] or 'unknown'} ({cpu['machine']})"),
        ("CPU features", _features_text(features)),
        ("threads", _threads_text(cpu, torch, data["thread_variables"])),
        ("backends", ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in data["backends"].items())),
        ("settings", _settings_text(data["settings_files"])),
    ]
    lines += [(name, value) for name, value in data["variables"].items()]
    return lines


def _torch_text(torch: dict[str, Any]) -> str:
    if not torch["installed"]:
        return "not installed"
    if "error" in torch:
        return f"installed but fails to import: {torch['error']}"
    if torch["cuda_build"]:
        gpu = "GPU available" if torch["cuda_available"] else "no GPU visible"
        details = [f"CUDA {torch['cuda_build']} build, {gpu}"]
    else:
        details = ["CPU build"]
    details.append("MPS available" if torch["mps_available"] else "no MPS")
    if torch.get("cpu_capability"):
        details.append(f"CPU kernels {torch['cpu_capability']}")
    return f"{torch['version']} ({'; '.join(details)})"


def _features_text(features: list[str] | None) -> str:
    """The x86 levels that decide int8 and fp32 speed first (yes/no), then the flags found."""
    if features is None:
        return "unknown (no /proc/cpuinfo or sysctl)"
    found = set(features)
    if found & {"sse4_2", "avx", "avx2"}:
        levels = {"AVX2": "avx2", "AVX-512": "avx512f", "VNNI": ("avx512_vnni", "avx_vnni"), "AMX": "amx_tile"}
        summary = ", ".join(
            f"{name} {'yes' if found & ({flags} if isinstance(flags, str) else set(flags)) else 'no'}"
            for name, flags in levels.items()
        )
        return f"{summary} (flags: {', '.join(features)})"
    return ", ".join(features) or "none of the tracked ones"


def _ort_text(ort: dict[str, Any]) -> str:
    if not ort["installed"]:
        return "not installed"
    if "error" in ort:
        return f"installed but fails to import: {ort['error']}"
    return f"{ort['version']} (providers: {', '.join(ort['providers']) or 'none'})"


def _threads_text(cpu: dict[str, Any], torch: dict[str, Any], variables: dict[str, str | None]) -> str:
    parts = [f"{cpu['logical_cpus']} logical CPUs, {cpu['usable_cpus']} usable"]
    if torch.get("intra_op_threads"):
        parts.append(f"torch {torch['intra_op_threads']} intra-op / {torch['inter_op_threads']} inter-op")
    parts += [f"{name}={value}" for name, value in variables.items() if value is not None]
    return "; ".join(parts)


def _settings_text(files: dict[str, Any]) -> str:
    parts = []
    for key in ("config", "env"):
        state = files.get(key)
        if state:
            parts.append(f"{state['path']} ({'found' if state['exists'] else 'absent'})")
    if files.get("hsctl_variables"):
        parts.append("set: " + ", ".join(files["hsctl_variables"]))
    if files.get("problem"):
        parts.append(f"INVALID: {files['problem']}")
    return "; ".join(parts)
