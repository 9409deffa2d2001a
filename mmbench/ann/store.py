"""The vector file of an on-disk index: float32 rows in one ``.npy`` that grows in place, read
memory-mapped for scans and by positioned reads (``os.pread``) for the few rows a query re-ranks.

Why two ways of reading: scanning a memory map is the fastest way through many rows, but every
page a process touches stays mapped — and counted in its resident memory — and the kernel maps up
to 16 neighbouring pages around each fault. Re-ranking a few hundred random rows per query through
the map therefore grows a long-running server's resident memory toward the size of the whole file
(1.8 GB after 300 queries over 1M × 512). Positioned reads copy just the rows into a small buffer;
the file stays in the OS page cache, shared and reclaimable, and the process stays small.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import InvalidInputError

#: Scores computed at once by the blockwise scans: at most this many (query, row) pairs (64 MiB).
SCORE_BLOCK = 1 << 24
#: Rows read from the map per block in the scans (bounds the float32 copy of a block).
ROW_BLOCK = 65_536

_HEADER = {"descr": "<f4", "fortran_order": False}


def header_size(path: Path) -> int:
    """Byte offset of the first row of the ``.npy`` at ``path``."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        reader(fh)
        return fh.tell()


def read_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype written in the header of the ``.npy`` at ``path`` (ValueError if not one)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(fh)
    return shape, dtype


def write_vectors(path: Path, chunks: Iterable[np.ndarray], dim: int) -> int:
    """Write float32 rows from ``chunks`` to a new ``.npy`` at ``path`` (via a temporary file, so a
    crash never leaves half a file under the name); returns the row count. Memory: one chunk."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    n = 0
    try:
        with open(tmp, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {**_HEADER, "shape": (0, dim)})
            for chunk in chunks:
                rows = np.ascontiguousarray(chunk, dtype=np.float32)
                if rows.ndim != 2 or rows.shape[1] != dim:
                    raise ValueError(f"chunk of shape {rows.shape} in a {dim}-dimensional vector file")
                fh.write(rows.tobytes())
                n += len(rows)
            fh.seek(0)
            np.lib.format.write_array_header_1_0(fh, {**_HEADER, "shape": (n, dim)})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def append_vectors(path: Path, rows: np.ndarray, committed: int) -> int:
    """Append ``rows`` after the first ``committed`` rows of ``path`` (rows beyond them, left by an
    interrupted append, are overwritten) and update the header in place; returns the new count.

    numpy pads ``.npy`` headers so that the row count can grow to 21 digits without moving the data,
    which is what makes the in-place header rewrite safe."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    offset = header_size(path)
    dim = rows.shape[1]
    with open(path, "r+b") as fh:
        fh.seek(offset + committed * dim * 4)
        fh.write(rows.tobytes())
        fh.truncate()
        fh.flush()
        os.fsync(fh.fileno())
        fh.seek(0)
        np.lib.format.write_array_header_1_0(fh, {**_HEADER, "shape": (committed + len(rows), dim)})
        if fh.tell() != offset:  # pragma: no cover - numpy's header padding makes this impossible
            raise RuntimeError("the .npy header changed size; the vector file is damaged")
        fh.flush()
        os.fsync(fh.fileno())
    return committed + len(rows)


def open_vectors(path: Path, n: int) -> np.ndarray:
    """The first ``n`` rows of ``path``, memory-mapped read-only (``np.load(mmap_mode="r")``)."""
    return np.load(path, mmap_mode="r", allow_pickle=False)[:n]


class RowReader:
    """Reads chosen rows of a vector file with positioned reads (thread-safe: no shared offset)."""

    def __init__(self, path: Path, dim: int) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._offset = header_size(path)
        self._row_bytes = dim * 4
        self.dim = dim
        self._closed = threading.Event()

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """``(len(ids), dim)`` float32 copy of rows ``ids`` (runs of consecutive ids: one read)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        if not len(ids):
            return out
        view = memoryview(out).cast("B")
        size = self._row_bytes
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        if np.array_equal(order, np.arange(len(ids))):  # already sorted: read runs straight into out
            breaks = np.flatnonzero(np.diff(sorted_ids) != 1) + 1
            for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(ids)]):
                self._read(view[start * size:stop * size], int(sorted_ids[start]))
            return out
        for j, row in zip(order, sorted_ids):
            self._read(view[int(j) * size:(int(j) + 1) * size], int(row))
        return out

    def _read(self, buffer: memoryview, row: int) -> None:
        got = os.preadv(self._fd, [buffer], self._offset + row * self._row_bytes)
        if got != len(buffer):
            raise OSError(f"short read from the vector file at row {row} (the file was truncated?)")

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            os.close(self._fd)

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int, *, live: np.ndarray | None = None,
               first_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows of ``vectors`` (a memory map is fine) by inner product with each query,
    scanning rows in blocks so memory stays bounded; rows where ``live`` is False are skipped.

    Returns ``(scores, ids)``, ``(Q, k)`` float32 / int64, by descending score then ascending id;
    ids are ``first_id + row``; slots beyond the number of live rows hold id -1 and score -inf."""
    n, q = len(vectors), len(queries)
    best_s = np.full((q, k), -np.inf, dtype=np.float32)
    best_i = np.full((q, k), -1, dtype=np.int64)
    step = max(1, min(ROW_BLOCK, SCORE_BLOCK // max(q, 1)))
    for start in range(0, n, step):
        block = np.asarray(vectors[start:start + step], dtype=np.float32)
        scores = queries @ block.T
        if live is not None:
            scores[:, ~live[start:start + len(block)]] = -np.inf
        take = min(k, len(block))
        top = np.argpartition(scores, len(block) - take, axis=1)[:, len(block) - take:]
        cand_s = np.concatenate([best_s, np.take_along_axis(scores, top, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, top + start + first_id], axis=1)
        cand_i[np.isneginf(cand_s)] = -1
        order = np.lexsort((np.where(cand_i < 0, np.iinfo(np.int64).max, cand_i), -cand_s), axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    return best_s, best_i


def merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge several ``(scores, ids)`` top lists of the same queries into one top-``k`` list
    (descending score, then ascending id; id -1 marks an empty slot)."""
    scores = np.concatenate([p[0] for p in parts], axis=1)
    ids = np.concatenate([p[1] for p in parts], axis=1)
    scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


def write_gallery(vectors: Any, path: Path) -> tuple[int, int]:
    """Put the rows of ``vectors`` (an array, a memory map, or the path of an ``.npy``) in the vector
    file ``path``, in 64 MiB chunks; a path naming ``path`` itself is used in place. Returns ``(n, dim)``."""
    if isinstance(vectors, (str, os.PathLike)):
        source = Path(vectors)
        try:
            array = np.load(source, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InvalidInputError(f"Cannot read vectors from {str(source)!r} ({err}).",
                                    hint="Pass an .npy file of float32 rows or an array.") from None
        if source.resolve() == path.resolve():
            check_rows(array)
            if array.dtype != np.float32:
                raise InvalidInputError(f"{str(source)!r} holds {array.dtype} rows; the index stores float32.")
            return array.shape
    else:
        array = vectors
    check_rows(array)
    n, dim = np.shape(array)
    step = max(1, (64 << 20) // (dim * 4))
    chunks = (as_rows(array[i:i + step], "Vectors") for i in range(0, n, step))
    write_vectors(path, chunks, dim)
    return n, dim


def check_rows(array: Any) -> None:
    """InvalidInputError unless ``array`` is a non-empty 2-D array."""
    shape = np.shape(array)
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise InvalidInputError(f"Vectors must be a non-empty 2-D array (items × dim), got shape {shape}.")


def as_rows(values: Any, what: str, allow_vector: bool = False) -> np.ndarray:
    """``values`` as a C-contiguous float32 ``(n, d)`` array (one ``(d,)`` vector too when
    ``allow_vector``), or InvalidInputError: empty, not numeric, NaN or infinite."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{what} must be a numeric array ({err}).") from None
    if allow_vector and array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or 0 in array.shape:
        raise InvalidInputError(f"{what} must be a non-empty 2-D array, got shape {array.shape}.")
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InvalidInputError(f"{what} must be floating-point numbers, got dtype {array.dtype}.")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{what} contain NaN or infinite values.")
    return array
