"""Text input: :func:`validate_text` / :func:`validate_texts` clean user texts (Unicode NFC, invisible
characters removed, whitespace collapsed, length capped) or raise :class:`~mmbench.errors.TextError`;
:func:`split_lines` splits a multi-line textbox.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import TextError
from .files import describe_type, with_index

__all__ = ["MAX_TEXTS", "MAX_TEXT_CHARS", "split_lines", "validate_text", "validate_texts"]

#: Texts longer than this (after cleaning) are refused.
MAX_TEXT_CHARS: int = 1000
#: The most texts one call accepts.
MAX_TEXTS: int = 1000

# Control characters that are not whitespace (whitespace controls such as \t \n \r are collapsed
# to one space instead), lone surrogates, the byte-order mark and invisible zero-width spaces.
# Zero-width (non-)joiners are kept: emoji sequences and several scripts need them.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\u200b\u2060]")


def validate_text(text: Any, *, what: str = "text", max_chars: int = MAX_TEXT_CHARS) -> str:
    """Clean one text or raise :class:`TextError`.

    The text is normalised to Unicode NFC, control and invisible characters are removed, all runs of
    whitespace (newlines and tabs included) become one space, and the ends are stripped. The result
    must be non-empty and at most ``max_chars`` characters long.
    """
    if text is None:
        raise TextError(f"No {what} was given.", hint=f"Type a {what}.")
    if not isinstance(text, str):
        hint = ("Decode it first, e.g. data.decode('utf-8')." if isinstance(text, (bytes, bytearray))
                else f"Pass the {what} as a string.")
        raise TextError(f"The {what} must be a string, not {describe_type(text)}.", hint=hint)
    cleaned = _INVISIBLE.sub("", text)
    cleaned = " ".join(unicodedata.normalize("NFC", cleaned).split())
    if not cleaned:
        raise TextError(f"The {what} is empty.", hint="Type at least one word.")
    if len(cleaned) > max_chars:
        raise TextError(f"The {what} is {len(cleaned)} characters long; the limit is {max_chars}.",
                        hint=f"Shorten it to {max_chars} characters or fewer.")
    return cleaned


def validate_texts(texts: Any, *, what: str = "text", max_items: int = MAX_TEXTS,
                   max_chars: int = MAX_TEXT_CHARS) -> list[str]:
    """One text or a sequence of texts -> list of cleaned texts (see :func:`validate_text`).

    A single string is one text (it is *not* split on newlines: use :func:`split_lines` for a
    multi-line textbox). An error about one item names its 0-based index: ``"text 2: the text is empty."``.
    """
    if isinstance(texts, str):
        return [validate_text(texts, what=what, max_chars=max_chars)]
    if texts is None:
        raise TextError(f"No {what}s were given.", hint=f"Enter at least one {what}.")
    if isinstance(texts, (bytes, bytearray, Mapping)) or not isinstance(texts, Iterable):
        raise TextError(f"Expected a {what} or a list of {what}s, not {describe_type(texts)}.",
                        hint="Pass a string or a list of strings.")
    items = list(texts)
    if not items:
        raise TextError(f"Enter at least one {what}.", hint="The list of texts is empty.")
    if len(items) > max_items:
        raise TextError(f"Too many {what}s: {len(items)}; the limit is {max_items}.",
                        hint=f"Keep at most {max_items} {what}s.")
    cleaned = []
    for index, item in enumerate(items):
        try:
            cleaned.append(validate_text(item, what=what, max_chars=max_chars))
        except TextError as err:
            raise with_index(err, what, index) from err
    return cleaned


def split_lines(text: str | None) -> list[str]:
    """Split a multi-line textbox into its non-empty lines, each stripped (``None`` -> ``[]``)."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise TextError(f"Expected text, not {describe_type(text)}.", hint="Pass a string.")
    return [line.strip() for line in text.splitlines() if line.strip()]
