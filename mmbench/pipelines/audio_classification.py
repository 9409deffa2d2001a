"""Audio classification: a clip in, class probabilities (and an embedding) out.

The offline model is mmbench-prosody-cnn, a spectrogram CNN that reads the sentiment cue of a
prosody clip (negative / neutral / positive); its penultimate layer is the fusion lab's deep
audio representation (:meth:`AudioClassificationPipeline.embed`). Clips are validated and
resampled to the model's rate with :func:`mmbench.io.validate_audio`; arrays of equal-length
clips at the model's rate (the lab's data) take a fast path without per-clip decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..io import validate_audio
from .base import Pipeline


@dataclass(frozen=True)
class AudioPrediction:
    label: str
    index: int
    prob: float


class AudioClassificationPipeline(Pipeline):
    """Classify audio clips; ``embed`` gives the penultimate-layer features.

    >>> pipe = mmbench.pipeline("audio-classification", model="mmbench-prosody-cnn")   # doctest: +SKIP
    >>> pipe((8000, clip))[0].label                                                     # doctest: +SKIP
    'positive'
    """

    task = "audio-classification"

    def __init__(self, backend: Any, spec: Any, notice: str = "") -> None:
        super().__init__(backend, spec, notice)
        self.batch_size = 256

    @property
    def labels(self) -> list[str]:
        return self.backend.labels

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate

    @property
    def embed_dim(self) -> int:
        return self.backend.embed_dim

    def __call__(self, audio: Any, top_k: int = 3) -> list[AudioPrediction]:
        """Classes of one clip (a path, bytes, or ``(sample_rate, samples)``), most likely first."""
        probs = self.probabilities([audio])[0]
        order = probs.argsort()[::-1][:max(1, int(top_k))]
        return [AudioPrediction(self.labels[i], int(i), float(probs[i])) for i in order]

    def waveforms(self, clips: Any, sample_rate: int | None = None) -> np.ndarray:
        """``(N, samples)`` float32 at the model's rate: an array of clips at ``sample_rate`` (default the
        model's), or a list of clips in any form :func:`validate_audio` takes (padded/cut to the longest)."""
        if isinstance(clips, np.ndarray) and clips.ndim == 2:
            sr = self.sample_rate if sample_rate is None else int(sample_rate)
            if sr != self.sample_rate:
                clips = [(sr, c) for c in clips]
            else:
                if not np.isfinite(clips).all():
                    raise InvalidInputError("The audio clips contain NaN or infinite samples.")
                return clips.astype(np.float32, copy=False)
        if isinstance(clips, (str, bytes, tuple)) or not isinstance(clips, Sequence):
            clips = [clips]
        waves = [validate_audio(c, target_sr=self.sample_rate, what=f"clip {i}")[0] for i, c in enumerate(clips)]
        if not waves:
            raise InvalidInputError("No audio clips were given.")
        n = max(len(w) for w in waves)
        return np.stack([np.pad(w, (0, n - len(w))) for w in waves]).astype(np.float32)

    def _run(self, clips: Any, what: str, sample_rate: int | None) -> np.ndarray:
        import torch

        waves = self.waveforms(clips, sample_rate)
        out = []
        with torch.inference_mode():
            for i in range(0, len(waves), self.batch_size):
                spec = self.backend.spectrogram(torch.as_tensor(waves[i:i + self.batch_size]))
                if what == "embed":
                    out.append(self.backend.embed_spectrogram(spec).float().cpu())
                else:
                    out.append(self.backend.logits_spectrogram(spec).float().softmax(-1).cpu())
        return torch.cat(out).numpy()

    def probabilities(self, clips: Any, sample_rate: int | None = None) -> np.ndarray:
        """``(N, classes)`` softmax probabilities."""
        return self._run(clips, "proba", sample_rate)

    def embed(self, clips: Any, sample_rate: int | None = None) -> np.ndarray:
        """``(N, embed_dim)`` penultimate-layer features (the fusion lab's ``cnn`` audio representation)."""
        return self._run(clips, "embed", sample_rate)

    def spectrogram(self, clip: Any, sample_rate: int | None = None) -> np.ndarray:
        """The model's input view of one clip: log-mel ``(n_mels, frames)`` (what audio explanations map)."""
        import torch

        waves = self.waveforms(np.asarray(clip, np.float32)[None] if isinstance(clip, np.ndarray) and clip.ndim == 1
                               else clip, sample_rate)
        with torch.inference_mode():
            return self.backend.spectrogram(torch.as_tensor(waves[:1]))[0, 0].float().cpu().numpy()
