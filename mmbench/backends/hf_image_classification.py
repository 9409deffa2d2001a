"""transformers image classifiers (``AutoModelForImageClassification`` + its image processor), e.g.
``google/vit-base-patch16-224``, behind mmbench's classification contract.

Checkpoints load from the local Hugging Face cache or the hub (safetensors first, never remote
code); when the weights cannot be obtained, :func:`load` raises
:class:`~mmbench.errors.ModelUnavailableError` within seconds (see ``_hub``), so
``mmbench.pipeline("image-classification")`` falls back to the offline EfficientNet-Lite0.

Test models: ``options={"config": {...ViTConfig kwargs...}, "seed": 0}`` builds a random-weight
``ViTForImageClassification`` with a ``ViTImageProcessor`` sized to the config.
"""

from __future__ import annotations

from typing import Any

from ..registry import ModelSpec
from . import _hub


class HFImageClassificationBackend:
    """A loaded transformers image classifier with its own image processor.

    Attributes:
        model: the ``...ForImageClassification`` model in eval mode.
        processor: its image processor.
        labels: class names from ``config.id2label``, index-aligned with the logits.
    """

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: Any, dtype: Any, note: str = "") -> None:
        self.spec, self.device, self.dtype, self.note = spec, device, dtype, note
        self.processor = processor
        id2label = model.config.id2label
        self.labels = [str(id2label.get(i, id2label.get(str(i), f"class {i}"))) for i in range(model.config.num_labels)]
        self.model = model.to(device=device, dtype=dtype).eval()

    @property
    def input_size(self) -> int:
        return int(self.model.config.image_size)

    def preprocess_images(self, images: list) -> Any:
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        return pixels.to(self.device, self.dtype)

    def logits(self, pixels: Any) -> Any:
        return self.model(pixel_values=pixels).logits

    def explain_adapter(self) -> Any:
        """Hook for :mod:`mmbench.explain` (layers, class targets, token-grid reshape)."""
        from .adapters import hf_vit_classifier_adapter

        return hf_vit_classifier_adapter(self)

    def torch_modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"HFImageClassificationBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def load(spec: ModelSpec, device: Any, dtype: Any) -> HFImageClassificationBackend:
    _hub.require_package(spec, "transformers")
    if "config" in spec.options:
        model, processor = _from_config(spec.options)
        return HFImageClassificationBackend(spec, model, processor, device, dtype, note=_hub.RANDOM_NOTE)
    model, processor = _from_pretrained(spec)
    return HFImageClassificationBackend(spec, model, processor, device, dtype)


def _from_pretrained(spec: ModelSpec) -> tuple[Any, Any]:
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model, processor = _hub.load_pretrained(spec, AutoModelForImageClassification, AutoImageProcessor,
                                            dtype=torch.float32,
                                            what=f"the transformers image classifier '{spec.source}'")
    return model.eval(), processor


def _from_config(options: dict) -> tuple[Any, Any]:
    """Random-weight ViTForImageClassification from ViTConfig kwargs, with an offline processor."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(**options["config"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(options.get("seed", 0)))
        model = ViTForImageClassification(config)
    size = int(config.image_size)
    processor = ViTImageProcessor(size={"height": size, "width": size}, **(options.get("image_processor") or {}))
    return model.eval(), processor
