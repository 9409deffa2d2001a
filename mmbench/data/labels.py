"""Class labels: finding a class of a classifier by its name or its index (:func:`lookup_class`).

Shared by the classification and video pipelines and by the explain targets of classifiers.
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

from ..errors import InvalidInputError
from ..io import validate_text


def name_index(labels: Sequence[str]) -> dict[str, list[int]]:
    """``lowercased name -> [indices]`` of ``labels`` (a list, since names may repeat: ImageNet has two "cardigan")."""
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(labels):
        by_name.setdefault(name.strip().lower(), []).append(i)
    return by_name


def lookup_class(labels: Sequence[str], name: Any, model: str = "this model",
                 by_name: dict[str, list[int]] | None = None) -> int:
    """Index of class ``name`` (case-insensitive) or of an index given as int / digit string in ``labels``.

    ``by_name``: :func:`name_index` of ``labels``, when the caller keeps one. Raises
    :class:`InvalidInputError` for an unknown name (suggesting close matches), an index out of
    range, or a name shared by several classes.
    """
    import numbers

    n = len(labels)
    if isinstance(name, numbers.Integral) and not isinstance(name, bool):
        if not 0 <= int(name) < n:
            raise InvalidInputError(f"Class index {int(name)} is out of range: {model} has {n} classes (0-{n - 1}).")
        return int(name)
    if not isinstance(name, str):
        raise InvalidInputError(f"A class is a name or an index, not {type(name).__name__}.")
    text = validate_text(name, what="class name")
    if text.isdigit():
        return lookup_class(labels, int(text), model)
    by_name = name_index(labels) if by_name is None else by_name
    hits = by_name.get(text.lower())
    if hits and len(hits) == 1:
        return hits[0]
    if hits:
        raise InvalidInputError(f"'{text}' names {len(hits)} classes of {model}: indices {', '.join(map(str, hits))}.",
                                hint="Pass the index you mean.")
    close = difflib.get_close_matches(text.lower(), list(by_name), n=5, cutoff=0.6)
    if not close:  # "cat" -> the names that contain it ("tiger cat", "Egyptian cat"...)
        close = [k for k in by_name if text.lower() in k][:5]
    names = [labels[by_name[c][0]] for c in close]
    raise InvalidInputError(f"'{text}' is not a class of {model}.",
                            hint=(f"Did you mean: {', '.join(repr(x) for x in names)}?" if names
                                  else f"It knows {n} classes (see pipe.labels)."))


def target_class(labels: Sequence[str] | None, target: Any, scores: Any) -> tuple[int, str]:
    """``(index, name)`` of the class an explanation ``target`` names: an index, a name from
    ``labels`` (case-insensitive, exact), or None for the top class of ``scores`` (one score per class).

    Without ``labels`` only indices are accepted and the name is the index as text.
    """
    import numpy as np

    n = len(scores)
    labels = list(labels) if labels is not None else None
    if target is None:
        idx = int(np.asarray(scores).argmax())
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        idx = int(target)
        if not 0 <= idx < n:
            raise InvalidInputError(f"Target class {idx} is out of range: the model has {n} classes (0-{n - 1}).")
    elif isinstance(target, str) and labels is not None:
        lowered = [str(lab).lower() for lab in labels]
        if target.strip().lower() not in lowered:
            raise InvalidInputError(f"Unknown target class {target!r}.", hint=f"Choose from {labels}.")
        idx = lowered.index(target.strip().lower())
    else:
        raise InvalidInputError(f"The target must be a class index{' or name' if labels else ''}, not {target!r}.")
    return idx, (str(labels[idx]) if labels is not None else str(idx))
