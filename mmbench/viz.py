"""Plots for matching results: similarity heatmaps, zero-shot bar charts and image grids.

Every function returns a fresh :class:`matplotlib.figure.Figure` drawn on the Agg canvas and never
touches ``pyplot``: no global figure registry, so many web-app users can plot at once and nothing
leaks. Show a figure in a notebook by leaving it as a cell's last value; save it with ``savefig``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["ANNOTATE_MAX_CELLS", "figure_to_image", "image_grid", "similarity_heatmap", "truncate", "zero_shot_bars"]

#: Heatmaps with more cells than this are drawn without per-cell numbers (they would be unreadable).
ANNOTATE_MAX_CELLS: int = 400
_TEXT_CHARS = 32  # longest axis label before truncation
_IMAGE_LABEL_CHARS = 24


def truncate(text: str, max_chars: int) -> str:
    """``text`` shortened to ``max_chars`` characters with an ellipsis (one line)."""
    text = " ".join(str(text).split())
    return text if len(text) <= max_chars else text[: max(1, max_chars - 1)].rstrip() + "…"


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas explicitly: no pyplot, no global backend switch
    return fig


def _text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba``."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


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
    fig = _new_figure(min(max(width, 4.5), 16.0), min(max(height, 3.2), 14.0))
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
                        color=_text_colour(im.cmap(im.norm(value))), gid=f"cell-{i}-{j}")
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
    fig = _new_figure(min(max(4.0 + 0.075 * longest, 5.5), 12.0), 1.1 + 0.38 * shown)
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
    fig = _new_figure(2.4 * ncols, 2.5 * nrows + (0.3 if title else 0.0))
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


def figure_to_image(fig: Figure, dpi: int | None = None) -> Any:
    """Render ``fig`` to an RGB :class:`PIL.Image.Image` (for galleries, tests and reports)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


# -- fusion lab ---------------------------------------------------------------------------------
def fusion_results_bars(report: Any, title: str | None = None) -> Figure:
    """Macro-F1 per strategy (mean over seeds, error bar = std), best on top; unimodal baselines grey.

    ``report``: a :class:`~mmbench.fusion.lab.FusionReport` (or anything with its ``table()``).
    """
    from .fusion.strategies import UNIMODAL

    rows = sorted(report.table(), key=lambda r: -r["macro_f1_mean"])
    if not rows:
        raise InvalidInputError("The fusion report has no strategies to plot.")
    names = [r["strategy"] for r in rows]
    means = np.array([r["macro_f1_mean"] for r in rows])
    stds = np.array([r["macro_f1_std"] for r in rows])
    fig = _new_figure(6.5, 1.2 + 0.36 * len(rows))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    colours = ["#9a9a9a" if n in UNIMODAL else ("#ff7c00" if i == 0 else "#6f8fbf") for i, n in enumerate(names)]
    ax.barh(y, means, xerr=stds, color=colours, height=0.7, capsize=3, error_kw={"elinewidth": 1})
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("macro-F1 (test; error bar: std over seeds)")
    for yi, (m, s) in enumerate(zip(means, stds)):
        ax.text(min(m + s, 1.0) + 0.01, yi, f"{m:.3f}", va="center", fontsize=8)
    n_seeds = len(getattr(report, "seeds", []) or [])
    ax.set_title(title or f"Fusion strategies · {n_seeds} seed{'s' if n_seeds != 1 else ''} · grey: unimodal",
                 fontsize=11)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def robustness_plot(report: Any, title: str | None = None) -> Figure:
    """Grouped bars: macro-F1 of each fusion strategy with all modalities and with each one removed."""
    table = {s: t for s, t in report.robustness_table().items() if any(k.startswith("missing_") for k in t)}
    if not table:
        raise InvalidInputError("No robustness results: select at least one fusion (multimodal) strategy.")
    strategies = sorted(table, key=lambda s: -table[s]["full"])
    conditions = ["full"] + sorted({k for t in table.values() for k in t if k.startswith("missing_")})
    fig = _new_figure(max(5.5, 1.0 + 0.9 * len(strategies)), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(strategies))
    width = 0.8 / len(conditions)
    colours = ["#ff7c00", "#6f8fbf", "#8fbf6f", "#bf6f8f", "#9a9a9a"]
    for k, cond in enumerate(conditions):
        values = [table[s].get(cond, np.nan) for s in strategies]
        label = "all modalities" if cond == "full" else "without " + cond.removeprefix("missing_")
        ax.bar(x - 0.4 + width * (k + 0.5), values, width, label=label, color=colours[k % len(colours)])
    ax.set_xticks(x, strategies, fontsize=9, rotation=30 if len(strategies) > 5 else 0, ha="right"
                  if len(strategies) > 5 else "center")
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("macro-F1 (test)")
    ax.legend(fontsize=8, ncols=len(conditions), loc="upper center", bbox_to_anchor=(0.5, -0.18 if len(strategies)
              <= 5 else -0.32), frameon=False)
    ax.set_title(title or "Robustness: macro-F1 when a modality is missing at test time", fontsize=11)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig
