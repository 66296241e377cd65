"""Tweet normalisation (HTML entities, Unicode, URLs, mentions, whitespace), shared by every stage.

Every step can be switched off in settings, and the whole function is
idempotent (normalising twice changes nothing), which a hypothesis test checks:
steps are repeated until the text stops changing, because one step can expose
work for another (an entity that decodes to a fullwidth letter, say).
"""

from __future__ import annotations

import html
import re
import unicodedata

from hsctl.core.normalize import NormalizeSettings

URL_RE = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)
MENTION_RE = re.compile(r"(?<![\w@])@\w+")
_WS_RE = re.compile(r"\s+")
_MAX_PASSES = 8


def _one_pass(text: str, cfg: NormalizeSettings) -> str:
    if cfg.unicode_nfkc:
        text = unicodedata.normalize("NFKC", text)
    if cfg.html_entities:
        text = html.unescape(text)
    if cfg.urls:
        text = URL_RE.sub(cfg.url_token, text)
    if cfg.mentions:
        text = MENTION_RE.sub(cfg.mention_token, text)
    if cfg.lowercase:
        text = text.lower()
    if cfg.whitespace:
        text = _WS_RE.sub(" ", text).strip()
    return text


def normalize_text(text: str, cfg: NormalizeSettings | None = None) -> str:
    """Normalise one text with the enabled steps; stable under repetition."""
    cfg = cfg or NormalizeSettings()
    for _ in range(_MAX_PASSES):
        new = _one_pass(text, cfg)
        if new == text:
            break
        text = new
    return text
