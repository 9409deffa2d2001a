"""Shared figure helpers for every plot: a fresh Agg-backed figure that never touches ``pyplot``
(safe for many web-app users at once), a figure rendered to a PIL image or PNG bytes, label
truncation and a readable text colour on a coloured cell.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["figure_png", "figure_to_image", "new_figure", "text_colour", "truncate"]


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
