"""``fetch``: bring a raw labelled dataset into the artifacts directory."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hsctl.core.io import atomic_dir, utc_now, write_json
from hsctl.core.layout import FETCH_MANIFEST
from hsctl.errors import DataError
from hsctl.fetch.sources import SourceData, canonicalize, classify_source, read_source

MANIFEST = FETCH_MANIFEST
log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "FetchResult", "SourceData", "canonicalize", "classify_source", "fetch", "read_source"]


@dataclass
class FetchResult:
    """What ``fetch`` wrote: also the content of ``fetch.json``."""

    source: str
    kind: str
    revision: str | None
    output_dir: Path
    splits: dict[str, int]
    columns: dict[str, str | None]
    files: list[dict[str, str]]
    fetched_at: str
    elapsed_s: float
    notes: list[str] = field(default_factory=list)  # how the files were read (a detected delimiter, ...)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        return data


def fetch(source: str, data: Any, output_dir: Path, *, encoding: str | None = None) -> FetchResult:
    """Read ``source`` and write one Parquet file per split plus ``fetch.json``, atomically.

    ``data`` is the :class:`hsctl.settings.DataSettings` group (column mapping,
    label map, hub timeout); ``encoding`` that of text files (default UTF-8). A source
    without data rows (a header alone) is invalid data. The previous content of
    ``output_dir`` survives any failure.
    """
    started = time.perf_counter()
    log.info("reading %s", source)
    loaded = read_source(source, data, encoding=encoding)
    empty = [name for name, frame in loaded.splits.items() if len(frame) == 0]
    if empty or not loaded.splits:
        where = f" (split {', '.join(empty)})" if len(loaded.splits) > 1 else ""
        raise DataError(f"{source}: no data rows{where}; a header alone is not a dataset")
    demo = loaded.kind == "demo"
    result = FetchResult(
        source=source,
        kind=loaded.kind,
        revision=loaded.revision,
        output_dir=Path(output_dir),
        splits={name: len(frame) for name, frame in loaded.splits.items()},
        columns={
            "text": "tweet" if demo else data.text_column,
            "label": "label" if demo else data.label_column,
            "category": "categories" if demo else data.category_column,
        },
        files=loaded.files,
        fetched_at=utc_now(),
        elapsed_s=0.0,
        notes=list(loaded.notes),
    )
    log.info("read %s (%s): %s", source, loaded.kind, ", ".join(f"{k} {v} rows" for k, v in result.splits.items()))
    with atomic_dir(Path(output_dir)) as tmp:
        for name, frame in loaded.splits.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        result.elapsed_s = round(time.perf_counter() - started, 3)
        write_json(tmp / MANIFEST, result.to_dict())
    log.info("wrote %s in %.1fs", output_dir, result.elapsed_s)
    return result
