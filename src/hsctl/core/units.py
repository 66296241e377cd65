"""Duration strings (``500ms``, ``30s``, ``1m``, ``1m30s``, ``2h``) for load-test options and settings.

Kept free of imports beyond the standard library: the settings model uses it.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)", re.IGNORECASE)


def parse_duration(value: str | float) -> float:
    """Seconds from a number (seconds) or a string such as ``500ms``, ``30s``, ``1m`` or ``1m30s``.

    Raises ``ValueError`` with a readable message for anything else, negative values included.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        if not text:
            raise ValueError("empty duration")
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2).lower()]
                pos = match.end()
            if pos != len(text) or pos == 0:
                raise ValueError(
                    f"not a duration: {value!r} (use a number of seconds or e.g. 500ms, 30s, 1m, 1m30s, 2h)"
                ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {value!r} (must be a finite, non-negative time)")
    return seconds


def format_duration(seconds: float) -> str:
    """A short form for messages: ``500ms``, ``30s``, ``1m30s``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60 or seconds != int(seconds):
        return f"{seconds:g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"
