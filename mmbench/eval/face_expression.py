"""Evaluate a face-expression pipeline on real images that ship with scikit-image (``mmbench eval faces``).

* ``lfw_accuracy``: face / no-face on ``skimage.data.lfw_subset()`` (the first 100 crops are LFW faces,
  the last 100 background patches of the same photos, all 25x25), judged by O-Net on the whole crop
  (``lfw_accuracy_onet``, probability > 0.5) and by the full detector on 64x64 upscales
  (``lfw_accuracy_detector``: a face is found).
* ``photos``: faces and top expression found in ``astronaut`` (one smiling face), ``chelsea`` and
  ``coffee`` (no face), with ``astronaut_ok``.
* ``seconds_per_photo``: the astronaut (512x512) through detection and classification.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

ONET_THRESHOLD = 0.5
UPSCALE = 64


def lfw_crops() -> tuple[list[np.ndarray], np.ndarray]:
    """The 200 crops as uint8 arrays and their labels (True = face)."""
    import skimage.data

    crops = [(np.asarray(im) * 255).round().astype(np.uint8) for im in skimage.data.lfw_subset()]
    return crops, np.r_[np.ones(100, bool), np.zeros(100, bool)]


def evaluate_faces(pipe: Any, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The summary dict described in the module docstring."""
    import skimage.data
    from PIL import Image

    crops, is_face = lfw_crops()
    onet = pipe.face_probability(crops) > ONET_THRESHOLD
    found = np.array([pipe(Image.fromarray(c).resize((UPSCALE, UPSCALE), Image.BILINEAR)).found > 0 for c in crops])
    log(f"lfw_subset: O-Net {onet.mean():.2f} positive, detector {found.mean():.2f} positive")
    photos = {}
    for name in ("astronaut", "chelsea", "coffee"):
        result = pipe(getattr(skimage.data, name)())
        photos[name] = {"faces": result.found, "expressions": [f.expression for f in result.faces],
                        "confidence": [round(f.confidence, 4) for f in result.faces]}
    astronaut = skimage.data.astronaut()
    pipe(astronaut)
    started = time.perf_counter()
    for _ in range(3):
        pipe(astronaut)
    return {
        "model": pipe.spec.name,
        "lfw_accuracy_onet": float((onet == is_face).mean()),
        "lfw_accuracy_detector": float((found == is_face).mean()),
        "lfw_accuracy": float(min((onet == is_face).mean(), (found == is_face).mean())),
        "photos": photos,
        "astronaut_ok": photos["astronaut"]["expressions"] == ["happy"] and photos["chelsea"]["faces"] == 0
        and photos["coffee"]["faces"] == 0,
        "seconds_per_photo": round((time.perf_counter() - started) / 3, 4),
    }
