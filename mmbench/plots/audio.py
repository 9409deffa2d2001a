"""Views of an audio clip for every audio tab and notebook: waveform, mel spectrogram, MFCC, chroma.

:func:`audio_features` computes the arrays (librosa); :func:`audio_views` draws them as one
figure of stacked panels on a shared time axis, with a transcript's word timings (anything with
``text``, ``start``, ``end``, e.g. :class:`mmbench.speech.transcript.Word`) drawn on the
spectrogram. Like every figure of :mod:`mmbench.plots`, they are fresh Agg figures, never
``pyplot``: safe for many app users at once. :func:`power_spectrogram` (plain numpy) is also the
STFT behind :mod:`mmbench.speech.features` and :mod:`mmbench.audiogen.melspec`.

Defaults suit speech at 16 kHz: 25 ms windows (``n_fft`` 400) every 10 ms (``hop`` 160), 80 mel
bands, 13 MFCCs (the chapter's classic speech features), 12 chroma bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from .figures import new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["AudioFeatures", "MAX_VIEW_SECONDS", "VIEWS", "audio_features", "audio_views", "power_spectrogram"]

#: Longest stretch drawn (longer clips show their first MAX_VIEW_SECONDS, and the title says so).
MAX_VIEW_SECONDS = 120.0
#: Panels :func:`audio_views` can draw, in display order.
VIEWS = ("waveform", "mel", "mfcc", "chroma")
#: Word labels are written on the spectrogram up to this many words (lines only above).
MAX_WORD_LABELS = 60
_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class AudioFeatures:
    """Time-frequency features of one mono clip (frames every ``hop_length`` samples).

    Attributes:
        samples, sample_rate: the (possibly truncated) clip.
        mel_db: ``(n_mels, frames)`` mel power spectrogram in dB relative to its maximum.
        mfcc: ``(n_mfcc, frames)`` mel-frequency cepstral coefficients.
        chroma: ``(12, frames)`` energy per pitch class (C, C#, ... B), each frame scaled to max 1.
        hop_length, n_fft: framing, in samples.
    """

    samples: np.ndarray
    sample_rate: int
    mel_db: np.ndarray
    mfcc: np.ndarray
    chroma: np.ndarray
    hop_length: int
    n_fft: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def frame_times(self) -> np.ndarray:
        """Centre time (seconds) of each feature frame."""
        return np.arange(self.mel_db.shape[1]) * self.hop_length / self.sample_rate


def _as_clip(audio: Any, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """(samples, rate) from a validated clip, a (rate, samples) tuple or a path/bytes (validated)."""
    from ..io import validate_audio

    if sample_rate is not None and hasattr(audio, "__array__"):
        return validate_audio((sample_rate, audio), target_sr=None, allow_silent=True, max_seconds=1e9)
    return validate_audio(audio, target_sr=None, allow_silent=True, max_seconds=1e9)


def audio_features(audio: Any, sample_rate: int | None = None, *, n_mels: int = 80, n_mfcc: int = 13,
                   n_fft: int | None = None, hop_length: int | None = None,
                   max_seconds: float = MAX_VIEW_SECONDS) -> AudioFeatures:
    """Mel spectrogram (dB), MFCC and chroma of ``audio``.

    ``audio``: samples with ``sample_rate``, or anything :func:`mmbench.io.validate_audio`
    takes (mixed to mono, kept at its own rate). Only the first ``max_seconds`` are analysed.
    ``n_fft``/``hop_length`` default to 25 ms / 10 ms at the clip's rate.
    """
    import librosa

    samples, sr = _as_clip(audio, sample_rate)
    samples = samples[: int(max_seconds * sr)]
    n_fft = n_fft or int(2 ** np.ceil(np.log2(0.025 * sr)))
    hop = hop_length or max(1, int(round(0.010 * sr)))
    if len(samples) < n_fft:
        samples = np.pad(samples, (0, n_fft - len(samples)))
    power = power_spectrogram(samples, n_fft, hop)
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=n_mels, fmax=sr / 2)
    mel_db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, hop_length=hop)
    return AudioFeatures(samples, int(sr), mel_db.astype(np.float32), mfcc.astype(np.float32),
                         chroma.astype(np.float32), hop, n_fft)


def power_spectrogram(samples: np.ndarray, n_fft: int, hop_length: int, *, pad_mode: str = "constant") -> np.ndarray:
    """``|STFT|^2`` as ``(1 + n_fft // 2, frames)``: periodic Hann window, frames centred.

    The same numbers as ``np.abs(librosa.stft(samples, n_fft=n_fft, hop_length=hop_length,
    pad_mode=pad_mode)) ** 2`` in plain numpy (librosa's first ``stft`` call costs seconds of
    imports). ``pad_mode``: ``"constant"`` (zeros, librosa's default) or ``"reflect"`` (Whisper's).
    """
    audio = np.asarray(samples, dtype=np.float32)
    pad = n_fft // 2
    audio = np.pad(audio, (pad, pad), mode=pad_mode if len(audio) > pad else "constant")
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, as scipy's get_window("hann") and torch.hann_window
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * window.astype(np.float32), axis=-1)
    return (np.abs(spectrum) ** 2).T.astype(np.float32)


def _draw_waveform(ax: Any, feats: AudioFeatures) -> None:
    samples, sr = feats.samples, feats.sample_rate
    buckets = 2000
    if len(samples) > 2 * buckets:  # min/max envelope: fast and faithful for long clips
        usable = len(samples) // buckets * buckets
        blocks = samples[:usable].reshape(buckets, -1)
        t = (np.arange(buckets) + 0.5) * blocks.shape[1] / sr
        ax.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="#3b6ea5", linewidth=0)
    else:
        ax.plot(np.arange(len(samples)) / sr, samples, color="#3b6ea5", linewidth=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("amplitude")
    ax.set_title("waveform", fontsize=9, loc="left")


def _extent(feats: AudioFeatures, low: float, high: float) -> list[float]:
    return [0.0, feats.mel_db.shape[1] * feats.hop_length / feats.sample_rate, low, high]


def _draw_words(ax: Any, words: Sequence[Any], limit: float, top: float) -> None:
    """A line at each word's start, alternate shading, and its label on one of two rows where it fits."""
    shown = [w for w in words if float(w.start) < limit]
    label = len(shown) <= MAX_WORD_LABELS
    char_s = limit * 0.0078  # width of one 7-pt character in seconds on a ~7.5-inch-wide axis
    free_from = [0.0, 0.0]  # per label row: where its last label ends
    for k, w in enumerate(shown):
        start, end = float(w.start), min(float(w.end), limit)
        ax.axvspan(start, max(end, start + 0.01), color="white", alpha=0.10 if k % 2 else 0.18, linewidth=0)
        ax.axvline(start, color="white", linewidth=0.7, alpha=0.9)
        text = str(w.text).strip()
        row = next((r for r in (0, 1) if start >= free_from[r]), None)
        if label and row is not None:
            free_from[row] = start + (len(text) + 1.5) * char_s
            ax.text(start + 0.01, top * (0.93 if row == 0 else 0.80), text, color="white", fontsize=7, va="top",
                    ha="left", clip_on=True, bbox={"facecolor": "black", "alpha": 0.45, "pad": 1.0, "linewidth": 0})


def _draw_mel(ax: Any, feats: AudioFeatures, words: Sequence[Any] | None) -> Any:
    n_mels = feats.mel_db.shape[0]
    image = ax.imshow(feats.mel_db, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                      extent=_extent(feats, 0, n_mels), vmin=-80, vmax=0)
    import librosa

    mel_hz = librosa.mel_frequencies(n_mels=n_mels, fmax=feats.sample_rate / 2)
    ticks = [b for b in (0, n_mels // 4, n_mels // 2, 3 * n_mels // 4, n_mels - 1)]
    ax.set_yticks(ticks, [f"{mel_hz[b] / 1000:.1f}k" if mel_hz[b] >= 1000 else f"{mel_hz[b]:.0f}" for b in ticks])
    ax.set_ylabel("Hz (mel scale)")
    ax.set_title("mel spectrogram (dB)" + (" · word timings" if words else ""), fontsize=9, loc="left")
    if words:
        _draw_words(ax, words, feats.duration, n_mels)
    return image


def _draw_mfcc(ax: Any, feats: AudioFeatures) -> Any:
    n = feats.mfcc.shape[0]
    # Each coefficient standardised over time (cepstral mean and variance normalisation): c0, the
    # loudness, is ten times larger than the rest and would otherwise hide them.
    mean = feats.mfcc.mean(axis=1, keepdims=True)
    std = feats.mfcc.std(axis=1, keepdims=True)
    image = ax.imshow((feats.mfcc - mean) / np.maximum(std, 1e-6), origin="lower", aspect="auto", cmap="coolwarm",
                      interpolation="nearest", extent=_extent(feats, -0.5, n - 0.5), vmin=-3, vmax=3)
    ax.set_ylabel("coefficient")
    ax.set_title(f"MFCC ({n} coefficients, each standardised over time; c0 is loudness)", fontsize=9, loc="left")
    return image


def _draw_chroma(ax: Any, feats: AudioFeatures) -> Any:
    image = ax.imshow(feats.chroma, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest",
                      extent=_extent(feats, -0.5, 11.5), vmin=0, vmax=1)
    ax.set_yticks([0, 2, 4, 5, 7, 9, 11], [_PITCH_CLASSES[i] for i in (0, 2, 4, 5, 7, 9, 11)])
    ax.set_ylabel("pitch class")
    ax.set_title("chroma (energy per pitch class)", fontsize=9, loc="left")
    return image


def audio_views(audio: Any, sample_rate: int | None = None, *, words: Sequence[Any] | None = None,
                views: Sequence[str] = VIEWS, title: str | None = None,
                max_seconds: float = MAX_VIEW_SECONDS, features: AudioFeatures | None = None) -> Figure:
    """One figure with the chosen ``views`` stacked on a shared time axis.

    Args:
        audio: samples with ``sample_rate``, or anything ``validate_audio`` takes.
        words: timed words (``.text``, ``.start``, ``.end`` in seconds) drawn on the mel spectrogram.
        views: any of ``"waveform"``, ``"mel"``, ``"mfcc"``, ``"chroma"``.
        max_seconds: longer clips are drawn up to this point (the title says so).
        features: precomputed :func:`audio_features` (then ``audio`` may be None).
    """
    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views:
        raise InvalidInputError(f"Unknown audio view(s) {unknown or list(views)}; choose from {', '.join(VIEWS)}.")
    feats = features if features is not None else audio_features(audio, sample_rate, max_seconds=max_seconds)
    heights = {"waveform": 1.0, "mel": 1.7, "mfcc": 1.2, "chroma": 1.1}
    fig = new_figure(9.0, 0.6 + sum(heights[v] for v in views))
    axes = fig.subplots(len(views), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [heights[v] for v in views]})[:, 0]
    for ax, view in zip(axes, views):
        if view == "waveform":
            _draw_waveform(ax, feats)
        else:
            image = {"mel": lambda a: _draw_mel(a, feats, words), "mfcc": lambda a: _draw_mfcc(a, feats),
                     "chroma": lambda a: _draw_chroma(a, feats)}[view](ax)
            fig.colorbar(image, ax=ax, pad=0.01, fraction=0.025)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlim(0, feats.duration)
    axes[-1].set_xlabel("time (s)")
    heading = title or f"{feats.duration:.2f} s at {feats.sample_rate} Hz"
    if features is None and audio is not None and feats.duration >= max_seconds - 1e-6:
        heading += f" (first {max_seconds:g} s shown)"
    fig.suptitle(heading, fontsize=10)
    return fig
