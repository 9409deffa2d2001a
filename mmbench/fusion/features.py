"""Per-modality features for the fusion lab: :class:`FeatureExtractor` turns a dataset into
standardised ``{modality: (N, D)}`` arrays with any mix of the representations of
:mod:`mmbench.fusion.representations` (handcrafted TF-IDF text, HOG + colour-histogram images,
MFCC + chroma audio, or deep embeddings).

:class:`FeatureExtractor` is fitted on the training split only (TF-IDF vocabulary and the
per-feature standardisation), then turns any split into ``{modality: float32 (N, D)}``. After
standardisation a zero row is the training mean, which is how a missing modality is imputed.
Heavy imports (librosa, skimage, sklearn, torch) happen inside the functions that need them.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..data.sentiment import MODALITIES, SentimentDataset
from ..errors import InvalidInputError
from .representations import extract, parse, resolve


class FeatureExtractor:
    """Per-modality features for the lab, any mix of handcrafted and deep representations.

    ``representations``: ``{modality: name}`` (see :mod:`mmbench.fusion.representations`; missing
    modalities use the handcrafted default). Fit on the training split (the TF-IDF vocabulary and
    every feature's mean/std), then ``transform`` any split to standardised float32 ``(N, D)`` arrays.
    The data is a :class:`~mmbench.data.sentiment.SentimentDataset` or a
    :class:`~mmbench.data.datasets.MultimodalDataset` (texts, image paths, or ``given`` features).
    """

    def __init__(self, modalities: Sequence[str] = MODALITIES, max_text_features: int = 2000,
                 representations: Mapping[str, str] | None = None) -> None:
        self.modalities = tuple(modalities)
        self.representations = resolve(representations, self.modalities)
        self.max_text_features = max_text_features
        self._tfidf = None
        self._stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _raw(self, data, m: str) -> np.ndarray:
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
    from ..data.datasets import canonical_features

    feats = canonical_features(getattr(data, "features", None) or {})
    if m not in feats:
        raise InvalidInputError(f"The data has no precomputed {m} features (it has: {sorted(feats) or 'none'}).",
                                hint="Pick another representation for this modality, or drop it.")
    return np.asarray(feats[m], dtype=np.float32)
