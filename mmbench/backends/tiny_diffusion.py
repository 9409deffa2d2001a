"""Backend of mmbench-tiny-diffusion (weights in ``assets/models/mmbench-tiny-diffusion``).

Test models: ``options={"config": {...TinyDiffusionConfig.unet overrides...}, "seed": 0}`` builds
random weights (with the untrained tiny CLIP text tower architecture) for plumbing tests.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ModelUnavailableError
from ..registry import ModelSpec
from . import _hub


class TinyDiffusionBackend:
    """Runs :class:`mmbench.models.tiny_diffusion.TinyDiffusion` for the text-to-image pipeline."""

    note = ""
    max_steps = 200

    def __init__(self, model: Any, spec: ModelSpec, device: Any, dtype: Any) -> None:
        self.model, self.spec, self.device, self.dtype = model, spec, device, dtype
        self.default_steps = int(spec.options.get("default_steps", model.config.default_steps))
        self.default_guidance = float(spec.options.get("default_guidance", model.config.default_guidance))
        self.default_size = int(model.config.image_size)
        self.sizes = (self.default_size, self.default_size)  # trained at one resolution only
        self.cross_attention_pattern = r".*attn2"

    @property
    def unet(self) -> Any:
        return self.model.unet

    def generate(self, prompts: Sequence[str], *, negative_prompt: str, steps: int, guidance: float, width: int,
                 height: int, seeds: Sequence[int], callback: Callable[[int, int], None] | None) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.model.generate(list(prompts), negative_prompt=negative_prompt, steps=steps, guidance=guidance,
                                      seeds=list(seeds), callback=callback)
        return list(out.numpy())

    def unknown_words(self, texts: list[str]) -> list[str]:
        seen: list[str] = []
        for t in texts:
            seen += [w for w in self.model.text_encoder.tokenizer.unknown_words(t) if w not in seen]
        return seen

    def vocabulary_hint(self) -> str:
        from ..data.world import COLOURS, SHAPES

        return (f"It was trained on the procedural world only: try 'a red circle' (colours: {', '.join(COLOURS)}; "
                f"shapes: {', '.join(SHAPES)}), or load an online model.")

    def prompt_tokens(self, prompt: str) -> tuple[list[str], list[int]]:
        """Prompt words and their key positions in the cross-attention context (after [CLS])."""
        tokens = self.model.text_encoder.tokens(prompt)
        return tokens, list(range(1, len(tokens) + 1))

    def torch_modules(self) -> list:
        return [self.model]


def load(spec: ModelSpec, device: Any, dtype: Any) -> TinyDiffusionBackend:
    _hub.require_package(spec, "diffusers")
    from pathlib import Path

    import torch

    from ..models.tiny_diffusion import TinyDiffusion, TinyDiffusionConfig

    if "config" in spec.options:  # random-weight test model
        from dataclasses import asdict

        from ..data.world import vocabulary
        from ..models.tiny_clip import TinyClipConfig

        text = asdict(TinyClipConfig(vocab=vocabulary(), text_width=32, text_layers=1, text_heads=2))
        unet = {**TinyDiffusionConfig().unet, "cross_attention_dim": 32, **spec.options["config"]}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = TinyDiffusion(TinyDiffusionConfig(unet=unet, text=text)).eval()
        backend = TinyDiffusionBackend(model.to(device, dtype), spec, device, dtype)
        backend.note = "random weights (test model, not trained)"
        return backend
    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    if folder is None or not (folder / "unet.safetensors").is_file():
        raise ModelUnavailableError(f"The weights of '{spec.name}' are missing (looked in {folder}).",
                                    model=spec.name, hint=spec.how_to_get())
    # float32 on CPU; on a GPU the device policy's half dtype (the model was trained in bfloat16 autocast).
    model = TinyDiffusion.load(folder, device=device, dtype=dtype)
    return TinyDiffusionBackend(model, spec, device, dtype)
