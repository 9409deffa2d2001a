"""The photo index a running app or service searches: the one named by ``MMBENCH_INDEX`` (or
passed explicitly), opened once per process and shared by every request (searches are thread-safe)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..errors import ImageError, SearchIndexError
from .build import MANIFEST
from .collection import PhotoIndex

#: Environment variable naming the photo index the web app and ``mmbench serve`` search.
INDEX_ENV = "MMBENCH_INDEX"

_opened: dict[tuple[str, float], PhotoIndex] = {}
_lock = threading.Lock()


def configured_index_path() -> str | None:
    """The path in ``MMBENCH_INDEX``, or None when it is unset or empty."""
    value = os.environ.get(INDEX_ENV, "").strip()
    return value or None


def configured_index(path: str | os.PathLike | None = None) -> PhotoIndex | None:
    """The photo index at ``path`` (default: ``MMBENCH_INDEX``), opened once and reused; reopened
    when it was rebuilt since. None when no index is configured; SearchIndexError if it is unusable."""
    path = path or configured_index_path()
    if path is None:
        return None
    folder = Path(path).expanduser().resolve()
    manifest = folder / MANIFEST if (folder / MANIFEST).exists() else folder / ".mmbench-index" / MANIFEST
    try:
        key = (str(folder), manifest.stat().st_mtime)
    except OSError:
        key = (str(folder), 0.0)
    with _lock:
        if key not in _opened:
            index = PhotoIndex.open(folder)  # raises a SearchIndexError with a hint if unusable
            for old in [k for k in _opened if k[0] == key[0]]:
                del _opened[old]
            _opened[key] = index
        return _opened[key]


def search_configured(query: str, k: int = 10, path: str | os.PathLike | None = None) -> list[dict]:
    """Text search in the configured photo index: ``[{"path", "score", "id", "rank"}]``."""
    index = configured_index(path)
    if index is None:
        raise SearchIndexError("No photo index is configured.",
                               hint=f"Build one with `mmbench index build FOLDER --out PATH` and set {INDEX_ENV}=PATH.")
    return index.search_text(query, k)


def search_configured_thumbnails(query: str, k: int = 10, size: int = 256,
                                 path: str | os.PathLike | None = None) -> tuple[list[tuple[Any, dict]], PhotoIndex]:
    """:func:`search_configured` with a thumbnail (RGB PIL image, longest side ``size``) of each hit,
    for galleries that show pictures; hits whose file can no longer be read are left out.
    Returns ``([(thumbnail, hit)], index)``."""
    from ..io import validate_image

    index = configured_index(path)
    hits = search_configured(query, k, path)
    found = []
    for hit in hits:
        try:
            image = validate_image(hit["path"], what="photo")
        except ImageError:
            continue  # changed or deleted on disk since it was indexed
        image.thumbnail((size, size))
        found.append((image, hit))
    return found, index
