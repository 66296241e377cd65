"""The layering of the package, enforced: import-linter's contracts in pyproject.toml must hold.

errors < core < settings < models/inference < stages < pipeline < cli; an import that
runs up the layers (function-level imports included) or a stage that imports the
command line fails here, and so fails CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("import-linter is part of the dev extra: install it (make setup)")
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 kept, 0 broken" in out.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path):
    """The contract can fail: a copy of the package where core imports the CLI is refused."""
    shutil.copytree(ROOT / "src" / "hsctl", tmp_path / "src" / "hsctl")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "src" / "hsctl" / "core" / "bad.py"
    bad.write_text("def f() -> None:\n    from hsctl.cli import main  # noqa: F401\n")
    env_path = f"{tmp_path / 'src'}"
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = subprocess.run(
        [exe, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": env_path}
    )
    assert out.returncode != 0
    assert "hsctl.core.bad -> hsctl.cli" in out.stdout
