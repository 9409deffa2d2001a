"""Explanations of a face-expression pipeline: the expression classifier sees one face crop, so the
map is computed on that crop (any image method: Grad-CAM...) and pasted back where the crop lies in
the photo; outside the crop the map is zero. Reached through :func:`mmbench.explain.explain`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError
from ..io import validate_image
from .explanation import Explanation


def explain_face(pipe: Any, image: Any, target: Any, explain_batch: Callable[..., list[Explanation]],
                 method: str = "gradcam", layer: str | None = None, face: int = 0, max_faces: int | None = None,
                 **options: Any) -> Explanation:
    """Why ``pipe`` reads ``target`` (an expression name or index; None: the face's top expression)
    on face number ``face`` of ``image`` (numbered left to right, as ``pipe(image, max_faces=max_faces)``
    lists them; None: the pipeline's default ``max_faces``).
    ``explain_batch`` is :func:`mmbench.explain.api.explain_batch` (passed in: api imports this module).

    Raises :class:`InvalidInputError` when the image has no face or ``face`` is out of range.
    """
    pil = validate_image(image)
    result = pipe(pil) if max_faces is None else pipe(pil, max_faces=max_faces)
    if not result.faces:
        raise InvalidInputError("No face found in this image, so there is no expression to explain.",
                                hint="Try a photo where a face is clearly visible, at least 20 pixels wide.")
    if isinstance(face, bool) or not isinstance(face, (int, np.integer)) or not 0 <= face < len(result.faces):
        raise InvalidInputError(f"face must be a face number from 0 to {len(result.faces) - 1}, not {face!r}.")
    found = result.faces[int(face)]
    crop = pipe.face_crops(pil, result)[int(face)]
    region = pipe.backend.crop_region(found.box)
    exp = explain_batch(pipe, [crop], [found.expression if target is None else target], method=method, layer=layer,
                        **options)[0]
    heatmap = _paste(exp.heatmap, region, (pil.size[1], pil.size[0]))
    meta = {**exp.meta, "face": int(face), "box": found.box, "crop": region, "faces": len(result.faces)}
    return Explanation(heatmap=heatmap, image=np.asarray(pil), method=exp.method, target=exp.target, layer=exp.layer,
                       scores=exp.scores, meta=meta)


def _paste(crop_map: np.ndarray, region: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """``crop_map`` (the crop's own pixels) placed at ``region`` = (x1, y1, x2, y2) of an ``size`` (H, W)
    zero map; parts of the crop outside the image (fer pads the photo) are dropped."""
    h, w = size
    x1, y1 = region[0], region[1]
    out = np.zeros((h, w), np.float32)
    ch, cw = crop_map.shape
    ys, xs = max(0, y1), max(0, x1)
    ye, xe = min(h, y1 + ch), min(w, x1 + cw)
    if ye > ys and xe > xs:
        out[ys:ye, xs:xe] = crop_map[ys - y1:ye - y1, xs - x1:xe - x1]
    peak = out.max()
    return out / peak if peak > 0 else out
