"""Backend for mmbench-tiny-video: the (2+1)D video network and the log-mel audio network that
mmbench trains on its procedural clips (weights in ``assets/models/mmbench-tiny-video``).

Test models: ``options={"random": True, "seed": 0}`` builds the same architecture with random
weights (nothing is read from disk); ``options={"weights": folder}`` loads a retrained copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelUnavailableError
from ..registry import ModelSpec


class TinyVideoBackend:
    """Runs :class:`mmbench.models.tiny_video.TinyVideoModel` for the video-classification pipeline.

    ``window_logits`` returns per-frame logits ``(W, T, C)`` (``per_frame = True``);
    ``audio_logits`` gives the audio network's logits, one step per 1/8 s.
    """

    per_frame = True
    zero_shot = False
    has_audio_model = True
    batch_size = 32
    default_stride = 1

    def __init__(self, spec: ModelSpec, model: Any, config: dict, device: Any, dtype: Any, note: str = "") -> None:
        self.spec, self.device, self.dtype, self.note = spec, device, dtype, note
        self.model = model.to(device=device, dtype=dtype).eval()
        self.labels = list(model.labels)
        self.clip_len = int(model.video.config.n_frames)
        fusion = config.get("fusion", {})
        self.fusion_weights = (float(fusion.get("a", 1.0)), float(fusion.get("b", 1.0)))
        self.sample_rate = int(model.audio.config.sample_rate)
        self.audio_steps_per_second = float(model.audio.config.fps)

    def window_logits(self, windows: Any, labels: Any = None) -> Any:
        """``(W, T, H, W, 3)`` uint8 frames -> ``(W, T, C)`` per-frame logits."""
        x = self.model.video.preprocess(np.asarray(windows)).to(self.device, self.dtype)
        return self.model.video(x)

    def audio_logits(self, samples: Any, sample_rate: int) -> Any:
        """Mono samples -> ``(steps, C)`` logits, one step per video frame of the training clips (1/8 s)."""
        import torch

        from ..io import resample

        wave = resample(np.asarray(samples, np.float32), int(sample_rate), self.sample_rate)
        per_step = self.model.audio.config.samples_per_frame
        if len(wave) < per_step:
            wave = np.pad(wave, (0, per_step - len(wave)))
        x = torch.from_numpy(np.ascontiguousarray(wave))[None].to(self.device, self.dtype)
        return self.model.audio(x)[0]

    def torch_modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"TinyVideoBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def load(spec: ModelSpec, device: Any, dtype: Any) -> TinyVideoBackend:
    from ..models.tiny_video import TinyAudioConfig, TinyVideoConfig, TinyVideoModel

    if spec.options.get("random"):
        import torch

        from ..data.clips import MOTIONS

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = TinyVideoModel(TinyVideoConfig(labels=list(MOTIONS)), TinyAudioConfig(labels=list(MOTIONS)))
        return TinyVideoBackend(spec, model.eval(), {}, device, dtype, note="random weights (test model, not trained)")
    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    if folder is None or not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        raise ModelUnavailableError(f"The weights of '{spec.name}' are missing (looked in {folder}).",
                                    model=spec.name, hint=spec.how_to_get())
    model, config = TinyVideoModel.load(folder, device="cpu")
    return TinyVideoBackend(spec, model, config, device, dtype)
