""":class:`DiskIndex`: a vector index kept in a folder and memory-mapped when opened.

Files (one folder): ``index.json`` (the commit point: row count, kind, search settings, which
generation of the other files is current), ``vectors.npy`` (every row, float32, append-only),
``ivfpq.<g>.faiss`` (large indexes) and ``deleted.<g>.npy`` (ids of removed rows). A change writes
new files first and ``index.json`` last (atomically), so an interrupted write leaves the previous
index intact.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError, SearchIndexError
from ..io.files import atomic_write
from ..retrieval import TARGET_RECALL, configure_faiss_threads
from . import ivfpq
from .store import (RowReader, append_vectors, as_rows, exact_topk, merge_topk, open_vectors, read_shape,
                    write_gallery)

FORMAT = "mmbench-vector-index"
VERSION = 1
META, VECTORS = "index.json", "vectors.npy"
#: ``kind="auto"`` searches exactly below this many rows and with IVF-PQ + exact re-ranking from it on.
AUTO_IVFPQ_FROM = 50_000
#: Rows added after the IVF-PQ index was built are searched exactly until there are this many (or a
#: tenth of the indexed rows, if more); then they are folded into the IVF-PQ index.
MIN_DELTA = 10_000
_KINDS = ("auto", "exact", "ivfpq")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class _State:
    """One consistent version of the index; searches read it without taking the lock."""

    vectors: np.ndarray  # memory map of the committed rows
    reader: RowReader
    live: np.ndarray | None  # bool per row, None when nothing was removed
    n_live: int = 0  # rows searches may return
    ivf: Any = None  # faiss index over rows [0, n_indexed)
    n_indexed: int = 0
    n_live_indexed: int = 0
    settings: Any = None  # the IVF-PQ settings of this version (nprobe, rerank, nlist...)
    params: Any = None  # faiss search parameters (nprobe, live-row selector)
    keep: tuple = ()  # objects faiss points into (bitmap, selector)


class DiskIndex:
    """Inner-product search over float32 vectors stored on disk (cosine for L2-normalised rows).

    * ``kind="exact"``: every query scans the memory-mapped rows in blocks (BLAS).
    * ``kind="ivfpq"``: a faiss IVF-PQ index (read with ``IO_FLAG_MMAP``) proposes ``rerank``
      candidates from ``nprobe`` cells; they are re-scored exactly from the float32 rows, so scores
      are exact. ``nprobe`` and ``rerank`` are calibrated at build time: the cheapest pair whose
      recall@10 against exact search reaches ``target_recall``.
    * ``kind="auto"``: exact below :data:`AUTO_IVFPQ_FROM` rows, IVF-PQ from there on.

    Ids are row numbers, stable for the life of the index. :meth:`add` appends rows, :meth:`remove`
    marks rows deleted (never returned again). Searches may run from many threads while one thread
    adds or removes: each search uses one consistent snapshot. One process writes at a time.
    """

    def __init__(self, directory: Path, meta: dict, state: _State) -> None:
        self.directory = directory
        self._meta = meta
        self._state = state
        self._lock = threading.Lock()

    # -- creating and opening ---------------------------------------------------------------------
    @classmethod
    def create(cls, directory: str | os.PathLike, vectors: Any, *, kind: str = "auto", nlist: int | None = None,
               m: int | None = None, nprobe: int | None = None, rerank: int | None = None,
               target_recall: float = TARGET_RECALL, calibration_queries: np.ndarray | None = None,
               progress: Progress | None = None, overwrite: bool = False) -> "DiskIndex":
        """Write a new index in ``directory`` from ``vectors``: an ``(N, D)`` array (a memory map is
        fine: it is copied in chunks) or the path of an ``.npy`` (``directory/vectors.npy`` itself is
        used in place, so a huge collection can be written there first). ``nlist``, ``m`` (PQ
        sub-vectors), ``nprobe`` and ``rerank`` default to :func:`ivfpq.default_nlist`,
        :func:`ivfpq.default_m` and the calibration; ``calibration_queries`` are real queries to
        calibrate on (else rows of the index, leave-one-out). ``progress(stage, done, total)``."""
        directory = Path(directory)
        if kind not in _KINDS:
            raise InvalidInputError(f"Unknown index kind {kind!r}.", hint=f"Use one of {', '.join(_KINDS)}.")
        if not 0 < target_recall <= 1:
            raise InvalidInputError(f"target_recall must be in (0, 1], got {target_recall!r}.")
        if (directory / META).exists() and not overwrite:
            raise SearchIndexError(f"{str(directory)!r} already holds an index.",
                                   hint="Open it with DiskIndex.open, or pass overwrite=True to replace it.")
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / VECTORS
        n, dim = write_gallery(vectors, path)
        meta = {"format": FORMAT, "version": VERSION, "dim": dim, "n": n, "requested_kind": kind, "generation": 0,
                "deleted": 0, "ivf": None, "target_recall": float(target_recall),
                "user": {"nlist": nlist, "m": m, "nprobe": nprobe, "rerank": rerank}}
        self = cls(directory, meta, _State(open_vectors(path, n), RowReader(path, dim), None, n))
        if calibration_queries is not None:
            _save_npy(directory / "calibration.npy", self._check_queries(calibration_queries))
        with self._lock:
            if self._wants_ivf(n):
                self._build_ivf(progress)
            self._commit(self._meta, self._state)
        return self

    @classmethod
    def open(cls, directory: str | os.PathLike) -> "DiskIndex":
        """Open an index written by :meth:`create`; vectors and IVF-PQ lists are memory-mapped."""
        directory = Path(directory)
        meta = _read_meta(directory)
        path = directory / VECTORS
        try:
            shape, dtype = read_shape(path)
        except (OSError, ValueError) as err:
            raise SearchIndexError(f"The vectors of the index {str(directory)!r} cannot be read ({err}).",
                                   hint="Rebuild the index.") from None
        if dtype != np.float32 or len(shape) != 2 or shape[1] != meta["dim"] or shape[0] < meta["n"]:
            raise SearchIndexError(f"The index {str(directory)!r} is damaged: its vector file holds {shape} "
                                   f"{dtype}, its manifest says {meta['n']} × {meta['dim']} float32.",
                                   hint="Rebuild the index.")
        self = cls(directory, meta, _State(open_vectors(path, meta["n"]), RowReader(path, meta["dim"]), None, 0))
        live = None
        if meta["deleted"]:
            removed = np.load(directory / f"deleted.{meta['generation']}.npy")
            live = np.ones(meta["n"], dtype=bool)
            live[removed] = False
        ivf = None
        if meta["ivf"]:
            configure_faiss_threads()
            ivf = ivfpq.read_index(directory / meta["ivf"]["file"])
            if int(ivf.ntotal) != meta["ivf"]["n_indexed"] or int(ivf.d) != meta["dim"]:
                raise SearchIndexError(f"The index {str(directory)!r} is damaged: its IVF-PQ file does not match "
                                       "its manifest.", hint="Rebuild the index.")
        self._state = self._snapshot(self._state.vectors, self._state.reader, live, ivf)
        return self

    # -- properties -----------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self._meta["dim"])

    @property
    def kind(self) -> str:
        """``"exact"`` or ``"ivfpq"``: the search actually used."""
        return "ivfpq" if self._meta["ivf"] else "exact"

    @property
    def ntotal(self) -> int:
        """Rows ever added, removed ones included (the next id)."""
        return int(self._meta["n"])

    def __len__(self) -> int:
        """Rows that searches can return (added and not removed)."""
        return int(self._meta["n"] - self._meta["deleted"])

    @property
    def settings(self) -> dict:
        """The IVF-PQ settings (``nlist``, ``m``, ``nprobe``, ``rerank``, ``recall``...) or ``{}``."""
        return dict(self._meta["ivf"] or {})

    @property
    def description(self) -> str:
        """Short label, e.g. ``"exact"`` or ``"ivf1024,pq64,nprobe=8,rerank=160"``."""
        s = self._meta["ivf"]
        if not s:
            return "exact"
        delta = self.ntotal - s["n_indexed"]
        return (f"ivf{s['nlist']},pq{s['m']},nprobe={s['nprobe']},rerank={s['rerank']}"
                + (f" (+{delta} exact)" if delta else ""))

    @property
    def memory_mapped(self) -> bool:
        """Whether searches read the index from memory maps: the vectors always are; the IVF-PQ
        inverted lists are when faiss could open them with ``IO_FLAG_MMAP``."""
        ivf = self._state.ivf
        if ivf is None:
            return True
        import faiss

        return type(faiss.downcast_InvertedLists(ivf.invlists)).__name__ == "OnDiskInvertedLists"

    def __repr__(self) -> str:
        return f"DiskIndex({len(self)} × {self.dim}, {self.description}, {str(self.directory)!r})"

    def is_live(self, ids: Any) -> np.ndarray:
        """Whether each id names a row that searches can return."""
        ids = np.asarray(ids, dtype=np.int64)
        state = self._state
        ok = (ids >= 0) & (ids < len(state.vectors))
        if state.live is not None:
            ok[ok] = state.live[ids[ok]]
        return ok

    def vectors(self, ids: Any) -> np.ndarray:
        """The stored float32 rows ``ids`` (read from disk)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.ntotal):
            raise InvalidInputError(f"Row ids must be in 0..{self.ntotal - 1}.")
        return self._state.reader.rows(ids)

    # -- search -----------------------------------------------------------------------------------------
    def search(self, queries: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` live rows with the largest inner product with each query: ``(scores, ids)``,
        ``(Q, k)`` float32 / int64, by descending score (ties by ascending id). ``k`` is clipped to
        ``len(self)``; ``queries`` is ``(Q, dim)`` or one ``(dim,)`` vector."""
        if not _is_int(k) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}.", hint="Ask for at least 1 result.")
        q = self._check_queries(queries)
        state = self._state
        k = min(int(k), state.n_live)
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        n = len(state.vectors)
        if state.ivf is None:
            return exact_topk(state.vectors, q, k, live=state.live)
        parts = [self._search_ivf(state, q, k)]
        if n > state.n_indexed:  # rows added since the IVF-PQ build: scanned exactly
            live = None if state.live is None else state.live[state.n_indexed:]
            parts.append(exact_topk(state.vectors[state.n_indexed:], q, k, live=live, first_id=state.n_indexed))
        return merge_topk(parts, k) if len(parts) > 1 else parts[0]

    @staticmethod
    def _search_ivf(state: _State, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        depth = max(int(state.settings["rerank"]), k)
        _, cand = state.ivf.search(q, depth, params=state.params)
        scores, ids = ivfpq.rerank(state.reader, q, cand, k)
        short = np.flatnonzero((ids < 0).sum(axis=1) > max(0, k - state.n_live_indexed))
        if short.size:  # the probed cells held too few live rows: probe every cell for these queries
            params = ivfpq.search_params(state.settings["nlist"], state.params.sel)
            _, more = state.ivf.search(q[short], depth, params=params)
            scores[short], ids[short] = ivfpq.rerank(state.reader, q[short], more, k)
        return scores, ids

    # -- changes ------------------------------------------------------------------------------------------
    def add(self, vectors: Any, progress: Progress | None = None) -> np.ndarray:
        """Append rows; returns their ids (``ntotal``, ``ntotal + 1``, ...). Grown past
        :data:`AUTO_IVFPQ_FROM` rows, an ``"auto"`` index switches to IVF-PQ; rows added to an IVF-PQ
        index are searched exactly until there are enough to fold into it (retrained at 4× the size
        it was trained for, re-calibrated at 2× the size it was calibrated for)."""
        rows = as_rows(vectors, "Vectors")
        if rows.shape[1] != self.dim:
            raise SearchIndexError(f"Cannot add {rows.shape[1]}-dimensional vectors to a {self.dim}-dimensional "
                                   "index.", hint="Embed them with the model the index was built with.")
        with self._lock:
            start = self.ntotal
            path = self.directory / VECTORS
            n = append_vectors(path, rows, start)
            live = None if self._state.live is None else np.concatenate([self._state.live, np.ones(len(rows), bool)])
            self._state = self._snapshot(open_vectors(path, n), self._state.reader, live, self._state.ivf)
            meta = {**self._meta, "n": n}
            self._meta = meta
            s = meta["ivf"]
            if (s is None and self._wants_ivf(n)) or (s and n - s["n_indexed"] > max(MIN_DELTA, s["n_indexed"] // 10)):
                self._build_ivf(progress)
            self._commit(self._meta, self._state)
        return np.arange(start, n, dtype=np.int64)

    def remove(self, ids: Any) -> int:
        """Mark rows deleted; returns how many were live. Unknown ids raise; removed ones are ignored."""
        ids = np.unique(np.asarray(ids, dtype=np.int64).ravel())
        if ids.size and (ids.min() < 0 or ids.max() >= self.ntotal):
            raise InvalidInputError(f"Cannot remove ids outside 0..{self.ntotal - 1}.")
        with self._lock:
            state = self._state
            live = np.ones(self.ntotal, dtype=bool) if state.live is None else state.live.copy()
            removed = int(live[ids].sum())
            if not removed:
                return 0
            live[ids] = False
            self._meta = {**self._meta, "deleted": int((~live).sum()), "generation": self._meta["generation"] + 1}
            _save_npy(self.directory / f"deleted.{self._meta['generation']}.npy", np.flatnonzero(~live))
            self._commit(self._meta, self._snapshot(state.vectors, state.reader, live, state.ivf))
        return removed

    def calibrate(self, queries: Any = None, target_recall: float | None = None, *,
                  progress: Progress | None = None) -> float:
        """Re-tune ``nprobe`` and ``rerank`` (on ``queries``: real ones are best, at most 256 used;
        they are kept for later re-calibrations) and return the recall@10 reached; 1.0 if exact."""
        target = self._meta["target_recall"] if target_recall is None else float(target_recall)
        if not 0 < target <= 1:
            raise InvalidInputError(f"target_recall must be in (0, 1], got {target!r}.")
        with self._lock:
            if queries is not None:
                _save_npy(self.directory / "calibration.npy", self._check_queries(queries))
            self._meta = {**self._meta, "target_recall": target,
                          "user": {**self._meta["user"], "nprobe": None, "rerank": None}}
            if not self._meta["ivf"]:
                self._commit(self._meta, self._state)
                return 1.0
            self._calibrate(progress)
            self._commit(self._meta, self._state)
            return float(self._meta["ivf"]["recall"])

    def close(self) -> None:
        """Release the file handle of the row reader (the maps go with the object)."""
        self._state.reader.close()

    # -- internals -------------------------------------------------------------------------------------
    def _wants_ivf(self, n: int) -> bool:
        kind = self._meta["requested_kind"]
        return kind == "ivfpq" or (kind == "auto" and n >= AUTO_IVFPQ_FROM)

    def _check_queries(self, queries: Any) -> np.ndarray:
        q = as_rows(queries, "Queries", allow_vector=True)
        if q.shape[1] != self.dim:
            raise SearchIndexError(f"Queries have {q.shape[1]} dimensions but the index holds {self.dim}-dimensional "
                                   "vectors.", hint="Embed the queries with the model the index was built with.")
        return q

    def _build_ivf(self, progress: Progress | None) -> None:
        """(Re)build the IVF-PQ part over every row; retrain when there is none yet or the index has
        grown 4× past its training size, else add the new rows to a copy of the current one."""
        configure_faiss_threads()
        meta, state = self._meta, self._state
        n, old = meta["n"], meta["ivf"]
        if n < ivfpq.MIN_ROWS:
            if meta["requested_kind"] == "ivfpq":
                raise InvalidInputError(f"An IVF-PQ index needs at least {ivfpq.MIN_ROWS} vectors, got {n}.",
                                        hint="Use kind='exact' (or 'auto') for small collections.")
            return
        user = meta["user"]
        if old is None or (user["nlist"] is None and n > 4 * old["trained_for"]):
            nlist = min(user["nlist"] or ivfpq.default_nlist(n), n // 39 or 1)
            index = ivfpq.train(state.vectors, nlist, user["m"] or ivfpq.default_m(self.dim), progress=progress)
            settings = {"nlist": int(index.nlist), "m": int(index.pq.M), "trained_for": n, "calibrated_for": 0}
        else:
            index = ivfpq.read_index(self.directory / old["file"], mmap=False)
            settings = dict(old)
        ivfpq.add_rows(index, state.vectors, int(index.ntotal), n, progress)
        meta = {**meta, "generation": meta["generation"] + 1}
        settings.update(n_indexed=n, file=f"ivfpq.{meta['generation']}.faiss")
        ivfpq.write_index(index, self.directory / settings["file"])
        if meta["deleted"]:
            _save_npy(self.directory / f"deleted.{meta['generation']}.npy", np.flatnonzero(~state.live))
        self._meta = {**meta, "ivf": settings}
        self._state = self._snapshot(state.vectors, state.reader, state.live, ivfpq.read_index(self.directory / settings["file"]))
        if settings.get("calibrated_for", 0) * 2 <= n or user["nprobe"] or user["rerank"]:
            self._calibrate(progress)

    def _calibrate(self, progress: Progress | None) -> None:
        meta, state = self._meta, self._state
        settings, user = dict(meta["ivf"]), meta["user"]
        path = self.directory / "calibration.npy"
        queries = np.load(path) if path.exists() else None
        target = meta["target_recall"]
        if user["nprobe"] and user["rerank"]:
            settings.update(nprobe=int(min(user["nprobe"], settings["nlist"])), rerank=int(user["rerank"]), recall=None)
        else:
            nprobe, depth, recall = ivfpq.calibrate(
                state.ivf, state.vectors[:state.n_indexed], state.reader, queries=queries, target=target,
                live=None if state.live is None else state.live[:state.n_indexed],
                selector=state.params.sel, progress=progress)
            settings.update(nprobe=int(user["nprobe"] or nprobe), rerank=int(user["rerank"] or depth),
                            recall=round(recall, 4))
        settings.update(calibrated_for=int(meta["n"]), target_recall=target)
        self._meta = {**meta, "ivf": settings}
        self._state = self._snapshot(state.vectors, state.reader, state.live, state.ivf)

    def _snapshot(self, vectors: np.ndarray, reader: RowReader, live: np.ndarray | None, ivf: Any) -> _State:
        """A search snapshot of these rows with the current settings (``self._meta``)."""
        n_live = len(vectors) if live is None else int(live.sum())
        state = _State(vectors, reader, live, n_live)
        if ivf is None:
            return state
        import faiss

        n_indexed = int(ivf.ntotal)
        keep: tuple = ()
        selector = None
        if live is not None and not live[:n_indexed].all():
            bitmap = np.packbits(live[:n_indexed], bitorder="little")
            selector = faiss.IDSelectorBitmap(n_indexed, faiss.swig_ptr(bitmap))
            keep = (bitmap, selector)
        settings = dict(self._meta["ivf"] or {})
        n_live_indexed = n_indexed if live is None else int(live[:n_indexed].sum())
        return replace(state, ivf=ivf, n_indexed=n_indexed, n_live_indexed=n_live_indexed, settings=settings,
                       params=ivfpq.search_params(settings.get("nprobe", 1), selector), keep=keep)

    def _commit(self, meta: dict, state: _State) -> None:
        """Write ``index.json`` (atomically), then make the new version visible and drop old files."""
        atomic_write(self.directory / META, lambda fh: fh.write(json.dumps(meta, indent=1).encode()))
        self._meta, self._state = meta, state
        current = {meta["ivf"]["file"]} if meta["ivf"] else set()
        current.add(f"deleted.{meta['generation']}.npy")
        for pattern in ("ivfpq.*.faiss", "deleted.*.npy"):
            for path in self.directory.glob(pattern):
                if path.name not in current:
                    path.unlink(missing_ok=True)


# -- helpers -------------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, array, allow_pickle=False))


def _read_meta(directory: Path) -> dict:
    path = directory / META
    if not directory.is_dir():
        raise SearchIndexError(f"No index at {str(directory)!r}: " + ("it is a file, not an index folder."
                               if directory.exists() else "the folder does not exist."),
                               hint="Pass the folder written when the index was built.")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SearchIndexError(f"{str(directory)!r} is not an index folder (it has no {META}).",
                               hint="Pass the folder written when the index was built.") from None
    except (OSError, ValueError) as err:
        raise SearchIndexError(f"The manifest of the index {str(directory)!r} is damaged ({err}).",
                               hint="Rebuild the index.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SearchIndexError(f"{str(path)!r} is not the manifest of an mmbench vector index.",
                               hint="Pass the folder written when the index was built.")
    if meta.get("version", 0) > VERSION:
        raise SearchIndexError(f"The index {str(directory)!r} was written by a newer mmbench (format "
                               f"{meta.get('version')}).", hint="Upgrade mmbench or rebuild the index.")
    return meta


