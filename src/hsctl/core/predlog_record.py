"""The prediction-log record: the one schema ``serve`` writes and ``drift`` and ``review`` read.

One JSON object per line. Only ``time`` and ``hate_probability`` are required,
so logs written before a field existed stay readable: records without
``prediction_id`` (before schema 1) get none, and the review commands skip them.
``text`` is the text as sent, or absent when the server logs only its sha256
(``text_sha256``) or nothing at all. Parsing never raises: a bad line is
``(None, reason)``, so a reader can count what it skipped and why.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1  # "schema" in each record; 1 added prediction_id. Absent: written before it existed.
NOT_JSON = "not JSON"


def new_prediction_id() -> str:
    """A fresh, unguessable id for one prediction (32 hex characters)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One logged prediction (one text of one request)."""

    time: datetime
    hate_probability: float
    prediction_id: str | None = None
    request_id: str | None = None
    index: int | None = None
    endpoint: str | None = None
    text: str | None = None
    text_sha256: str | None = None
    label: str | None = None
    threshold: float | None = None
    model_version: str | None = None
    latency_ms: float | None = None
    schema: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The line as written: fields that are None are left out, the time in ISO 8601 with milliseconds."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION if self.schema is None else self.schema}
        out["time"] = self.time.isoformat(timespec="milliseconds")
        for name in (
            "prediction_id",
            "request_id",
            "index",
            "endpoint",
            "text",
            "text_sha256",
            "hate_probability",
            "label",
            "threshold",
            "model_version",
            "latency_ms",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def parse(cls, line: str | bytes) -> tuple[PredictionRecord | None, str | None]:
        """One log line as a record, or ``(None, reason)``; never raises.

        The reason is ``"not JSON"`` for a line that is not a JSON object, else
        the field that is missing or invalid.
        """
        try:
            data = json.loads(line)
        except (ValueError, TypeError):  # includes UnicodeDecodeError
            return None, NOT_JSON
        if not isinstance(data, dict):
            return None, NOT_JSON
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> tuple[PredictionRecord | None, str | None]:
        """A decoded JSON object as a record, or ``(None, reason)``."""
        raw_time = data.get("time")
        if not isinstance(raw_time, str):
            return None, "missing time" if raw_time is None else "invalid time"
        try:
            when = datetime.fromisoformat(raw_time)
        except ValueError:
            return None, "invalid time"
        when = (when.replace(tzinfo=UTC) if when.tzinfo is None else when).astimezone(UTC)
        prob = data.get("hate_probability")
        if prob is None:
            return None, "missing hate_probability"
        if not _is_number(prob) or not 0 <= prob <= 1:
            return None, "invalid hate_probability"
        for name in ("text", "text_sha256", "prediction_id"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                return None, f"invalid {name}"
        threshold = _number_or_none(data.get("threshold"))
        index = data.get("index")
        latency = _number_or_none(data.get("latency_ms"))
        schema = data.get("schema")
        return (
            cls(
                time=when,
                hate_probability=float(prob),
                prediction_id=data.get("prediction_id") or None,
                request_id=_str_or_none(data.get("request_id")),
                index=index if isinstance(index, int) and not isinstance(index, bool) else None,
                endpoint=_str_or_none(data.get("endpoint")),
                text=data.get("text"),
                text_sha256=data.get("text_sha256"),
                label=_str_or_none(data.get("label")),
                threshold=threshold if threshold is not None and 0 <= threshold <= 1 else None,
                model_version=_str_or_none(data.get("model_version")),
                latency_ms=latency,
                schema=schema if isinstance(schema, int) and not isinstance(schema, bool) else None,
            ),
            None,
        )


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _number_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


__all__ = ["NOT_JSON", "SCHEMA_VERSION", "PredictionRecord", "new_prediction_id"]
