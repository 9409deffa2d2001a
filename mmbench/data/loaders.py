"""Loaders for real multimodal sentiment datasets in their public formats (user-provided, never downloaded).

* :func:`load_mosi` — CMU-MOSI / CMU-MOSEI feature pickles as distributed by MMSA (``aligned_50.pkl``,
  ``unaligned_50.pkl``) or MultiBench (``mosi_data.pkl``, ``mosei_senti_data.pkl``); the time axis is
  mean-pooled into one vector per modality, the sentiment score mapped to classes.
* :func:`load_mvsa` — MVSA-Single / MVSA-Multiple folders (``data/<id>.jpg``, ``data/<id>.txt``,
  ``labelResultAll.txt``); returns texts and image paths (features are the lab's job).

Both return a :class:`MultimodalDataset`, validated in one place (``MultimodalDataset.validate``).
:func:`lab_splits` turns datasets with features into the ``{"train"|"val"|"test": (features, labels)}``
form that :mod:`mmbench.fusion.lab` trains on (``train_strategy``, ``predict_proba``, ``robustness``).
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "MODALITY_ALIASES", "MOSI_HOWTO", "MVSA_HOWTO", "SENTIMENT_LABELS", "MultimodalDataset", "canonical_features",
    "canonical_modality", "lab_splits", "load_mosi", "load_mvsa", "mosi_classes", "split_dataset",
]

#: The lab's three classes, in the lab's order (same as ``mmbench.data.sentiment.LABELS``).
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

MOSI_HOWTO = (
    "CMU-MOSI/MOSEI are not shipped with mmbench and are never downloaded by it. Get the feature "
    "pickles yourself: MMSA (https://github.com/thuiar/MMSA, 'aligned_50.pkl' / 'unaligned_50.pkl' "
    "from its dataset links) or MultiBench (https://github.com/pliang279/MultiBench, 'mosi_data.pkl' / "
    "'mosei_senti_data.pkl'), accept the CMU Multimodal SDK licence, and pass the local file path."
)
MVSA_HOWTO = (
    "MVSA is not shipped with mmbench and is never downloaded by it. Request MVSA-Single or "
    "MVSA-Multiple from its authors (MCRLab, University of Ottawa: "
    "https://mcrlab.net/research/mvsa-sentiment-analysis-on-multi-view-social-data/), unzip it and pass "
    "the folder that holds 'labelResultAll.txt' and 'data/'."
)

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


_SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid", "dev": "valid",
                  "test": "test"}
_MODALITY_KEYS = {"text": ("text", "text_bert"), "vision": ("vision",), "audio": ("audio",)}
_LABEL_KEYS = ("regression_labels", "labels")  # MMSA, MultiBench


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
                    f"(first ids: {_first(self.ids[i] for i in bad)}).",
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
        """``(features, labels)`` as :func:`mmbench.fusion.lab.train_strategy` / ``predict_proba`` take them,
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


def _first(items, k: int = 5) -> str:
    items = list(items)
    shown = ", ".join(repr(str(i)) for i in items[:k])
    return shown + (f" and {len(items) - k} more" if len(items) > k else "")


# -- CMU-MOSI / CMU-MOSEI ---------------------------------------------------------------------------------------
def mosi_classes(scores: np.ndarray, labels: str = "3class") -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Map sentiment scores in [-3, 3] to classes, as the MMSA / MulT metrics do.

    Returns ``(labels, label_names, keep)``; ``keep`` is a boolean mask of the samples kept.

    * ``"3class"``: ``round(clip(score, -1, 1))`` (MMSA ``Mult_acc_3``): negative ``score < -0.5``,
      neutral ``-0.5 <= score <= 0.5``, positive ``score > 0.5``. Every sample kept.
    * ``"2class"``: negative ``score < 0``, positive ``score > 0``; samples with ``score == 0`` dropped
      (MMSA ``Non0_acc_2``, the usual binary MOSI number).
    * ``"7class"``: ``round(clip(score, -3, 3))`` → ``-3 .. 3`` (MMSA ``Mult_acc_7``).

    The fusion lab's models have three outputs, so only ``"3class"`` feeds it directly.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels == "3class":
        return (np.round(np.clip(scores, -1, 1)).astype(np.int64) + 1, SENTIMENT_LABELS,
                np.ones(scores.shape, bool))
    if labels == "2class":
        keep = scores != 0
        return (scores[keep] > 0).astype(np.int64), ("negative", "positive"), keep
    if labels == "7class":
        return (np.round(np.clip(scores, -3, 3)).astype(np.int64) + 3,
                tuple(str(v) for v in range(-3, 4)), np.ones(scores.shape, bool))
    raise InvalidInputError(f"Unknown label scheme {labels!r} for CMU-MOSI/MOSEI.",
                            hint="Use '3class' (negative/neutral/positive), '2class' or '7class'.")


def _read_pickle(path: str | os.PathLike) -> tuple[Path, Any]:
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise InvalidInputError(f"The CMU-MOSI/MOSEI feature file {str(path)!r} was not found.", hint=MOSI_HOWTO)
    if path.is_dir():
        pkls = sorted(p.name for p in path.glob("*.pkl"))
        raise InvalidInputError(f"{str(path)!r} is a folder; load_mosi needs the .pkl file itself"
                                + (f" (found here: {pkls})." if pkls else "."), hint=MOSI_HOWTO)
    try:
        with path.open("rb") as f:
            # The MMSA/MultiBench pickles hold only dicts of numpy arrays and strings.
            # pickle can run code: only load files from a source you trust.
            data = pickle.load(f, encoding="latin1")
    except Exception as exc:  # truncated download, not a pickle, needs a missing module...
        raise InvalidInputError(f"The file {path.name!r} cannot be read as a CMU-MOSI/MOSEI feature pickle "
                                f"({exc.__class__.__name__}: {exc}).",
                                hint="Check that the download finished and the file is the .pkl itself. "
                                     + MOSI_HOWTO) from exc
    return path, data


def _modality_array(split: Mapping, modality: str, where: str) -> np.ndarray:
    for key in _MODALITY_KEYS[modality]:
        if key in split:
            x = np.asarray(split[key])
            if key == "text_bert" and x.ndim == 3 and x.shape[1] == 3:
                raise InvalidInputError(
                    f"{where}: 'text_bert' holds BERT token ids (N, 3, T), not features, and there is no 'text' array.",
                    hint="Use a pickle with 'text' features (MMSA aligned_50.pkl has both), or pass "
                         "modalities=('vision', 'audio').")
            if x.ndim == 2:  # already pooled (N, D)
                x = x[:, None, :]
            if x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
                raise InvalidInputError(f"{where}: '{key}' must be a numeric array (N, T, D), got "
                                        f"{'shape ' + str(x.shape) if np.issubdtype(x.dtype, np.number) else x.dtype}.")
            return x
    raise AssertionError  # unreachable: the caller checked the keys


def _mean_pool(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Mean over the non-padded time steps of ``(N, T, D)``.

    Padded steps are found from ``lengths`` (MMSA ``<modality>_lengths``, padding at the end) when given,
    else as the all-zero steps (MMSA/MultiBench zero-pad aligned sequences). A sample with no valid step
    becomes a zero vector. Non-finite values survive pooling, so validation can report them.
    """
    n, t, _ = x.shape
    if lengths is not None:
        mask = np.arange(t)[None, :] < np.asarray(lengths).reshape(n, 1)
    else:
        mask = np.any(x != 0, axis=2)
    count = mask.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        total = np.where(mask[:, :, None], x.astype(np.float64), 0.0).sum(axis=1)
    return (total / np.maximum(count, 1)).astype(np.float32)


def load_mosi(path: str | os.PathLike, split: str = "train", labels: str = "3class", *,
              modalities: Sequence[str] = ("text", "vision", "audio"), nonfinite: str = "raise",
              require_all_classes: bool = False) -> MultimodalDataset:
    """One split of a CMU-MOSI / CMU-MOSEI feature pickle (MMSA or MultiBench layout) as a
    :class:`MultimodalDataset` with pooled features ``{"text", "vision", "audio"}: (N, D)``.

    The pickle is a dict ``{"train"|"valid"|"test": {...}}``; each split holds ``text`` (or ``text_bert``),
    ``vision``, ``audio`` arrays ``(N, T, D)``, a score array ``regression_labels`` (MMSA) or ``labels``
    (MultiBench), optionally ``id``, ``raw_text`` and ``<modality>_lengths``. Scores become classes with
    :func:`mosi_classes` (``labels``). ``split`` accepts ``"val"``/``"validation"`` for ``"valid"``.
    ``nonfinite="zero"`` replaces NaN/±inf by 0 (MultiBench does this for MOSEI audio) instead of failing.
    A class absent from the split warns, or raises with ``require_all_classes=True``.
    """
    mosi_classes(np.zeros(0), labels)  # an unknown label scheme fails before the file is read
    if nonfinite not in ("raise", "zero"):
        raise InvalidInputError(f"nonfinite must be 'raise' or 'zero', got {nonfinite!r}.")
    key = _SPLIT_ALIASES.get(str(split).lower())
    if key is None:
        raise InvalidInputError(f"Unknown split {split!r}.", hint="Use 'train', 'valid' or 'test'.")
    unknown = [m for m in modalities if m not in _MODALITY_KEYS]
    if unknown or not modalities:
        raise InvalidInputError(f"Unknown modality {unknown or list(modalities)!r} for CMU-MOSI/MOSEI.",
                                hint=f"Choose from {list(_MODALITY_KEYS)}.")
    path, data = _read_pickle(path)
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{path.name!r} holds a {type(data).__name__}, not a dict of splits.",
                                hint="Expected keys 'train', 'valid', 'test' (MMSA/MultiBench layout). " + MOSI_HOWTO)
    if key not in data:
        raise InvalidInputError(f"{path.name!r} has no {key!r} split; its keys are {sorted(map(str, data))}.",
                                hint="Expected keys 'train', 'valid', 'test' (MMSA/MultiBench layout).")
    part = data[key]
    where = f"{path.name!r} [{key!r}]"
    if not isinstance(part, Mapping):
        raise InvalidInputError(f"{where} is a {type(part).__name__}, not a dict of arrays.")
    missing = [" or ".join(repr(k) for k in _MODALITY_KEYS[m]) for m in modalities
               if not any(k in part for k in _MODALITY_KEYS[m])]
    label_key = next((k for k in _LABEL_KEYS if k in part), None)
    if label_key is None:
        missing.append(" or ".join(repr(k) for k in _LABEL_KEYS))
    if missing:
        raise InvalidInputError(f"{where} lacks the key(s) {', '.join(missing)}; it has {sorted(map(str, part))}.",
                                hint="Expected per split: 'text' (or 'text_bert'), 'vision', 'audio' arrays (N, T, D) "
                                     "and 'regression_labels' (MMSA) or 'labels' (MultiBench); optional 'id', "
                                     "'raw_text'.")
    scores = np.asarray(part[label_key], dtype=np.float64)
    if scores.ndim == 0:
        raise InvalidInputError(f"{where} '{label_key}' is a single number, not one score per sample.")
    scores = scores.reshape(scores.shape[0], -1)[:, 0]  # MultiBench stores (N, 1, 1)
    if not np.isfinite(scores).all():
        raise InvalidInputError(f"{where} '{label_key}' has {int((~np.isfinite(scores)).sum())} NaN/infinite scores.")
    n = len(scores)
    ids = _ids(part.get("id"), n)
    features = {}
    for m in modalities:
        x = _modality_array(part, m, where)
        if x.shape[0] != n:  # report before pooling, with the names the user knows
            sizes = {mm: int(np.asarray(_modality_array(part, mm, where)).shape[0]) for mm in modalities}
            raise InvalidInputError(f"The modalities of {where} have different numbers of samples: "
                                    f"{{**{sizes}, '{label_key}': {n}}}.",
                                    hint="The file looks truncated or mixed from two sources; re-extract it.")
        lengths = part.get(f"{m}_lengths")
        if lengths is not None and np.asarray(lengths).size != n:
            lengths = None
        if nonfinite == "zero":
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        features[m] = _mean_pool(x, lengths)
    y, names, keep = mosi_classes(scores, labels)
    raw = part.get("raw_text")
    texts = None
    if raw is not None and len(raw) == n:
        texts = [str(t) for t, k in zip(np.asarray(raw).reshape(-1), keep) if k]
    return MultimodalDataset(labels=y, label_names=names, ids=[i for i, k in zip(ids, keep) if k], source=str(path),
                             split=key, features={m: x[keep] for m, x in features.items()}, texts=texts,
                             scores=scores[keep], require_all_classes=require_all_classes)


def _ids(raw, n: int) -> list[str]:
    if raw is None:
        return [str(i) for i in range(n)]
    ids = [i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in np.asarray(raw).reshape(-1)]
    return ids if len(ids) == n else [str(i) for i in range(n)]


# -- MVSA-Single / MVSA-Multiple --------------------------------------------------------------------------------
_MVSA_NAMES = ("negative", "neutral", "positive")
MVSA_RULES = ("agree", "strict", "text", "image")


def _mvsa_pair_label(text: str, image: str, rule: str) -> str | None:
    """The sample's label from one (text, image) pair, or ``None`` when the rule drops it."""
    if rule == "text":
        return text
    if rule == "image":
        return image
    if text == image:
        return text
    if rule == "agree" and "neutral" in (text, image):
        return image if text == "neutral" else text  # one neutral: the polar one wins
    return None  # positive vs negative (agree), or any disagreement (strict)


def _majority(labels: list[str]) -> str | None:
    """The label at least 2 of 3 annotators gave (MVSA-Multiple), else ``None``; one annotator: it."""
    if len(labels) == 1:
        return labels[0]
    for lab in set(labels):
        if labels.count(lab) * 2 > len(labels):
            return lab
    return None


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8", "cp1252"):  # MVSA tweets are mostly UTF-8, a few are Windows-1252
        try:
            return raw.decode(enc).strip()
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1").strip()


def load_mvsa(folder: str | os.PathLike, label: str = "agree", *, require_all_classes: bool = False,
              label_file: str = "labelResultAll.txt") -> MultimodalDataset:
    """An MVSA-Single or MVSA-Multiple folder as a :class:`MultimodalDataset` with ``texts``, ``images``
    (paths to ``data/<id>.jpg``) and labels negative/neutral/positive, in label-file order.

    ``labelResultAll.txt`` is tab-separated: a header (``ID\\ttext,image`` — repeated per annotator in
    MVSA-Multiple), then ``<id>\\t<text_label>,<image_label>`` (one pair per annotator). MVSA-Multiple's
    three annotators are first reduced per modality by majority (≥ 2 of 3; no majority drops the sample).
    ``label`` then picks the sample label (the rule of Xu & Mao 2017 and most MVSA papers is ``"agree"``):

    * ``"agree"``: equal labels are kept; one neutral + one polar → the polar label; positive vs
      negative → dropped.
    * ``"strict"``: kept only when text and image labels are equal.
    * ``"text"`` / ``"image"``: that modality's label, nothing dropped.
    """
    if label not in MVSA_RULES:
        raise InvalidInputError(f"Unknown MVSA label rule {label!r}.", hint=f"Use one of {list(MVSA_RULES)}.")
    root = Path(os.fspath(folder)).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "was not found"
        raise InvalidInputError(f"The MVSA folder {str(root)!r} {what}.", hint=MVSA_HOWTO)
    label_path = root / label_file
    if not label_path.is_file():
        raise InvalidInputError(f"The MVSA folder {str(root)!r} has no {label_file!r}.",
                                hint="Pass the folder that holds it (MVSA_Single/ or MVSA/). " + MVSA_HOWTO)
    data_dir = root / "data"
    if not data_dir.is_dir():
        raise InvalidInputError(f"The MVSA folder {str(root)!r} has no 'data/' folder with <id>.jpg and <id>.txt.",
                                hint=MVSA_HOWTO)
    lines = [ln for ln in _read_text(label_path).splitlines() if ln.strip()]
    if not lines or not lines[0].lower().startswith("id"):
        raise InvalidInputError(f"{label_file!r} in {str(root)!r} does not start with the header 'ID\\ttext,image'.",
                                hint="Use the label file as distributed with MVSA.")
    ids, texts, images, y = [], [], [], []
    dropped = 0
    expected = len(lines[0].split("\t")) - 1
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.strip().split("\t")
        pairs = [c.strip().lower().split(",") for c in cells[1:]]
        if len(cells) < 2 or (expected and len(pairs) != expected) or any(
                len(p) != 2 or any(v.strip() not in _MVSA_NAMES for v in p) for p in pairs):
            raise InvalidInputError(
                f"{label_file!r} line {lineno} is not '<id>\\t<text_label>,<image_label>' x {max(expected, 1)}: "
                f"{line.strip()[:80]!r}.",
                hint=f"Labels must be {list(_MVSA_NAMES)}.")
        text_lab = _majority([p[0].strip() for p in pairs])
        image_lab = _majority([p[1].strip() for p in pairs])
        lab = None if text_lab is None or image_lab is None else _mvsa_pair_label(text_lab, image_lab, label)
        if lab is None:
            dropped += 1
            continue
        sid = cells[0].strip()
        ids.append(sid)
        y.append(_MVSA_NAMES.index(lab))
    if not ids:
        raise InvalidInputError(f"No sample of {str(root)!r} is left after the {label!r} label rule "
                                f"({dropped} dropped).", hint="Try label='text' or label='image'.")
    missing = [sid for sid in ids if not (data_dir / f"{sid}.jpg").is_file() or not (data_dir / f"{sid}.txt").is_file()]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} of {len(ids)} labelled MVSA samples have no image or text in {str(data_dir)!r}: "
            f"ids {_first(missing)} (each needs <id>.jpg and <id>.txt).",
            hint="The download or unzip is incomplete; re-extract the archive. " + MVSA_HOWTO)
    for sid in ids:
        texts.append(_read_text(data_dir / f"{sid}.txt"))
        images.append(data_dir / f"{sid}.jpg")
    return MultimodalDataset(labels=np.asarray(y, np.int64), label_names=_MVSA_NAMES, ids=ids, source=str(root),
                             split="all", texts=texts, images=images, require_all_classes=require_all_classes)


# -- adapter to the fusion lab ----------------------------------------------------------------------------------
def lab_splits(train: MultimodalDataset, val: MultimodalDataset, test: MultimodalDataset, *,
               standardize: bool = True) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """``{"train"|"val"|"test": (features, labels)}``, the form of ``mmbench.fusion.lab.seed_data``.

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
