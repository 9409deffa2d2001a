"""Plots for video results: frame strips with per-frame scores, temporal importance curves and the
audio-visual fusion panel.

Like every module of :mod:`mmbench.plots`, each function returns a fresh Agg-backed ``Figure`` and
never touches ``pyplot``, so concurrent app users can plot at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from .figures import new_figure, truncate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["audio_visual_figure", "frame_scores_figure", "frame_strip", "pick_frames", "temporal_importance_figure"]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


def pick_frames(n: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` evenly spaced positions out of ``n`` (all when ``n <= max_frames``)."""
    if n <= max_frames:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_frames)).astype(int))


def frame_strip(frames: Any, scores: Sequence[float] | None = None, times: Sequence[float] | None = None,
                max_frames: int = 16, title: str | None = None, score_label: str = "score") -> Figure:
    """A row of frames, each captioned with its time and (optionally) a score; the best score framed in red."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise InvalidInputError(f"frame_strip needs (T, H, W, 3) frames, not shape {frames.shape}.")
    pos = pick_frames(len(frames), max_frames)
    h, w = frames.shape[1:3]
    cols = len(pos)
    fig = new_figure(min(16.0, 0.2 + 1.15 * cols), 1.15 * h / max(w, 1) + 0.75)
    axes = fig.subplots(1, cols, squeeze=False)[0]
    best = int(np.argmax([scores[p] for p in pos])) if scores is not None else -1
    for k, (ax, p) in enumerate(zip(axes, pos)):
        ax.imshow(frames[p], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        parts = []
        if times is not None:
            parts.append(f"{float(times[p]):.2f} s")
        if scores is not None:
            parts.append(f"{float(scores[p]):.2f}")
        ax.set_title("\n".join(parts), fontsize=7)
        colour = "#ff4b4b" if k == best else "#cccccc"
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.5 if k == best else 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def frame_scores_figure(result: Any, top_k: int = 3, max_frames: int = 16, title: str | None = None) -> Figure:
    """Frame strip of a :class:`~mmbench.pipelines.video.VideoClassification` plus, below, the
    probability of its ``top_k`` labels over time (per frame, or per window for window-level models)."""
    frames, times = result.frames, result.times
    pos = pick_frames(len(frames), max_frames)
    cols = len(pos)
    h, w = frames.shape[1:3]
    fig = new_figure(min(16.0, max(6.0, 0.2 + 1.0 * cols)), 1.0 * h / max(w, 1) + 3.2)
    grid = fig.add_gridspec(2, cols, height_ratios=[1.0 * h / max(w, 1), 2.2])
    top = result.predictions[:top_k]
    first = result.frame_scores(top[0].index)
    for k, p in enumerate(pos):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(frames[p], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{float(times[p]):.2f} s\n{first[p]:.2f}", fontsize=7)
    ax = fig.add_subplot(grid[1, :])
    order = np.argsort(times, kind="stable")
    for i, pred in enumerate(top):
        ax.plot(times[order], result.frame_scores(pred.index)[order], marker="o", markersize=3,
                color=_COLOURS[i % len(_COLOURS)], label=f"{truncate(pred.label, 28)} ({pred.prob:.2f})")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability" + ("" if result.per_frame_model else " (of the frame's windows)"))
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.suptitle(title or f"Per-frame scores · {result.model}", fontsize=10)
    return fig


def temporal_importance_figure(exp: Any, title: str | None = None, max_frames: int = 16) -> Figure:
    """Frame strip (each frame captioned with its importance) over the importance curve of a
    :class:`~mmbench.explain.temporal.TemporalExplanation`; the most important frame is framed in red."""
    frames, times, imp = exp.frames, exp.times, exp.importance
    pos = pick_frames(len(frames), max_frames)
    cols = len(pos)
    h, w = frames.shape[1:3]
    fig = new_figure(min(16.0, max(6.0, 0.2 + 1.0 * cols)), 1.0 * h / max(w, 1) + 3.0)
    grid = fig.add_gridspec(2, cols, height_ratios=[1.0 * h / max(w, 1), 2.0])
    best = exp.peak
    for k, p in enumerate(pos):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(frames[p], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{float(times[p]):.2f} s\n{float(imp[p]):+.2f}", fontsize=7)
        for spine in ax.spines.values():
            spine.set_edgecolor("#ff4b4b" if p == best else "#cccccc")
            spine.set_linewidth(2.5 if p == best else 0.5)
    ax = fig.add_subplot(grid[1, :])
    ax.bar(times, imp, width=0.8 * (float(np.median(np.diff(times))) if len(times) > 1 else 1.0),
           color=["#d62728" if v > 0 else "#7f7f7f" for v in imp])
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("drop in probability\nwhen the frame is hidden", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title or f"Temporal importance of '{truncate(exp.target, 40)}' (p = {exp.base_score:.2f}) · "
                          f"{exp.meta.get('model', '')}", fontsize=10)
    return fig


def audio_visual_figure(result: Any, a: float | None = None, b: float | None = None, title: str | None = None) -> Figure:
    """The fusion panel of an :class:`~mmbench.pipelines.video.AudioVisualResult`: ``S_v(t)``, ``S_a(t)``
    and ``S(t)`` of the fused top label over time (left) and the three clip-level distributions (right)."""
    labels = result.labels
    a = result.a if a is None else a
    b = result.b if b is None else b
    best = int(np.argmax(result.fused_probs))
    fig = new_figure(11.0, 3.6)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1.0]})
    t = result.times
    left.plot(t, a * result.video_scores[:, best], color=_COLOURS[0], marker="o", markersize=3,
              label=f"a·S_v(t)   (a = {a:.2f})")
    left.plot(t, b * result.audio_scores[:, best], color=_COLOURS[1], marker="s", markersize=3,
              label=f"b·S_a(t)   (b = {b:.2f})")
    left.plot(t, result.fused_scores[:, best], color="black", linewidth=2, label="S(t) = a·S_v(t) + b·S_a(t)")
    left.axhline(0, color="grey", linewidth=0.5)
    left.set_xlabel("time (s)")
    left.set_ylabel(f"score of '{truncate(labels[best], 20)}'")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    y = np.arange(len(labels))
    hgt = 0.27
    right.barh(y - hgt, result.video_probs, height=hgt, color=_COLOURS[0], label="video only")
    right.barh(y, result.audio_probs, height=hgt, color=_COLOURS[1], label="audio only")
    right.barh(y + hgt, result.fused_probs, height=hgt, color="black", label="fused")
    right.set_yticks(y, [truncate(x, 16) for x in labels], fontsize=8)
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.set_xlabel("clip probability")
    right.legend(fontsize=8, loc="lower right")
    fig.suptitle(title or "Audio-visual fusion  S(t) = a·S_v(t) + b·S_a(t)", fontsize=10)
    return fig
