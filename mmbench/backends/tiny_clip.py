"""Backend for mmbench's own offline models of the TinyClip family (weights in ``assets/``)."""

from __future__ import annotations

from typing import Any

from ..errors import ModelUnavailableError
from ..registry import ModelSpec


class TinyClipBackend:
    """Runs :class:`mmbench.models.tiny_clip.TinyClip` for the matching pipeline."""

    note = ""

    def __init__(self, model: Any, spec: ModelSpec, device: Any, dtype: Any) -> None:
        self.model, self.spec, self.device, self.dtype = model, spec, device, dtype
        self.tokenizer = model.tokenizer
        self.embed_dim = model.config.embed_dim
        if model.config.itm_layers == 0:  # a dual encoder without a matching head (e.g. the distilled student)
            self.match_logits = None  # the pipeline re-ranks only when this is callable

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp().clamp(max=100))

    def preprocess_images(self, images: list) -> Any:
        return self.model.preprocess(images).to(self.device, self.dtype)

    def tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(texts).to(self.device)

    def encode_images(self, pixels: Any) -> Any:
        return self.model.encode_image(pixels)

    def encode_texts(self, ids: Any) -> Any:
        return self.model.encode_text(ids)

    def match_logits(self, pixels: Any, ids: Any) -> Any:
        return self.model.match_logits(pixels, ids)

    def image_tokens(self, pixels: Any) -> Any:
        """Vision-tower tokens, cached by callers that re-rank many texts against one gallery."""
        return self.model.encode_image(pixels, tokens=True)[1]

    def match_logits_from_tokens(self, image_tokens: Any, ids: Any) -> Any:
        _, txt_tokens = self.model.encode_text(ids, tokens=True)
        return self.model.itm(txt_tokens, ids, image_tokens)

    def unknown_words(self, texts: list[str]) -> list[str]:
        """Words outside the tiny model's vocabulary (they are read as [UNK])."""
        seen: list[str] = []
        for t in texts:
            seen += [w for w in self.tokenizer.unknown_words(t) if w not in seen]
        return seen

    def torch_modules(self) -> list:
        return [self.model]

    def explain_adapter(self) -> Any:
        """Hook for :mod:`mmbench.explain` (layers, targets, token-grid reshape)."""
        from .adapters import tiny_clip_adapter

        return tiny_clip_adapter(self)


def load(spec: ModelSpec, device: Any, dtype: Any) -> TinyClipBackend:
    from ..models.tiny_clip import TinyClip, TinyClipConfig

    from pathlib import Path

    # options["weights"]: a folder with model.safetensors + config.json (e.g. your own retrained copy)
    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    if "config" in spec.options:  # random-weight test model built from a config dict
        import torch

        from ..data.world import vocabulary

        torch.manual_seed(int(spec.options.get("seed", 0)))
        cfg = TinyClipConfig.from_dict({"vocab": vocabulary(), **spec.options["config"]})
        backend = TinyClipBackend(TinyClip(cfg).eval().to(device, dtype), spec, device, dtype)
        backend.note = "random weights (test model, not trained)"
        return backend
    if folder is None or not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(f"The weights of '{spec.name}' are missing (looked in {folder}).",
                                    model=spec.name, hint=spec.how_to_get())
    model = TinyClip.load(folder, device="cpu").to(device, dtype)
    return TinyClipBackend(model, spec, device, dtype)
