"""The documentation builds with ``mkdocs build --strict``, and its hook generates the option tables."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs not installed (the docs extra)")
def test_mkdocs_build_strict_generates_option_tables(tmp_path: Path):
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    train_page = (site / "commands" / "train" / "index.html").read_text(encoding="utf-8")
    # The generated table has the option in a cell of its own; the prose only mentions it in examples.
    assert "<td><code>--epochs</code></td>" in train_page
    assert "cli-options:" not in train_page
