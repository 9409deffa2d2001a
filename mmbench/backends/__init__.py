"""Backends: the code that loads one family of checkpoints and runs its forward passes.

``LOADERS`` maps a registry row's ``backend`` field to ``module:function``; the function takes
``(spec, device, dtype)`` and returns a backend object. Modules are imported only when a row
that needs them is loaded, so ``import mmbench`` stays light. :func:`offline_mode` (whether the
user asked for no network) lives with the hub helpers in ``_hub`` and is re-exported here.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from ._hub import offline_mode

__all__ = ["LOADERS", "get_loader", "offline_mode"]

LOADERS: dict[str, str] = {
    "tiny_clip": "mmbench.backends.tiny_clip:load",
    # registry rows of compressed copies (base model + method), built by mmbench.compress on load
    "compressed": "mmbench.compress.loader:load",
    "open_clip": "mmbench.backends.open_clip_backend:load",
    "transformers_clip": "mmbench.backends.hf_clip_backend:load",
    "efficientnet_lite": "mmbench.backends.efficientnet_lite:load",
    "faster_whisper": "mmbench.backends.faster_whisper_backend:load",
    "transformers_whisper": "mmbench.backends.hf_whisper:load",
    "transformers_image_classification": "mmbench.backends.hf_image_classification:load",
    "sentence_transformers": "mmbench.backends.sentence_embedding:load",
    "prosody_cnn": "mmbench.backends.prosody_cnn:load",
    "tiny_video": "mmbench.backends.tiny_video:load",
    "transformers_videomae": "mmbench.backends.hf_video:load_videomae",
    "transformers_xclip": "mmbench.backends.hf_video:load_xclip",
    "espeak_ng": "mmbench.backends.espeak_ng:load",
    "piper": "mmbench.backends.piper_tts:load",
    "transformers_vits": "mmbench.backends.hf_vits:load",
    "transformers_musicgen": "mmbench.backends.hf_musicgen:load",
    "composer": "mmbench.backends.composer:load",
    "tiny_sound": "mmbench.backends.tiny_sound:load",
    "tiny_captioner": "mmbench.backends.tiny_captioner:load",
    "transformers_blip": "mmbench.backends.hf_blip:load_captioner",
    "transformers_blip_vqa": "mmbench.backends.hf_blip:load_vqa",
    "transformers_git": "mmbench.backends.hf_git:load",
    "diffusers": "mmbench.backends.diffusers_t2i:load",
    "tiny_diffusion": "mmbench.backends.tiny_diffusion:load",
    "face_expression": "mmbench.backends.face_expression:load",
    "transformers_face_expression": "mmbench.backends.face_expression:load_transformers",
}


def get_loader(backend: str) -> Callable[..., Any] | None:
    target = LOADERS.get(backend)
    if target is None:
        return None
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)
