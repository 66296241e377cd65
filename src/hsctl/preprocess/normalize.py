"""Kept for imports written before 0.x: normalisation lives in :mod:`hsctl.core.text`."""

from hsctl.core.text import MENTION_RE, URL_RE, normalize_text

__all__ = ["MENTION_RE", "URL_RE", "normalize_text"]
