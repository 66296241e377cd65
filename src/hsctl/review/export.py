"""``review export``: the most informative logged predictions, as a queue for people to label.

Informative means uncertain at the deployed threshold: the rows whose
``hate_probability`` is nearest the threshold they were decided at. The queue
is stratified so that it does not all come from one burst of traffic or one
side of the threshold: the log is cut into time windows (equal numbers of
records) and split by predicted label and model version, each stratum gets a share of the queue
in proportion to its size, and within a stratum the nearest rows go first.
Near-duplicates (the same text once lower-cased and stripped of URLs,
mentions and punctuation) are collapsed to the most uncertain copy,
and predictions already in the feedback store (by id or by text) are skipped.
Records without a ``prediction_id`` (logs older than schema 1) or without a
text (``serve.log_text`` = sha256 or none) cannot be reviewed and are counted.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import atomic_write_text
from hsctl.errors import ConfigError, DataError, HsctlError

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.settings import Settings

FORMATS = ("csv", "jsonl", "label-studio", "argilla")
WINDOWS = 4
DEFAULT_THRESHOLD = 0.5  # only for records that do not say which threshold decided them
COLUMNS = (
    "prediction_id",
    "text",
    "hate_probability",
    "predicted_label",
    "threshold",
    "model_version",
    "time",
    "reason",
    "label",
)
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_NOT_WORD = re.compile(r"[\W_]+")


def duplicate_key(text: str) -> str:
    """The text as near-duplicates share it: lower case, no URLs, mentions or punctuation (numbers count)."""
    text = _MENTION.sub(" ", _URL.sub(" ", text.lower()))
    return " ".join(_NOT_WORD.sub(" ", text).split())


@dataclass
class ExportResult:
    """What was written, and how many log records could not be offered and why."""

    output: str
    format: str
    rows: int
    log_records: int
    without_id: int
    without_text: int
    already_reviewed: int
    near_duplicates: int
    mean_distance_queue: float | None
    mean_distance_log: float | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _allocate(sizes: list[int], total: int) -> list[int]:
    """``total`` slots over strata in proportion to their sizes (largest remainders), never above a size."""
    available = sum(sizes)
    total = min(total, available)
    if total == 0:
        return [0] * len(sizes)
    exact = [total * s / available for s in sizes]
    counts = [min(int(e), s) for e, s in zip(exact, sizes, strict=True)]
    by_remainder = sorted(range(len(sizes)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    while sum(counts) < total:
        grew = False
        for i in by_remainder:
            if sum(counts) >= total:
                break
            if counts[i] < sizes[i]:
                counts[i] += 1
                grew = True
        if not grew:
            break
    return counts


def select_queue(
    frame: pd.DataFrame, size: int, reviewed: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The queue (columns of :data:`COLUMNS`), most informative first, and counts of what was left out."""
    import numpy as np
    import pandas as pd

    counts = {"without_id": 0, "without_text": 0, "already_reviewed": 0, "near_duplicates": 0}
    has_id = frame["prediction_id"].map(lambda v: isinstance(v, str) and bool(v))
    has_text = frame["text"].map(lambda v: isinstance(v, str) and bool(v.strip()))
    counts["without_id"] = int((~has_id).sum())
    counts["without_text"] = int((has_id & ~has_text).sum())
    rows = frame[has_id & has_text].copy()
    rows["threshold"] = pd.to_numeric(rows["threshold"], errors="coerce").fillna(DEFAULT_THRESHOLD)
    rows["key"] = rows["text"].map(duplicate_key)
    if reviewed is not None and not reviewed.empty:
        seen_ids = set(reviewed["prediction_id"].dropna())
        seen_keys = {duplicate_key(t) for t in reviewed["text"].dropna() if isinstance(t, str)}
        done = rows["prediction_id"].isin(seen_ids) | rows["key"].isin(seen_keys)
        counts["already_reviewed"] = int(done.sum())
        rows = rows[~done]
    rows["distance"] = (rows["hate_probability"] - rows["threshold"]).abs()
    rows = rows.sort_values(["distance", "time"], kind="stable")
    copies = rows.groupby("key")["key"].transform("size")
    rows["copies"] = copies
    before = len(rows)
    rows = rows.drop_duplicates("key", keep="first")
    counts["near_duplicates"] = before - len(rows)
    if rows.empty:
        return pd.DataFrame(columns=list(COLUMNS)), counts
    windows = max(1, min(WINDOWS, len(rows) // max(1, size)))
    order = np.argsort(rows["time"].to_numpy(), kind="stable")
    window_of = np.empty(len(rows), dtype=int)
    for w, part in enumerate(np.array_split(order, windows)):
        window_of[part] = w
    rows["window"] = window_of
    rows["positive"] = rows["hate_probability"] >= rows["threshold"]
    rows["version"] = rows["model_version"].fillna("unknown")
    strata = [group for _, group in rows.groupby(["window", "positive", "version"], sort=True)]
    taken = _allocate([len(g) for g in strata], size)
    chosen = pd.concat([g.head(n) for g, n in zip(strata, taken, strict=True)]).sort_values("distance", kind="stable")

    def reason(row: Any) -> str:
        side = "above" if row.positive else "below"
        text = f"{row.distance:.3f} {side} the threshold; window {row.window + 1}/{windows}"
        return text + (f"; {row.copies - 1} near-duplicate(s) collapsed" if row.copies > 1 else "")

    chosen["reason"] = [reason(r) for r in chosen.itertuples()]
    chosen["label"] = ""
    chosen["time"] = chosen["time"].map(lambda t: t.isoformat())
    return chosen.loc[:, list(COLUMNS)].reset_index(drop=True), counts


def render(queue: pd.DataFrame, fmt: str) -> str:
    """The queue as CSV, JSON lines, Label Studio tasks or Argilla records."""
    records: list[dict[str, Any]] = [
        {k: (None if v is None or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
        for r in queue.to_dict(orient="records")
    ]
    if fmt == "csv":
        return str(queue.to_csv(index=False))
    if fmt == "jsonl":
        return "".join(json.dumps({**r, "label": None}, ensure_ascii=False) + "\n" for r in records)
    if fmt == "label-studio":  # tasks to import: https://labelstud.io/guide/tasks.html#Basic-Label-Studio-JSON-format
        tasks = [{"data": {k: v for k, v in r.items() if k != "label"}} for r in records]
        return json.dumps(tasks, ensure_ascii=False, indent=1) + "\n"
    if fmt == "argilla":  # rg.Record.from_dict: id, fields, metadata, suggestions by question name
        out = []
        for r in records:
            p = float(r["hate_probability"])
            meta = {k: r[k] for k in ("hate_probability", "predicted_label", "threshold", "model_version", "time")}
            out.append(
                {
                    "id": r["prediction_id"],
                    "fields": {"text": r["text"]},
                    "metadata": {**meta, "reason": r["reason"]},
                    "suggestions": {
                        "label": {
                            "value": r["predicted_label"],
                            "score": round(p if p >= float(r["threshold"]) else 1 - p, 6),
                            "agent": r["model_version"],
                        }
                    },
                }
            )
        return json.dumps(out, ensure_ascii=False, indent=1) + "\n"
    raise ConfigError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def format_for(output: Path, fmt: str | None) -> str:
    """The format asked for, else the one the file name says (``.jsonl``), else CSV."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
        return fmt
    return "jsonl" if output.suffix.lower() in (".jsonl", ".ndjson") else "csv"


def export_queue(
    settings: Settings,
    output: Path,
    *,
    current: str | None = None,
    since: str | None = None,
    until: str | None = None,
    last: int | None = None,
    size: int = 100,
    fmt: str | None = None,
) -> ExportResult:
    """Write the review queue of the prediction log to ``output`` (atomically)."""
    from hsctl.drift import default_log_location
    from hsctl.drift.log import parse_when, read_prediction_log
    from hsctl.review.store import read_feedback, save_export

    if size < 1:
        raise ConfigError("--size must be at least 1")
    if last is not None and last < 1:
        raise ConfigError("--last must be at least 1")
    chosen_format = format_for(output, fmt)
    if output.is_dir():
        raise ConfigError(f"--output {output} is a directory; name a file")
    since_t = parse_when(since) if since else None
    until_t = parse_when(until, end=True) if until else None
    if since_t and until_t and since_t >= until_t:
        raise ConfigError("--since must be before --until")
    location = current or default_log_location(settings)
    frame, stats = read_prediction_log(location, since=since_t, until=until_t, last=last)
    queue, counts = select_queue(frame, size, read_feedback(settings.paths.layout))
    warnings = stats.problems()
    unknown = int(frame["threshold"].isna().sum())
    if unknown:
        warnings.append(f"{unknown} record(s) without a logged threshold: judged at {DEFAULT_THRESHOLD}")
    if queue.empty:
        raise DataError(
            f"nothing to review in {location}: {stats.records} record(s), {counts['without_id']} without a "
            f"prediction_id (logged before schema 1), {counts['without_text']} without a text, "
            f"{counts['already_reviewed']} already reviewed"
        )
    if len(queue) < size:
        warnings.append(f"only {len(queue)} reviewable prediction(s), fewer than --size {size}")
    try:
        save_export(settings.paths.layout, queue, datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f"))
        atomic_write_text(output, render(queue, chosen_format))
    except OSError as exc:
        raise HsctlError(f"cannot write {exc.filename or output}: {exc.strerror or exc}") from exc
    threshold = frame["threshold"].map(lambda v: DEFAULT_THRESHOLD if v is None else float(v))
    log_distance = (frame["hate_probability"] - threshold).abs().mean()
    queue_distance = (queue["hate_probability"] - queue["threshold"].astype(float)).abs().mean()
    return ExportResult(
        output=str(output),
        format=chosen_format,
        rows=len(queue),
        log_records=stats.records,
        warnings=warnings,
        mean_distance_queue=round(float(queue_distance), 6),
        mean_distance_log=round(float(log_distance), 6),
        **counts,
    )


__all__ = ["FORMATS", "ExportResult", "duplicate_key", "export_queue", "render", "select_queue"]
