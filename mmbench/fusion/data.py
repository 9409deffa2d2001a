"""What the fusion lab trains on, from any source: the procedural world or the real-data loaders.

:class:`FusionSetting` describes the procedural data (reliability, noise, sizes, representations);
:func:`procedural_split` generates one seed of :class:`~mmbench.data.sentiment.SentimentWorld` and
extracts features (:func:`seed_data`: the same, cached in memory); :func:`check_features` validates
any ``{modality: array}`` split; :func:`lab_data` accepts every form the loaders produce and turns it
into the same :class:`LabData`:

* ``lab_splits(...)``'s dict ``{"train"|"val"|"test": (features, labels)}`` (features already standardised);
* three :class:`~mmbench.data.datasets.MultimodalDataset` (a tuple/list, or a dict with ``train``,
  ``val``/``valid``, ``test``) — e.g. ``[load_mosi(path, split=s) for s in ("train", "valid", "test")]``;
* one :class:`~mmbench.data.datasets.MultimodalDataset` (MVSA ships a single split): split per seed,
  stratified 70/10/20 (:func:`~mmbench.data.datasets.split_dataset`).

Modality names are made the lab's (``vision`` -> ``image``) by
:func:`mmbench.data.datasets.canonical_features`, the one place that knows the aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..data.sentiment import LABELS, MODALITIES, SentimentWorld
from ..errors import InvalidInputError

Split = tuple[dict[str, np.ndarray], np.ndarray]


@dataclass
class LabData:
    """Standardised features and labels of the three splits, plus what made them.

    ``test_dataset``: the raw test samples (texts, images, audio) when known, for the error
    gallery and the single-example view; ``extractor``: the fitted
    :class:`~mmbench.fusion.features.FeatureExtractor` (None for precomputed features).
    """

    train: Split
    val: Split
    test: Split
    label_names: tuple[str, ...] = LABELS
    test_dataset: Any = None
    extractor: Any = None
    source: str = "procedural"
    representations: dict[str, str] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return [m for m in MODALITIES if m in self.train[0]] + [m for m in self.train[0] if m not in MODALITIES]

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    def __getitem__(self, key: str):  # the old dict interface of seed_data: data["train"], data["test_dataset"]
        if key in ("train", "val", "test", "test_dataset", "extractor"):
            return getattr(self, key)
        raise KeyError(key)


@dataclass(frozen=True)
class FusionSetting:
    """Data setting: per-modality reliability/noise (see :class:`SentimentWorld`), split sizes, and
    the representation of each modality (see :mod:`mmbench.fusion.representations`; handcrafted
    by default)."""

    reliability: tuple[tuple[str, float], ...] | None = None
    noise: tuple[tuple[str, float], ...] | None = None
    n_train: int = 1500
    n_val: int = 300
    n_test: int = 600
    representations: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def make(cls, reliability: Mapping[str, float] | float | None = None,
             noise: Mapping[str, float] | float | None = None,
             representations: Mapping[str, str] | None = None, **sizes) -> "FusionSetting":
        def freeze(v):
            return tuple(sorted(v.items())) if isinstance(v, Mapping) else v
        if representations:
            from .representations import resolve

            resolve(representations)  # unknown names fail here, before any data is generated
        return cls(freeze(reliability), freeze(noise), representations=freeze(representations) or None, **sizes)

    def world(self, seed: int) -> SentimentWorld:
        def thaw(v):
            return dict(v) if isinstance(v, tuple) else v
        return SentimentWorld(seed, reliability=thaw(self.reliability), noise=thaw(self.noise))


def procedural_split(seed: int, setting: FusionSetting) -> LabData:
    """One seed of the procedural world with ``setting``'s sizes and representations."""
    from .features import FeatureExtractor

    world = setting.world(seed)
    train = world.dataset(setting.n_train)
    val = world.dataset(setting.n_val, start=setting.n_train)
    test = world.dataset(setting.n_test, start=setting.n_train + setting.n_val)
    reps = dict(setting.representations or ())
    fx = FeatureExtractor(representations=reps)
    return LabData((fx.fit_transform(train), train.labels), (fx.transform(val), val.labels),
                   (fx.transform(test), test.labels), LABELS, test, fx, "procedural", dict(fx.representations))


# -- input checks -----------------------------------------------------------------------------------
def check_features(features: Mapping[str, np.ndarray], labels: np.ndarray | None = None, *, split: str = "train",
                   n_classes: int = len(LABELS), require_all_classes: bool = False) -> None:
    """Raise :class:`InvalidInputError` unless ``features`` is a non-empty dict of finite 2-D
    arrays with one row per label (and, for training, every class present)."""
    if not isinstance(features, Mapping) or not features:
        raise InvalidInputError(f"The {split} features must be a non-empty dict {{modality: array}}.")
    lengths = {}
    for m, x in features.items():
        x = np.asarray(x)
        if x.ndim != 2:
            raise InvalidInputError(f"The {split} features of {m} must be 2-D (samples x features), got shape {x.shape}.")
        if not np.all(np.isfinite(x)):
            bad = int((~np.isfinite(x)).any(axis=1).sum())
            raise InvalidInputError(f"The {split} features of {m} contain NaN or infinite values ({bad} rows).",
                                    hint="Fix or drop those samples (or impute them) before fusion.")
        lengths[m] = x.shape[0]
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"The modalities of the {split} split have different numbers of samples: {lengths}.",
                                hint="Every modality needs exactly one row per sample, in the same order.")
    if labels is None:
        return
    labels = np.asarray(labels)
    n = next(iter(lengths.values()))
    if labels.shape != (n,):
        raise InvalidInputError(f"The {split} split has {n} samples but {labels.shape[0] if labels.ndim else 0} labels.")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise InvalidInputError(f"The {split} labels must be integers in [0, {n_classes}), got {labels.min()}..{labels.max()}.")
    if require_all_classes:
        absent = [LABELS[c] if n_classes == len(LABELS) else str(c) for c in range(n_classes) if not (labels == c).any()]
        if absent:
            raise InvalidInputError(f"The {split} labels have no example of class(es) {absent}.",
                                    hint="Every class needs training examples; use more data or another split.")


# -- features per seed (cached in memory) -----------------------------------------------------------
_FEATURE_CACHE: dict[tuple, LabData] = {}


def seed_data(seed: int, setting: FusionSetting = FusionSetting()) -> LabData:
    """The procedural data of one seed as :class:`~mmbench.fusion.data.LabData` (``data["train"]``,
    ``data["val"]``, ``data["test"]`` are ``(features, labels)``); computed once, then cached."""
    key = (seed, setting)
    if key not in _FEATURE_CACHE:
        _FEATURE_CACHE[key] = procedural_split(seed, setting)
        while len(_FEATURE_CACHE) > 12:
            _FEATURE_CACHE.pop(next(iter(_FEATURE_CACHE)))
    return _FEATURE_CACHE[key]


# -- real data ----------------------------------------------------------------------------------------------
def _is_dataset(x: Any) -> bool:
    from ..data.datasets import MultimodalDataset

    return isinstance(x, MultimodalDataset)


def lab_data(data: Any, seed: int = 0, representations: Mapping[str, str] | None = None) -> LabData:
    """Turn a loader output (see the module docstring) into :class:`LabData` for one seed."""
    if isinstance(data, LabData):
        return data
    if _is_dataset(data):
        from ..data.datasets import split_dataset

        return _from_datasets(split_dataset(data, seed=seed), representations)
    if isinstance(data, Mapping):
        keys = {str(k).lower(): k for k in data}
        val_key = next((keys[k] for k in ("val", "valid", "validation", "dev") if k in keys), None)
        if "train" not in keys or "test" not in keys or val_key is None:
            raise InvalidInputError(f"The data dict needs 'train', 'val' (or 'valid') and 'test' entries, "
                                    f"got {sorted(map(str, data))}.",
                                    hint="Pass lab_splits(train, val, test), or the three datasets.")
        parts = (data[keys["train"]], data[val_key], data[keys["test"]])
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)) and len(data) == 3:
        parts = tuple(data)
    else:
        raise InvalidInputError(f"The fusion lab cannot use data of type {type(data).__name__}.",
                                hint="Pass one MultimodalDataset (split per seed), three of them (train, val, "
                                     "test), or lab_splits(...)'s dict of (features, labels).")
    if all(_is_dataset(p) for p in parts):
        return _from_datasets(parts, representations)
    if all(isinstance(p, tuple) and len(p) == 2 for p in parts):
        if representations:
            raise InvalidInputError("Representations cannot be chosen for precomputed (features, labels) splits.",
                                    hint="Pass the MultimodalDatasets instead, so the lab can extract features.")
        return _from_features(parts)
    raise InvalidInputError("The three splits must all be MultimodalDatasets or all (features, labels) pairs.")


def _from_features(parts) -> LabData:
    from ..data.datasets import canonical_features

    splits = []
    for name, (features, labels) in zip(("train", "val", "test"), parts):
        if not isinstance(features, Mapping):
            raise InvalidInputError(f"The {name} features must be a dict {{modality: array}}, "
                                    f"got {type(features).__name__}.")
        splits.append(({m: np.asarray(x, dtype=np.float32) for m, x in canonical_features(features).items()},
                       np.asarray(labels, dtype=np.int64)))
    n_classes = int(max(int(s[1].max()) if s[1].size else 0 for s in splits)) + 1
    names = LABELS if n_classes == len(LABELS) else tuple(str(c) for c in range(max(n_classes, 2)))
    return LabData(*splits, label_names=names, source="features")


def _default_representations(train, representations: Mapping[str, str] | None) -> dict[str, str]:
    """``given`` for modalities with precomputed features, the handcrafted default for raw texts /
    images / audio, overridden by ``representations``; modalities with neither are left out."""
    from ..data.datasets import canonical_features
    from .representations import DEFAULT_REPRESENTATIONS

    given = canonical_features(train.features)
    raw = {"text": getattr(train, "texts", None), "image": getattr(train, "images", None),
           "audio": getattr(train, "audio", None)}
    reps = {}
    for m in MODALITIES:
        if m in given:
            reps[m] = "given"
        elif raw.get(m) is not None:
            reps[m] = DEFAULT_REPRESENTATIONS[m]
    for m, spec in (representations or {}).items():
        if m not in reps:
            raise InvalidInputError(f"A {m} representation was asked for, but the data has no {m} "
                                    f"(it has: {sorted(reps) or 'nothing usable'}).")
        reps[m] = spec
    if not reps:
        raise InvalidInputError(f"{train.source} has no modality the lab can use.")
    return reps


def _from_datasets(parts, representations: Mapping[str, str] | None) -> LabData:
    from .features import FeatureExtractor

    train, val, test = parts
    names = {p.split: p.label_names for p in parts}
    if len(set(names.values())) > 1:
        raise InvalidInputError(f"The splits have different label names: {names}.",
                                hint="Load them with the same labels=.")
    train.validate(require_all_classes=True)
    reps = _default_representations(train, representations)
    fx = FeatureExtractor(modalities=tuple(reps), representations=reps)
    out = LabData((fx.fit_transform(train), train.labels), (fx.transform(val), val.labels),
                  (fx.transform(test), test.labels), tuple(train.label_names), test, fx, train.source,
                  dict(fx.representations))
    return out
