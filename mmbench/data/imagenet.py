"""The 1,000 ImageNet-1k class names, in class-index order, with no download.

torchvision ships them inside its wheel (the ``meta["categories"]`` of its ImageNet weights
enums): short, human names such as ``"tabby"``, ``"Egyptian cat"`` or ``"espresso"``.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The ImageNet-1k class names; index ``i`` is the model's output ``i``."""
    try:
        from torchvision.models import ResNet50_Weights
    except ImportError as err:  # pragma: no cover - torchvision is a dependency
        from ..errors import DependencyError

        raise DependencyError("The ImageNet class names come with torchvision, which is not installed.",
                              hint="pip install torchvision") from err
    names = tuple(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])
    assert len(names) == 1000
    return names
