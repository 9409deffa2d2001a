"""Backend for mmbench-tiny-sound, the offline text-to-sound model trained by mmbench on its
procedural sound world (weights in ``assets/models/mmbench-tiny-sound``): caption -> mel spectrogram
(:class:`mmbench.models.tiny_sound.TinySound`) -> waveform by Griffin-Lim
(:func:`mmbench.audiogen.melspec.mel_to_sound`).

Registry options: ``weights`` (another folder with model.safetensors + config.json), or
``{"config": {...TinySoundConfig fields...}, "seed": 0}`` for a random-weight test model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..audiogen import Generation
from ..errors import ModelUnavailableError
from ..registry import ModelSpec


class TinySoundBackend:
    """A loaded tiny text-to-sound model; every clip is :data:`~mmbench.data.sound_world.CLIP_SECONDS` long."""

    kind = "sound"
    default_guidance = 1.0

    def __init__(self, spec: ModelSpec, model: Any, device: Any, note: str = "") -> None:
        from ..audiogen.melspec import MelConfig

        self.spec, self.device, self.note = spec, device, note
        self.model = model.to(device).eval()
        self.mel_config = MelConfig(**model.config.mel) if model.config.mel else MelConfig()
        self.sample_rate = self.mel_config.sample_rate
        self.default_duration = self.mel_config.frames * self.mel_config.hop_length / self.sample_rate
        self.min_duration = self.max_duration = self.default_duration
        self.vocabulary = tuple(model.config.vocab)

    def unknown_words(self, prompt: str) -> list[str]:
        return self.model.unknown_words(prompt)

    def generate(self, prompt: str, *, duration: float, seed: int, guidance_scale: float | None,
                 progress: Callable[[int, int], None] | None = None) -> Generation:
        import torch

        from ..audiogen.melspec import mel_to_sound

        gen = torch.Generator().manual_seed(seed)
        guidance = self.default_guidance if guidance_scale is None else guidance_scale
        mel = self.model.generate([prompt], generator=gen, guidance_scale=guidance)[0].float().cpu().numpy()
        if progress is not None:
            progress(1, 2)
        samples = mel_to_sound(mel, self.mel_config, seed=seed)
        if progress is not None:
            progress(2, 2)
        notes = []
        unknown = self.unknown_words(prompt)
        if unknown:
            notes.append(f"Words the model does not know were read as 'unknown': {', '.join(sorted(set(unknown)))}.")
        return Generation(samples, self.sample_rate, tuple(notes), details={"mel": mel})

    def torch_modules(self) -> list:
        return [self.model]


def load(spec: ModelSpec, device: Any, dtype: Any) -> TinySoundBackend:
    import torch

    from ..models.tiny_sound import TinySound, TinySoundConfig

    if "config" in spec.options:
        from ..data.sound_world import sound_vocabulary

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            cfg = {"vocab": tuple(sound_vocabulary()), **spec.options["config"]}
            model = TinySound(TinySoundConfig.from_dict(cfg))
        return TinySoundBackend(spec, model, device, note="random weights (test model, not trained)")
    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    if folder is None or not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        raise ModelUnavailableError(f"The weights of '{spec.name}' are missing (expected model.safetensors and "
                                    f"config.json in {folder}).", model=spec.name, hint=spec.how_to_get())
    return TinySoundBackend(spec, TinySound.load(folder), device)
