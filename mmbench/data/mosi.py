"""CMU-MOSI / CMU-MOSEI feature pickles as distributed by MMSA (``aligned_50.pkl``, ``unaligned_50.pkl``)
or MultiBench (``mosi_data.pkl``, ``mosei_senti_data.pkl``): :func:`load_mosi` mean-pools the time axis
into one vector per modality and maps the sentiment score to classes (:func:`mosi_classes`).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError
from .datasets import SENTIMENT_LABELS, MultimodalDataset

__all__ = ["MOSI_HOWTO", "load_mosi", "mosi_classes"]

MOSI_HOWTO = (
    "CMU-MOSI/MOSEI are not shipped with mmbench and are never downloaded by it. Get the feature "
    "pickles yourself: MMSA (https://github.com/thuiar/MMSA, 'aligned_50.pkl' / 'unaligned_50.pkl' "
    "from its dataset links) or MultiBench (https://github.com/pliang279/MultiBench, 'mosi_data.pkl' / "
    "'mosei_senti_data.pkl'), accept the CMU Multimodal SDK licence, and pass the local file path."
)

_SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid", "dev": "valid",
                  "test": "test"}
_MODALITY_KEYS = {"text": ("text", "text_bert"), "vision": ("vision",), "audio": ("audio",)}
_LABEL_KEYS = ("regression_labels", "labels")  # MMSA, MultiBench


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
