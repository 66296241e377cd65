"""Atomic writes, hashing and JSON manifests.

A crash or error part-way through a write must never leave a half-written
directory that a later stage would trust, nor destroy what was there before.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``target`` on success.

    On any exception the temporary directory is removed and ``target`` keeps
    its previous content.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _normalize_modes(tmp)
    backup: Path | None = None
    if target.exists():
        backup = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, backup)
    try:
        os.replace(tmp, target)
    except BaseException:
        if backup is not None:
            os.replace(backup, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file through a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _normalize_modes(root: Path) -> None:
    """Give files written by libraries that use 0600 (safetensors, mkstemp) the usual modes."""
    file_mode = 0o666 & ~_umask()
    for path in root.rglob("*"):
        if path.is_file():
            os.chmod(path, file_mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_jsonable(value: Any) -> Any:
    """Convert paths, numpy scalars, datetimes and sets for ``json.dumps``."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def finite(value: Any) -> Any:
    """A copy of ``value`` where NaN and infinities are ``None``, the one JSON value for "undefined".

    ``json.dumps`` would write ``NaN``, which strict parsers (``jq``, JavaScript, Go) reject;
    numpy scalars and the other types of :func:`to_jsonable` are converted on the way.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if getattr(value, "ndim", 0) > 0 and callable(getattr(value, "tolist", None)):  # numpy arrays
        return finite(value.tolist())
    return finite(to_jsonable(value))


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of a result: the conversions of :func:`to_jsonable`, NaN and infinities as ``null``.

    Every JSON file hsctl writes and every ``--json`` output goes through here.
    """
    return json.dumps(finite(data), indent=indent, allow_nan=False, ensure_ascii=False)


def write_json(path: Path, data: Any) -> None:
    """Write a JSON manifest atomically."""
    atomic_write_text(path, dumps(data) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_dir(path: Path) -> str:
    """A fingerprint of every file below a directory (names and contents)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def utc_now() -> str:
    """Current UTC time, ISO 8601, for manifests."""
    return datetime.now(UTC).isoformat(timespec="seconds")
