"""The one container for real multimodal data, :class:`MultimodalDataset` (validated in one place), and
what every loader shares: the lab's modality names (:func:`canonical_features`), stratified splitting
(:func:`split_dataset`) and the adapter to the fusion lab (:func:`lab_splits`). Loaders: :mod:`.mosi`, :mod:`.mvsa`.
"""

from __future__ import annotations

import warnings
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "MODALITY_ALIASES", "SENTIMENT_LABELS", "MultimodalDataset", "canonical_features", "canonical_modality",
    "first_items", "lab_splits", "split_dataset",
]

#: The lab's three classes, in the lab's order (same as ``mmbench.data.sentiment.LABELS``).
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")


#: Source names of modalities -> the lab's names (``text``, ``image``, ``audio``). This table is the
#: one place where MOSI's ``vision`` (and MultiBench/MMSA's other spellings) become the lab's ``image``.
MODALITY_ALIASES: dict[str, str] = {"vision": "image", "visual": "image", "video": "image", "acoustic": "audio",
                                    "language": "text", "text_bert": "text"}


def canonical_modality(name: str) -> str:
    """The lab's name for a source modality name: ``"vision"`` -> ``"image"``; lab names unchanged."""
    return MODALITY_ALIASES.get(str(name).lower(), str(name).lower())


def canonical_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """``features`` with keys renamed by :func:`canonical_modality`; two keys that map to the same
    lab name (``vision`` and ``image``) are an :class:`InvalidInputError`."""
    out: dict[str, Any] = {}
    for name, x in features.items():
        lab = canonical_modality(name)
        if lab in out:
            raise InvalidInputError(f"Two modalities map to the lab's {lab!r}: {sorted(k for k in features if canonical_modality(k) == lab)}.",
                                    hint="Keep one of them.")
        out[lab] = x
    return out



# -- the dataset ------------------------------------------------------------------------------------------------
@dataclass
class MultimodalDataset:
    """One split of a real multimodal dataset, one row/entry per sample in the order of ``ids``.

    ``features``: ``{modality: (N, D) float32}`` (MOSI/MOSEI: ``text``, ``vision``, ``audio``), or empty;
    ``texts`` / ``images`` (image file paths): raw inputs (MVSA), or ``None``;
    ``labels``: ``(N,)`` int64 indices into ``label_names``; ``scores``: the raw sentiment scores when the
    source has them (MOSI/MOSEI, in [-3, 3]); ``source``: where it came from (file or folder).
    """

    labels: np.ndarray
    label_names: tuple[str, ...]
    ids: list[str]
    source: str
    split: str = "train"
    features: dict[str, np.ndarray] = field(default_factory=dict)
    texts: list[str] | None = None
    images: list[Path] | None = None
    scores: np.ndarray | None = None
    require_all_classes: InitVar[bool] = False  # a class absent: error if True, else a warning

    def __post_init__(self, require_all_classes: bool = False) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.label_names = tuple(self.label_names)
        self.ids = [str(i) for i in self.ids]
        self.features = {m: np.asarray(x, dtype=np.float32) for m, x in self.features.items()}
        if self.images is not None:
            self.images = [Path(p) for p in self.images]
        self.validate(require_all_classes=require_all_classes)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def modalities(self) -> list[str]:
        """Modalities present: the feature keys, plus ``text`` / ``image`` for raw inputs."""
        out = list(self.features)
        out += [m for m, v in (("text", self.texts), ("image", self.images)) if v is not None and m not in out]
        return out

    # all checks live here, so every loader (and a hand-built dataset) gets the same messages
    def validate(self, *, require_all_classes: bool = False) -> None:
        """Raise :class:`InvalidInputError` on mismatched lengths, non-finite features, labels out of
        range, an empty split, or (``require_all_classes``) a class without any example; the latter
        only warns otherwise."""
        where = f"the {self.split} split of {self.source}"
        n = len(self.labels)
        if self.labels.ndim != 1:
            raise InvalidInputError(f"The labels of {where} must be 1-D, got shape {self.labels.shape}.")
        if n == 0:
            raise InvalidInputError(f"The {self.split} split of {self.source} has no samples.",
                                    hint="Check the split name and the label filter.")
        if not self.modalities:
            raise InvalidInputError(f"{_cap(where)} has no modality (no features, texts or images).")
        lengths = {"labels": n, "ids": len(self.ids)}
        lengths.update({m: int(x.shape[0]) if x.ndim else 0 for m, x in self.features.items()})
        if self.texts is not None:
            lengths["texts"] = len(self.texts)
        if self.images is not None:
            lengths["images"] = len(self.images)
        if self.scores is not None:
            lengths["scores"] = len(self.scores)
        if len(set(lengths.values())) > 1:
            raise InvalidInputError(f"The modalities of {where} have different numbers of samples: {lengths}.",
                                    hint="Every modality needs exactly one row per sample, in the same order.")
        for m, x in self.features.items():
            if x.ndim != 2:
                raise InvalidInputError(f"The {m} features of {where} must be 2-D (samples x features), "
                                        f"got shape {x.shape}.")
            finite = np.isfinite(x).all(axis=1)
            if not finite.all():
                bad = np.flatnonzero(~finite)
                raise InvalidInputError(
                    f"The {m} features of {where} contain NaN or infinite values in {bad.size} of {n} rows "
                    f"(first ids: {first_items(self.ids[i] for i in bad)}).",
                    hint="Fix or drop those samples; load_mosi(..., nonfinite='zero') replaces them by 0 "
                         "as MultiBench does.")
        if self.labels.min() < 0 or self.labels.max() >= len(self.label_names):
            raise InvalidInputError(f"The labels of {where} must be integers in [0, {len(self.label_names)}), "
                                    f"got {self.labels.min()}..{self.labels.max()}.")
        absent = self.absent_classes()
        if absent:
            message = f"{_cap(where)} has no example of class(es) {absent}."
            if require_all_classes:
                raise InvalidInputError(message, hint="Every class needs training examples; use more data, "
                                                      "another split or another label scheme.")
            warnings.warn(message + " Training on it will fail.", UserWarning, stacklevel=2)

    def absent_classes(self) -> list[str]:
        """Names of the classes with no sample in this split."""
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return [name for name, c in zip(self.label_names, counts) if c == 0]

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def lab_split(self, *, training: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``(features, labels)`` as :func:`mmbench.fusion.training.train_strategy` / ``predict_proba`` take them,
        with the lab's modality names (MOSI's ``vision`` becomes ``image``, see :data:`MODALITY_ALIASES`).

        ``training=True`` turns a missing class into an :class:`InvalidInputError` naming it."""
        if not self.features:
            raise InvalidInputError(f"The {self.split} split of {self.source} has raw texts/images, not features.",
                                    hint="Extract features per modality first (e.g. the lab's representations), "
                                         "then build a MultimodalDataset with features=...")
        self.validate(require_all_classes=training)
        return canonical_features(self.features), self.labels.copy()


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def first_items(items, k: int = 5) -> str:
    """The first ``k`` items quoted for a message, and how many more: ``"'a', 'b' and 3 more"``."""
    items = list(items)
    shown = ", ".join(repr(str(i)) for i in items[:k])
    return shown + (f" and {len(items) - k} more" if len(items) > k else "")


# -- adapter to the fusion lab ----------------------------------------------------------------------------------
def lab_splits(train: MultimodalDataset, val: MultimodalDataset, test: MultimodalDataset, *,
               standardize: bool = True) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """``{"train"|"val"|"test": (features, labels)}``, the form of ``mmbench.fusion.data.seed_data``.

    Features are z-scored with the training mean/std per feature (as the lab's handcrafted features
    are), so a zero row means "the training mean" — how the lab imputes a missing modality — and the
    lab's noise robustness (std 1) is on the same scale. All three splits need the same modalities
    and label names; the training split must contain every class.
    """
    splits = {"train": train, "val": val, "test": test}
    out = {name: ds.lab_split(training=name == "train") for name, ds in splits.items()}
    names = {name: ds.label_names for name, ds in splits.items()}
    if len(set(names.values())) > 1:
        raise InvalidInputError(f"The splits have different label names: {names}.",
                                hint="Load them with the same labels=.")
    mods = {name: sorted(f) for name, (f, _) in out.items()}
    if len({tuple(v) for v in mods.values()}) > 1:
        raise InvalidInputError(f"The splits have different modalities: {mods}.")
    dims = {name: {m: x.shape[1] for m, x in f.items()} for name, (f, _) in out.items()}
    if len({tuple(sorted(d.items())) for d in dims.values()}) > 1:
        raise InvalidInputError(f"The splits have different feature sizes: {dims}.")
    if standardize:
        stats = {m: (x.mean(axis=0), x.std(axis=0)) for m, x in out["train"][0].items()}
        for name, (feats, y) in out.items():
            out[name] = ({m: ((x - stats[m][0]) / np.where(stats[m][1] > 1e-8, stats[m][1], 1.0)).astype(np.float32)
                          for m, x in feats.items()}, y)
    return out


def split_dataset(data: MultimodalDataset, fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0
                  ) -> tuple[MultimodalDataset, MultimodalDataset, MultimodalDataset]:
    """A stratified random train / validation / test split of one dataset (MVSA ships a single split).

    Each class is shuffled with ``seed`` and cut by ``fractions``; a class with fewer than three
    samples cannot be in all three splits and is an :class:`InvalidInputError`.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or (fr <= 0).any() or not np.isfinite(fr).all():
        raise InvalidInputError(f"fractions must be three positive numbers (train, val, test), got {fractions!r}.")
    fr = fr / fr.sum()
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for c in range(len(data.label_names)):
        idx = np.flatnonzero(data.labels == c)
        if 0 < len(idx) < 3:
            raise InvalidInputError(f"Class {data.label_names[c]!r} of {data.source} has only {len(idx)} sample(s); "
                                    "it cannot appear in train, validation and test.",
                                    hint="Use more data or another label rule.")
        idx = rng.permutation(idx)
        n_val = max(1, int(round(fr[1] * len(idx)))) if len(idx) else 0
        n_test = max(1, int(round(fr[2] * len(idx)))) if len(idx) else 0
        n_train = len(idx) - n_val - n_test
        parts[0] += idx[:n_train].tolist()
        parts[1] += idx[n_train:n_train + n_val].tolist()
        parts[2] += idx[n_train + n_val:].tolist()
    return tuple(_subset(data, sorted(p), name) for p, name in zip(parts, ("train", "valid", "test")))  # type: ignore[return-value]


def _subset(data: MultimodalDataset, rows: list[int], split: str) -> MultimodalDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an absent class is reported where it matters
        return MultimodalDataset(
            labels=data.labels[rows], label_names=data.label_names, ids=[data.ids[i] for i in rows],
            source=data.source, split=split, features={m: x[rows] for m, x in data.features.items()},
            texts=None if data.texts is None else [data.texts[i] for i in rows],
            images=None if data.images is None else [data.images[i] for i in rows],
            scores=None if data.scores is None else data.scores[rows])
