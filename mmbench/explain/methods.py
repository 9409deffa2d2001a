"""The registry of explanation methods: ``name -> Method``. A method is one function that turns an
:class:`ExplainRequest` (adapter, images, targets, layer, options) into maps.

Modules add their methods with :func:`register_method` when imported. :func:`load_methods`
imports the modules named in :data:`METHOD_MODULES` (the CAM family first), then every other
module of the ``mmbench.explain`` package, so a new family (attention rollout, relevance
propagation...) is one new file in this folder that calls :func:`register_method` at import time.
Methods defined elsewhere add their module's name to :data:`METHOD_MODULES` or call
:func:`register_method` themselves.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError

#: Modules imported first (in this order); the package's other modules follow, by name.
METHOD_MODULES: list[str] = ["mmbench.explain.cam"]


@dataclass
class ExplainRequest:
    """What a method receives: one batch to explain.

    ``images`` are validated RGB PIL images; ``targets`` the adapter's score callables (one per
    image, already built from the user's targets); ``layer`` the resolved layer name (None for
    methods that take no layer); ``options`` the method's own options, defaults filled in.
    """

    adapter: Any
    images: list
    targets: list[Callable]
    layer: str | None
    options: dict[str, Any] = field(default_factory=dict)
    pipe: Any = None

    @cached_property
    def pixels(self) -> Any:
        """The preprocessed batch (computed on first use)."""
        return self.adapter.preprocess(self.images)


@dataclass
class MethodResult:
    """A method's answer: maps ``(N, h, w)`` in any range at any resolution (``explain`` rescales
    them to [0, 1] and resizes them to each input image), optional per-image scores (per token /
    per region) and metadata. ``target_scores``: the explained score of each image, when known."""

    maps: np.ndarray
    scores: list[dict[str, float] | None] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    target_scores: list[float] | None = None


@dataclass(frozen=True)
class Method:
    """One explanation method.

    Attributes:
        name: the id users pass (``"gradcam"``).
        run: ``run(request) -> MethodResult | ndarray``.
        label: display name (``"Grad-CAM"``).
        description: one sentence for UIs and docs.
        family: ``"cam"``, ``"attention"``, ``"perturbation"``...
        uses_layer: whether the method explains a chosen layer.
        options: option name -> default value (None: the adapter's or the method's own default).
        supports: ``supports(adapter) -> bool`` (e.g. ViT-only methods).
        class_sensitive: False when the map does not depend on the target (EigenCAM).
        reference: paper or documentation.
    """

    name: str
    run: Callable[[ExplainRequest], Any]
    label: str
    description: str = ""
    family: str = "other"
    uses_layer: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    supports: Callable[[Any], bool] = field(default=lambda adapter: True)
    class_sensitive: bool = True
    reference: str = ""


METHODS: dict[str, Method] = {}
_lock = threading.Lock()
_loaded = False


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add a method to the registry (``replace=True`` to override an existing name)."""
    with _lock:
        if method.name in METHODS and not replace:
            raise ValueError(f"an explanation method named {method.name!r} is already registered")
        METHODS[method.name] = method
    return method


def load_methods() -> dict[str, Method]:
    """Import the method modules once (see the module docstring); returns :data:`METHODS`."""
    global _loaded
    if not _loaded:
        import os
        import pkgutil

        package = __name__.rpartition(".")[0]  # this folder's package, without importing it again
        found = sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules([os.path.dirname(__file__)])
                       if not m.name.startswith("_"))
        for module in [*METHOD_MODULES, *(m for m in found if m not in METHOD_MODULES)]:
            importlib.import_module(module)
        _loaded = True
    return METHODS


def get_method(name: Any, adapter: Any = None) -> Method:
    """The method called ``name`` (case-insensitive), or :class:`InvalidInputError` listing valid ones."""
    methods = load_methods()
    key = name.strip().lower() if isinstance(name, str) else name
    method = methods.get(key) if isinstance(key, str) else None
    valid = [m.name for m in methods.values() if adapter is None or m.supports(adapter)]
    if method is None:
        raise InvalidInputError(f"Unknown explanation method {name!r}.", hint=f"Valid methods: {', '.join(valid)}.")
    if adapter is not None and not method.supports(adapter):
        raise InvalidInputError(f"The method {method.name!r} does not support {adapter.name}.",
                                hint=f"Methods for this model: {', '.join(valid)}.")
    return method
