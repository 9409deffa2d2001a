"""Embedding arrays: :func:`validate_embeddings` turns a list of vectors, a 1-D or a 2-D array into one
clean ``(n, d)`` float64 array, or raises :class:`~mmbench.errors.EmbeddingError` saying what to do.

Drift detectors (:mod:`mmbench.monitor`) check every reference and window through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EmbeddingError

__all__ = ["validate_embeddings"]


def validate_embeddings(x: Any, *, what: str = "embeddings", min_samples: int = 1,
                        dim: int | None = None) -> np.ndarray:
    """``x`` as a finite float64 ``(n, d)`` array with ``n >= min_samples`` (and ``d == dim`` if given).

    A 1-D array is ``n`` one-dimensional samples. Raises :class:`EmbeddingError` for anything else:
    not numeric, more than two dimensions, too few rows, a dimension different from ``dim``, NaN or inf.
    """
    if x is None:
        raise EmbeddingError(f"No {what} were given.", hint="Pass an (n_samples, dim) array of embeddings.")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise EmbeddingError(f"The {what} are not a numeric array ({error}).",
                             hint="Pass an (n_samples, dim) array of numbers, all rows of the same length.") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise EmbeddingError(f"The {what} have shape {arr.shape}; expected (n_samples, dim).",
                             hint="Flatten each sample to one vector first, e.g. x.reshape(len(x), -1).")
    n, d = arr.shape
    if d == 0:
        raise EmbeddingError(f"The {what} have dimension 0.", hint="Each sample needs at least one feature.")
    if n < min_samples:
        raise EmbeddingError(f"The {what} hold {n} sample{'s' if n != 1 else ''}; at least {min_samples} are needed.",
                             hint=f"Collect at least {min_samples} samples before fitting or testing.")
    if dim is not None and d != dim:
        raise EmbeddingError(f"The {what} have dimension {d}, but the reference has dimension {dim}.",
                             hint="Embed the window with the same model (and layer) as the reference, or refit "
                                  "the detector on a reference from this model.")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        kind = "NaN" if np.isnan(arr).any() else "infinite"
        shown = ", ".join(str(i) for i in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise EmbeddingError(f"The {what} contain {kind} values (rows {shown}).",
                             hint="Drop or re-embed those samples: a NaN embedding usually means a failed or "
                                  "empty input upstream.")
    return arr
