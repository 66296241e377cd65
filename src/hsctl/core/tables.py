"""Read tabular files in every format hsctl accepts (CSV, TSV, JSONL, JSON, Parquet)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.errors import ConfigError, DataError

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


DELIMITERS = ",;\t|"
# True for every command that reads files: fetch and predict take --encoding; the others read UTF-8.
ENCODING_HINT = (
    "if it was saved as Latin-1 or Windows-1252 (Excel), pass --encoding cp1252 to hsctl fetch or predict, "
    "or convert it to UTF-8 (iconv -f cp1252 -t utf-8)"
)


def sniff_delimiter(path: Path, fmt: str, encoding: str | None = None) -> str:
    """The field delimiter of a CSV/TSV file: the suffix's own when its header has it, else csv.Sniffer's guess.

    A semicolon-separated ``.csv`` (common from spreadsheets in many locales) read with
    commas is one column whose name holds every header; sniffing reads it right.
    """
    import csv

    default = "\t" if fmt == "tsv" else ","
    try:
        with _open_text(path, encoding) as fh:
            sample = fh.read(1 << 16)
    except (OSError, UnicodeDecodeError, LookupError, EOFError):
        return default  # the reader reports it
    header = sample.splitlines()[0] if sample.strip() else ""
    if not header or default in header:
        return default
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in DELIMITERS}
        found = max(counts, key=lambda d: counts[d])
        if counts[found] == 0:
            return default
    return found if found in DELIMITERS and found in header else default


def _open_text(path: Path, encoding: str | None) -> Any:
    """A text handle on a plain or gzip/bz2/xz-compressed file."""
    suffix = path.suffix.lower()
    enc = encoding or "utf-8"
    if suffix == ".gz":
        import gzip

        return gzip.open(path, "rt", encoding=enc, newline="")
    if suffix == ".bz2":
        import bz2

        return bz2.open(path, "rt", encoding=enc, newline="")
    if suffix == ".xz":
        import lzma

        return lzma.open(path, "rt", encoding=enc, newline="")
    return open(path, encoding=enc, newline="")  # the caller closes it


def not_decodable(path: Path | str, exc: UnicodeDecodeError, encoding: str | None) -> str:
    """One line for a file that is not in the expected encoding, with the way forward."""
    byte = exc.object[exc.start : exc.start + 1].hex() if exc.object else "?"
    return f"{path} is not {encoding or 'utf-8'} text (byte 0x{byte} at offset {exc.start}); {ENCODING_HINT}"


def check_encoding(encoding: str | None) -> None:
    """A usage error for an encoding name Python does not know."""
    import codecs

    if encoding is None:
        return
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None


def read_table(path: Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read one table file into a DataFrame; every failure is a one-line ``DataError``.

    CSV/TSV files are read with their sniffed delimiter (``frame.attrs["delimiter"]`` records
    one that differs from the suffix's) and ``encoding`` (default UTF-8).
    """
    import pandas as pd

    check_encoding(encoding)

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
            sep = sniff_delimiter(path, fmt, encoding)
            # keep_default_na=False: an empty tweet is an empty string, not NaN.
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[], encoding=encoding)
            if sep != ("\t" if fmt == "tsv" else ","):
                frame.attrs["delimiter"] = sep
        elif fmt == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False, encoding=encoding)
        elif fmt == "json":
            try:
                frame = pd.read_json(path, dtype=False, encoding=encoding)
            except ValueError:
                frame = pd.read_json(path, lines=True, dtype=False, encoding=encoding)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} is empty") from exc
    except UnicodeDecodeError as exc:
        raise DataError(not_decodable(path, exc, encoding)) from exc
    except Exception as exc:  # pandas and pyarrow raise many types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path} as {fmt}: {first}") from exc
    return frame
