"""``review ingest``: reviewed labels, joined to their predictions by ``prediction_id``, into the feedback store.

Accepted files (the format is told by the content, not the name):

* CSV or JSON lines (``.csv``, ``.tsv``, ``.jsonl``) with ``prediction_id`` and
  ``label`` (or ``true_label``, ``gold_label``, ``reviewed_label``) columns,
  such as the queue ``review export`` writes once filled in;
* a JSON list of such objects (Label Studio's JSON-MIN export, Argilla's flat
  ``to_list(flatten=True)`` with ``label.responses``);
* Label Studio's JSON export (tasks with ``data.prediction_id`` and
  ``annotations[].result[].value.choices``; cancelled annotations are ignored);
* Argilla's records (``rg.Record.to_dict``: ``id``, ``responses.label[].value``;
  only submitted responses count).

A label is ``1``/``0``, ``hate``/``non-hate`` (any case) or true/false; a blank
label is a row not reviewed yet and is skipped. Every problem is collected
with its row numbers (the n-th record of the file; in a CSV, row 1 is the line
after the header) and raised as one ``DataError`` (exit 4) before anything is
written; a file that brings nothing new writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.errors import DataError, HsctlError

if TYPE_CHECKING:
    from hsctl.settings import Settings

HATE_NAMES = {"hate", "hateful", "1", "true", "yes"}
NON_HATE_NAMES = {"non-hate", "non_hate", "nonhate", "not hate", "not-hate", "not_hate", "0", "false", "no"}
ROWS_SHOWN = 10
LABEL_KEYS = ("label", "true_label", "gold_label", "reviewed_label")  # the first present is the reviewed label


class _Conflict:
    """A record whose annotators disagree."""


CONFLICT = _Conflict()


@dataclass
class IngestResult:
    """What a file brought to the store."""

    file: str
    records: int
    labelled: int
    not_reviewed: int
    new: int
    already_stored: int
    relabelled: int
    part: str | None
    store: str
    store_size: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def parse_label(value: Any) -> int | _Conflict | ValueError | None:
    """0 or 1; None when blank (not reviewed); a ValueError (returned, not raised) when not a label."""
    if value is None or value is CONFLICT:
        return value  # type: ignore[return-value]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if value in (0, 1) else ValueError(repr(value))
    if isinstance(value, str):
        text = value.strip().lower()
        if not text or text == "nan":
            return None
        if text in HATE_NAMES:
            return 1
        if text in NON_HATE_NAMES:
            return 0
        try:
            number = float(text)
        except ValueError:
            return ValueError(repr(value))
        return int(number) if number in (0.0, 1.0) else ValueError(repr(value))
    return ValueError(repr(value))


def _single(values: list[Any]) -> Any:
    """One label from several annotations: None if none, CONFLICT if they disagree, a bad value as is."""
    parsed = [parse_label(v) for v in values]
    for raw, label in zip(values, parsed, strict=True):
        if isinstance(label, ValueError):
            return raw
    distinct = {label for label in parsed if isinstance(label, int)}
    if not distinct:
        return None
    return distinct.pop() if len(distinct) == 1 else CONFLICT


def _from_item(item: Any) -> tuple[Any, Any]:
    """``(prediction_id, label value)`` from one record of any accepted format."""
    if not isinstance(item, dict):
        return None, None
    if isinstance(item.get("data"), dict) and "annotations" in item:  # Label Studio JSON export
        choices = []
        for annotation in item.get("annotations") or []:
            if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
                continue
            for result in annotation.get("result") or []:
                value = result.get("value") if isinstance(result, dict) else None
                if isinstance(value, dict) and isinstance(value.get("choices"), list):
                    choices.extend(value["choices"])
        return item["data"].get("prediction_id"), _single(choices)
    if isinstance(item.get("responses"), dict):  # Argilla rg.Record.to_dict
        answers = item["responses"].get("label") or []
        values = [
            a.get("value")
            for a in answers
            if isinstance(a, dict) and a.get("status", "submitted") in ("submitted", None)
        ]
        pid = item.get("id") or (item.get("metadata") or {}).get("prediction_id")
        return pid, _single(values)
    if "label.responses" in item:  # Argilla flattened
        values = item.get("label.responses") or []
        return item.get("id") or item.get("prediction_id"), _single(values if isinstance(values, list) else [values])
    key = next((k for k in LABEL_KEYS if k in item), "label")
    return item.get("prediction_id"), item.get(key)


def read_labels(path: Path) -> list[tuple[int, Any, Any]]:
    """``(row number, prediction_id, label value)`` for every record of the file."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        raw = path.read_bytes()
        head = raw.lstrip()[:1]
        if head == b"[":
            items = json.loads(raw)
        elif head == b"{":
            items = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
            items = frame.to_dict(orient="records")
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot read {path} as CSV, JSON lines or JSON: {exc}".splitlines()[0]) from exc
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a list of records")
    rows = []
    for n, item in enumerate(items, start=1):
        pid, label = _from_item(item)
        rows.append((n, pid, label))
    if rows and all(pid is None for _, pid, _ in rows):
        raise DataError(f"{path} has no prediction_id column (or field): nothing to join the labels on")
    return rows


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:ROWS_SHOWN])
    return f"row{'s' if len(rows) > 1 else ''} {shown}{', ...' if len(rows) > ROWS_SHOWN else ''}"


def _logged(settings: Settings, location: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the log (else an exported queue, for a log rotated away or elsewhere) holds about each id."""
    import pandas as pd

    from hsctl.drift.log import read_prediction_log
    from hsctl.review.store import read_exports

    exported = read_exports(settings.paths.layout)
    try:
        log, _stats = read_prediction_log(location)
    except DataError:
        if exported.empty:
            raise
        log = pd.DataFrame(columns=["prediction_id"])
    found: dict[str, dict[str, Any]] = {}
    wanted = set(ids)
    for frame in (exported, log):  # the log last: it wins
        for row in frame[frame["prediction_id"].isin(wanted)].to_dict(orient="records"):
            when = row.get("time")
            threshold = row.get("threshold")
            found[row["prediction_id"]] = {
                "text": row.get("text"),
                "text_sha256": row.get("text_sha256"),
                "hate_probability": float(row["hate_probability"]),
                "predicted_label": row.get("predicted_label"),
                "threshold": None if threshold is None or threshold != threshold else float(threshold),
                "model_version": row.get("model_version"),
                "logged_at": when.isoformat() if hasattr(when, "isoformat") else when,
            }
    return found


def ingest_labels(settings: Settings, path: Path, *, current: str | None = None, relabel: bool = False) -> IngestResult:
    """Join the file's labels to the prediction log and append what is new to the feedback store."""
    import pandas as pd

    from hsctl.drift import default_log_location
    from hsctl.review.store import COLUMNS, append_part, read_feedback

    rows = read_labels(Path(path))
    problems: dict[str, list[int]] = defaultdict(list)
    labels: dict[str, tuple[int, int]] = {}  # prediction_id -> (label, first row)
    not_reviewed = 0
    for n, pid, value in rows:
        if not isinstance(pid, str) or not pid.strip():
            problems["missing prediction_id"].append(n)
            continue
        label = parse_label(value)
        if label is CONFLICT:
            problems["annotators disagree"].append(n)
        elif isinstance(label, ValueError):
            problems[f"invalid label (use 1/0 or hate/non-hate; e.g. {label})"].append(n)
        elif label is None:
            not_reviewed += 1
        elif isinstance(label, int):
            pid = pid.strip()
            if pid in labels and labels[pid][0] != label:
                problems["conflicting labels for the same prediction_id"].append(n)
            labels.setdefault(pid, (label, n))
    location = current or default_log_location(settings)
    logged = _logged(settings, location, list(labels)) if labels else {}
    for pid, (_label, n) in labels.items():
        if pid not in logged:
            problems[f"unknown prediction_id (not in the prediction log at {location} nor an exported queue)"].append(n)
    layout = settings.paths.layout
    store = read_feedback(layout)
    stored = dict(zip(store["prediction_id"], store["label"], strict=True))
    already = relabelled = 0
    new: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for pid, (label, n) in labels.items():
        if pid in stored and int(stored[pid]) == label:
            already += 1
            continue
        if pid in stored and not relabel:
            problems["label differs from the one already stored (pass --relabel to replace it)"].append(n)
            continue
        relabelled += pid in stored
        record = logged.get(pid)
        if record is None:
            continue
        new.append(
            {
                **record,
                "prediction_id": pid,
                "label": label,
                "ingested_at": now.isoformat(),
                "source": Path(path).name,
                "source_row": n,
            }
        )
    if problems:
        listed = "; ".join(f"{_rows_text(sorted(set(r)))}: {why}" for why, r in problems.items())
        raise DataError(f"{path}: nothing ingested: {listed}")
    part = None
    if new:
        frame = pd.DataFrame(new, columns=list(COLUMNS))
        frame["label"] = frame["label"].astype("int64")
        frame["source_row"] = frame["source_row"].astype("int64")
        digest = hashlib.sha256("\n".join(f"{r['prediction_id']}\t{r['label']}" for r in new).encode()).hexdigest()
        try:
            part = str(append_part(layout, frame, now.strftime("%Y%m%dT%H%M%S%f"), digest[:12]))
        except OSError as exc:  # nothing half-written: the part is renamed into place only when complete
            raise HsctlError(f"cannot write the feedback store {layout.feedback_dir}: {exc.strerror or exc}") from exc
    warnings = []
    if not labels and not problems:
        warnings.append(f"{path} holds no reviewed label ({len(rows)} record(s), {not_reviewed} with a blank label)")
    return IngestResult(
        file=str(path),
        records=len(rows),
        labelled=len(labels),
        not_reviewed=not_reviewed,
        new=len(new),
        already_stored=already,
        relabelled=relabelled,
        part=part,
        store=str(layout.feedback_dir),
        store_size=len(store) + len(new) - relabelled,
        warnings=warnings,
    )


__all__ = ["IngestResult", "ingest_labels", "parse_label", "read_labels"]
