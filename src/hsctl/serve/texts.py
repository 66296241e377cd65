"""The one place where request texts are checked and normalised, for ``/predict`` and v2 alike.

Policy for invalid Unicode: a text that is not valid Unicode (a lone UTF-16
surrogate such as the JSON escape ``"\\ud800"``, or BYTES that are not UTF-8
in a v2 binary tensor) is rejected with ``422 invalid_text`` naming the item.
It is never repaired with replacement characters: the client would be scored
on a text it did not send, and the prediction log would hold a text that
differs from the request. Every other check of a text (type, length, empty
after normalisation) happens here too, and names the item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class TextsError(Exception):
    """The texts of a request, taken together, are not acceptable (none, or too many).

    ``kind`` is the error type the client sees; its HTTP status is decided in
    :mod:`hsctl.serve.errors`, like every other status.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class TextError(TextsError):
    """One text of a request cannot be scored; ``index`` is its position in the request."""

    def __init__(self, index: int, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.index = index


def unicode_problem(text: str) -> str | None:
    """Why ``text`` is not valid Unicode (a lone surrogate and where), or None when it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start}"
    return None


def decode_utf8(data: bytes, index: int) -> str:
    """A BYTES element as text; invalid UTF-8 is the same error as a lone surrogate."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TextError(
            index, "invalid_text", f"text {index} is not valid UTF-8 (byte {exc.start}); it is not scored"
        ) from None


def prepare_texts(
    texts: Sequence[object], *, max_items: int, max_chars: int, normalize: Callable[[str], str]
) -> tuple[list[str], list[str]]:
    """Check every text, in order; return the texts as sent (BYTES decoded) and normalised.

    Raises :class:`TextError` for the first text that fails, :class:`TextsError`
    for the request as a whole (no texts, too many texts). Each text is checked
    in this order: UTF-8 (BYTES from a v2 binary tensor), type, length, valid
    Unicode, empty after normalisation. ``normalize`` is the served model's own
    (:meth:`hsctl.inference.Predictor.normalize`).
    """
    if not texts:
        raise TextsError("invalid_request", "no texts given")
    if len(texts) > max_items:
        raise TextsError("too_many_texts", f"{len(texts)} texts in one request; the limit is {max_items}")
    raw: list[str] = []
    cleaned: list[str] = []
    for i, item in enumerate(texts):
        text = decode_utf8(item, i) if isinstance(item, bytes) else item
        if not isinstance(text, str):
            raise TextError(i, "invalid_request", f"text {i} is not a string")
        if len(text) > max_chars:
            raise TextError(i, "text_too_long", f"text {i} has {len(text)} characters; the limit is {max_chars}")
        if not text.isascii() and (problem := unicode_problem(text)) is not None:
            raise TextError(i, "invalid_text", f"text {i} is not valid Unicode ({problem}); it is not scored")
        try:
            normalized = normalize(text)
        except Exception as exc:  # a normaliser bug must fail this request only, and say which text
            raise TextError(i, "invalid_text", f"text {i} cannot be normalised ({type(exc).__name__})") from exc
        if not normalized:
            raise TextError(i, "empty_text", f"text {i} is empty")
        raw.append(text)
        cleaned.append(normalized)
    return raw, cleaned
