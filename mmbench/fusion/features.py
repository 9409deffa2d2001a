"""Handcrafted per-modality representations: TF-IDF text, HOG + colour-histogram images, MFCC + chroma audio.

:class:`HandcraftedFeatures` is fitted on the training split only (TF-IDF vocabulary and the
per-feature standardisation), then turns any split into ``{modality: float32 (N, D)}``. After
standardisation a zero row is the training mean, which is how a missing modality is imputed.
Heavy imports (librosa, skimage, sklearn) happen inside the functions that need them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.sentiment import MODALITIES, SAMPLE_RATE, SentimentDataset
from ..errors import InvalidInputError


def image_features(images: np.ndarray) -> np.ndarray:
    """HOG (8-px cells, 2x2 blocks, 9 orientations on the grey image) + an 8-bin histogram per RGB channel."""
    from skimage.feature import hog

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InvalidInputError(f"images must be (N, H, W, 3), got shape {images.shape}.")
    grey = images.astype(np.float32).mean(axis=-1) / 255.0
    hogs = np.stack([hog(g, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), feature_vector=True)
                     for g in grey])
    bins = np.linspace(0, 256, 9)
    hist = np.stack([np.concatenate([np.histogram(im[..., c], bins=bins)[0] for c in range(3)]) for im in images])
    hist = hist / float(images.shape[1] * images.shape[2])
    return np.concatenate([hogs, hist], axis=1).astype(np.float32)


def audio_features(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Summary statistics of 20 MFCCs and 12 chroma bins: mean, std and mean first difference (the
    pitch contour's direction) over time, plus the RMS envelope's spectrum (the pulse rate)."""
    import librosa  # first import can take seconds (numba); hence lazy

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise InvalidInputError(f"audio must be (N, samples), got shape {audio.shape}.")
    mfcc = librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=20, n_fft=512, hop_length=128, n_mels=40)  # (N, 20, T)
    chroma = librosa.feature.chroma_stft(y=audio, sr=sr, n_fft=1024, hop_length=128)  # (N, 12, T)
    rms = librosa.feature.rms(y=audio, frame_length=256, hop_length=64)[:, 0, :]  # (N, T')
    env = np.abs(np.fft.rfft(rms - rms.mean(axis=1, keepdims=True), axis=1))[:, 1:16]
    env = env / (env.sum(axis=1, keepdims=True) + 1e-6)
    parts = []
    for f in (mfcc, chroma):
        parts += [f.mean(axis=2), f.std(axis=2), np.diff(f, axis=2).mean(axis=2) * f.shape[2]]
    return np.concatenate(parts + [env], axis=1).astype(np.float32)


class HandcraftedFeatures:
    """Fit on a training :class:`SentimentDataset`, then ``transform`` any split to standardised features."""

    def __init__(self, modalities: Sequence[str] = MODALITIES, max_text_features: int = 2000) -> None:
        self.modalities = tuple(modalities)
        self.max_text_features = max_text_features
        self._tfidf = None
        self._stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _raw(self, data: SentimentDataset, m: str) -> np.ndarray:
        if m == "text":
            return self._tfidf.transform(data.texts).toarray().astype(np.float32)
        if m == "image":
            return image_features(data.images)
        if m == "audio":
            return audio_features(data.audio)
        raise InvalidInputError(f"Unknown modality {m!r}.", hint=f"Use one of {list(MODALITIES)}.")

    def fit_transform(self, train: SentimentDataset) -> dict[str, np.ndarray]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=self.max_text_features,
                                      sublinear_tf=True)
        self._tfidf.fit(train.texts)
        out = {}
        for m in self.modalities:
            x = self._raw(train, m)
            mean, std = x.mean(axis=0), x.std(axis=0)
            self._stats[m] = (mean, np.where(std > 1e-6, std, 1.0).astype(np.float32))
            out[m] = self._standardise(m, x)
        return out

    def transform(self, data: SentimentDataset) -> dict[str, np.ndarray]:
        if self._tfidf is None:
            raise InvalidInputError("HandcraftedFeatures.transform called before fit_transform.",
                                    hint="Fit on the training split first.")
        return {m: self._standardise(m, self._raw(data, m)) for m in self.modalities}

    def _standardise(self, m: str, x: np.ndarray) -> np.ndarray:
        mean, std = self._stats[m]
        return ((x - mean) / std).astype(np.float32)
