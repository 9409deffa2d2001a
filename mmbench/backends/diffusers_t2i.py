"""diffusers text-to-image checkpoints (SD-Turbo, SDXL...) behind mmbench's text-to-image contract.

Checkpoints load with ``AutoPipelineForText2Image`` from the local Hugging Face cache or the hub
(safetensors only); when the weights cannot be obtained, :func:`load` raises
:class:`~mmbench.errors.ModelUnavailableError` within seconds, so ``mmbench.pipeline("text-to-image")``
falls back to the offline mmbench-tiny-diffusion.

On a GPU the weights load in float16 (the registry option ``half_dtype`` can ask for bfloat16),
with the checkpoint's ``fp16`` variant files when it has them. Options for small GPUs (registry
row or ``MMBENCH_T2I_MEMORY=slicing,tiling,offload``): ``attention_slicing`` (attention computed
in slices: less memory, a little slower), ``vae_tiling`` (decode large images tile by tile),
``cpu_offload`` (keep each sub-model on the CPU until it runs; needs accelerate).

Test models: ``options={"config": {"unet": {...}, "vae": {...}, "text": {...}}, "seed": 0}`` builds
a random-weight ``StableDiffusionPipeline`` from tiny configs (the diffusers test recipe), with
the CLIP BPE tokenizer rebuilt from open_clip's files: nothing is downloaded.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Sequence

import numpy as np

from ..registry import ModelSpec
from . import _hub


class DiffusersT2IBackend:
    """A loaded diffusers text-to-image pipeline. One generation at a time per loaded model (a
    diffusers pipeline keeps per-call state in its scheduler, so calls are serialised by a lock)."""

    def __init__(self, spec: ModelSpec, pipe: Any, device: Any, dtype: Any, note: str = "") -> None:
        self.spec, self.pipe, self.device, self.dtype, self.note = spec, pipe, device, dtype, note
        o = spec.options
        self.default_steps = int(o.get("default_steps", 4))
        self.default_guidance = float(o.get("default_guidance", 0.0))
        self.default_size = int(o.get("default_size", 512))
        self.sizes = tuple(int(s) for s in o.get("sizes", (256, 1024)))
        self.max_steps = int(o.get("max_steps", 100))
        self.cross_attention_pattern = r".*attn2"
        self._lock = threading.Lock()
        pipe.set_progress_bar_config(disable=True)

    @property
    def unet(self) -> Any:
        return self.pipe.unet

    def generate(self, prompts: Sequence[str], *, negative_prompt: str, steps: int, guidance: float, width: int,
                 height: int, seeds: Sequence[int], callback: Callable[[int, int], None] | None) -> list[np.ndarray]:
        import torch

        # CPU generators: the same seed gives the same image on any device.
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]

        def on_step_end(pipe: Any, i: int, t: Any, kwargs: dict) -> dict:
            if callback is not None:
                callback(i + 1, int(getattr(pipe, "num_timesteps", steps)))
            return kwargs

        with self._lock, torch.inference_mode():
            out = self.pipe(prompt=list(prompts), negative_prompt=[negative_prompt] * len(prompts) if negative_prompt else None,
                            num_inference_steps=steps, guidance_scale=guidance, width=width, height=height,
                            generator=generators, callback_on_step_end=on_step_end, output_type="np")
        return [(np.clip(im, 0, 1) * 255).round().astype(np.uint8) for im in out.images]

    def unknown_words(self, texts: list[str]) -> list[str]:
        return []  # byte-level BPE reads any text

    def vocabulary_hint(self) -> str:
        return ""

    def prompt_tokens(self, prompt: str) -> tuple[list[str], list[int]]:
        """BPE pieces of the prompt (``</w>`` stripped) and their key positions (after BOS)."""
        tok = self.pipe.tokenizer
        pieces = tok.tokenize(prompt)[: tok.model_max_length - 2]
        return [p.replace("</w>", "") for p in pieces], list(range(1, len(pieces) + 1))

    def torch_modules(self) -> list:
        return [m for m in (getattr(self.pipe, n, None) for n in ("unet", "vae", "text_encoder", "text_encoder_2"))
                if m is not None]

    def __repr__(self) -> str:
        return f"DiffusersT2IBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def load(spec: ModelSpec, device: Any, dtype: Any) -> DiffusersT2IBackend:
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        from ..errors import DependencyError

        raise DependencyError(f"'{spec.name}' needs the diffusers and transformers packages.", model=spec.name,
                              hint="pip install diffusers transformers") from err
    import torch

    if torch.device(device).type != "cpu" and dtype in (torch.bfloat16, torch.float16):
        dtype = torch.bfloat16 if spec.options.get("half_dtype") == "bfloat16" else torch.float16
    if "config" in spec.options:
        pipe = _from_config(spec.options).to(device)
        if dtype != torch.float32:
            pipe = pipe.to(dtype=dtype)
        return DiffusersT2IBackend(spec, pipe, device, dtype, note=_hub.RANDOM_NOTE)
    pipe = _from_pretrained(spec, dtype)
    memory = set(filter(None, os.environ.get("MMBENCH_T2I_MEMORY", "").replace(" ", "").split(",")))
    notes = []
    if spec.options.get("attention_slicing") or "slicing" in memory:
        pipe.enable_attention_slicing()
        notes.append("attention slicing")
    if spec.options.get("vae_tiling") or "tiling" in memory:
        pipe.vae.enable_tiling()
        notes.append("VAE tiling")
    if (spec.options.get("cpu_offload") or "offload" in memory) and torch.device(device).type == "cuda":
        pipe.enable_model_cpu_offload()
        notes.append("CPU offload")
    else:
        pipe = pipe.to(device)
    return DiffusersT2IBackend(spec, pipe, device, dtype, note=", ".join(notes))


def _from_pretrained(spec: ModelSpec, dtype: Any) -> Any:
    import torch
    from diffusers import AutoPipelineForText2Image

    variant = spec.options.get("variant") if dtype == torch.float16 else None
    (pipe,) = _hub.load_pretrained(spec, AutoPipelineForText2Image, torch_dtype=dtype, variant=variant,
                                   bin_fallback=False, what=f"the diffusers checkpoint '{spec.source}'")
    return pipe


def _from_config(options: dict) -> Any:
    """Random-weight StableDiffusionPipeline from tiny configs (nothing downloaded)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .hf_clip_backend import clip_tokenizer_from_open_clip

    cfg = options["config"]
    text_cfg = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
                "vocab_size": 49408, "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407,
                "max_position_embeddings": 77, **(cfg.get("text") or {})}
    unet_cfg = {"block_out_channels": [32, 64], "layers_per_block": 1, "sample_size": 16, "in_channels": 4,
                "out_channels": 4, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
                "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "cross_attention_dim": text_cfg["hidden_size"],
                "norm_num_groups": 32, "attention_head_dim": 2, **(cfg.get("unet") or {})}
    vae_cfg = {"block_out_channels": [32, 64], "in_channels": 3, "out_channels": 3, "latent_channels": 4,
               "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
               "norm_num_groups": 32, **(cfg.get("vae") or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(options.get("seed", 0)))
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**vae_cfg)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    tokenizer = clip_tokenizer_from_open_clip(model_max_length=int(text_cfg["max_position_embeddings"]))
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder.eval(), tokenizer=tokenizer, unet=unet.eval(),
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
