"""faiss IVF-PQ over the rows of a vector file: training on a sample, adding in chunks, and the
calibration that picks the probe depth (``nprobe``) and the re-rank depth against exact search.

The design: an inverted file of ``nlist`` k-means cells, each row stored as ``m`` one-byte product
quantizer codes of its residual to its cell centre (64 bytes instead of 2 KiB for 512-d), searched
by inner product. PQ scores are coarse, so a query takes the ``rerank`` best candidates by PQ score
and re-scores them exactly from the float32 rows; the returned scores are exact inner products.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import SearchIndexError
from .store import RowReader, exact_topk

#: Rows the coarse k-means is trained on, per cell; the product quantizer is trained on at most
#: 64 points per centroid (16,384). Ten iterations each: more changes little once the candidates
#: are re-ranked exactly, and faiss's defaults (plus polysemous training) made a 1M build ~5x slower.
TRAIN_POINTS_PER_CELL = 64
PQ_TRAIN_POINTS_PER_CENTROID = 64
KMEANS_ITERATIONS = 10
#: Rows added to the index per faiss call (bounded memory: 128 MiB of float32 at 512-d).
ADD_CHUNK = 65_536
#: Re-rank depths tried by the calibration (the PQ candidates re-scored exactly).
RERANK_GRID = (20, 40, 80, 160, 320, 640, 1280)
CALIBRATION_QUERIES = 256
MIN_ROWS = 1024

Progress = Callable[[str, int, int], None]


def default_nlist(n: int) -> int:
    """Cells for ``n`` rows: the power of two nearest √n (1,024 for 1M), at least 39 rows per cell.

    Fewer cells than the usual 4-16·√n keep training and adding cheap on two cores (a query then
    scans ~8 cells of ~1,000 codes: about a millisecond); the re-ranking recovers the accuracy."""
    nlist = 2 ** round(math.log2(max(1.0, math.sqrt(n))))
    return int(max(1, min(nlist, n // 39)))


def default_m(dim: int) -> int:
    """Product-quantizer sub-vectors: the largest divisor of ``dim`` with >= 8 dimensions each
    (64 for 512-d, 32 for 256-d), at least 1."""
    return max([m for m in range(1, dim // 8 + 1) if dim % m == 0] or [1])


def train(vectors: np.ndarray, nlist: int, m: int, *, seed: int = 1234, progress: Progress | None = None) -> Any:
    """An empty, trained ``faiss.IndexIVFPQ`` (inner product, 8-bit codes) for rows like ``vectors``
    (a memory map is fine: only a sorted random sample of rows is read)."""
    import faiss

    n, dim = vectors.shape
    size = min(n, max(nlist * TRAIN_POINTS_PER_CELL, 256 * PQ_TRAIN_POINTS_PER_CENTROID))
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    if progress:
        progress("train", 0, 1)
    sample = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    index.do_polysemous_training = False
    index.cp.niter = index.pq.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = index.pq.cp.seed = seed
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_CELL
    index.pq.cp.max_points_per_centroid = PQ_TRAIN_POINTS_PER_CENTROID
    index.cp.min_points_per_centroid = index.pq.cp.min_points_per_centroid = 1  # small sets: no warning spam
    index.train(sample)
    if progress:
        progress("train", 1, 1)
    return index


def add_rows(index: Any, vectors: np.ndarray, start: int, stop: int, progress: Progress | None = None) -> None:
    """Add rows ``start:stop`` of ``vectors`` to ``index`` (whose ids must continue at ``start``)."""
    if int(index.ntotal) != start:
        raise ValueError(f"index holds {index.ntotal} rows, cannot add from row {start}")
    for lo in range(start, stop, ADD_CHUNK):
        hi = min(lo + ADD_CHUNK, stop)
        index.add(np.ascontiguousarray(vectors[lo:hi], dtype=np.float32))
        if progress:
            progress("add", hi - start, stop - start)


def search_params(nprobe: int, selector: Any = None) -> Any:
    import faiss

    return faiss.SearchParametersIVF(nprobe=int(nprobe), sel=selector) if selector is not None \
        else faiss.SearchParametersIVF(nprobe=int(nprobe))


def rerank(reader: RowReader, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of each query among its candidate ids (-1 = none), by descending score then
    ascending id; empty slots get id -1 and score -inf."""
    q, r = candidates.shape
    scores = np.full((q, r), -np.inf, dtype=np.float32)
    valid = candidates >= 0
    if valid.any():
        flat = candidates[valid]
        rows = reader.rows(flat)
        owner = np.nonzero(valid)[0]
        scores[valid] = np.einsum("nd,nd->n", rows, queries[owner])
    ids = np.where(valid, candidates, -1)
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), _top(scores, ids, k)


def calibrate(index: Any, vectors: np.ndarray, reader: RowReader, *, queries: np.ndarray | None,
              target: float, k: int = 10, live: np.ndarray | None = None, selector: Any = None,
              progress: Progress | None = None) -> tuple[int, int, float]:
    """``(nprobe, rerank, recall)``: the cheapest probe and re-rank depths whose recall@k against
    exact search over ``vectors`` reaches ``target`` (or, failing that, the most accurate).

    Queries: the given ones (at most 256; real queries are best), else 256 live rows of the index
    searched leave-one-out (each row's own id is dropped from both result lists); a row sits exactly
    on the data, which makes it an easier query than a real one, so rows must reach the midpoint
    between ``target`` and 1 (0.985 for 0.97). Cost model of a
    query, in bytes touched: ``nprobe`` cells of PQ codes scanned plus ``rerank`` float32 rows read.
    """
    n, dim = vectors.shape
    nlist, m = int(index.nlist), int(index.pq.M)
    if queries is None:
        pool = np.flatnonzero(live) if live is not None else np.arange(n)
        rows = np.sort(np.random.default_rng(0).choice(pool, size=min(CALIBRATION_QUERIES, len(pool)), replace=False))
        queries = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    else:
        queries = np.ascontiguousarray(queries[:CALIBRATION_QUERIES], dtype=np.float32)
        rows = np.full(len(queries), -1)
    if rows[0] >= 0:
        target = target + (1 - target) / 2
    n_live = int(live.sum()) if live is not None else n
    k = max(1, min(k, n_live - (rows[0] >= 0)))
    truth = _drop_self(exact_topk(vectors, queries, k + 1, live=live)[1], rows, k)
    depths = [r for r in RERANK_GRID if r < n_live] + [min(RERANK_GRID[-1], n_live)]
    depths = sorted(set(d for d in depths if d >= k))
    known: list[dict[int, float]] = [{} for _ in queries]  # exact scores of candidates seen so far
    best: tuple[float, float, int, int] | None = None  # (-recall capped at target, cost, nprobe, rerank)
    cell_bytes = n / nlist * m
    nprobe = 1
    while True:
        if progress:
            progress("calibrate", nprobe, nlist)
        _, found = index.search(queries, depths[-1] + 1, params=search_params(nprobe, selector))
        for i, row in enumerate(found):
            new = [int(c) for c in row if c >= 0 and int(c) not in known[i]]
            if new:
                known[i].update(zip(new, (reader.rows(np.array(new)) @ queries[i]).tolist()))
        cand = _candidates(found, rows, depths[-1])  # each smaller depth is a prefix of these
        scores = np.array([[known[i].get(int(c), -np.inf) for c in row] for i, row in enumerate(cand)])
        for depth in depths:
            recall = _recall(_top(scores[:, :depth], cand[:, :depth], k), truth, k)
            cost = nprobe * cell_bytes + depth * dim * 4
            key = (-min(recall, target), cost, nprobe, depth)  # once the target is reached, the cheapest wins
            best = key if best is None or key < best else best
        if nprobe >= nlist or (-best[0] >= target and nprobe * cell_bytes >= best[1]):
            break
        nprobe = min(2 * nprobe, nlist)
    _, _, nprobe, depth = best
    # The recall reported is measured the way searches run: PQ candidates re-ranked through ``reader``.
    _, found = index.search(queries, depth + 1, params=search_params(nprobe, selector))
    return nprobe, depth, _recall(rerank(reader, queries, _candidates(found, rows, depth), k)[1], truth, k)


def _candidates(found: np.ndarray, rows: np.ndarray, depth: int) -> np.ndarray:
    """The first ``depth`` ids of each row of ``found`` other than the query's own row (-1 padded)."""
    out = np.full((len(found), depth), -1, dtype=np.int64)
    for i, (row, own) in enumerate(zip(found, rows)):
        keep = row[(row >= 0) & (row != own)][:depth]
        out[i, :len(keep)] = keep
    return out


def _top(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), -scores), axis=1)[:, :k]
    return np.where(np.isneginf(np.take_along_axis(scores, order, axis=1)), -1, np.take_along_axis(ids, order, axis=1))


def _recall(found: np.ndarray, truth: list[list[int]], k: int) -> float:
    return float(np.mean([len(set(a[a >= 0].tolist()) & set(b)) / k for a, b in zip(found, truth)]))


def _drop_self(ids: np.ndarray, rows: np.ndarray, k: int) -> list[list[int]]:
    return [[int(i) for i in row if i != own and i >= 0][:k] for row, own in zip(ids, rows)]


def read_index(path: Path, mmap: bool = True) -> Any:
    """Read a faiss index; memory-mapped (its inverted lists stay on disk until touched) unless
    ``mmap`` is False (for an index that will be extended)."""
    import faiss

    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0)
    except RuntimeError as err:
        raise SearchIndexError(f"The IVF-PQ file {str(path)!r} cannot be read ({str(err).splitlines()[0]}).",
                               hint="Rebuild the index.") from None


def write_index(index: Any, path: Path) -> None:
    """Write a faiss index to ``path`` through a temporary file (never half a file under the name)."""
    import faiss

    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        faiss.write_index(index, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
