"""The documented install: build the wheel, ``pipx install`` it into a throw-away PIPX_HOME, run it.

It installs the tested set (``-c constraints.txt``, torch 2.13.0 included) with pip's cache, so it
needs only the package index. Where a CPU-only torch index is configured for CI (the
``TORCH_CPU_INDEX`` repository variable of the workflows), pip also looks there, so the CPU build of
torch wins over PyPI's CUDA build, as in the README's CPU-only route.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hsctl.__about__ import __version__

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 1200


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
@pytest.mark.skipif(importlib.util.find_spec("pipx") is None, reason="pipx not installed (it is in the dev extra)")
@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree to build the wheel")
def test_pipx_install_of_the_wheel_runs_the_demo(isolated: Path):
    env = {
        **os.environ,
        "PIPX_HOME": str(isolated / "pipx"),
        "PIPX_BIN_DIR": str(isolated / "bin"),
        "PIPX_MAN_DIR": str(isolated / "man"),
        "PIPX_DEFAULT_BACKEND": "pip",  # uv would not see pip's configuration (local wheels, cache)
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(isolated / "dist"), str(ROOT)],
         cwd=isolated, env=env)  # fmt: skip
    wheel = next((isolated / "dist").glob("hsctl-*.whl"))
    pip_args = f"-c {ROOT / 'constraints.txt'} --no-compile"  # no .pyc for ~140 packages: a third faster
    if os.environ.get("TORCH_CPU_INDEX"):
        pip_args += f" --extra-index-url {os.environ['TORCH_CPU_INDEX']}"
    _run(
        [sys.executable, "-m", "pipx", "install", "--backend", "pip", "--python", sys.executable,
         "--pip-args", pip_args, str(wheel)],
        cwd=isolated, env=env,
    )  # fmt: skip
    hsctl = isolated / "bin" / ("hsctl.exe" if os.name == "nt" else "hsctl")
    assert hsctl.is_file(), sorted(p.name for p in (isolated / "bin").iterdir())
    # The app runs from its own venv, not from this one.
    assert _run([str(hsctl), "--version"], cwd=isolated, env=env).stdout.strip() == f"hsctl {__version__}"
    venv_python = next((isolated / "pipx" / "venvs" / "hsctl").glob("[bS]*/python*"))
    probe = "import hsctl, torch; print(hsctl.__file__); print(torch.__version__)"
    where, torch_version = _run([str(venv_python), "-c", probe], cwd=isolated, env=env).stdout.split()
    assert str(isolated / "pipx") in where
    assert torch_version.startswith("2.13.0")  # the tested torch from constraints.txt, not a newer release

    demo = _run([str(hsctl), "pipeline", "--demo", "--json"], cwd=isolated, env=env)
    stages = json.loads(demo.stdout)["stages"]
    assert [s["status"] for s in stages] == ["ran"] * len(stages)
    assert (isolated / "artifacts" / "models" / "pipeline" / "hsctl.json").is_file()
