"""Read tabular files in every format hsctl accepts (CSV, TSV, JSONL, JSON, Parquet)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING

from hsctl.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

TABLE_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
GLOB_CHARS = set("*?[")


def table_format(path: Path) -> str | None:
    """The format name for a file path, or None when the suffix is not a table format."""
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):  # allow data.csv.gz
        if suffix in TABLE_SUFFIXES:
            return TABLE_SUFFIXES[suffix]
    return None


def expand_paths(pattern: str) -> list[Path]:
    """A file, a glob, or a directory of table files, as a sorted list of files."""
    path = Path(pattern)
    if any(ch in pattern for ch in GLOB_CHARS):
        matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not matches:
            raise DataError(f"no files match {pattern!r}")
        return matches
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and table_format(p))
        if not files:
            raise DataError(f"no CSV, TSV, JSONL or Parquet files in directory {pattern!r}")
        return files
    if not path.exists():
        raise DataError(f"file not found: {pattern}")
    return [path]


def read_table(path: Path) -> pd.DataFrame:
    """Read one table file into a DataFrame; every failure is a one-line ``DataError``."""
    import pandas as pd

    path = Path(path)
    fmt = table_format(path)
    if fmt is None:
        raise DataError(
            f"unsupported file type {''.join(path.suffixes) or '(none)'} for {path}: "
            "use .csv, .tsv, .jsonl, .json or .parquet"
        )
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    try:
        if fmt in ("csv", "tsv"):
            # keep_default_na=False: an empty tweet is an empty string, not NaN.
            frame = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False, na_values=[])
        elif fmt == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        elif fmt == "json":
            try:
                frame = pd.read_json(path, dtype=False)
            except ValueError:
                frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} is empty") from exc
    except Exception as exc:  # pandas and pyarrow raise many types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path} as {fmt}: {first}") from exc
    return frame
