""":class:`PhotoIndex`: a folder of photos embedded once, searched by text or by image.

An index folder holds ``photos.json`` (model, photo root, skipped files), ``paths.json`` (the path
of each row, relative to the root when inside it) and ``vectors/`` (a :class:`mmbench.ann.DiskIndex`:
memory-mapped vectors, exact search for small collections, IVF-PQ + exact re-ranking for large ones).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import InvalidInputError, SearchIndexError
from ..io.files import atomic_write
from .build import (DEFAULT_BATCH_SIZE, DEFAULT_DIRNAME, FORMAT, MANIFEST, PATHS, TASK, VECTORS_DIR, VERSION,
                    BuildReport, Progress, build_index)
from .files import read_images

class PhotoIndex:
    """A searchable photo collection on disk.

    >>> report = PhotoIndex.build("~/Pictures", "pictures.index")   # doctest: +SKIP
    >>> photos = PhotoIndex.open("pictures.index")                  # doctest: +SKIP
    >>> photos.search_text("a dog on a beach", k=5)                 # doctest: +SKIP
    [{'path': '/home/me/Pictures/2023/beach.jpg', 'score': 0.31, 'id': 412, 'rank': 1}, ...]

    Searches are thread-safe and may run while another thread adds or removes photos. The model
    the index was built with is loaded on the first search (through :func:`mmbench.pipeline`).
    """

    def __init__(self, path: Path, manifest: dict, paths: list[str], vectors: Any, pipe: Any = None) -> None:
        self.path = path
        self.manifest = manifest
        self.root = Path(manifest["root"])
        self._paths = paths  # replaced (never changed in place) by add(): searches read a snapshot
        self._vectors = vectors
        self._pipe = pipe
        self._lock = threading.Lock()  # one change (add/remove) at a time
        self._pipe_lock = threading.Lock()
        self._live_ids: dict[str, int] | None = None  # path -> id of its live row, built on first add/remove

    # -- building and opening --------------------------------------------------------------------------
    @classmethod
    def build(cls, folder: str | os.PathLike, out: str | os.PathLike | None = None, *, model: str | None = None,
              batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | bool | None = None,
              overwrite: bool = False, pipe: Any = None) -> BuildReport:
        """Embed the images under ``folder`` (recursively) into a new index at ``out`` (default
        ``FOLDER/.mmbench-index``), resuming an interrupted build; see
        :func:`mmbench.photos.build.build_index`. Open the result with :meth:`open`."""
        return build_index(folder, out, model=model, batch_size=batch_size, progress=progress,
                           overwrite=overwrite, pipe=pipe)

    @classmethod
    def open(cls, path: str | os.PathLike, *, pipe: Any = None) -> "PhotoIndex":
        """Open an index written by :meth:`build` (a photo folder with a ``.mmbench-index`` inside
        works too). ``pipe``: a loaded matching pipeline of the index's model, to share it."""
        path = Path(path).expanduser()
        if path.is_file():
            raise SearchIndexError(f"{str(path)!r} is a file; a photo index is a folder.",
                                   hint="Pass the folder written by `mmbench index build` (its --out).")
        if not (path / MANIFEST).exists() and (path / DEFAULT_DIRNAME / MANIFEST).exists():
            path = path / DEFAULT_DIRNAME
        manifest = _read_json(path / MANIFEST, path, "photo index")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise SearchIndexError(f"{str(path)!r} is not an mmbench photo index.",
                                   hint="Pass the folder written by `mmbench index build` (its --out).")
        if manifest.get("version", 0) > VERSION:
            raise SearchIndexError(f"The photo index {str(path)!r} was written by a newer mmbench.",
                                   hint="Upgrade mmbench or rebuild the index.")
        from ..ann import DiskIndex

        vectors = DiskIndex.open(path / VECTORS_DIR)
        paths = _read_json(path / PATHS, path, "photo index")
        if not isinstance(paths, list) or len(paths) < vectors.ntotal or vectors.dim != manifest["dim"]:
            raise SearchIndexError(f"The photo index {str(path)!r} is damaged (its paths and vectors disagree).",
                                   hint="Rebuild it with `mmbench index build --overwrite`.")
        self = cls(path, manifest, paths[:vectors.ntotal], vectors)
        if pipe is not None:
            self._check_pipe(pipe)
            self._pipe = pipe
        return self

    # -- what is in it ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, (str, os.PathLike)):
            return False
        return self._key(path) in self._live()

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def paths(self) -> list[str]:
        """Absolute paths of the photos searches can return, in id order."""
        paths, live = self._paths, self._vectors.is_live(np.arange(len(self._paths)))
        return [self._absolute(p) for p, ok in zip(paths, live) if ok]

    def info(self) -> dict:
        """A JSON-ready summary: path, root, model, photos, dimension, search method, skipped files."""
        return {"index": str(self.path), "root": str(self.root), "model": self.model, "photos": len(self),
                "dim": self._vectors.dim, "search": self._vectors.description,
                "memory_mapped": self._vectors.memory_mapped, "skipped_at_build": len(self.manifest.get("skipped", []))}

    def __repr__(self) -> str:
        return f"PhotoIndex({len(self)} photos, {self.model}, {self._vectors.description}, {str(self.path)!r})"

    # -- search -------------------------------------------------------------------------------------------
    @property
    def pipeline(self) -> Any:
        """The index's matching pipeline, loaded on first use (the registry model it was built with)."""
        if self._pipe is None:
            with self._pipe_lock:
                if self._pipe is None:
                    from ..loading import pipeline

                    pipe = pipeline(TASK, model=self.model, fallback=False)
                    self._check_pipe(pipe)
                    self._pipe = pipe
        return self._pipe

    def search_text(self, query: str, k: int = 10) -> list[dict]:
        """The ``k`` photos that best match ``query``: ``[{"path", "score", "id", "rank"}]``, best
        first; ``score`` is the cosine similarity of the text and image embeddings."""
        from ..io import validate_text

        k = _check_k(k)
        query = validate_text(query, what="query")
        return self.search_vectors(self.pipeline.embed_texts([query]), k)[0]

    def search_image(self, image: Any, k: int = 10) -> list[dict]:
        """The ``k`` photos most similar to ``image`` (a path, PIL image, bytes or array)."""
        k = _check_k(k)
        return self.search_vectors(self.pipeline.embed_images([image]), k)[0]

    def search_vectors(self, vectors: Any, k: int = 10) -> list[list[dict]]:
        """Search with embeddings of the index's model: one result list per row of ``vectors``."""
        k = _check_k(k)
        paths = self._paths  # snapshot taken before the index's: every id it returns has a path here
        scores, ids = self._vectors.search(vectors, k)
        return [[{"path": self._absolute(paths[i]), "score": round(float(s), 6), "id": int(i), "rank": r + 1}
                 for r, (s, i) in enumerate((s, i) for s, i in zip(row_s, row_i) if i >= 0)]
                for row_s, row_i in zip(scores, ids)]

    def calibrate(self, queries: Sequence[str]) -> float:
        """Tune an approximate index on real text queries; returns the recall@10 reached (1.0 if exact)."""
        from ..io import validate_texts

        return self._vectors.calibrate(self.pipeline.embed_texts(validate_texts(queries, what="query")))

    # -- changes ----------------------------------------------------------------------------------------
    def add(self, paths: Iterable[str | os.PathLike], *, batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
        """Embed and add photos: ``{"added": [...], "skipped": [{"path", "reason"}], "already_indexed": [...]}``.
        A folder adds the images under it; a path already in the index is left as it is."""
        from .files import find_images

        todo: list[Path] = []
        for p in _as_list(paths, "photo paths"):
            p = Path(p).expanduser()
            if p.is_dir():
                root, rel = find_images(p, exclude=[self.path])
                todo += [root / r for r in rel]
            else:
                todo.append(p.resolve() if p.exists() else p)
        report: dict[str, list] = {"added": [], "skipped": [], "already_indexed": []}
        with self._lock:
            live = self._live()
            fresh = []
            for p in todo:
                (report["already_indexed"] if self._key(p) in live else fresh).append(p)
            report["already_indexed"] = [str(p) for p in report["already_indexed"]]
            for start in range(0, len(fresh), batch_size):
                images, ok, skipped = read_images(fresh[start:start + batch_size])
                report["skipped"] += skipped
                if not images:
                    continue
                vectors = self.pipeline.embed_images(images)
                keys = [self._key(fresh[start + j]) for j in ok]
                paths = self._paths + keys
                _write_json(self.path / PATHS, paths)  # paths first: rows without a path never exist
                self._paths = paths
                ids = self._vectors.add(vectors)
                live.update(zip(keys, ids.tolist()))
                report["added"] += [str(fresh[start + j]) for j in ok]
        return report

    def remove(self, paths: Iterable[str | os.PathLike]) -> dict:
        """Remove photos by path (never returned again): ``{"removed": [...], "not_found": [...]}``."""
        report: dict[str, list] = {"removed": [], "not_found": []}
        with self._lock:
            live = self._live()
            ids = []
            for p in _as_list(paths, "photo paths"):
                key = self._key(p)
                if key in live:
                    ids.append(live.pop(key))
                    report["removed"].append(self._absolute(key))
                else:
                    report["not_found"].append(str(p))
            if ids:
                self._vectors.remove(ids)
        return report

    # -- internals --------------------------------------------------------------------------------------
    def _check_pipe(self, pipe: Any) -> None:
        if pipe.spec.name != self.model or int(pipe.embed_dim) != int(self.manifest["dim"]):
            raise SearchIndexError(f"The photo index {str(self.path)!r} was built with {self.model!r} "
                                   f"({self.manifest['dim']}-d), not {pipe.spec.name!r} ({pipe.embed_dim}-d).",
                                   hint=f"Search it with {self.model!r}, or rebuild it with the other model.")

    def _live(self) -> dict[str, int]:
        if self._live_ids is None:
            live = self._vectors.is_live(np.arange(len(self._paths)))
            self._live_ids = {p: i for i, (p, ok) in enumerate(zip(self._paths, live)) if ok}
        return self._live_ids

    def _key(self, path: str | os.PathLike) -> str:
        """How a path is stored: relative to the root (POSIX) when inside it, else absolute."""
        p = Path(path).expanduser()
        p = (p if p.is_absolute() else Path.cwd() / p).resolve()
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def _absolute(self, key: str) -> str:
        return key if os.path.isabs(key) else str(self.root / key)


def _check_k(k: Any) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}.", hint="Ask for at least 1 result.")
    return int(k)


def _as_list(paths: Any, what: str) -> list:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    items = list(paths)
    if not items:
        raise InvalidInputError(f"No {what} were given.")
    return items


def _read_json(path: Path, index: Path, what: str) -> Any:
    if not index.exists():
        raise SearchIndexError(f"No {what} at {str(index)!r}: the path does not exist.",
                               hint="Build one with `mmbench index build FOLDER --out PATH`.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SearchIndexError(f"{str(index)!r} is not an mmbench {what} (it has no {path.name}).",
                               hint="Pass the folder written by `mmbench index build` (its --out).") from None
    except (OSError, ValueError) as err:
        raise SearchIndexError(f"The {what} {str(index)!r} is damaged ({path.name}: {err}).",
                               hint="Rebuild it with `mmbench index build --overwrite`.") from None


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(data, ensure_ascii=False).encode("utf-8")))
