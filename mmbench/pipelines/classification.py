"""Image classification: a photo in, the most likely classes out (ImageNet-1k for the shipped models).

One pipeline serves every classifier backend (the offline EfficientNet-Lite0, transformers ViT).
The backend turns images into logits; validation, batching, softmax, top-k and the lookup of a
class by its name (:func:`mmbench.data.labels.lookup_class`, shared with explanation targets) live
in one place each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..data.labels import lookup_class, name_index
from ..errors import InvalidInputError
from ..io import validate_image, validate_images
from .base import Pipeline


@dataclass(frozen=True)
class Prediction:
    """One class of a classification result."""

    label: str
    index: int
    prob: float


class ImageClassificationPipeline(Pipeline):
    """Classify photos.

    >>> pipe = mmbench.pipeline("image-classification", model="efficientnet-lite0")  # doctest: +SKIP
    >>> pipe(skimage.data.chelsea(), top_k=3)[0].label                                 # doctest: +SKIP
    'Egyptian cat'
    """

    task = "image-classification"

    def __init__(self, backend: Any, spec: Any, notice: str = "") -> None:
        super().__init__(backend, spec, notice)
        self.batch_size = 32
        self._by_name = name_index(self.labels)

    @property
    def labels(self) -> list[str]:
        """Class names, index-aligned with the model's outputs."""
        return self.backend.labels

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def __call__(self, image: Any, top_k: int = 5) -> list[Prediction]:
        """The ``top_k`` most likely classes of one image, most likely first."""
        return self.classify([validate_image(image)], top_k=top_k)[0]

    def classify(self, images: Sequence[Any], top_k: int = 5) -> list[list[Prediction]]:
        """:meth:`__call__` for several images."""
        probs = self.probabilities(images)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidInputError(f"top_k must be a positive integer, not {top_k!r}.")
        k = min(top_k, self.num_classes)
        out = []
        for row in probs:
            order = row.argsort()[::-1][:k]
            out.append([Prediction(self.labels[i], int(i), float(row[i])) for i in order])
        return out

    def probabilities(self, images: Sequence[Any]):
        """Softmax probabilities ``(N, num_classes)`` float32."""
        import torch

        pil = validate_images(images)
        out = []
        with torch.inference_mode():
            for i in range(0, len(pil), self.batch_size):
                logits = self.backend.logits(self.backend.preprocess_images(pil[i:i + self.batch_size]))
                out.append(logits.float().softmax(-1).cpu())
        return torch.cat(out).numpy()

    def class_index(self, name: Any) -> int:
        """Index of a class given by name (case-insensitive, e.g. ``"egyptian cat"``) or by index.

        Raises :class:`InvalidInputError` for an unknown name (suggesting close matches), an
        index out of range, or a name shared by several classes (ImageNet has two "cardigan").
        """
        return lookup_class(self.labels, name, self.spec.name, self._by_name)

    def class_name(self, index: int) -> str:
        return self.labels[self.class_index(index)]
