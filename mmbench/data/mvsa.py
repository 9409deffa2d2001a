"""MVSA-Single / MVSA-Multiple folders (``data/<id>.jpg``, ``data/<id>.txt``, ``labelResultAll.txt``):
:func:`load_mvsa` returns texts, image paths and sentiment labels (features are the lab's job).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .datasets import MultimodalDataset, first_items

__all__ = ["MVSA_HOWTO", "MVSA_RULES", "load_mvsa"]

MVSA_HOWTO = (
    "MVSA is not shipped with mmbench and is never downloaded by it. Request MVSA-Single or "
    "MVSA-Multiple from its authors (MCRLab, University of Ottawa: "
    "https://mcrlab.net/research/mvsa-sentiment-analysis-on-multi-view-social-data/), unzip it and pass "
    "the folder that holds 'labelResultAll.txt' and 'data/'."
)
_MVSA_NAMES = ("negative", "neutral", "positive")
#: How :func:`load_mvsa` turns the text and image labels into the sample's label.
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
            f"ids {first_items(missing)} (each needs <id>.jpg and <id>.txt).",
            hint="The download or unzip is incomplete; re-extract the archive. " + MVSA_HOWTO)
    for sid in ids:
        texts.append(_read_text(data_dir / f"{sid}.txt"))
        images.append(data_dir / f"{sid}.jpg")
    return MultimodalDataset(labels=np.asarray(y, np.int64), label_names=_MVSA_NAMES, ids=ids, source=str(root),
                             split="all", texts=texts, images=images, require_all_classes=require_all_classes)
