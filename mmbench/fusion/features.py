"""Per-modality features for the fusion lab: the handcrafted extractors (TF-IDF text, HOG +
colour-histogram images, MFCC + chroma audio) and :class:`FeatureExtractor`, which mixes them with
the deep representations of :mod:`mmbench.fusion.representations`.

:class:`FeatureExtractor` is fitted on the training split only (TF-IDF vocabulary and the
per-feature standardisation), then turns any split into ``{modality: float32 (N, D)}``. After
standardisation a zero row is the training mean, which is how a missing modality is imputed.
Heavy imports (librosa, skimage, sklearn, torch) happen inside the functions that need them.
"""

from __future__ import annotations

from typing import Mapping, Sequence

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


class FeatureExtractor:
    """Per-modality features for the lab, any mix of handcrafted and deep representations.

    ``representations``: ``{modality: name}`` (see :mod:`mmbench.fusion.representations`; missing
    modalities use the handcrafted default). Fit on the training split (the TF-IDF vocabulary and
    every feature's mean/std), then ``transform`` any split to standardised float32 ``(N, D)`` arrays.
    The data is a :class:`~mmbench.data.sentiment.SentimentDataset` or a
    :class:`~mmbench.data.loaders.MultimodalDataset` (texts, image paths, or ``given`` features).
    """

    def __init__(self, modalities: Sequence[str] = MODALITIES, max_text_features: int = 2000,
                 representations: Mapping[str, str] | None = None) -> None:
        from .representations import resolve

        self.modalities = tuple(modalities)
        self.representations = resolve(representations, self.modalities)
        self.max_text_features = max_text_features
        self._tfidf = None
        self._stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _raw(self, data, m: str) -> np.ndarray:
        from .representations import extract, parse

        rep, _ = parse(m, self.representations[m])
        if rep.kind == "given":
            return given_features(data, m)
        values = modality_values(data, m)
        if rep.name == "tfidf":
            return self._tfidf.transform(values).toarray().astype(np.float32)
        return extract(m, self.representations[m], values)

    def fit_transform(self, train) -> dict[str, np.ndarray]:
        if self.representations.get("text") == "tfidf":
            from sklearn.feature_extraction.text import TfidfVectorizer

            self._tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=self.max_text_features,
                                          sublinear_tf=True)
            try:
                self._tfidf.fit(modality_values(train, "text"))
            except ValueError as err:  # "empty vocabulary": every word appears only once, or no words
                raise InvalidInputError(f"TF-IDF could not build a vocabulary from the training texts ({err}).",
                                        hint="Use more training texts, or the 'minilm' text representation.") from err
        out = {}
        for m in self.modalities:
            x = self._raw(train, m)
            mean, std = x.mean(axis=0), x.std(axis=0)
            self._stats[m] = (mean, np.where(std > 1e-6, std, 1.0).astype(np.float32))
            out[m] = self._standardise(m, x)
        return out

    def transform(self, data) -> dict[str, np.ndarray]:
        if not self._stats:
            raise InvalidInputError(f"{type(self).__name__}.transform called before fit_transform.",
                                    hint="Fit on the training split first.")
        return {m: self._standardise(m, self._raw(data, m)) for m in self.modalities}

    def transform_values(self, m: str, values) -> np.ndarray:
        """Standardised features of raw inputs of one modality (e.g. edited texts, for word attributions)."""
        from .representations import extract, parse

        if m not in self._stats:
            raise InvalidInputError(f"No fitted {m} features: fit_transform first (fitted: {sorted(self._stats)}).")
        rep, _ = parse(m, self.representations[m])
        if rep.kind == "given":
            raise InvalidInputError(f"The {m} features came with the data; there are no raw {m} inputs to transform.")
        if rep.name == "tfidf":
            x = self._tfidf.transform(list(values)).toarray().astype(np.float32)
        else:
            x = extract(m, self.representations[m], values, cache=False)
        return self._standardise(m, x)

    def standardisation(self, m: str) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` of modality ``m`` on the training split."""
        return self._stats[m]

    def _standardise(self, m: str, x: np.ndarray) -> np.ndarray:
        mean, std = self._stats[m]
        return ((x - mean) / std).astype(np.float32)

    def describe(self) -> dict[str, str]:
        """``{modality: "name (kind)"}``, for tables and plots."""
        from .representations import parse

        return {m: f"{spec} ({parse(m, spec)[0].kind})" for m, spec in self.representations.items()}


class HandcraftedFeatures(FeatureExtractor):
    """:class:`FeatureExtractor` with the handcrafted representations: TF-IDF, HOG + colour, MFCC + chroma."""

    def __init__(self, modalities: Sequence[str] = MODALITIES, max_text_features: int = 2000) -> None:
        super().__init__(modalities, max_text_features, representations=None)


def modality_values(data, m: str):
    """The raw inputs of modality ``m``: texts, an image array or image paths, or an audio array."""
    if isinstance(data, SentimentDataset):
        return data.modality(m)
    value = {"text": getattr(data, "texts", None), "image": getattr(data, "images", None),
             "audio": getattr(data, "audio", None)}.get(m)
    if value is None:
        have = [k for k in ("texts", "images", "audio") if getattr(data, k, None) is not None]
        raise InvalidInputError(f"The data has no raw {m} inputs to compute features from (it has: "
                                f"{have or 'only precomputed features'}).",
                                hint=f"Use the representation 'given' for {m} when the dataset ships its features.")
    return value


def given_features(data, m: str) -> np.ndarray:
    """Precomputed features of modality ``m`` (lab names; MOSI's ``vision`` is the lab's ``image``)."""
    from ..data.loaders import canonical_features

    feats = canonical_features(getattr(data, "features", None) or {})
    if m not in feats:
        raise InvalidInputError(f"The data has no precomputed {m} features (it has: {sorted(feats) or 'none'}).",
                                hint="Pick another representation for this modality, or drop it.")
    return np.asarray(feats[m], dtype=np.float32)
