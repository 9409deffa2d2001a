"""mmbench-tiny-diffusion: a small pixel-space text-to-image diffusion model for the procedural world.

Three parts, composed the diffusers way (each one swappable):

* a diffusers :class:`~diffusers.UNet2DConditionModel` (32x32 RGB, cross-attention at 16x16 and
  8x8) that predicts the noise ``eps`` added to an image;
* a DDPM noise schedule (1000 steps, cosine betas) for training; sampling uses DDIM with few steps;
* the text tower of mmbench-tiny-clip (frozen, a copy ships with the model) whose per-token
  states are the UNet's cross-attention context, so every prompt word has a key the image
  positions can attend to (the per-word maps of :mod:`mmbench.explain.cross_attention`).

Classifier-free guidance (Ho & Salimans 2022): the model is trained with the prompt dropped 10 %
of the time (replaced by the empty prompt), and sampling mixes
``eps = eps_uncond + w * (eps_cond - eps_uncond)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

#: UNet architecture (a diffusers config): 5.4 M parameters, 11 MB in float16.
UNET_CONFIG: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 3,
    "out_channels": 3,
    "layers_per_block": 1,
    "block_out_channels": [48, 96, 128],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "cross_attention_dim": 160,
    "attention_head_dim": 4,  # diffusers' legacy name: the number of heads
    "norm_num_groups": 16,
}

#: Training noise schedule (DDPMScheduler config); sampling uses DDIMScheduler.from_config(this).
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "clip_sample": True,
    "clip_sample_range": 1.0,
}

#: The UNet's cross-attention modules (for :class:`mmbench.explain.CrossAttentionRecorder`).
CROSS_ATTENTION_PATTERN = r".*attn2"


@dataclass
class TinyDiffusionConfig:
    """Everything needed to rebuild the model besides the weights (``config.json``)."""

    image_size: int = 32
    unet: dict = field(default_factory=lambda: dict(UNET_CONFIG))
    scheduler: dict = field(default_factory=lambda: dict(SCHEDULER_CONFIG))
    text: dict = field(default_factory=dict)  # the TinyClipConfig of the text tower (vocab included)
    default_steps: int = 25
    default_guidance: float = 3.0

    @classmethod
    def from_dict(cls, d: dict) -> "TinyDiffusionConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class PromptEncoder(nn.Module):
    """Prompt -> ``(token states (B, L, D), attention mask (B, L))`` with the tiny CLIP text tower."""

    def __init__(self, text_config: dict) -> None:
        super().__init__()
        from .tiny_clip import TextTower, TinyClipConfig, WordTokenizer

        self.clip_config = TinyClipConfig.from_dict(text_config)
        self.tokenizer = WordTokenizer(self.clip_config.vocab, self.clip_config.context_length)
        self.tower = TextTower(self.clip_config, len(self.tokenizer))

    @classmethod
    def from_tiny_clip(cls, clip: Any) -> "PromptEncoder":
        enc = cls(asdict(clip.config))
        enc.tower.load_state_dict(clip.text.state_dict())
        return enc

    @property
    def device(self) -> torch.device:
        return self.tower.pos.device

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from .tiny_clip import PAD

        return self.tower(ids), (ids != PAD).long()

    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self(self.tokenizer(list(prompts)).to(self.device))

    def tokens(self, prompt: str) -> list[str]:
        """The prompt's words as the model reads them (unknown words as ``[UNK]``), truncated like ``encode``."""
        words = self.tokenizer.words(prompt)[: self.tokenizer.context_length - 2]
        return [w if w in self.tokenizer.stoi else "[UNK]" for w in words]


class TinyDiffusion(nn.Module):
    """UNet + prompt encoder + schedule. ``generate`` is the whole sampling loop in ~30 lines."""

    def __init__(self, config: TinyDiffusionConfig) -> None:
        super().__init__()
        from diffusers import UNet2DConditionModel

        self.config = config
        self.unet = UNet2DConditionModel(**config.unet)
        self.text_encoder = PromptEncoder(config.text)
        self.text_encoder.requires_grad_(False)

    def train_scheduler(self) -> Any:
        from diffusers import DDPMScheduler

        return DDPMScheduler(**self.config.scheduler)

    def sample_scheduler(self) -> Any:
        from diffusers import DDIMScheduler

        return DDIMScheduler(**self.config.scheduler, set_alpha_to_one=True)

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], *, negative_prompt: str = "", steps: int | None = None,
                 guidance: float | None = None, seeds: Sequence[int] | None = None,
                 callback: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Sample one image per prompt; returns uint8 ``(B, H, W, 3)`` on CPU.

        Each image's starting noise comes from its own ``torch.Generator(cpu).manual_seed(seed)``
        so an image is reproduced by its seed alone, whatever the batch or device.
        ``callback(step, total)`` is called after every denoising step (raise to cancel).
        """
        steps = int(steps or self.config.default_steps)
        w = float(self.config.default_guidance if guidance is None else guidance)
        seeds = list(seeds) if seeds is not None else list(range(len(prompts)))
        device, dtype = self.unet.device, self.unet.dtype
        s = self.config.image_size
        noise = [torch.randn(3, s, s, generator=torch.Generator("cpu").manual_seed(int(sd))) for sd in seeds]
        x = torch.stack(noise).to(device, dtype)
        cond, cond_mask = self.text_encoder.encode(prompts)
        unc, unc_mask = self.text_encoder.encode([negative_prompt] * len(prompts))
        context = torch.cat([unc, cond]).to(dtype)
        mask = torch.cat([unc_mask, cond_mask])
        sched = self.sample_scheduler()
        sched.set_timesteps(steps, device=device)
        for i, t in enumerate(sched.timesteps):
            # One batch for both halves: [unconditional | conditional] (the conditional half is the last,
            # which is what CrossAttentionRecorder.prompt_maps reads by default).
            eps = self.unet(torch.cat([x, x]), t, encoder_hidden_states=context, encoder_attention_mask=mask).sample
            eps_u, eps_c = eps.chunk(2)
            eps = eps_u + w * (eps_c - eps_u) if w != 1.0 else eps_c
            x = sched.step(eps, t, x).prev_sample
            if callback is not None:
                callback(i + 1, steps)
        return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
        """Write ``unet.safetensors``, ``text_encoder.safetensors`` and ``config.json`` to ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, module in (("unet", self.unet), ("text_encoder", self.text_encoder.tower)):
            state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in module.state_dict().items()}
            save_file(state, str(folder / f"{name}.safetensors"), metadata={"format": "pt", "model": "mmbench-tiny-diffusion"})
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=1))

    @classmethod
    def load(cls, folder: str | Path, device: Any = "cpu", dtype: torch.dtype = torch.float32) -> "TinyDiffusion":
        from safetensors.torch import load_file

        folder = Path(folder)
        model = cls(TinyDiffusionConfig.from_dict(json.loads((folder / "config.json").read_text())))
        model.unet.load_state_dict({k: v.float() for k, v in load_file(str(folder / "unet.safetensors")).items()})
        model.text_encoder.tower.load_state_dict(
            {k: v.float() for k, v in load_file(str(folder / "text_encoder.safetensors")).items()})
        return model.to(device, dtype).eval()


def images_to_tensor(uint8_hwc: Any) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` in ``[-1, 1]`` (the model's pixel space)."""
    x = torch.as_tensor(uint8_hwc)
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
