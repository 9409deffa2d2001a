"""mmbench — a multimodal deep-learning workbench.

``import mmbench`` is instant: torch, transformers, diffusers and open_clip are imported only
when a pipeline needs them. The main entry point is :func:`mmbench.pipeline`::

    import mmbench
    pipe = mmbench.pipeline("image-text-matching")          # online CLIP, or offline tiny CLIP
    pipe.zero_shot_classify(image, ["red circle", "blue square"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (  # errors are tiny and needed everywhere: import eagerly
    AudioError,
    DependencyError,
    ImageError,
    InvalidInputError,
    MMBenchError,
    ModelUnavailableError,
    TextError,
    UnknownModelError,
    UnknownTaskError,
    VideoError,
)

__version__ = "0.1.0"

_LAZY = {
    "pipeline": "mmbench.loading",
    "offline_mode": "mmbench.backends",
    "MODEL_CACHE": "mmbench.loading",
    "list_models": "mmbench.registry",
    "get_spec": "mmbench.registry",
    "tasks": "mmbench.registry",
    "ModelSpec": "mmbench.registry",
    "resolve_device": "mmbench.device",
    "resolve_dtype": "mmbench.device",
    "World": "mmbench.data.world",
}

if TYPE_CHECKING:  # pragma: no cover
    from .data.world import World
    from .device import resolve_device, resolve_dtype
    from .backends import offline_mode
    from .loading import MODEL_CACHE, pipeline
    from .registry import ModelSpec, get_spec, list_models, tasks


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mmbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "AudioError", "DependencyError", "ImageError", "InvalidInputError", "MMBenchError", "ModelUnavailableError",
    "TextError", "UnknownModelError", "UnknownTaskError", "VideoError", "__version__", *_LAZY,
]
