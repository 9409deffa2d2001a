"""The web app's two languages: the message catalogue (:mod:`mmbench.i18n`) as Gradio's ``gr.I18n``,
the language of the request being served, and the header's language switch.

Static text (labels, info, placeholders, buttons, Markdown) is a key, ``T("matching.image")``, that
the browser translates itself: it follows the browser's language (``zh-*`` → Chinese), Gradio's
settings panel, and the switch in the header, which adds ``?lang=zh`` / ``?lang=en`` to the page's
address. Text a handler builds at run time is rendered on the server with :func:`tr` (a key) or
:func:`tr_text` (English text from the library): the language is the request's ``?lang=`` (the page's
address, sent with every event), else its ``Accept-Language`` header.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gradio as gr

from .. import i18n

#: Gradio's name for each catalogue language (the browser's locale); "zh" also covers zh-CN and zh-TW.
GRADIO_LOCALES = {"en": "en", "zh": "zh"}
#: The locale the header's switch sets in the browser for each language (one Gradio ships a UI for).
BROWSER_LOCALES = {"en": "en", "zh": "zh-CN"}


@lru_cache(maxsize=1)
def gradio_i18n() -> gr.I18n:
    """Every catalogue message as a ``gr.I18n`` (passed to ``launch``/``mount_gradio_app`` via the app)."""
    tables: dict[str, dict[str, str]] = {GRADIO_LOCALES[lang]: {} for lang in i18n.LANGS}
    for key, texts in i18n.catalogue().items():
        for lang in i18n.LANGS:
            tables[GRADIO_LOCALES[lang]][key] = texts.get(lang) or texts[i18n.DEFAULT_LANG]
    return gr.I18n(**tables)


def T(key: str) -> Any:
    """A static UI string: the catalogue key, translated by the browser (a ``KeyError`` for a typo)."""
    if not i18n.has(key):
        raise KeyError(f"{key!r} is not in the message catalogue (mmbench/i18n/)")
    return gradio_i18n()(key)


def request_lang(request: Any) -> str:
    """The language of ``request`` (a ``gr.Request``): its ``?lang=``, else its ``Accept-Language``."""
    if request is None:
        return i18n.DEFAULT_LANG
    try:
        query = request.query_params.get("lang")
    except Exception:  # noqa: BLE001 - a request without a URL (called from Python)
        query = None
    if query:
        return i18n.normalise_lang(query)
    try:
        header = request.headers.get("accept-language")
    except Exception:  # noqa: BLE001
        header = None
    return i18n.lang_from_accept_language(header)


def lang() -> str:
    """The language of the request this handler serves (``en`` outside a request)."""
    from gradio.context import LocalContext

    return request_lang(LocalContext.request.get(None))


def tr(key: str, /, **fields: Any) -> str:
    """The catalogue message ``key`` in the current request's language."""
    return i18n.tr(key, lang(), **fields)


def serving() -> bool:
    """Whether a handler is serving a request now (else the app is being built)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None) is not None


def text(key: str) -> str:
    """``key`` as text for a component: rendered in the request's language inside a handler, else (the
    app being built) the marker the browser translates. One marker per string: Gradio translates only
    the first marker of a value."""
    return tr(key) if serving() else str(T(key))


def resolve(text: Any) -> str:
    """A component text as the current request's language shows it: a marker made by :func:`T`
    rendered from the catalogue, English text looked up with :func:`tr_text`."""
    import json
    import re

    def render(match: Any) -> str:
        return tr(json.loads(match.group(0)[len("__i18n__"):])["key"])

    text = str(text)
    if "__i18n__" in text:
        return re.sub(r'__i18n__\{[^{}]*\}', render, text)
    return tr_text(text)


def tr_text(text: str) -> str:
    """English text from the library (a message, a status line) in the current request's language."""
    return i18n.translate_message(text, lang())


def figure(fig: Any) -> Any:
    """A figure of :mod:`mmbench.plots` with its titles, labels and legends in the current request's
    language (:func:`mmbench.plots.figures.localise`; English where no Chinese font is installed). None
    stays None."""
    if fig is None:
        return None
    from ..plots.figures import localise

    return localise(fig, lang())


# -- the header's language switch ---------------------------------------------------------------
SWITCH_HTML = (
    '<nav id="mmbench-lang-switch" style="text-align: right; font-size: 0.95em;">'
    '<a href="?lang=zh" data-mmbench-lang="zh" lang="zh-CN">中文</a> · '
    '<a href="?lang=en" data-mmbench-lang="en" lang="en">English</a></nav>'
)

#: Runs once in the browser when the app has loaded (``gr.Blocks(js=...)``). ``?lang=`` in the
#: address picks the language: Gradio's own ``changeLocale`` (the one its settings panel calls) is
#: imported from the module already loaded. A click on the switch reloads the page with the new
#: ``?lang=`` (other parameters kept), so text made on the server is in the new language too; a
#: change made in Gradio's settings panel is written back to the address for the next events.
SWITCH_JS = """
async () => {
  const locales = %(locales)s;
  const primary = (tag) => ((tag || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
  const asked = new URLSearchParams(window.location.search).get("lang");
  const wanted = asked ? primary(asked) : null;
  const core = performance.getEntriesByType("resource").map((e) => e.name)
    .find((name) => /\\/assets\\/core-[^/]*\\.js$/.test(name));
  let changeLocale = null;
  try { if (core) changeLocale = (await import(core)).changeLocale; } catch (err) { console.warn("mmbench: language", err); }
  // For the first seconds the address's ?lang= wins (Gradio may still be settling its own locale).
  const settleUntil = Date.now() + 15000;
  const apply = () => { if (wanted && locales[wanted] && changeLocale) changeLocale(locales[wanted]); };
  apply();
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-mmbench-lang]");
    if (!link) return;
    event.preventDefault();
    const url = new URL(window.location.href);
    url.searchParams.set("lang", link.dataset.mmbenchLang);
    window.location.assign(url.toString());
  });
  new MutationObserver(() => {
    const shown = primary(document.documentElement.lang);
    if (wanted && locales[wanted] && shown !== wanted && Date.now() < settleUntil) { apply(); return; }
    const url = new URL(window.location.href);
    const current = url.searchParams.get("lang") || primary(navigator.language);
    if (shown !== current) { url.searchParams.set("lang", shown); history.replaceState(history.state, "", url.toString()); }
  }).observe(document.documentElement, {attributes: true, attributeFilter: ["lang"]});
}
""" % {"locales": "{" + ", ".join(f'"{k}": "{v}"' for k, v in BROWSER_LOCALES.items()) + "}"}
