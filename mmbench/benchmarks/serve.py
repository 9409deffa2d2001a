"""Benchmark: serving on loopback — the raw pipeline call vs ``mmbench serve`` vs Ray Serve with batching.

Run ``mmbench bench serve`` (or ``python benchmarks/serve.py`` in a checkout), or call :func:`run`.
Servers run as child processes on free 127.0.0.1 ports (the client is never the server); every
phase is bounded by a request count and ``--max-seconds``:

1. **raw**: tiny-CLIP similarity (1 image x 4 texts), ``pipe([image], texts)`` in a loop in this process.
2. **serve**: the same request as JSON to ``mmbench serve --no-ui``: one client, interleaved with raw
   calls (``overhead_ms`` = median serve latency - median raw latency, same run), then ``--clients``
   concurrent clients (throughput, p50/p95/p99).
3. **ray**: the same against ``mmbench serve --ray`` (a local Ray cluster inside the child; the
   Embeddings deployment, one replica with all CPUs, batching on).
4. **batching**: the embedding endpoint (``--embed``: ``text`` = ``/v1/text/embed`` with MiniLM,
   ``clip-text``/``clip-image`` = ``/v1/matching/embed`` with tiny CLIP), ``--clients`` concurrent
   clients, one distinct item (a 3-6-word query) per request, against that replica with batching and
   again unbatched (a fresh server, same replica settings): ``batching_speedup`` = batched /
   unbatched throughput. Single queries often run faster on one torch thread, so the unbatched
   replica is also measured with ``--baseline-threads`` (``speedup_vs_best_unbatched``).

A table goes to stderr; the last line of stdout is one JSON object (``overhead_ms``,
``batching_speedup``, per mode ``throughput_rps``, ``p50_ms``, ``p95_ms``, ``p99_ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import statistics
import time
from typing import Any, Sequence

from .common import log, parse_and_run
from .loadgen import Connection, Server, dumps, load, percentiles

MODEL = "mmbench-tiny-clip"
TEXTS = ["a red circle", "a blue square", "a green triangle", "a small yellow circle"]
_WORDS = ("a photo of the red blue green small large old new happy quiet dog cat car tree house river "
          "mountain city street park beach bird child man woman near under over beside").split()
#: ``--embed`` -> (REST path, model sent, the JSON body of request ``i``).
EMBED_ENDPOINTS = {"text": ("/v1/text/embed", "all-minilm-l6-v2"),
                   "clip-text": ("/v1/matching/embed", MODEL), "clip-image": ("/v1/matching/embed", MODEL)}


def _png_b64(seed: int, size: int) -> tuple[Any, str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([xx, yy, (xx + yy) / 2], axis=-1) * rng.uniform(80, 255, 3)
    image = Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return image, base64.b64encode(buf.getvalue()).decode()


def query(i: int, words: tuple[int, int] = (3, 6)) -> str:
    """Search-style query ``i``: ``words[0]`` to ``words[1]`` words (deterministic)."""
    import numpy as np

    rng = np.random.default_rng(1000 + i)
    return " ".join(rng.choice(_WORDS, int(rng.integers(words[0], words[1] + 1))))


def embed_body(kind: str, i: int, image_size: int, words: tuple[int, int] = (3, 6)) -> bytes:
    """The JSON body of embedding request ``i``: one distinct text (a query) or image."""
    if kind == "text":
        return dumps({"texts": [query(i, words)]})
    if kind == "clip-text":
        return dumps({"texts": [query(i, words)], "model": MODEL})
    return dumps({"images": [_png_b64(i, image_size)[1]], "model": MODEL})


def _ray_env(cpus: int, threads: int, batching: bool, max_batch_size: int, batch_wait_ms: float) -> dict[str, str]:
    options = {"families": ["Embeddings"], "replicas": 1, "num_cpus": cpus, "cluster_cpus": cpus, "threads": threads,
               "warm": ["image-text-matching", "sentence-embedding"], "models": {"image-text-matching": MODEL},
               "batching": batching, "max_batch_size": max_batch_size, "batch_wait_timeout_s": batch_wait_ms / 1e3}
    return {"MMBENCH_RAY_OPTIONS": json.dumps(options), "OMP_NUM_THREADS": str(threads)}


async def _interleaved(port: int, raw_call: Any, body: bytes, n: int) -> tuple[list[float], list[float], bytes]:
    """``n`` rounds of one raw call and one request (alternating which goes first): both latencies."""
    conn = Connection(port)
    raw_ms, serve_ms, last = [], [], b""
    try:
        for i in range(n):
            for side in (("raw", "serve") if i % 2 == 0 else ("serve", "raw")):
                start = time.perf_counter()
                if side == "raw":
                    raw_call()
                    raw_ms.append((time.perf_counter() - start) * 1e3)
                else:
                    status, last = await conn.request("POST", "/v1/matching/similarity", body)
                    if status != 200:
                        raise RuntimeError(f"similarity request failed ({status}): {last[:300]!r}")
                    serve_ms.append((time.perf_counter() - start) * 1e3)
    finally:
        await conn.close()
    return raw_ms, serve_ms, last


def _matches(body: bytes, expected: Any) -> bool:
    import numpy as np

    return bool(np.allclose(np.asarray(json.loads(body)["similarity"]), expected, atol=1e-5))


def _serving_phase(server: Server, name: str, raw_call: Any, expected: Any, body: bytes, *, clients: int,
                   requests: int, latency_requests: int, max_seconds: float) -> dict[str, Any]:
    load(server.port, "/v1/matching/similarity", lambda i: body, clients=min(clients, 4), requests=2 * clients)
    raw_ms, single_ms, last = asyncio.run(_interleaved(server.port, raw_call, body, latency_requests))
    res = load(server.port, "/v1/matching/similarity", lambda i: body, clients=clients, requests=requests,
               max_seconds=max_seconds, keep=1)
    out = {**res.summary(), "single_p50_ms": round(statistics.median(single_ms), 2),
           "raw_p50_ms_interleaved": round(statistics.median(raw_ms), 2),
           "overhead_ms": round(statistics.median(single_ms) - statistics.median(raw_ms), 2),
           "answers_match": _matches(last, expected) and all(_matches(b, expected) for _, b in res.bodies),
           "start_s": round(server.started_s, 1)}
    log(f"{name}: started in {server.started_s:.1f} s; 1 client: median {out['single_p50_ms']:.2f} ms vs raw "
        f"{out['raw_p50_ms_interleaved']:.2f} ms (overhead {out['overhead_ms']:+.2f} ms)")
    return out


def _embedding_load(port: int, kind: str, *, clients: int, requests: int, max_seconds: float,
                    image_size: int, words: tuple[int, int], label: str) -> dict[str, Any]:
    """``requests`` embedding requests (one distinct item each) from ``clients`` clients, after a warm-up."""
    path = EMBED_ENDPOINTS[kind][0]
    bodies = [embed_body(kind, i, image_size, words) for i in range(requests + 2 * clients)]
    load(port, path, lambda i: bodies[requests + i], clients=clients, requests=2 * clients)  # warm up
    res = load(port, path, lambda i: bodies[i], clients=clients, requests=requests, max_seconds=max_seconds)
    out = res.summary()
    log(f"embedding, {label}: {out['throughput_rps']:.1f} req/s, p50 {out['p50_ms']:.1f} ms ({out['ok']} ok, "
        f"{out['failed']} failed)")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--clients", type=int, help="concurrent clients in the load phases (default 32)")
    parser.add_argument("--requests", type=int, help="requests per load phase (default 300)")
    parser.add_argument("--latency-requests", type=int, help="single-client rounds for overhead_ms (default 100)")
    parser.add_argument("--max-seconds", type=float, help="time cap per load phase (default 60)")
    parser.add_argument("--embed", choices=sorted(EMBED_ENDPOINTS), help="embedding endpoint of the batching bar")
    parser.add_argument("--max-batch-size", type=int, help="Ray Serve batch size (default 32)")
    parser.add_argument("--batch-wait-ms", type=float, help="Ray Serve batch wait timeout in ms (default 50)")
    parser.add_argument("--threads", type=int, help="torch threads of the raw call and `mmbench serve` (default 1: "
                                                   "the other cores serve HTTP)")
    parser.add_argument("--replica-threads", type=int, help="torch threads of the Ray replica (default: all CPUs)")
    parser.add_argument("--baseline-threads", type=int,
                        help="also measure the unbatched replica with this many torch threads and report "
                             "speedup_vs_best_unbatched (default 1; 0: skip)")
    parser.add_argument("--image-size", type=int, help="side of the test images (default 64)")
    parser.add_argument("--words", type=int, nargs=2, metavar=("MIN", "MAX"),
                        help="words per embedding query (default 3 6: search queries)")
    parser.add_argument("--skip-ray", action="store_true", help="raw and `mmbench serve` only")
    parser.add_argument("--skip-serve", action="store_true", help="raw and Ray Serve only")


def run(*, clients: int = 32, requests: int = 300, latency_requests: int = 100, max_seconds: float = 60.0,
        embed: str = "text", max_batch_size: int = 32, batch_wait_ms: float = 50.0, threads: int = 1,
        replica_threads: int | None = None, baseline_threads: int = 1,
        image_size: int = 64, words: Sequence[int] = (3, 6), skip_ray: bool = False, skip_serve: bool = False) -> dict:
    """Raw call, ``mmbench serve`` and Ray Serve (see the module docstring); returns the JSON result."""
    import torch

    from ..loading import pipeline

    cpus = os.cpu_count() or 1
    replica_threads = replica_threads or cpus  # the replica owns the machine's CPUs (num_cpus = all)
    torch.set_num_threads(threads)  # the raw side and `mmbench serve` (OMP_NUM_THREADS) alike
    pipe = pipeline("image-text-matching", model=MODEL, fallback=False, cache=False)
    image, b64 = _png_b64(0, image_size)
    body = dumps({"images": [b64], "texts": TEXTS, "model": MODEL})
    expected = pipe([image], TEXTS).similarity

    def raw_call() -> Any:
        return pipe([image], TEXTS)

    for _ in range(5):
        raw_call()
    raw_ms = []
    for _ in range(latency_requests):
        start = time.perf_counter()
        raw_call()
        raw_ms.append((time.perf_counter() - start) * 1e3)
    modes: dict[str, dict[str, Any]] = {"raw": {"throughput_rps": round(1e3 / statistics.mean(raw_ms), 2),
                                                **percentiles(raw_ms)}}
    log(f"tiny-CLIP similarity, 1 image {image_size}x{image_size} x {len(TEXTS)} texts; {cpus} CPUs, torch threads "
        f"{torch.get_num_threads()} here; {clients} clients, {requests} requests per load phase")
    common = {"clients": clients, "requests": requests, "latency_requests": latency_requests, "max_seconds": max_seconds}
    if not skip_serve:
        with Server(["--max-queue", str(max(256, 4 * clients))], env={"OMP_NUM_THREADS": str(threads)}) as srv:
            modes["serve"] = _serving_phase(srv, "mmbench serve", raw_call, expected, body, **common)
    embedding: dict[str, Any] = {}
    if not skip_ray:
        path, embed_model = EMBED_ENDPOINTS[embed]
        embedding = {"endpoint": path, "kind": embed, "model": embed_model, "max_batch_size": max_batch_size,
                     "batch_wait_ms": batch_wait_ms, "replica_threads": replica_threads,
                     "items": f"one {'image' if embed == 'clip-image' else f'{words[0]}-{words[1]} word query'} "
                              "per request"}
        phase = {"clients": clients, "requests": requests, "max_seconds": max_seconds, "image_size": image_size,
                 "words": (int(words[0]), int(words[1]))}
        ray_args = ["--ray", "--max-concurrency", str(4 * clients), "--max-queue", str(8 * clients)]
        with Server(ray_args, env=_ray_env(cpus, replica_threads, True, max_batch_size, batch_wait_ms)) as srv:
            modes["ray"] = _serving_phase(srv, "ray serve", raw_call, expected, body, **common)
            embedding["batched"] = _embedding_load(srv.port, embed, label="Ray Serve batching", **phase)
        with Server(ray_args, env=_ray_env(cpus, replica_threads, False, max_batch_size, batch_wait_ms)) as srv:
            embedding["unbatched"] = _embedding_load(srv.port, embed, label="one unbatched replica", **phase)
        unbatched = embedding["unbatched"]["throughput_rps"]
        embedding["batching_speedup"] = round(embedding["batched"]["throughput_rps"] / unbatched, 2) if unbatched else None
        if baseline_threads and baseline_threads != replica_threads:  # the unbatched replica at its own best setting
            with Server(ray_args, env=_ray_env(cpus, baseline_threads, False, max_batch_size, batch_wait_ms)) as srv:
                embedding["unbatched_baseline_threads"] = _embedding_load(
                    srv.port, embed, label=f"one unbatched replica, {baseline_threads} torch thread(s)", **phase)
            best = max(unbatched, embedding["unbatched_baseline_threads"]["throughput_rps"])
            embedding["speedup_vs_best_unbatched"] = round(embedding["batched"]["throughput_rps"] / best, 2) if best else None

    log(f"\n{'mode':<8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'ok':>5} {'failed':>6}")
    for name, m in modes.items():
        log(f"{name:<8} {m['throughput_rps']:>8.1f} {m['p50_ms']:>8.2f} {m['p95_ms']:>8.2f} {m['p99_ms']:>8.2f} "
            f"{m.get('ok', len(raw_ms)):>5} {m.get('failed', 0):>6}")
    for name, label in (("batched", "emb-batch"), ("unbatched", "emb-unbat"), ("unbatched_baseline_threads", "emb-unb-b")):
        if name in embedding:
            m = embedding[name]
            log(f"{label:<8} {m['throughput_rps']:>8.1f} {m['p50_ms']:>8.2f} {m['p95_ms']:>8.2f} "
                f"{m['p99_ms']:>8.2f} {m['ok']:>5} {m['failed']:>6}")
    overhead = modes.get("serve", {}).get("overhead_ms")
    speedup = embedding.get("batching_speedup")
    log(f"overhead_ms = {overhead} (bar <= 5); batching_speedup = {speedup} (bar >= 3; {embed} embeddings, "
        f"{embedding.get('model')}, replica threads {replica_threads} both ways"
        + (f"; vs the best unbatched replica: {embedding['speedup_vs_best_unbatched']}"
           if "speedup_vs_best_unbatched" in embedding else "") + ")")
    result: dict[str, Any] = {"model": MODEL, "cpus": cpus, **common, "overhead_ms": overhead,
                              "ray_overhead_ms": modes.get("ray", {}).get("overhead_ms"),
                              "batching_speedup": speedup, "modes": modes, "embedding": embedding,
                              "answers_match": all(m.get("answers_match", True) for m in modes.values()),
                              "failed": sum(m.get("failed", 0) for m in (*modes.values(), *[
                                  embedding[k] for k in ("batched", "unbatched", "unbatched_baseline_threads")
                                  if k in embedding]))}
    for name, m in modes.items():
        for key in ("throughput_rps", "p50_ms", "p95_ms", "p99_ms"):
            result[f"{name}_{key}"] = m[key]
    return result


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
