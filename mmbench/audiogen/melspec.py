"""Mel spectrograms of the procedural sound world and their inversion to audio (Griffin-Lim).

The tiny text-to-sound model predicts a log-mel spectrogram scaled to [0, 1]
(:func:`sound_to_mel`); :func:`mel_to_sound` turns such a spectrogram back into a waveform: the
mel power is mapped to a linear-frequency magnitude by non-negative least squares
(``librosa.feature.inverse.mel_to_stft``) and a phase is found by Griffin-Lim
(``librosa.griffinlim``: alternate projections between "has this magnitude" and "is the STFT
of some signal"), since the model predicts no phase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["MelConfig", "mel_to_sound", "sound_to_mel"]


@dataclass(frozen=True)
class MelConfig:
    """Framing of the tiny sound model's spectrograms: 64 ms windows every 16 ms, 80 mel bands."""

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 30.0
    fmax: float = 6000.0
    frames: int = 128
    top_db: float = 60.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _filters(cfg: MelConfig) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)


def sound_to_mel(samples: Any, cfg: MelConfig = MelConfig()) -> np.ndarray:
    """``(n_mels, frames)`` log-mel in [0, 1]: dB relative to the clip's loudest bin, ``-top_db`` -> 0, 0 dB -> 1.

    The clip is cut or zero-padded to ``frames`` hops.
    """
    from ..plots.audio import power_spectrogram

    x = np.asarray(samples, dtype=np.float32)
    n = cfg.frames * cfg.hop_length
    x = np.pad(x[:n], (0, max(0, n - len(x))))
    power = power_spectrogram(x, cfg.n_fft, cfg.hop_length)[:, : cfg.frames]
    mel = _filters(cfg) @ power
    db = 10.0 * np.log10(np.maximum(mel, 1e-12) / max(float(mel.max()), 1e-12))
    return np.clip(db / cfg.top_db + 1.0, 0.0, 1.0).astype(np.float32)


def mel_to_sound(mel01: Any, cfg: MelConfig = MelConfig(), *, n_iter: int = 32, seed: int = 0,
                 peak: float = 0.8) -> np.ndarray:
    """Waveform (float32, ``cfg.sample_rate``) of a [0, 1] log-mel: NNLS to a linear magnitude, then
    Griffin-Lim (``n_iter`` iterations, initial phase from ``seed``); scaled to ``peak``."""
    import librosa

    m = np.clip(np.asarray(mel01, dtype=np.float64), 0.0, 1.0)
    power = 10.0 ** ((m - 1.0) * cfg.top_db / 10.0)
    power[m <= 0.0] = 0.0  # the floor is silence, not -80 dB of hiss
    magnitude = librosa.feature.inverse.mel_to_stft(power, sr=cfg.sample_rate, n_fft=cfg.n_fft, power=2.0,
                                                    fmin=cfg.fmin, fmax=cfg.fmax)
    rng = np.random.default_rng(seed)
    wave = librosa.griffinlim(magnitude, n_iter=n_iter, hop_length=cfg.hop_length, n_fft=cfg.n_fft,
                              init="random", random_state=rng)
    wave = np.pad(wave, (0, max(0, cfg.frames * cfg.hop_length - len(wave))))
    top = float(np.max(np.abs(wave))) if wave.size else 0.0
    return (wave * (peak / top) if top > 0 else wave).astype(np.float32)
