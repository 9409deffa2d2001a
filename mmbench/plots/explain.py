"""Figures of several explanations at once: methods side by side, attention heads in a grid.

Pure matplotlib ``Figure`` objects (no pyplot state), used by the app's Explain panel (PNG download,
with :func:`mmbench.plots.figures.figure_png`) and by the notebooks. Single explanations have
:meth:`mmbench.explain.explanation.Explanation.figure`.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import InvalidInputError
from .figures import new_figure

__all__ = ["caption", "comparison_figure"]


def caption(exp: Any) -> str:
    """A short title for one explanation: method and layer, then the target (or block and head for
    the attention viewer's maps)."""
    if exp.method == "attention" and "block" in exp.meta and "head" in exp.meta:
        return exp.target  # "block 3 · head 1"
    label = exp.meta.get("method_label") or exp.method
    return f"{label} · {exp.layer}\n“{exp.target}”" if exp.layer else f"{label}\n“{exp.target}”"


def comparison_figure(explanations: Sequence[Any], alpha: float = 0.5, cmap: str = "jet", cols: int | None = None,
                      titles: Sequence[str] | None = None, show_input: bool = True, title: str | None = None) -> Any:
    """Overlays of several explanations of the same image side by side (the input first).

    ``cols``: panels per row (default: all in one row, at most 6). ``titles``: one per
    explanation (default :func:`caption`).
    """
    import numpy as np

    exps = list(explanations)
    if not exps:
        raise InvalidInputError("Nothing to show: no explanations.")
    if titles is not None and len(titles) != len(exps):
        raise InvalidInputError(f"Got {len(exps)} explanations but {len(titles)} titles.")
    panels = ([("input", exps[0].image)] if show_input else []) + [
        (titles[i] if titles is not None else caption(e), e.overlay(alpha, cmap)) for i, e in enumerate(exps)]
    n = len(panels)
    cols = max(1, min(int(cols or min(n, 6)), n))
    rows = -(-n // cols)
    h, w = exps[0].image.shape[:2]
    size = 2.6
    fig = new_figure(size * cols, size * rows * h / max(w, 1) + 0.5 * rows + (0.3 if title else 0))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(picture)
        ax.set_title(name, fontsize=8)
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
