"""Plots for matching results: similarity heatmaps, zero-shot bar charts and image grids.

Every function returns a fresh :class:`matplotlib.figure.Figure` drawn on the Agg canvas and never
touches ``pyplot`` (see :func:`mmbench.plots.figures.new_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from .figures import new_figure, text_colour, truncate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["ANNOTATE_MAX_CELLS", "image_grid", "similarity_heatmap", "zero_shot_bars"]

#: Heatmaps with more cells than this are drawn without per-cell numbers (they would be unreadable).
ANNOTATE_MAX_CELLS: int = 400
_TEXT_CHARS = 32  # longest axis label before truncation
_IMAGE_LABEL_CHARS = 24


def similarity_heatmap(similarity: Any, texts: Sequence[str], image_labels: Sequence[str] | None = None,
                       title: str | None = None, *, cmap: str = "viridis") -> Figure:
    """Heatmap of an ``(N images, M texts)`` similarity matrix.

    Each cell is annotated with its value (up to :data:`ANNOTATE_MAX_CELLS` cells); the best text
    for each image is printed in bold and framed. Long texts are truncated on the axis.

    Args:
        similarity: array-like ``(N, M)``, e.g. ``MatchingResult.similarity``.
        texts: the M column labels.
        image_labels: the N row labels (default ``"image 1"``, ``"image 2"``, ...).
        title: figure title (default ``"Image–text cosine similarity"``).
    """
    sim = np.asarray(similarity, dtype=float)
    if sim.ndim != 2 or sim.size == 0:
        raise InvalidInputError(f"The similarity matrix must be 2-D and non-empty, got shape {sim.shape}.")
    n, m = sim.shape
    texts = [str(t) for t in texts]
    if len(texts) != m:
        raise InvalidInputError(f"The similarity matrix has {m} columns but {len(texts)} texts were given.")
    labels = [f"image {i + 1}" for i in range(n)] if image_labels is None else [str(x) for x in image_labels]
    if len(labels) != n:
        raise InvalidInputError(f"The similarity matrix has {n} rows but {len(labels)} image labels were given.")

    annotate = n * m <= ANNOTATE_MAX_CELLS
    cell = 0.62 if annotate else 0.3
    longest_text = max(len(truncate(t, _TEXT_CHARS)) for t in texts)
    longest_label = max(len(truncate(lab, _IMAGE_LABEL_CHARS)) for lab in labels)
    width = 1.6 + 0.075 * longest_label + cell * m + 1.2
    height = 1.2 + 0.055 * longest_text + cell * n
    fig = new_figure(min(max(width, 4.5), 16.0), min(max(height, 3.2), 14.0))
    ax = fig.add_subplot()

    finite = sim[np.isfinite(sim)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    im = ax.imshow(sim, cmap=cmap, vmin=lo, vmax=hi, aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.85, label="cosine similarity")

    ax.set_xticks(range(m), [truncate(t, _TEXT_CHARS) for t in texts], rotation=40, ha="right",
                  rotation_mode="anchor", fontsize=9)
    ax.set_yticks(range(n), [truncate(lab, _IMAGE_LABEL_CHARS) for lab in labels], fontsize=9)
    ax.set_xlabel("texts")
    ax.set_ylabel("images")
    ax.set_title(title or "Image–text cosine similarity", fontsize=11)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)

    best = np.nanargmax(np.where(np.isfinite(sim), sim, -np.inf), axis=1)
    if annotate:
        size = 9 if max(n, m) <= 10 else 7
        for i in range(n):
            for j in range(m):
                value = sim[i, j]
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=size,
                        fontweight="bold" if j == best[i] else "normal",
                        color=text_colour(im.cmap(im.norm(value))), gid=f"cell-{i}-{j}")
    from matplotlib.patches import Rectangle

    for i, j in enumerate(best):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#ff4b4b", linewidth=2))
    return fig


def _scores_from(result_or_dict: Any) -> tuple[list[str], np.ndarray]:
    if isinstance(result_or_dict, Mapping):
        labels = [str(k) for k in result_or_dict]
        probs = np.asarray([float(v) for v in result_or_dict.values()], dtype=float)
    elif hasattr(result_or_dict, "labels") and hasattr(result_or_dict, "probs"):
        labels = [str(x) for x in result_or_dict.labels]
        probs = np.asarray(result_or_dict.probs, dtype=float)
    else:
        raise InvalidInputError(
            "zero_shot_bars needs a ZeroShotResult or a dict label -> probability, "
            f"not {type(result_or_dict).__name__}.")
    if len(labels) == 0:
        raise InvalidInputError("There are no labels to plot.")
    order = np.argsort(-probs, kind="stable")
    return [labels[i] for i in order], probs[order]


def zero_shot_bars(result_or_dict: Any, top_k: int = 10, title: str | None = None) -> Figure:
    """Horizontal bar chart of zero-shot probabilities, best label on top.

    Args:
        result_or_dict: a :class:`~mmbench.pipelines.matching.ZeroShotResult` or a mapping
            ``label -> probability`` (any order; it is sorted here).
        top_k: how many labels to show (the rest are summarised in the title).
    """
    if top_k < 1:
        raise InvalidInputError("top_k must be at least 1.")
    labels, probs = _scores_from(result_or_dict)
    shown = min(top_k, len(labels))
    labels, probs = labels[:shown], probs[:shown]
    longest = max(len(truncate(lab, _TEXT_CHARS)) for lab in labels)
    fig = new_figure(min(max(4.0 + 0.075 * longest, 5.5), 12.0), 1.1 + 0.38 * shown)
    ax = fig.add_subplot()
    y = np.arange(shown)
    colours = ["#ff7c00" if i == 0 else "#6f8fbf" for i in range(shown)]
    bars = ax.barh(y, probs, color=colours, height=0.7)
    ax.set_yticks(y, [truncate(lab, _TEXT_CHARS) for lab in labels], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("probability")
    for bar, p in zip(bars, probs):
        text = f"{p:.1%}" if p >= 0.001 or p == 0 else "<0.1%"
        ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8)
    total = len(_scores_from(result_or_dict)[0])
    default_title = f"Zero-shot: top {shown} of {total} labels" if total > shown else "Zero-shot probabilities"
    ax.set_title(title or default_title, fontsize=11)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def image_grid(images: Sequence[Any], titles: Sequence[str] | None = None, ncols: int | None = None,
               title: str | None = None) -> Figure:
    """Images (PIL or arrays) in a grid with optional per-image titles (truncated)."""
    from PIL import Image

    if len(images) == 0:
        raise InvalidInputError("There are no images to show.")
    if titles is not None and len(titles) != len(images):
        raise InvalidInputError(f"Got {len(images)} images but {len(titles)} titles.")
    n = len(images)
    ncols = ncols or min(n, 4)
    nrows = -(-n // ncols)
    fig = new_figure(2.4 * ncols, 2.5 * nrows + (0.3 if title else 0.0))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= n:
            continue
        img = images[k]
        arr = np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img)
        ax.imshow(arr, interpolation="nearest")
        if titles is not None:
            ax.set_title(truncate(titles[k], 28), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
