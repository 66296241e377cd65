"""Values as people read them: no Python reprs (``{'train': 315}``, ``True``) in tables, Markdown or HTML."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


def human(value: Any, digits: int = 4) -> str:
    """``{'train': 315, 'test': 90}`` -> ``train 315, test 90``; ``True`` -> ``yes``; floats to ``digits``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {human(v, digits)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        sep = "; " if any(isinstance(v, Mapping) for v in value) else ", "
        return sep.join(human(v, digits) for v in value)
    return str(value)
