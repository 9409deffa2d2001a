"""The message catalogue: every user-facing string of the web app and the library's error messages,
in English and Simplified Chinese.

One module per namespace (``app``, ``common``, ``matching``, ``errors``...: a new file is a new
namespace) holds ``MESSAGES = {key:
{"en": ..., "zh": ...}}``; a string's full key is ``"<namespace>.<key>"``. :func:`tr` renders one in a
language (``str.format`` fields). :func:`translate_error` renders an :class:`~mmbench.errors.MMBenchError`
in a language: by its ``code`` and ``params`` when it carries them, else by matching its English
message against the ``errors`` namespace's templates, else as it is. No gradio here: the web app's
adapter is ``mmbench/ui/locale.py``.
"""

from __future__ import annotations

import importlib
import re
import string
from functools import lru_cache
from typing import Any

#: The languages of the catalogue; the first is the default and the fallback.
LANGS = ("en", "zh")
DEFAULT_LANG = "en"



def namespaces() -> list[str]:
    """The namespace modules of this package (one file each), sorted."""
    import pkgutil

    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def normalise_lang(value: str | None) -> str:
    """``"zh"`` for any Chinese tag (``zh``, ``zh-CN``, ``zh_TW``, ``zh-Hans``...), else ``"en"``."""
    tag = (value or "").strip().lower().replace("_", "-")
    return "zh" if tag.split("-")[0] == "zh" else DEFAULT_LANG


def lang_from_accept_language(header: str | None) -> str:
    """The catalogue language an HTTP ``Accept-Language`` header prefers most (``en`` when none fits)."""
    best, best_q = DEFAULT_LANG, -1.0
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag:
            continue
        q = 1.0
        match = re.search(r"q\s*=\s*([^;\s]*)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                continue  # a malformed weight: the entry is ignored
        q -= position * 1e-6  # ties: the first listed wins
        primary = tag.strip().lower().split("-")[0]
        if primary in ("zh", "en") and q > best_q:
            best, best_q = normalise_lang(tag), q
    return best


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """Every message: ``{"<namespace>.<key>": {"en": ..., "zh": ...}}`` (read once)."""
    out: dict[str, dict[str, str]] = {}
    for namespace in namespaces():
        module = importlib.import_module(f"{__name__}.{namespace}")
        for key, texts in module.MESSAGES.items():
            out[f"{namespace}.{key}"] = texts
    return out


def has(key: str) -> bool:
    """Whether ``key`` is in the catalogue."""
    return key in catalogue()


def tr(key: str, lang: str | None = DEFAULT_LANG, /, **fields: Any) -> str:
    """The message ``key`` in ``lang`` (English when that language lacks it), ``str.format``-ed with ``fields``.

    Raises ``KeyError`` for a key not in the catalogue: a typo must fail loudly in the tests.
    """
    texts = catalogue()[key]
    text = texts.get(normalise_lang(lang)) or texts[DEFAULT_LANG]
    return text.format(**fields) if fields else text


def fields_of(template: str) -> set[str]:
    """The ``str.format`` field names of ``template`` (``""`` for a positional ``{}``)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


# -- English text back to its key ---------------------------------------------------------------
#: A template matches a message only when its fixed text is at least this long (``"{x}"`` matches anything).
MIN_LITERAL_CHARS = 8


@lru_cache(maxsize=1)
def _exact() -> dict[str, str]:
    """English text -> its key, for texts without fields (the first key wins)."""
    out: dict[str, str] = {}
    for key, texts in catalogue().items():
        if not fields_of(texts["en"]):
            out.setdefault(texts["en"], key)
    return out


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """(regex of an English template with fields, its key), most fixed text first (most specific)."""
    out = []
    for key, texts in catalogue().items():
        template = texts["en"]
        parts = list(string.Formatter().parse(template))
        if not any(name is not None for _, name, _, _ in parts) or "{}" in template:
            continue
        literal = sum(len(text) for text, _, _, _ in parts)
        if literal < MIN_LITERAL_CHARS:
            continue
        regex = ""
        for text, name, _, _ in parts:
            regex += re.escape(text)
            if name is not None:  # a field named twice matches its second occurrence loosely
                regex += f"(?P<{name}>.+?)" if name.isidentifier() and f"(?P<{name}>" not in regex else ".+?"
        out.append((literal, re.compile(f"^{regex}$", re.DOTALL), key))
    out.sort(key=lambda item: -item[0])
    return [(regex, key) for _, regex, key in out]


def _word(value: str, lang: str, depth: int) -> str:
    """A matched field (``"image"``, ``"loading the model"``, a nested message) in ``lang`` when the
    catalogue knows it."""
    key = f"errors.word.{value.strip().lower()}"
    if has(key):
        return tr(key, lang)
    if " " not in value.strip() or depth >= 3:  # a name or code ("gated", "cpu") stays as it is
        return value
    return translate_message(value, lang, _depth=depth + 1)


def translate_message(text: str, lang: str | None, *, namespace: str | None = None, _depth: int = 0) -> str:
    """English text (an error message, a status line) in ``lang``: the catalogue entry whose English is
    ``text``, else the most specific template it matches, rendered with the same fields (known nouns
    such as "image" translated too); ``text`` unchanged when nothing matches. ``namespace`` limits the
    entries to that namespace's (a figure's labels: never a user's class name that happens to be a word)."""
    lang = normalise_lang(lang)
    if lang == DEFAULT_LANG or not text:
        return text
    prefix = f"{namespace}." if namespace else ""
    if namespace:
        key = next((k for k, t in catalogue().items() if k.startswith(prefix) and t["en"] == text
                    and not fields_of(t["en"])), None)
    else:
        key = _exact().get(text)
    if key is not None:
        return tr(key, lang)
    for regex, key in _patterns():
        if not key.startswith(prefix):
            continue
        match = regex.match(text)
        if match:
            fields = {name: _word(value, lang, _depth) for name, value in match.groupdict().items()}
            return tr(key, lang, **fields)
    return text


def translate_error(err: Any, lang: str | None) -> str:
    """``str(err)`` of an :class:`~mmbench.errors.MMBenchError` in ``lang``.

    An error raised with ``code=`` renders ``errors.<code>`` with its ``params`` (and ``errors.<code>.hint``
    when that exists); otherwise message and hint are translated separately by :func:`translate_message`.
    """
    lang = normalise_lang(lang)
    if lang == DEFAULT_LANG:
        return str(err)
    code = getattr(err, "code", None)
    if code and has(f"errors.{code}"):
        params = getattr(err, "params", None) or {}
        message = tr(f"errors.{code}", lang, **params)
        hint_key = f"errors.{code}.hint"
        hint = tr(hint_key, lang, **params) if has(hint_key) else translate_message(getattr(err, "hint", None) or "", lang)
    else:
        message = translate_message(getattr(err, "message", str(err)), lang)
        hint = translate_message(getattr(err, "hint", None) or "", lang)
    return f"{message}{' ' if message.isascii() else ''}{hint}" if hint else message
