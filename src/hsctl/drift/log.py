"""Read the prediction log that ``hsctl serve`` writes: JSON lines, filtered by time, every problem counted.

A record (one line) is a :class:`hsctl.core.predlog_record.PredictionRecord`:
``time`` (ISO 8601, UTC), ``hate_probability``, ``prediction_id`` (from schema
1 on) and ``text`` or ``text_sha256`` (or neither), plus ``label``,
``threshold``, ``model_version``, ``latency_ms``, ``request_id``, ``index`` and
``endpoint``. Only ``time`` and ``hate_probability`` are required. Unreadable
files, lines that are not JSON objects and invalid records are counted and
skipped; the rest is analysed. Only when nothing usable remains is it a
``DataError``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.predlog_record import NOT_JSON, PredictionRecord
from hsctl.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

LOG_GLOB = "*.jsonl"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_UNREADABLE_SHOWN = 5
LOG_SNIFF_LINES = 50  # lines of a .jsonl file looked at to tell a prediction log from a data file
LogRecord = PredictionRecord  # the name drift used before the record moved to core


@dataclass
class LogStats:
    """What was read from the log, and what was skipped and why."""

    location: str
    files: int = 0
    unreadable_files: list[str] = field(default_factory=list)
    lines: int = 0
    bad_lines: int = 0
    invalid_records: int = 0
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    outside_window: int = 0
    records: int = 0
    with_text: int = 0
    hashed: int = 0
    no_text: int = 0
    model_versions: dict[str, int] = field(default_factory=dict)
    first_time: str | None = None
    last_time: str | None = None
    window: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def problems(self) -> list[str]:
        """One line per kind of skipped input, for warnings."""
        out = []
        if self.unreadable_files:
            shown = "; ".join(self.unreadable_files[:MAX_UNREADABLE_SHOWN])
            more = ", ..." if len(self.unreadable_files) > MAX_UNREADABLE_SHOWN else ""
            out.append(f"{len(self.unreadable_files)} unreadable log file(s) skipped ({shown}{more})")
        if self.bad_lines:
            out.append(f"{self.bad_lines} log line(s) that are not JSON objects skipped")
        if self.invalid_records:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.invalid_reasons.items()))
            out.append(
                f"{self.invalid_records} log record(s) missing fields or with invalid values skipped ({reasons})"
            )
        return out


def parse_when(value: str, *, end: bool = False) -> datetime:
    """``--since``/``--until``: an ISO date or datetime; naive means UTC.

    A date alone covers its whole day: as ``--until`` (``end=True``) it means
    the end of that day.
    """
    text = value.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"not an ISO date or datetime: {value!r} (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if end and _DATE_ONLY.match(text):
        when += timedelta(days=1)
    return when.astimezone(UTC)


def parse_record(line: str | bytes) -> tuple[PredictionRecord | None, str | None]:
    """One log line as a record, or ``(None, reason)``; never raises (see :meth:`PredictionRecord.parse`)."""
    return PredictionRecord.parse(line)


def is_prediction_log(spec: str) -> bool:
    """A URL, a directory that is not a ``save_to_disk`` dataset, or a JSON-lines file of log records."""
    from hsctl.fetch.sources import classify_source

    if "://" in spec:
        return True
    path = Path(spec)
    if path.is_dir():
        return classify_source(spec) != "disk"
    if path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson"):
        return path.name.startswith("predictions-") or _looks_like_log(path)
    return False


def _looks_like_log(path: Path, max_lines: int = LOG_SNIFF_LINES) -> bool:
    """The first JSON object among the first lines decides: a corrupt first line (a torn write) is skipped."""
    try:
        with open(path, "rb") as fh:
            for n, line in enumerate(fh):
                if n >= max_lines:
                    break
                try:
                    record = json.loads(line)
                except ValueError:  # includes UnicodeDecodeError
                    continue
                if isinstance(record, dict):
                    return "hate_probability" in record and "time" in record
    except OSError:
        return False
    return False


def _log_files(location: str) -> tuple[Any, list[str]]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(location)
    except (ValueError, ImportError) as exc:  # unknown protocol, filesystem not installed
        raise DataError(f"cannot open prediction log {location}: {exc}") from exc
    try:
        if not fs.exists(root):
            raise DataError(
                f"no prediction log at {location}: 'hsctl serve' writes one (serve.log_predictions), "
                "or pass --current DIR|URL|FILE"
            )
        pattern = root.rstrip("/") + "/" + LOG_GLOB
        files = sorted(str(p) for p in fs.glob(pattern)) if fs.isdir(root) else [root]
    except OSError as exc:
        raise DataError(f"cannot list prediction log {location}: {exc}") from exc
    if not files:
        raise DataError(f"no prediction log files ({LOG_GLOB}) in {location}")
    return fs, files


def read_prediction_log(
    location: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
) -> tuple[pd.DataFrame, LogStats]:
    """The usable records in ``[since, until)``, the last ``last`` of them when given, oldest first.

    Columns: ``time`` (UTC), ``text`` (None when not logged), ``text_sha256``,
    ``hate_probability``, ``model_version``, ``prediction_id`` (None in logs
    older than the field), ``predicted_label`` (the log's ``label``) and ``threshold``.
    """
    import pandas as pd

    fs, files = _log_files(location)
    stats = LogStats(location=location, files=len(files))
    stats.window = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "last": last,
    }
    reasons: Counter[str] = Counter()
    records: list[PredictionRecord] = []
    for path in files:
        try:
            with fs.open(path, "rb") as fh:
                content: bytes = fh.read()
        except (OSError, ValueError) as exc:
            stats.unreadable_files.append(f"{path}: {type(exc).__name__}: {exc}".splitlines()[0])
            continue
        for line in content.splitlines():
            if not line.strip():
                continue
            stats.lines += 1
            record, reason = parse_record(line)
            if record is None:
                if reason == NOT_JSON:
                    stats.bad_lines += 1
                else:
                    reasons[str(reason)] += 1
                continue
            if (since is not None and record.time < since) or (until is not None and record.time >= until):
                stats.outside_window += 1
                continue
            records.append(record)
    stats.invalid_records = sum(reasons.values())
    stats.invalid_reasons = dict(reasons)
    records.sort(key=lambda r: r.time)
    if last is not None and len(records) > last:
        stats.outside_window += len(records) - last
        records = records[-last:]
    if not records:
        problems = "; ".join(stats.problems()) or "no problems found"
        window = " in the --since/--until/--last window" if stats.outside_window else ""
        hint = (
            None
            if stats.outside_window
            else "a directory or URL is read as a prediction log; pass data files as a glob, e.g. 'dir/*.jsonl'"
        )
        raise DataError(
            f"nothing usable in the prediction log at {location}{window}: {stats.files} file(s), "
            f"{stats.lines} line(s), {stats.outside_window} outside the window ({problems})",
            hint=hint,
        )
    stats.records = len(records)
    stats.with_text = sum(r.text is not None for r in records)
    stats.hashed = sum(r.text is None and r.text_sha256 is not None for r in records)
    stats.no_text = stats.records - stats.with_text - stats.hashed
    stats.model_versions = dict(Counter(r.model_version or "unknown" for r in records).most_common())
    stats.first_time, stats.last_time = records[0].time.isoformat(), records[-1].time.isoformat()
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime([r.time for r in records], utc=True),
            "text": pd.Series([r.text for r in records], dtype=object),
            "text_sha256": pd.Series([r.text_sha256 for r in records], dtype=object),
            "hate_probability": [r.hate_probability for r in records],
            "model_version": pd.Series([r.model_version for r in records], dtype=object),
            "prediction_id": pd.Series([r.prediction_id for r in records], dtype=object),
            "predicted_label": pd.Series([r.label for r in records], dtype=object),
            "threshold": pd.Series([r.threshold for r in records], dtype=object),
        }
    )
    return frame, stats
