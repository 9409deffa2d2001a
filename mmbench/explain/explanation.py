"""The one result type of every explanation method: :class:`Explanation`, a heatmap in the input
image's own pixel coordinates plus what produced it, with overlay, figure and PNG helpers; and
:func:`to_image_coordinates`, which puts a model-resolution map into those coordinates."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError


@dataclass
class Explanation:
    """Where a model looked for one target in one image.

    Attributes:
        heatmap: ``(H, W)`` float32 in [0, 1], aligned pixel for pixel with ``image``.
        image: ``(H, W, 3)`` uint8, the validated input image.
        method: method id (``"gradcam"``).
        target: what was explained, readable (a class name or the cleaned text).
        layer: the explained layer's name, or None for layer-free methods.
        scores: per-token or per-region scores when the method has them, else None.
        meta: everything else: model, target index/score, options, timing...
    """

    heatmap: np.ndarray
    image: np.ndarray
    method: str
    target: str
    layer: str | None = None
    scores: dict[str, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def peak(self) -> tuple[int, int]:
        """``(x, y)`` of the heatmap's maximum (ties broken as in the pointing game)."""
        from .scoring import peak_location

        return peak_location(self.heatmap)

    def overlay(self, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
        """The image with the heatmap blended on top in ``cmap`` colours, ``(H, W, 3)`` uint8."""
        alpha = _check_alpha(alpha)
        colours = _colormap(cmap)(self.heatmap)[..., :3] * 255.0
        out = (1.0 - alpha) * self.image.astype(np.float32) + alpha * colours
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def figure(self, alpha: float = 0.5, cmap: str = "jet", title: str | None = None) -> Any:
        """A matplotlib ``Figure`` (image | overlay with colour bar); no pyplot state is touched."""
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.figure import Figure

        h, w = self.heatmap.shape
        fig = Figure(figsize=(7.5, 3.8 * h / max(w, 1) + 0.6), layout="constrained")
        left, right = fig.subplots(1, 2)
        left.imshow(self.image)
        left.set_title("input", fontsize=9)
        right.imshow(self.overlay(alpha, cmap))
        right.set_title(f"{self.method} · {self.layer}" if self.layer else self.method, fontsize=9)
        for ax in (left, right):
            ax.set_axis_off()
        fig.colorbar(ScalarMappable(Normalize(0, 1), cmap=_colormap(cmap)), ax=right, fraction=0.046, pad=0.02,
                     label="relevance")
        fig.suptitle(title if title is not None else f"target: {self.target}", fontsize=10)
        return fig

    def to_png(self, path: str | os.PathLike | None = None, alpha: float = 0.5, cmap: str = "jet") -> bytes:
        """The overlay as PNG bytes, at the input image's resolution; also written to ``path`` if given."""
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.overlay(alpha, cmap)).save(buf, format="PNG")
        data = buf.getvalue()
        if path is not None:
            with open(path, "wb") as fh:
                fh.write(data)
        return data

    def __repr__(self) -> str:
        h, w = self.heatmap.shape
        return (f"Explanation(method={self.method!r}, target={self.target!r}, layer={self.layer!r}, "
                f"size={w}x{h}, peak={self.peak})")


def _check_alpha(alpha: Any) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"alpha (heatmap opacity) must be between 0 and 1, not {alpha!r}.")
    return value


def _colormap(name: str) -> Any:
    import matplotlib

    try:
        return matplotlib.colormaps[name]
    except (KeyError, TypeError) as err:
        raise InvalidInputError(f"Unknown colour map {name!r}.",
                                hint="Try 'jet', 'inferno', 'viridis' or 'magma'.") from err


def to_image_coordinates(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map at model-input resolution -> ``size`` (H, W), bilinear, rescaled to [0, 1] float32."""
    import cv2

    h, w = size
    if cam.shape != (h, w):
        cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    lo, hi = float(cam.min()), float(cam.max())
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12:
        return np.zeros((h, w), dtype=np.float32)
    return ((cam - lo) / (hi - lo)).astype(np.float32, copy=False)
