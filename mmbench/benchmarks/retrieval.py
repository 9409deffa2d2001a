"""Benchmark: per-query latency of gallery search (torch matmul, exact and approximate index; on-disk IVF-PQ from 250k items).

Run ``mmbench bench retrieval`` (or ``python benchmarks/retrieval.py`` in a checkout), or call
:func:`run`. A table goes to stderr; the last line of stdout is one JSON object with the numbers.
"""

from __future__ import annotations

import argparse
import time

from .common import log, parse_and_run
from .synthetic import make_clustered_gallery  # noqa: F401  (re-exported: the gallery of this benchmark)


def _time_per_query(search, queries, warmup: int = 5) -> dict[str, float]:
    import numpy as np

    for q in queries[:warmup]:
        search(q[None, :])
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q[None, :])
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return {"median": float(np.median(ms)), "p95": float(np.percentile(ms, 95))}


def _recall(found, truth) -> float:
    import numpy as np

    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)]))


#: From this many items the benchmark builds the on-disk index (mmbench.ann.DiskIndex) instead of
#: holding the gallery in memory.
DISK_FROM = 250_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--n-items", type=int)
    parser.add_argument("--dim", type=int)
    parser.add_argument("--queries", type=int, help="single queries timed per method")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--hnsw", action="store_true", help="also time an HNSW index (slower build)")
    parser.add_argument("--disk", action=argparse.BooleanOptionalAction,
                        help=f"on-disk IVF-PQ index served by a fresh process (default: from {DISK_FROM:,} items)")
    parser.add_argument("--workdir", help="folder for the on-disk gallery and index (kept; default: a temporary one)")


def run(*, n_items: int = 100_000, dim: int = 512, queries: int = 200, seed: int = 0, hnsw: bool = False,
        disk: bool | None = None, workdir: str | None = None) -> dict:
    """Time ``queries`` single text → image searches over ``n_items`` × ``dim`` embeddings.

    In memory (below :data:`DISK_FROM` items unless ``disk``): torch matmul + topk, mmbench exact,
    mmbench approximate (faiss IVF; and HNSW with ``hnsw``). On disk (``disk``, or from
    :data:`DISK_FROM` items): the gallery is written to a memory-mapped ``.npy`` in chunks, indexed
    with IVF-PQ + exact re-ranking (:class:`mmbench.ann.DiskIndex`) and searched by a fresh process
    that reports its resident memory (``search_rss_mb``: peak ``VmHWM``) while it answers;
    ``recall_at_10`` is against brute force over the memory-mapped vectors."""
    if disk or (disk is None and n_items >= DISK_FROM):
        from .retrieval_disk import run_disk

        return run_disk(n_items=n_items, dim=dim, queries=queries, seed=seed, workdir=workdir)
    import numpy as np
    import torch

    from ..retrieval import AUTO_APPROXIMATE_FROM, EmbeddingIndex

    log(f"building a clustered {n_items:,} × {dim} gallery and {queries} queries (seed {seed})")
    gallery, vectors, sources = make_clustered_gallery(n_items, dim, queries, seed)
    k = min(10, n_items)  # results and recall are top-10
    rows: dict[str, dict] = {}

    start = time.perf_counter()
    exact = EmbeddingIndex(gallery, kind="exact")
    exact_build = time.perf_counter() - start
    rows["mmbench exact"] = _time_per_query(lambda q: exact.search(q, k), vectors)
    _, truth = exact.search(vectors, k)
    rows["mmbench exact"].update(build_s=exact_build, recall=1.0, index=exact.description)

    variants = [("mmbench approximate", "ivf")] + ([("mmbench approximate (hnsw)", "hnsw")] if hnsw else [])
    for name, algorithm in variants:
        start = time.perf_counter()
        approx = EmbeddingIndex(gallery, kind="approximate", algorithm=algorithm)
        build = time.perf_counter() - start
        rows[name] = _time_per_query(lambda q: approx.search(q, k), vectors)
        rows[name].update(build_s=build, recall=_recall(approx.search(vectors, k)[1], truth), index=approx.description)

    # The torch baseline runs last: its idle OpenMP threads keep spinning for a while after each
    # call and measurably slow the OpenBLAS/faiss threads timed after it on a 2-core machine.
    gallery_t = torch.from_numpy(gallery)
    with torch.inference_mode():
        baseline = _time_per_query(lambda q: torch.topk(torch.from_numpy(q) @ gallery_t.T, k, dim=1), vectors)
    rows = {"torch matmul + topk": {**baseline, "build_s": 0.0, "recall": 1.0, "index": "torch"}, **rows}

    default = rows["mmbench approximate" if n_items >= AUTO_APPROXIMATE_FROM else "mmbench exact"]
    source_hit = float(np.mean([s in row for s, row in zip(sources, truth)]))

    log(f"\n{'method':<28} {'median ms':>10} {'p95 ms':>8} {'recall@' + str(k):>10} {'build s':>8}  index")
    for name, row in rows.items():
        log(f"{name:<28} {row['median']:>10.3f} {row['p95']:>8.3f} {row['recall']:>10.3f} "
            f"{row['build_s']:>8.1f}  {row['index']}")
    log(f"(recall@{k} is overlap with exact top-{k}; the query's source item is in the exact top-{k} "
        f"for {source_hit:.1%} of queries; default kind='auto' uses {default['index']})")

    result = {
        "n_items": n_items,
        "dim": dim,
        "queries": queries,
        "k": k,
        "ms_per_query": round(default["median"], 4),
        "p95_ms_per_query": round(default["p95"], 4),
        "exact_ms_per_query": round(rows["mmbench exact"]["median"], 4),
        "exact_p95_ms": round(rows["mmbench exact"]["p95"], 4),
        "approx_ms_per_query": round(rows["mmbench approximate"]["median"], 4),
        "approx_p95_ms": round(rows["mmbench approximate"]["p95"], 4),
        "torch_ms_per_query": round(rows["torch matmul + topk"]["median"], 4),
        "torch_p95_ms": round(rows["torch matmul + topk"]["p95"], 4),
        "recall_at_10": round(rows["mmbench approximate"]["recall"], 4),
        "approx_build_s": round(rows["mmbench approximate"]["build_s"], 2),
        "index": default["index"],
        "approx_index": rows["mmbench approximate"]["index"],
        "search_rss_mb": round(_peak_rss_mb(), 1),  # this process, gallery held in memory
        "mode": "memory",
    }
    if hnsw:
        row = rows["mmbench approximate (hnsw)"]
        result.update(hnsw_ms_per_query=round(row["median"], 4), hnsw_recall=round(row["recall"], 4),
                      hnsw_build_s=round(row["build_s"], 2), hnsw_index=row["index"])
    return result


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (``VmHWM``; ``ru_maxrss`` off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
