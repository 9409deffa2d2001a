"""Shared figure helpers for every plot: a fresh Agg-backed figure that never touches ``pyplot``
(safe for many web-app users at once), a figure rendered to a PIL image or PNG bytes, label
truncation and a readable text colour on a coloured cell.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["cjk_font", "figure_png", "figure_to_image", "localise", "new_figure", "text_colour", "truncate"]


def new_figure(width: float, height: float, *, dpi: int = 100) -> Figure:
    """A ``width`` x ``height`` inch figure with constrained layout on its own Agg canvas.

    No pyplot: no global figure registry, no backend switch, nothing to close. Show it in a notebook
    by leaving it as a cell's last value; save it with ``savefig``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas explicitly: no pyplot, no global backend switch
    return fig


def figure_to_image(fig: Figure, dpi: int | None = None) -> Any:
    """Render ``fig`` to an RGB :class:`PIL.Image.Image` (for galleries, tests and reports)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def figure_png(fig: Any, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def truncate(text: str, max_chars: int) -> str:
    """``text`` shortened to ``max_chars`` characters with an ellipsis (one line)."""
    text = " ".join(str(text).split())
    return text if len(text) <= max_chars else text[: max(1, max_chars - 1)].rstrip() + "…"


def text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba``."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


#: Font families that draw Chinese, best first (Debian: fonts-noto-cjk, fonts-wqy-zenhei, fonts-wqy-microhei...).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "SimHei", "Microsoft YaHei",
                "PingFang SC")
_CJK_FILES = ("notosanscjk", "notoserifcjk", "sourcehansans", "wqy-zenhei", "wqy-microhei", "droidsansfallback", "uming")
_HAN = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font family that draws Chinese, or None.

    Fonts installed after matplotlib built its font cache are found too (they are added to it).
    """
    from matplotlib import font_manager

    def known() -> str | None:
        names = {font.name for font in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in names), None)

    found = known()
    if found is None:
        for path in font_manager.findSystemFonts():
            if any(part in Path(path).name.lower().replace("_", "") for part in _CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except Exception:  # noqa: BLE001 - an unreadable font file: skip it
                    continue
        found = known()
    return found


def localise(fig: Figure, lang: str | None) -> Figure:
    """``fig``'s titles, axis labels, legends and notes in ``lang`` (the ``plots`` namespace of
    :mod:`mmbench.i18n`; tick labels, which are data, stay as they are), drawn with a font that has
    Chinese glyphs. Without such a font, Chinese is not drawn (it would show as boxes): the figure stays
    English. Any text with Chinese characters (a user's Chinese labels too) gets the Chinese font."""
    from matplotlib.text import Text

    from .. import i18n

    font = cjk_font()
    translate = i18n.normalise_lang(lang) != i18n.DEFAULT_LANG and font is not None
    ticks = {id(tick_text) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for tick in (*axis.get_major_ticks(), *axis.get_minor_ticks()) for tick_text in (tick.label1, tick.label2)}
    weight = _font_weight(font) if font is not None else None
    for text in fig.findobj(Text):
        value = text.get_text()
        if not value:
            continue
        if translate and id(text) not in ticks:
            value = i18n.translate_message(value, lang, namespace="plots")
            text.set_text(value)
        if font is not None and _HAN.search(value):
            text.set_fontfamily(font)  # CJK fonts draw Latin letters and digits too
            if weight is not None and text.get_fontweight() in ("normal", 400):
                text.set_fontweight(weight)  # the font's own regular weight (WenQuanYi's is 500): no findfont warning
    return fig


@lru_cache(maxsize=4)
def _font_weight(family: str) -> int | str | None:
    """The weight matplotlib lists for ``family``'s regular face."""
    from matplotlib import font_manager

    weights = [f.weight for f in font_manager.fontManager.ttflist if f.name == family and f.style == "normal"]
    return weights[0] if weights else None
