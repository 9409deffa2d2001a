"""Benchmark: compressed copies of the tiny CLIP against the original, same inputs, same run.

Run ``mmbench bench compress`` (or call :func:`run`). Each row is one :func:`mmbench.compress.compress`
method: the original float32 model, dynamic int8 (torch.ao), ONNX Runtime fp32 and int8, float16 and
bfloat16, and the distilled student (``distilled``; it and the original also get the held-out binding
probes, and the JSON has ``student_params_ratio``, ``student_zero_shot`` and ``student_binding_*``). Columns: size on disk of the two towers (MB), CPU latency (median ms) of one image-tower +
one text-tower call at batch 1 and batch 32 on already-prepared tensors, held-out zero-shot top-1 on
the procedural world (the same images for every row), and the largest absolute difference of the
towers' raw embeddings from the original's on the same batch-32 inputs. All rows run with the same
torch/ONNX Runtime thread count; latencies are interleaved (the row order alternates every repeat)
after a warm-up. A table goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from .common import log, parse_and_run

DEFAULT_METHODS = "fp32,int8-dynamic,onnx,onnx-int8,float16,bfloat16,distilled"
BARS = {"int8_speedup": 1.5, "int8_zero_shot_drop": 0.01, "onnx_speedup": 1.3, "onnx_max_abs_diff": 1e-4,
        "student_params_ratio": 0.25, "student_zero_shot": 0.95, "student_binding_colour_swap": 0.85,
        "student_binding_relation_flip": 0.85}
AT_MOST = ("int8_zero_shot_drop", "onnx_max_abs_diff", "student_params_ratio")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--model", help="image-text-matching registry model (default mmbench-tiny-clip)")
    parser.add_argument("--methods", help=f"comma-separated compress methods (default {DEFAULT_METHODS})")
    parser.add_argument("--n-zero-shot", dest="n_zero_shot", type=int, help="held-out zero-shot images")
    parser.add_argument("--world-seed", dest="world_seed", type=int, help="held-out world seed of the zero-shot set")
    parser.add_argument("--repeats", type=int, help="timed calls per row and batch size (interleaved)")
    parser.add_argument("--warmup", type=int, help="untimed calls per row and batch size first")
    parser.add_argument("--n-binding", dest="n_binding", type=int, help="held-out two-object binding-probe images")
    parser.add_argument("--threads", type=int, help="torch and ONNX Runtime CPU threads, the same for every row")


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def run(*, model: str = "mmbench-tiny-clip", methods: str = DEFAULT_METHODS, n_zero_shot: int = 500,
        world_seed: int | None = None, repeats: int = 15, warmup: int = 3, threads: int = 2,
        n_binding: int = 200) -> dict:
    """Compress ``model`` with each of ``methods`` and measure every copy on the same inputs."""
    import numpy as np
    import torch

    from ..compress import compress
    from ..data.world import shape_colour_classes
    from ..errors import MMBenchError
    from ..eval.matching import ZERO_SHOT_SEED, zero_shot_set
    from ..loading import pipeline

    torch.set_num_threads(threads)
    pipe = pipeline("image-text-matching", model=model, device="cpu", fallback=False, cache=False)
    images, labels = zero_shot_set(n_zero_shot, ZERO_SHOT_SEED if world_seed is None else world_seed)
    classes = shape_colour_classes()
    prompts = [f"a photo of a {c}." for c in classes]
    inputs = {b: (pipe.backend.preprocess_images([_pil(im) for im in images[:b]]), pipe.backend.tokenize(prompts[:b]))
              for b in (1, 32)}

    rows: dict[str, dict[str, Any]] = {}
    backends: dict[str, Any] = {}
    for method in methods.split(","):
        start = time.perf_counter()
        try:
            cm = compress(pipe, method.strip(), threads=threads)
        except MMBenchError as err:  # e.g. a package missing: the row says why, the others still run
            log(f"{method}: skipped — {err}")
            rows[method] = {"error": str(err)}
            continue
        backends[method] = cm.backend
        top1 = float(np.mean([r.top == y for r, y in zip(cm.pipeline.zero_shot_classify_batch(images, classes), labels)]))
        rows[method] = {"size_mb": round(cm.size_mb, 3), "zero_shot_top1": top1,
                        "compress_s": round(time.perf_counter() - start, 2)}
        if method.strip() in ("fp32", "distilled"):  # the binding probes, original and student side by side
            rows[method].update(binding(cm.pipeline, n_binding))
            rows[method]["params"] = sum(p.numel() for p in cm.backend.model.parameters())

    def towers(backend: Any, b: int) -> tuple[Any, Any]:
        px, ids = inputs[b]
        with torch.inference_mode():
            return backend.encode_images(px), backend.encode_texts(ids)

    reference = [t.float() for t in towers(backends["fp32"], 32)] if "fp32" in backends else None
    for method, backend in backends.items():
        if reference is not None and method != "distilled":  # another model: its embeddings differ by design
            ours = [t.float() for t in towers(backend, 32)]
            rows[method]["max_abs_diff"] = max(float((a - r).abs().max()) for a, r in zip(ours, reference))
    order = list(backends)
    for b in (1, 32):
        times: dict[str, list[float]] = {m: [] for m in order}
        for _ in range(warmup):
            for m in order:
                towers(backends[m], b)
        for i in range(repeats):  # interleaved; the order reverses every repeat to cancel drift
            for m in (order if i % 2 == 0 else order[::-1]):
                times[m].append(_timed(lambda: towers(backends[m], b)))
        for m in order:
            rows[m][f"ms_batch{b}"] = round(statistics.median(times[m]), 3)

    log(f"\n{pipe.spec.name}: {n_zero_shot} held-out zero-shot images ({len(classes)} classes); latency = image tower "
        f"+ text tower on prepared tensors, median of {repeats} interleaved repeats after {warmup} warm-up; "
        f"torch threads {torch.get_num_threads()}, ONNX Runtime intra-op threads {threads}")
    log(f"{'method':<14} {'size MB':>8} {'ms b=1':>8} {'ms b=32':>9} {'zero-shot':>10} {'max|diff|':>10}")
    for m in order:
        r = rows[m]
        log(f"{m:<14} {r['size_mb']:>8.2f} {r['ms_batch1']:>8.2f} {r['ms_batch32']:>9.2f} {r['zero_shot_top1']:>10.3f} "
            f"{r.get('max_abs_diff', float('nan')):>10.2e}")

    def ratio(a: str, b: str, key: str) -> float | None:
        return round(rows[a][key] / rows[b][key], 3) if a in backends and b in backends else None

    result: dict[str, Any] = {
        "model": pipe.spec.name, "threads": threads, "repeats": repeats, "n_zero_shot": n_zero_shot,
        "int8_speedup": ratio("fp32", "int8-dynamic", "ms_batch32"),
        "int8_speedup_batch1": ratio("fp32", "int8-dynamic", "ms_batch1"),
        "int8_zero_shot_drop": (round(rows["fp32"]["zero_shot_top1"] - rows["int8-dynamic"]["zero_shot_top1"], 4)
                                if {"fp32", "int8-dynamic"} <= set(backends) else None),
        "onnx_speedup": ratio("fp32", "onnx", "ms_batch32"),
        "onnx_speedup_batch1": ratio("fp32", "onnx", "ms_batch1"),
        "onnx_max_abs_diff": rows.get("onnx", {}).get("max_abs_diff"),
        "onnx_int8_speedup": ratio("fp32", "onnx-int8", "ms_batch32"),
        "student_params_ratio": (round(rows["distilled"]["params"] / rows["fp32"]["params"], 4)
                                 if {"fp32", "distilled"} <= set(backends) else None),
        "student_zero_shot": rows.get("distilled", {}).get("zero_shot_top1"),
        "student_binding_colour_swap": rows.get("distilled", {}).get("binding_colour_swap"),
        "student_binding_relation_flip": rows.get("distilled", {}).get("binding_relation_flip"),
        "student_speedup": ratio("fp32", "distilled", "ms_batch32"),
        "rows": rows,
    }
    result["bars_met"] = {k: (result[k] is not None and (result[k] <= bar if k in AT_MOST else result[k] >= bar))
                          for k, bar in BARS.items()}
    log("bars: " + ", ".join(f"{k} {result[k]} ({'met' if ok else 'MISSED'}, bar {'<=' if k in AT_MOST else '>='} "
                             f"{BARS[k]:g})" for k, ok in result["bars_met"].items()))
    return result


def binding(pipe: Any, n: int) -> dict[str, Any]:
    """Held-out binding probes (:func:`mmbench.eval.matching.binding_set`): the share of two-object
    images whose true caption outscores its colour-swapped and its relation-flipped version, for the
    dual encoder and the matching head; the better matcher's pair is reported, as the eval does."""
    import numpy as np

    from ..eval.matching import binding_set

    images, true, swap, flip = binding_set(n)
    pil = [_pil(im) for im in images]
    emb = pipe.embed_images(pil)
    scores = {"dual_encoder": [(emb * pipe.embed_texts(t)).sum(1) for t in (true, swap, flip)]}
    if pipe.can_rerank:
        scores["matching_head"] = [np.asarray(pipe.match_logits(pil, t, validated=True)) for t in (true, swap, flip)]
    per = {k: {"binding_colour_swap": float(np.mean(s[0] > s[1])), "binding_relation_flip": float(np.mean(s[0] > s[2]))}
           for k, s in scores.items()}
    best = max(reversed(list(per)), key=lambda k: sum(per[k].values()))  # ties: the matching head
    return {**per[best], "binding_matcher": best, "binding": per}


def _pil(arr: Any) -> Any:
    from PIL import Image

    return Image.fromarray(arr)


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
