"""Chunked reading and resumable chunked writing of tables, so scoring memory stays flat in the input size.

Readers yield pandas chunks of ``chunk_rows`` rows (Arrow record batches for
Parquet, pandas' chunked CSV and JSON-lines readers for text) and report how far
through the input they are. Each scored chunk is written as one *part* file in a
hidden folder beside the output, recorded in a small manifest; when every chunk
is done the parts are joined into the output and the folder is removed. A re-run
after an interruption finds the manifest, checks that the input file, the model
and the options are unchanged, and skips the chunks already written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hsctl.core.tables import table_format
from hsctl.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

STDIO = "-"
COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
# Compressions pandas reads whole but that cannot be streamed or appended chunk by chunk here.
UNSTREAMABLE = (".zip", ".zst", ".tar", ".tgz")
MANIFEST = "manifest.json"
FINGERPRINT_BYTES = 1 << 16


def compression_of(path: Path) -> str | None:
    """gzip, bz2 or xz from the last suffix; None for a plain file; a usage error for zip, zstd and tar."""
    if path.suffix.lower() in UNSTREAMABLE:
        raise ConfigError(f"{path}: {path.suffix} cannot be streamed; use .gz, .bz2 or .xz compression")
    return COMPRESSION.get(path.suffix.lower())


def open_binary(path: Path, mode: str, compression: str | None) -> IO[bytes]:
    """A (de)compressing binary file object; gzip, bz2 and xz all read concatenated streams back as one."""
    if compression == "gzip":
        import gzip

        return gzip.open(path, mode)  # type: ignore[return-value]
    if compression == "bz2":
        import bz2

        return bz2.open(path, mode)  # type: ignore[return-value]
    if compression == "xz":
        import lzma

        return lzma.open(path, mode)  # type: ignore[return-value]
    return open(path, mode)  # the caller closes it


def decompressing(raw: IO[bytes], compression: str | None) -> IO[bytes]:
    """A reader that decompresses ``raw`` (gzip, bz2, xz) or ``raw`` itself."""
    if compression == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "bz2":
        import bz2

        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    if compression == "xz":
        import lzma

        return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    return raw


@dataclass
class Chunk:
    """One chunk of input rows; ``first_row`` counts data rows from 1."""

    index: int
    first_row: int
    frame: pd.DataFrame
    fraction: float | None


class ChunkReader:
    """Iterate over a table file (or stdin lines) in chunks of ``chunk_rows`` rows."""

    def __init__(self, source: str, text_column: str, chunk_rows: int, *, encoding: str | None = None) -> None:
        self.source = source
        self.text_column = text_column
        self.chunk_rows = chunk_rows
        self.encoding = encoding
        self.notes: list[str] = []  # how the input was read (a detected delimiter)
        self.fmt = "stdin" if source == STDIO else table_format(Path(source))
        if self.fmt is None:
            raise DataError(f"unsupported input type for {source}: use .csv, .tsv, .jsonl, .json, .parquet or '-'")
        if source != STDIO and not Path(source).is_file():
            raise DataError(f"file not found: {source}")
        self.total_rows: int | None = None
        self.columns: list[str] | None = None

    def __iter__(self) -> Iterator[Chunk]:
        frames = self._frames()
        row = 1
        for index, (frame, fraction) in enumerate(frames):
            frame = self._check_columns(frame, index, row)
            yield Chunk(index=index, first_row=row, frame=frame, fraction=fraction)
            row += len(frame)
        if self.columns is None and self.fmt == "stdin":
            import pandas as pd

            self.columns = [self.text_column]
            yield Chunk(index=0, first_row=1, frame=pd.DataFrame({self.text_column: []}, dtype=object), fraction=1.0)

    def _check_columns(self, frame: pd.DataFrame, index: int, row: int) -> pd.DataFrame:
        columns = [str(c) for c in frame.columns]
        if self.columns is None:
            if self.text_column not in columns:
                found = ", ".join(columns) or "(none)"
                raise DataError(f"{self.source}: missing column {self.text_column!r} (found: {found}); {_fix(columns)}")
            self.columns = columns
            return frame
        if columns == self.columns:
            return frame
        extra = [c for c in columns if c not in self.columns]
        if extra:
            raise DataError(
                f"{self.source}: column(s) {', '.join(extra)} first appear at row {row}, after the first chunk; "
                "convert the file to Parquet, or raise --chunk-rows so the first chunk has every column"
            )
        return frame.reindex(columns=self.columns)  # keys missing from these JSON lines become null

    def _frames(self) -> Iterator[tuple[pd.DataFrame, float | None]]:
        if self.fmt == "stdin":
            yield from self._stdin()
        elif self.fmt == "parquet":
            yield from self._parquet()
        elif self.fmt == "json":
            yield from self._whole_json()
        else:
            yield from self._text()

    def _stdin(self) -> Iterator[tuple[pd.DataFrame, float | None]]:
        import pandas as pd

        lines: list[str] = []
        for line in sys.stdin:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= self.chunk_rows:
                yield pd.DataFrame({self.text_column: lines}, dtype=object), None
                lines = []
        if lines:
            yield pd.DataFrame({self.text_column: lines}, dtype=object), None

    def _parquet(self) -> Iterator[tuple[pd.DataFrame, float | None]]:
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(self.source)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise DataError(f"cannot read {self.source} as parquet: {_first_line(exc)}") from exc
        self.total_rows = file.metadata.num_rows
        done = 0
        for batch in file.iter_batches(batch_size=self.chunk_rows):
            done += batch.num_rows
            yield batch.to_pandas(), done / self.total_rows if self.total_rows else 1.0

    def _whole_json(self) -> Iterator[tuple[pd.DataFrame, float | None]]:
        """A JSON array cannot be streamed: read it whole, then hand it out in chunks (use JSON lines for big files)."""
        from hsctl.core.tables import read_table

        frame = read_table(Path(self.source), encoding=self.encoding)
        self.total_rows = len(frame)
        for start in range(0, len(frame), self.chunk_rows):
            end = min(start + self.chunk_rows, len(frame))
            yield frame.iloc[start:end].reset_index(drop=True), end / len(frame)
        if len(frame) == 0:
            yield frame, 1.0

    def _text(self) -> Iterator[tuple[pd.DataFrame, float | None]]:
        import pandas as pd

        from hsctl.core.tables import not_decodable, sniff_delimiter

        path = Path(self.source)
        size = path.stat().st_size or 1
        default = "\t" if self.fmt == "tsv" else ","
        sep = sniff_delimiter(path, self.fmt or "csv", self.encoding) if self.fmt != "jsonl" else default
        if sep != default:
            self.notes.append(f"read {self.source} with {sep!r} as the delimiter (detected)")
        with open(path, "rb") as raw:
            try:
                handle = decompressing(raw, compression_of(path))  # raw.tell() then measures progress
                if self.fmt == "jsonl":
                    reader: Any = pd.read_json(
                        handle, lines=True, dtype=False, chunksize=self.chunk_rows, encoding=self.encoding
                    )
                else:
                    # keep_default_na=False: an empty tweet is an empty string, not NaN.
                    reader = pd.read_csv(
                        handle,
                        sep=sep,
                        dtype=str,
                        keep_default_na=False,
                        na_values=[],
                        chunksize=self.chunk_rows,
                        encoding=self.encoding,
                    )
                any_rows = False
                with reader:
                    for frame in reader:
                        any_rows = True
                        yield frame.reset_index(drop=True), min(raw.tell() / size, 1.0)
                if not any_rows and self.fmt != "jsonl":  # a header alone: no rows, but the columns
                    yield pd.read_csv(path, sep=sep, dtype=str, nrows=0, encoding=self.encoding), 1.0
            except pd.errors.EmptyDataError as exc:
                raise DataError(f"{self.source} is empty") from exc
            except UnicodeDecodeError as exc:
                raise DataError(not_decodable(self.source, exc, self.encoding)) from exc
            except (ValueError, OSError, EOFError, pd.errors.ParserError) as exc:
                raise DataError(f"cannot read {self.source} as {self.fmt}: {_first_line(exc)}") from exc


def _fix(columns: list[str]) -> str:
    """The way forward for a missing text column: another delimiter when one column holds every header."""
    if len(columns) == 1 and any(d in columns[0] for d in ";|\t,"):
        return "the header looks like one column: check the file's delimiter"
    return "choose it with --text-column"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def input_fingerprint(source: str) -> dict[str, Any]:
    """Size, modification time and a hash of the first and last 64 KiB: cheap, and catches an edited input."""
    path = Path(source)
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(FINGERPRINT_BYTES))
        if stat.st_size > FINGERPRINT_BYTES:
            fh.seek(max(FINGERPRINT_BYTES, stat.st_size - FINGERPRINT_BYTES))
            digest.update(fh.read())
    return {
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "head_tail_sha256": digest.hexdigest(),
    }


def parts_dir(destination: Path) -> Path:
    """The hidden folder beside the output that holds finished chunks until the output is complete."""
    return destination.with_name(f".{destination.name}.parts")


class PartWriter:
    """Write each scored chunk as a part file, record it in the manifest, and join the parts at the end."""

    def __init__(self, destination: Path, key: dict[str, Any], *, resume: bool) -> None:
        self.destination = destination
        self.fmt = table_format(destination)
        if self.fmt is None:
            raise ConfigError(f"unsupported output type for {destination}: use .csv, .tsv, .jsonl, .json or .parquet")
        self.compression = compression_of(destination)
        if self.fmt == "parquet" and self.compression:
            raise ConfigError(f"{destination}: Parquet compresses itself; drop the {destination.suffix} suffix")
        self.dir = parts_dir(destination)
        self.key = key
        self.parts: list[dict[str, Any]] = []
        self.resume_note: str | None = None
        self._open(resume)

    def _open(self, resume: bool) -> None:
        manifest = self.dir / MANIFEST
        if manifest.is_file():
            reason = self._resume_problem(manifest) if resume else "resume is off (predict.resume)"
            if reason is None:
                self.parts = json.loads(manifest.read_text(encoding="utf-8"))["parts"]
                rows = sum(int(p["rows"]) for p in self.parts)
                self.resume_note = (
                    f"resuming an interrupted run: {len(self.parts)} chunk(s), {rows:,} rows already written"
                )
                return
            self.resume_note = f"cannot resume the interrupted run in {self.dir}: {reason}; starting over"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self._save()

    def _resume_problem(self, manifest: Path) -> str | None:
        try:
            saved = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "its manifest is unreadable"
        old = saved.get("key", {})
        for name in ("input", "model", "options"):
            before, now = old.get(name) or {}, self.key.get(name) or {}
            if before != now:
                changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
                return f"the {name} changed since ({', '.join(changed)})"
        missing = [p["file"] for p in saved.get("parts", []) if not (self.dir / p["file"]).is_file()]
        if missing:
            return f"part file {missing[0]} is missing"
        return None

    @property
    def done_chunks(self) -> int:
        """Chunks already written (a resumed run skips them)."""
        return len(self.parts)

    def _save(self) -> None:
        tmp = self.dir / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps({"key": self.key, "parts": self.parts}, indent=1), encoding="utf-8")
        tmp.replace(self.dir / MANIFEST)

    def write(self, index: int, frame: pd.DataFrame, summary: dict[str, Any]) -> None:
        """Write chunk ``index`` atomically, then record it (with its summary) in the manifest."""
        suffix = "".join(self.destination.suffixes[-2:]) if self.compression else self.destination.suffix
        name = f"part-{index:06d}{suffix}"
        tmp = self.dir / f".tmp-{name}"
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        else:
            body = _text_body(frame, self.fmt or "csv", header=index == 0)
            with open_binary(tmp, "wb", self.compression) as fh:
                fh.write(body.encode("utf-8"))
        tmp.replace(self.dir / name)
        self.parts.append({"file": name, "rows": len(frame), **summary})
        self._save()

    def finish(self) -> None:
        """Join the parts into the output (atomically: a temporary sibling, then a rename) and drop the folder."""
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.destination.with_name(f".tmp-{os.getpid()}-{self.destination.name}")
        try:
            if self.fmt == "parquet":
                self._join_parquet(tmp)
            else:
                self._join_text(tmp)
            tmp.replace(self.destination)
        finally:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _join_text(self, tmp: Path) -> None:
        """Byte-wise concatenation: gzip, bz2 and xz streams concatenate into one valid file."""
        array = self.fmt == "json"
        with open(tmp, "wb") as out:
            if array:
                out.write(_compressed(b"[", self.compression))
            first = True
            for part in self.parts:
                if array and not part["rows"]:
                    continue
                if array and not first:
                    out.write(_compressed(b",", self.compression))
                with open(self.dir / part["file"], "rb") as fh:
                    shutil.copyfileobj(fh, out)
                first = False
            if array:
                out.write(_compressed(b"]\n", self.compression))

    def _join_parquet(self, tmp: Path) -> None:
        import pyarrow.parquet as pq

        writer: Any = None
        try:
            for part in self.parts:
                table = pq.read_table(self.dir / part["file"])
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                elif table.schema != writer.schema:
                    try:
                        table = table.cast(writer.schema)
                    except (ValueError, TypeError, NotImplementedError) as exc:
                        raise DataError(
                            f"column types differ between chunks ({_first_line(exc)}); "
                            "write CSV or JSON lines, or convert the input to Parquet first"
                        ) from exc
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


def _compressed(data: bytes, compression: str | None) -> bytes:
    if compression == "gzip":
        import gzip

        return gzip.compress(data)
    if compression == "bz2":
        import bz2

        return bz2.compress(data)
    if compression == "xz":
        import lzma

        return lzma.compress(data)
    return data


def _text_body(frame: pd.DataFrame, fmt: str, *, header: bool) -> str:
    """One chunk as CSV/TSV (header only on the first), or JSON lines (also the rows of a JSON array)."""
    if fmt in ("csv", "tsv"):
        return str(frame.to_csv(index=False, header=header, sep="\t" if fmt == "tsv" else ","))
    if frame.empty:
        return ""
    lines = str(frame.to_json(orient="records", lines=True, force_ascii=False)).rstrip("\n")
    return lines.replace("\n", ",\n") if fmt == "json" else lines + "\n"


def write_stdout(frame: pd.DataFrame) -> None:
    """One chunk as JSON lines on stdout (``-o -``)."""
    if frame.empty:
        return
    text = str(frame.to_json(orient="records", lines=True, force_ascii=False))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
