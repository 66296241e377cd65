"""The normalisation rules as data: below settings, because the text rules in ``core.text`` use them.

``hsctl.settings`` re-exports :class:`NormalizeSettings` as the ``[data.normalize]``
group; every other layer may import it from either place.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class NormalizeSettings(BaseModel):
    """Tweet normalisation steps; each can be switched off."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    html_entities: bool = Field(True, description="Unescape HTML entities such as &amp; and &lt;.")
    unicode_nfkc: bool = Field(
        True, description="Apply Unicode NFKC normalisation (fullwidth and styled letters to plain)."
    )
    urls: bool = Field(True, description="Replace URLs with the URL placeholder token.")
    mentions: bool = Field(True, description="Replace @mentions with the mention placeholder token.")
    whitespace: bool = Field(True, description="Collapse runs of whitespace and strip the ends.")
    lowercase: bool = Field(False, description="Lower-case the text (uncased tokenizers do this themselves).")
    url_token: str = Field("HTTPURL", min_length=1, description="Placeholder written in place of each URL.")
    mention_token: str = Field("@USER", min_length=1, description="Placeholder written in place of each @mention.")
