"""The on-disk half of ``mmbench bench retrieval`` (large galleries): the clustered gallery is
written to a memory-mapped ``.npy`` in chunks, a :class:`mmbench.ann.DiskIndex` (IVF-PQ + exact
re-ranking) is built over it, and the queries are answered by a fresh process that opens the index
memory-mapped and reports its own resident memory while it answers them (``/proc/self/status``).

Ground truth is exact search by brute force, in blocks over the memory-mapped vectors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import log

#: Calibration queries, made like the measured ones but from other gallery items.
CALIBRATION_QUERIES = 256
#: Single exact queries timed (a brute-force scan of the whole vector file each).
EXACT_TIMED = 3


def run_disk(*, n_items: int, dim: int, queries: int, seed: int, workdir: str | None = None,
             keep: bool = False) -> dict:
    """Build the on-disk index over ``n_items`` clustered vectors and time ``queries`` single
    searches in a fresh process; returns the benchmark's JSON keys (see :func:`mmbench.benchmarks.retrieval.run`)."""
    import numpy as np
    from numpy.lib.format import open_memmap

    from ..ann import DiskIndex, exact_topk
    from .synthetic import cluster_model, fill_clustered, noisy_queries

    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="mmbench-retrieval-"))
    folder = root / "index"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        log(f"writing a clustered {n_items:,} × {dim} gallery to {folder / 'vectors.npy'} in chunks (seed {seed})")
        start = time.perf_counter()
        rng, model = cluster_model(n_items, dim, seed)
        gallery = open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(n_items, dim))
        fill_clustered(rng, model, gallery, progress=_every(n_items // 5, "  written"))
        gallery.flush()
        del gallery, model
        gallery = np.load(folder / "vectors.npy", mmap_mode="r")
        _, all_queries = noisy_queries(rng, gallery, queries + CALIBRATION_QUERIES)
        measured, calibration = all_queries[:queries], all_queries[queries:]
        generate_s = time.perf_counter() - start

        log("building the IVF-PQ index (train on a sample, add in chunks, calibrate nprobe and re-rank depth)")
        start = time.perf_counter()
        index = DiskIndex.create(folder, folder / "vectors.npy", kind="ivfpq", calibration_queries=calibration,
                                 progress=_stage_logger(), overwrite=True)
        build_s = time.perf_counter() - start
        settings, description = index.settings, index.description
        index.close()
        log(f"built {description} in {build_s:.0f} s (calibrated recall@10 {settings.get('recall')})")

        k = min(10, n_items)
        log(f"exact ground truth for {queries} queries: brute force in blocks over the memory-mapped vectors")
        start = time.perf_counter()
        truth = exact_topk(gallery, measured, k)[1]
        truth_s = time.perf_counter() - start
        exact_times = []
        for q in measured[:EXACT_TIMED]:
            t0 = time.perf_counter()
            exact_topk(gallery, q[None, :], k)
            exact_times.append((time.perf_counter() - t0) * 1e3)
        del gallery

        log("answering the queries one by one in a fresh process that memory-maps the index")
        np.save(root / "queries.npy", measured)
        served = _serve_in_subprocess(folder, root / "queries.npy", root / "found.npy", k)
        found = np.load(root / "found.npy")
        recall = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, truth)]))
        sizes = {p.name: p.stat().st_size / 2**20 for p in folder.iterdir()}
        result = {
            "n_items": n_items, "dim": dim, "queries": queries, "k": k, "mode": "disk",
            "ms_per_query": round(served["median_ms"], 4), "p95_ms_per_query": round(served["p95_ms"], 4),
            "recall_at_10": round(recall, 4),
            "search_rss_mb": round(served["peak_rss_mb"], 1), "search_rss_now_mb": round(served["rss_mb"], 1),
            "search_rss_open_mb": round(served["open_rss_mb"], 1),
            "exact_ms_per_query": round(float(np.median(exact_times)), 1),
            "ground_truth_s": round(truth_s, 1), "build_s": round(build_s, 1), "generate_s": round(generate_s, 1),
            "index": description, "calibrated_recall": settings.get("recall"), "ivf_mmapped": served["mmapped"],
            "index_mb": round(sum(v for name, v in sizes.items() if name.endswith(".faiss")), 1),
            "vectors_mb": round(sizes.get("vectors.npy", 0.0), 1),
        }
        log(f"\n{'method':<34} {'median ms':>10} {'p95 ms':>8} {'recall@' + str(k):>10} {'build s':>8}  rss MB")
        log(f"{'on-disk IVF-PQ + exact re-rank':<34} {served['median_ms']:>10.3f} {served['p95_ms']:>8.3f} "
            f"{recall:>10.3f} {build_s:>8.0f}  {served['peak_rss_mb']:.0f} (peak), {served['rss_mb']:.0f} (now)")
        log(f"{'exact brute force (memory-mapped)':<34} {np.median(exact_times):>10.1f} {'':>8} {1.0:>10.3f} "
            f"{0:>8}  ({len(exact_times)} single queries)")
        return result
    finally:
        if not keep and not workdir:
            shutil.rmtree(root, ignore_errors=True)


def _serve_in_subprocess(folder: Path, queries: Path, out: Path, k: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                         os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run([sys.executable, "-m", "mmbench.benchmarks.retrieval_disk", str(folder), str(queries),
                           str(out), str(k)], capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"the query process failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def serve_queries(folder: str, queries_path: str, out_path: str, k: int = 10, warmup: int = 5) -> dict:
    """In a fresh process: open the index memory-mapped, answer each query alone (timed), save the
    ids, and report this process's resident memory (``VmRSS`` now, ``VmHWM`` peak) in MiB."""
    import numpy as np

    from ..ann import DiskIndex

    index = DiskIndex.open(folder)
    opened = _status_mb()
    queries = np.load(queries_path)
    for q in queries[:warmup]:
        index.search(q, k)
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        _, ids = index.search(q, k)
        times.append((time.perf_counter() - start) * 1e3)
        found.append(ids[0])
    status = _status_mb()  # measured while the index is open and has just answered every query
    np.save(out_path, np.array(found))
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)),
            "rss_mb": status["VmRSS"], "peak_rss_mb": status["VmHWM"], "open_rss_mb": opened["VmRSS"],
            "mmapped": index.memory_mapped}


def _status_mb() -> dict[str, float]:
    fields = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
    return fields


def _every(step: int, label: str):
    """A ``progress(done, total)`` that logs when ``done`` passes a multiple of ``step``."""
    last = [0]

    def report(done: int, total: int) -> None:
        if done == total or done // max(step, 1) > last[0] // max(step, 1):
            log(f"{label} {done:,}/{total:,}")
        last[0] = done
    return report


def _stage_logger():
    last: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last.get(stage, 0.0) > 10 or stage == "calibrate":
            last[stage] = now
            log(f"  {stage}: {done:,}/{total:,}")
    return report


if __name__ == "__main__":  # the query process of run_disk
    print(json.dumps(serve_queries(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
