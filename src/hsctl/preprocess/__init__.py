"""``preprocess``: clean, validate, deduplicate and split the raw data.

Reads the Parquet splits written by ``fetch`` and writes a ``datasets.DatasetDict``
plus ``stats.json`` and ``label_distribution.png``, atomically.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import atomic_dir, read_json, sha256_file, utc_now, write_json
from hsctl.core.processed import PLOT, STATS
from hsctl.core.text import normalize_text
from hsctl.errors import DataError
from hsctl.fetch import MANIFEST as FETCH_MANIFEST
from hsctl.fetch.sources import CATEGORY, LABEL, TEXT
from hsctl.preprocess.report import plot_label_distribution, split_stats
from hsctl.preprocess.split import make_splits
from hsctl.preprocess.validate import as_label_id, require_columns, validate_labels

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.settings import DataSettings

log = logging.getLogger(__name__)

# When a text occurs in several splits, keep the copy in the evaluation split.
_SPLIT_PRIORITY = {"test": 0, "validation": 1, "train": 2}

__all__ = ["PLOT", "STATS", "PreprocessResult", "clean_frames", "load_raw", "normalize_text", "preprocess"]


@dataclass
class PreprocessResult:
    """What ``preprocess`` wrote; ``stats`` is the content of ``stats.json``."""

    output_dir: Path
    rows_in: int
    rows_out: int
    splits: dict[str, int]
    dropped: dict[str, int]
    conflicting_duplicates: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        return data


def load_raw(raw_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the Parquet splits that ``fetch`` wrote."""
    import pandas as pd

    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DataError(f"no raw data at {raw_dir}: run 'hsctl fetch' first")
    files = sorted(raw_dir.glob("*.parquet"))
    if not files:
        raise DataError(f"no Parquet splits in {raw_dir}: run 'hsctl fetch' first")
    try:
        return {f.stem: pd.read_parquet(f) for f in files}
    except Exception as exc:  # corrupt Parquet raises pyarrow's own errors
        raise DataError(f"cannot read raw data in {raw_dir}: {exc}") from exc


def clean_frames(
    splits: dict[str, pd.DataFrame], data: DataSettings
) -> tuple[dict[str, pd.DataFrame], dict[str, int], dict[str, Any], list[str]]:
    """Validate, normalise, drop empty texts and duplicates across all splits.

    Returns the cleaned frames, dropped-row counts by reason, a report of
    duplicates with conflicting labels, and warnings.
    """
    import pandas as pd

    warnings: list[str] = []
    for name, frame in splits.items():
        require_columns(frame, [TEXT, LABEL], f"raw split {name!r}")
        validate_labels(frame, data.labels, name)
    parts = []
    for name, frame in splits.items():
        part = frame[[c for c in (TEXT, LABEL, CATEGORY) if c in frame.columns]].copy()
        part["_split"] = name
        part["_row"] = range(1, len(part) + 1)
        parts.append(part)
    combined = pd.concat(parts, ignore_index=True)
    if CATEGORY not in combined.columns:
        combined[CATEGORY] = None
    combined[LABEL] = combined[LABEL].map(as_label_id).astype("int64")  # validated above
    combined[TEXT] = combined[TEXT].map(lambda t: normalize_text(t, data.normalize) if isinstance(t, str) else "")
    dropped: dict[str, int] = {}

    empty = combined[TEXT].str.len() == 0
    dropped["empty_text"] = int(empty.sum())
    combined = combined[~empty]
    if combined.empty:
        raise DataError("every row has an empty text after cleaning; check --text-column")

    labels_per_text = combined.groupby(TEXT)[LABEL].nunique()
    conflicting = set(labels_per_text[labels_per_text > 1].index)
    conflict_rows = combined[combined[TEXT].isin(conflicting)]
    conflicts = {
        "texts": len(conflicting),
        "rows": len(conflict_rows),
        "examples": [
            {"text": text[:120], "rows": [f"{s}:{r}" for s, r in zip(group["_split"], group["_row"], strict=True)][:6]}
            for text, group in list(conflict_rows.groupby(TEXT, sort=True))[:5]
        ],
        "action": "dropped" if data.drop_conflicting_duplicates else "kept first",
    }
    if conflicting and data.drop_conflicting_duplicates:
        combined = combined[~combined[TEXT].isin(conflicting)]
        dropped["conflicting_labels"] = len(conflict_rows)
    else:
        dropped["conflicting_labels"] = 0
    if conflicting:
        warnings.append(f"{len(conflicting)} text(s) occur with different labels ({conflicts['action']})")

    combined = combined.assign(_prio=combined["_split"].map(lambda s: _SPLIT_PRIORITY.get(s, 3)))
    combined = combined.sort_values(["_prio", "_split", "_row"], kind="stable")
    dup = combined.duplicated(subset=[TEXT], keep="first")
    dropped["duplicate"] = int(dup.sum())
    combined = combined[~dup].sort_values(["_split", "_row"], kind="stable")

    cleaned = {
        name: group[[TEXT, LABEL, CATEGORY]].reset_index(drop=True)
        for name, group in combined.groupby("_split", sort=False)
    }
    for name in splits:  # a split emptied by cleaning still exists, so make_splits can complain clearly
        cleaned.setdefault(name, combined.iloc[0:0][[TEXT, LABEL, CATEGORY]])
    return cleaned, dropped, conflicts, warnings


def preprocess(data: DataSettings, raw_dir: Path, output_dir: Path) -> PreprocessResult:
    """Clean, validate, deduplicate and split; write the ``DatasetDict`` and its report atomically."""
    import datasets

    started = time.perf_counter()
    raw = load_raw(raw_dir)
    rows_in = sum(len(f) for f in raw.values())
    log.info("read %d rows from %s (splits: %s)", rows_in, raw_dir, ", ".join(raw))
    cleaned, dropped, conflicts, warnings = clean_frames(raw, data)
    log.info("cleaned: dropped %s", ", ".join(f"{k} {v}" for k, v in dropped.items()))
    final = make_splits(cleaned, data.split, warnings)
    log.info("split: %s", ", ".join(f"{k} {len(v)}" for k, v in final.items()))

    features = datasets.Features(
        {
            TEXT: datasets.Value("string"),
            LABEL: datasets.ClassLabel(names=list(data.labels)),
            CATEGORY: datasets.Value("string"),
        }
    )
    dataset = datasets.DatasetDict(
        {
            name: datasets.Dataset.from_pandas(frame, features=features, preserve_index=False)
            for name, frame in final.items()
        }
    )
    stats_by_split = {name: split_stats(frame, data.labels) for name, frame in final.items()}
    fetch_manifest = Path(raw_dir) / FETCH_MANIFEST
    result = PreprocessResult(
        output_dir=Path(output_dir),
        rows_in=rows_in,
        rows_out=sum(len(f) for f in final.values()),
        splits={name: len(frame) for name, frame in final.items()},
        dropped=dropped,
        conflicting_duplicates=conflicts,
        warnings=warnings,
    )
    result.stats = {
        "created_at": utc_now(),
        "rows_in": rows_in,
        "rows_out": result.rows_out,
        "dropped": dropped,
        "conflicting_duplicates": conflicts,
        "splits": stats_by_split,
        "input": {
            "raw_dir": str(raw_dir),
            "fetch_manifest_sha256": sha256_file(fetch_manifest) if fetch_manifest.is_file() else None,
            "source": read_json(fetch_manifest).get("source") if fetch_manifest.is_file() else None,
        },
        "settings": data.model_dump(mode="json"),
        "warnings": warnings,
    }
    previous = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with atomic_dir(Path(output_dir)) as tmp:
            dataset.save_to_disk(str(tmp))
            plot_label_distribution(stats_by_split, data.labels, tmp / PLOT)
            result.elapsed_s = round(time.perf_counter() - started, 3)
            result.stats["elapsed_s"] = result.elapsed_s
            write_json(tmp / STATS, result.stats)
        log.info("wrote %s in %.1fs", output_dir, result.elapsed_s)
    finally:
        if previous:
            datasets.enable_progress_bars()
    return result
