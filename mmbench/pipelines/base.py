"""Base class shared by every mmbench pipeline: model spec, device, tier notice, and a lock.

A pipeline is created by :func:`mmbench.pipeline` (never directly by the app), holds one
loaded backend, and exposes task operations as methods. It keeps no per-user state: galleries
and results are returned to the caller, so concurrent users never share mutable state.
"""

from __future__ import annotations

from typing import Any

from ..registry import ModelSpec


class Pipeline:
    """Common state of a loaded pipeline.

    Attributes:
        task: the task name (``"image-text-matching"``...).
        spec: the registry row of the model actually loaded.
        backend: the backend object that runs the model.
        device: the ``torch.device`` it runs on.
        notice: a user-visible sentence when something differs from what was asked (for example
            the online checkpoint could not be reached and the offline tier was loaded instead);
            empty otherwise.
    """

    task: str = ""

    def __init__(self, backend: Any, spec: ModelSpec, notice: str = "") -> None:
        self.backend = backend
        self.spec = spec
        self.notice = notice

    @property
    def device(self) -> Any:
        return self.backend.device

    @property
    def tier(self) -> str:
        return self.spec.tier

    def describe(self, include_notice: bool = True) -> str:
        """One line for UIs: model, tier, device and (unless ``include_notice=False``) any fallback notice."""
        text = f"{self.spec.name} · {self.spec.tier} tier · {self.device}"
        note = getattr(self.backend, "note", "")
        if note:
            text += f" · {note}"
        return f"{text} — {self.notice}" if self.notice and include_notice else text

    def torch_modules(self) -> list:
        return self.backend.torch_modules()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.spec.name!r}, tier={self.spec.tier!r}, device={str(self.device)!r})"
