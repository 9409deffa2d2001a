"""Whisper's input: an 80-bin (128 for large-v3) log-mel spectrogram of 16 kHz audio, written out.

Per frame of 25 ms (``n_fft`` 400 samples) every 10 ms (``hop`` 160): the power spectrum
``|STFT|^2`` is projected on a mel filter bank (Slaney-style, as ``librosa.filters.mel``),
then ``log10`` (floored at 1e-10), clipped to within 8 (80 dB) of its maximum and scaled as
``(x + 4) / 4`` so values lie roughly in [-1, 1]. Whisper always reads 30 s windows: shorter
clips are padded with zeros to 480,000 samples (3,000 frames).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HOP_LENGTH", "N_FFT", "N_SAMPLES", "SAMPLE_RATE", "whisper_log_mel"]

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_SECONDS = 30
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE


def whisper_log_mel(samples: Any, n_mels: int = 80, *, pad_to_30s: bool = True) -> np.ndarray:
    """``(n_mels, frames)`` float32 log-mel features, as Whisper's feature extractor computes them.

    ``samples``: 16 kHz mono float audio (what :func:`mmbench.io.validate_audio` returns).
    ``pad_to_30s``: pad (or trim) to exactly 30 s, i.e. 3,000 frames, like the model's input.
    """
    import librosa

    from ..plots.audio import power_spectrogram

    audio = np.asarray(samples, dtype=np.float32)
    if pad_to_30s:
        audio = np.pad(audio[:N_SAMPLES], (0, max(0, N_SAMPLES - len(audio))))
    # |STFT|^2 with a periodic Hann window, frames centred (reflect padding), as torch.stft in Whisper
    power = power_spectrogram(audio, N_FFT, HOP_LENGTH, pad_mode="reflect")[:, :-1]  # Whisper drops the last frame: 3,000 for 30 s
    filters = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels)
    mel = filters @ power
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
