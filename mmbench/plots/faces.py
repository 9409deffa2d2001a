"""Figures of a face-expression result: the photo with numbered face boxes and each face's top
expression (:func:`annotate_faces`), and one bar chart of the expression probabilities per face
(:func:`expression_bars`). Results are read by duck typing (``.faces`` with ``.box``,
``.expression``, ``.confidence``, ``.expressions``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .figures import new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["annotate_faces", "expression_bars", "FACE_COLOURS"]

FACE_COLOURS = ("#ff7c00", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                "#bcbd22", "#7f7f7f")


def annotate_faces(image: Any, result: Any, heatmap: np.ndarray | None = None, alpha: float = 0.45) -> np.ndarray:
    """``image`` (RGB array or PIL) with each face's box, number and top expression drawn on it;
    with ``heatmap`` (``(H, W)`` in [0, 1], e.g. a Grad-CAM map) blended underneath. ``(H, W, 3)`` uint8."""
    from PIL import Image, ImageDraw, ImageFont

    rgb = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.uint8)
    if heatmap is not None:
        import matplotlib

        colours = matplotlib.colormaps["jet"](np.clip(heatmap, 0, 1))[..., :3] * 255.0
        weight = alpha * np.clip(heatmap, 0, 1)[..., None] ** 0.5  # the cold background stays visible
        rgb = np.clip((1 - weight) * rgb + weight * colours + 0.5, 0, 255).astype(np.uint8)
    out = Image.fromarray(rgb)
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 250))
    font = ImageFont.load_default(size=max(12, round(max(out.size) / 40)))
    for i, face in enumerate(result.faces):
        colour = FACE_COLOURS[i % len(FACE_COLOURS)]
        x0, y0, x1, y1 = (float(v) for v in face.box)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        label = f"{i + 1}: {face.expression} {face.confidence:.0%}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        h = bottom - top + 2 * width
        ty = y0 - h if y0 - h >= 0 else y1  # above the box, or below it at the top edge
        draw.rectangle((x0, ty, x0 + right - left + 2 * width, ty + h), fill=colour)
        draw.text((x0 + width - left, ty + width - top), label, fill="white", font=font)
    return np.asarray(out)


def expression_bars(result: Any, title: str | None = None) -> Figure:
    """One horizontal bar chart per face (at most 10, in the result's order), top expression highlighted."""
    faces = list(result.faces)[:10]
    n = max(1, len(faces))
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig = new_figure(4.2 * cols, 0.4 + 2.4 * rows)
    if not faces:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, getattr(result, "message", "No face found."), ha="center", va="center", fontsize=12)
        ax.set_axis_off()
        return fig
    for i, face in enumerate(faces):
        ax = fig.add_subplot(rows, cols, i + 1)
        labels = list(face.expressions)
        probs = np.array([face.expressions[k] for k in labels])
        colours = [FACE_COLOURS[i % len(FACE_COLOURS)] if k == face.expression else "#9bb0cf" for k in labels]
        y = np.arange(len(labels))
        ax.barh(y, probs, color=colours, height=0.7)
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.15)
        for yi, p in zip(y, probs):
            ax.text(p + 0.01, yi, f"{p:.0%}" if p >= 0.005 else "<1%", va="center", fontsize=7)
        ax.set_title(f"face {i + 1}: {face.expression}", fontsize=10)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
