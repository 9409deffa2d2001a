"""Benchmark: compressed copies of the tiny CLIP (and the other models) against the original, same inputs, same run.

Run ``mmbench bench compress`` (or call :func:`run`). Each row is one :func:`mmbench.compress.compress`
method: the original float32 model, dynamic int8 (torch.ao), weight-only int8 (torchao), ONNX Runtime
fp32 and int8, float16 and bfloat16, and the distilled student (``distilled``; it and the original
also get the held-out binding probes, and the JSON has ``student_params_ratio``, ``student_zero_shot``
and ``student_binding_*``). Columns: size on disk of the two towers (MB), CPU latency of one
image-tower + one text-tower call at batch 1 and batch 32 on already-prepared tensors, held-out
zero-shot top-1 on the procedural world (the same images for every row), and the largest absolute
difference of the towers' raw embeddings from the original's on the same batch-32 inputs.

How latency is measured (:mod:`mmbench.benchmarks.timing`): every row runs with the same number of
torch intra-op and ONNX Runtime intra-op threads (``--threads``, default 2; inter-op 1) and the same
allocator (``--allocator default``: glibc as it is; ``reuse``: freed activation buffers are kept for
reuse instead of returned to the OS, see :mod:`mmbench.compress.runtime`); each row is called
``--warmup`` times untimed, then timed in ``--repeats`` rounds in which every row runs right next to
a call of the original (pairs AB, then BA in the next round). Latency = the median over rounds, with
its inter-quartile range. A speed-up (``int8_speedup``, ``onnx_speedup``...) = the median of the
per-pair ratios original/compressed, with its IQR (``*_iqr``); ``*_of_medians`` is the ratio of the
two medians, for comparison. The two calls of a pair run back to back, so a load spike from another
process slows both and mostly cancels in their ratio.

``--models all`` (or a comma-separated list of all-minilm-l6-v2, mmbench-tiny-video,
efficientnet-lite0, fusion-tfn, whisper-tiny.en-ct2) adds one table per model
(:mod:`mmbench.benchmarks.compress_models`: its own held-out metric next to the original's);
``--model NAME`` with one of those measures only that table. ``--pruning 0.3,0.5,0.7,0.9`` adds the
magnitude-pruning sweep (and structured pruning at 0.25/0.5/0.75) with ``--finetune-steps`` of
fine-tuning each. The default run is the tiny CLIP only (a few minutes on 2 cores); the other tables
take about as long again together. A table goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from .common import log, parse_and_run

DEFAULT_METHODS = "fp32,int8-dynamic,torchao-int8,onnx,onnx-int8,float16,bfloat16,distilled"
BARS = {"int8_speedup": 1.5, "int8_zero_shot_drop": 0.01, "onnx_speedup": 1.3, "onnx_max_abs_diff": 1e-4,
        "student_params_ratio": 0.25, "student_zero_shot": 0.95, "student_binding_colour_swap": 0.85,
        "student_binding_relation_flip": 0.85}
AT_MOST = ("int8_zero_shot_drop", "onnx_max_abs_diff", "student_params_ratio")
CLIP_MODELS = ("mmbench-tiny-clip",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--model", help="the model of the main table: an image-text-matching model (default "
                                        "mmbench-tiny-clip, with the bars) or one of the --models names (that table only)")
    parser.add_argument("--models", help="extra tables: 'all' or comma-separated all-minilm-l6-v2, mmbench-tiny-video, "
                                         "efficientnet-lite0, fusion-tfn, whisper-tiny.en-ct2")
    parser.add_argument("--methods", help=f"comma-separated compress methods (default {DEFAULT_METHODS})")
    parser.add_argument("--n-zero-shot", dest="n_zero_shot", type=int, help="held-out zero-shot images")
    parser.add_argument("--world-seed", dest="world_seed", type=int, help="held-out world seed of the zero-shot set")
    parser.add_argument("--repeats", type=int, help="interleaved timing rounds per batch size")
    parser.add_argument("--warmup", type=int, help="untimed calls per row and batch size first")
    parser.add_argument("--n-binding", dest="n_binding", type=int, help="held-out two-object binding-probe images")
    parser.add_argument("--threads", type=int, help="torch and ONNX Runtime CPU threads, the same for every row")
    parser.add_argument("--allocator", choices=("default", "reuse"),
                        help="glibc's default allocator (default) or reuse freed memory (mallopt), for every row")
    parser.add_argument("--pruning", help="magnitude-pruning amounts to sweep, e.g. 0.3,0.5,0.7,0.9 (default: none)")
    parser.add_argument("--finetune-steps", dest="finetune_steps", type=int, help="fine-tune steps per pruned model")


def run(*, model: str = "mmbench-tiny-clip", methods: str = DEFAULT_METHODS, n_zero_shot: int = 500,
        world_seed: int | None = None, repeats: int = 21, warmup: int = 3, threads: int = 2,
        n_binding: int = 200, models: str | None = None, allocator: str = "default", pruning: str | None = None,
        finetune_steps: int = 30) -> dict:
    """Compress ``model`` with each of ``methods`` and measure every copy on the same inputs."""
    from ..compress import cpu_runtime
    from .compress_models import MODELS, format_table, measure

    settings = cpu_runtime(threads, allocator=allocator)
    log(f"runtime: {settings.describe()}")
    extra = [m for m in (MODELS if models == "all" else (models or "").split(",")) if m and m not in CLIP_MODELS]
    if model in MODELS and model not in CLIP_MODELS:
        tables = {model: measure(model, methods if methods != DEFAULT_METHODS else None, rounds=repeats,
                                 warmup=warmup, threads=threads, allocator=allocator, progress=log)}
        result: dict[str, Any] = {"model": model, "runtime": settings.as_dict(), "tables": tables}
        log("\n".join(format_table(tables[model])))
        return result
    result = clip_table(model, methods, n_zero_shot, world_seed, repeats, warmup, threads, n_binding)
    result["runtime"] = settings.as_dict()
    if pruning:
        result["pruning"] = pruning_sweep(model, [float(a) for a in pruning.split(",")], finetune_steps,
                                          n_zero_shot, world_seed, repeats, warmup)
    if extra:
        unknown = [m for m in extra if m not in MODELS]
        if unknown:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"No compression table for {unknown}.", hint=f"Choose from: {', '.join(MODELS)}.")
        result["tables"] = {}
        for name in extra:
            start = time.perf_counter()
            table = measure(name, rounds=max(5, repeats // 2), warmup=max(1, warmup - 1), threads=threads,
                            allocator=allocator, progress=log)
            table["seconds"] = round(time.perf_counter() - start, 1)
            result["tables"][name] = table
            log("\n".join(format_table(table)))
    log("bars: " + ", ".join(f"{k} {result[k]} ({'met' if ok else 'MISSED'}, bar {'<=' if k in AT_MOST else '>='} "
                             f"{BARS[k]:g})" for k, ok in result["bars_met"].items()))
    return result


def clip_table(model: str, methods: str, n_zero_shot: int, world_seed: int | None, repeats: int, warmup: int,
               threads: int, n_binding: int) -> dict:
    """The tiny CLIP's table and the issue's bar keys (see the module docstring)."""
    import numpy as np
    import torch

    from ..compress import compress
    from ..data.world import shape_colour_classes
    from ..errors import MMBenchError
    from ..eval.matching import ZERO_SHOT_SEED, zero_shot_set
    from ..loading import pipeline
    from .timing import interleaved, paired_speedup

    pipe = pipeline("image-text-matching", model=model, device="cpu", fallback=False, cache=False)
    images, labels = zero_shot_set(n_zero_shot, ZERO_SHOT_SEED if world_seed is None else world_seed)
    classes = shape_colour_classes()
    prompts = [f"a photo of a {c}." for c in classes]
    inputs = {b: (pipe.backend.preprocess_images([_pil(im) for im in images[:b]]), pipe.backend.tokenize(prompts[:b]))
              for b in (1, 32)}

    rows: dict[str, dict[str, Any]] = {}
    backends: dict[str, Any] = {}
    for method in [m.strip() for m in methods.split(",") if m.strip()]:
        start = time.perf_counter()
        try:
            cm = compress(pipe, method, threads=threads)
        except MMBenchError as err:  # e.g. a package missing: the row says why, the others still run
            log(f"{method}: skipped — {err}")
            rows[method] = {"error": str(err)}
            continue
        backends[method] = cm.backend
        top1 = float(np.mean([r.top == y for r, y in zip(cm.pipeline.zero_shot_classify_batch(images, classes), labels)]))
        rows[method] = {"size_mb": round(cm.size_mb, 3), "zero_shot_top1": top1,
                        "compress_s": round(time.perf_counter() - start, 2)}
        if method in ("fp32", "distilled"):  # the binding probes, original and student side by side
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
    speed: dict[str, dict[int, dict]] = {m: {} for m in backends}
    for b in (1, 32):
        log(f"timing batch {b}: {repeats} interleaved rounds of {len(backends)} rows after {warmup} warm-up calls each")
        times = interleaved({m: (lambda bk=bk, b=b: towers(bk, b)) for m, bk in backends.items()},
                            rounds=repeats, warmup=warmup)
        for m, t in times.items():
            q1, q3 = t.iqr
            rows[m][f"ms_batch{b}"] = round(t.median, 3)
            rows[m][f"ms_batch{b}_iqr"] = [round(q1, 3), round(q3, 3)]
            if "fp32" in times:
                speed[m][b] = paired_speedup(times["fp32"], t)
                rows[m][f"speedup_batch{b}"] = speed[m][b]["median"]
                rows[m][f"speedup_batch{b}_iqr"] = [speed[m][b]["q1"], speed[m][b]["q3"]]

    log(f"\n{pipe.spec.name}: {n_zero_shot} held-out zero-shot images ({len(classes)} classes); latency = image tower "
        f"+ text tower on prepared tensors, median [IQR] of {repeats} interleaved rounds; speed-up = median of "
        "per-round paired ratios")
    log(f"{'method':<14} {'size MB':>8} {'ms b=1':>8} {'ms b=32':>9} {'IQR b=32':>15} {'x b=32 [IQR]':>17} "
        f"{'zero-shot':>10} {'max|diff|':>10}")
    for m in backends:
        r = rows[m]
        iqr, sp = r["ms_batch32_iqr"], r.get("speedup_batch32_iqr", [float("nan")] * 2)
        spans = f"{iqr[0]:.1f}-{iqr[1]:.1f}", f"{r.get('speedup_batch32', float('nan')):.2f} [{sp[0]:.2f}-{sp[1]:.2f}]"
        log(f"{m:<14} {r['size_mb']:>8.2f} {r['ms_batch1']:>8.2f} {r['ms_batch32']:>9.2f} {spans[0]:>15} {spans[1]:>17} "
            f"{r['zero_shot_top1']:>10.3f} {r.get('max_abs_diff', float('nan')):>10.2e}")

    def paired(m: str, b: int = 32) -> float | None:
        return speed.get(m, {}).get(b, {}).get("median") if "fp32" in backends else None

    def iqr_of(m: str, b: int = 32) -> list | None:
        s = speed.get(m, {}).get(b) if "fp32" in backends else None
        return [s["q1"], s["q3"]] if s else None

    def ratio_of_medians(m: str) -> float | None:
        return round(rows["fp32"]["ms_batch32"] / rows[m]["ms_batch32"], 3) if {"fp32", m} <= set(backends) else None

    result: dict[str, Any] = {
        "model": pipe.spec.name, "threads": threads, "repeats": repeats, "warmup": warmup, "n_zero_shot": n_zero_shot,
        "int8_speedup": paired("int8-dynamic"), "int8_speedup_iqr": iqr_of("int8-dynamic"),
        "int8_speedup_of_medians": ratio_of_medians("int8-dynamic"),
        "int8_speedup_batch1": paired("int8-dynamic", 1),
        "int8_zero_shot_drop": (round(rows["fp32"]["zero_shot_top1"] - rows["int8-dynamic"]["zero_shot_top1"], 4)
                                if {"fp32", "int8-dynamic"} <= set(backends) else None),
        "onnx_speedup": paired("onnx"), "onnx_speedup_iqr": iqr_of("onnx"),
        "onnx_speedup_of_medians": ratio_of_medians("onnx"),
        "onnx_speedup_batch1": paired("onnx", 1),
        "onnx_max_abs_diff": rows.get("onnx", {}).get("max_abs_diff"),
        "onnx_int8_speedup": paired("onnx-int8"),
        "torchao_int8_speedup": paired("torchao-int8"),
        "student_params_ratio": (round(rows["distilled"]["params"] / rows["fp32"]["params"], 4)
                                 if {"fp32", "distilled"} <= set(backends) else None),
        "student_zero_shot": rows.get("distilled", {}).get("zero_shot_top1"),
        "student_binding_colour_swap": rows.get("distilled", {}).get("binding_colour_swap"),
        "student_binding_relation_flip": rows.get("distilled", {}).get("binding_relation_flip"),
        "student_speedup": paired("distilled"),
        "rows": rows,
    }
    result["bars_met"] = {k: (result[k] is not None and (result[k] <= bar if k in AT_MOST else result[k] >= bar))
                          for k, bar in BARS.items()}
    return result


def pruning_sweep(model: str, amounts: list[float], finetune_steps: int, n_zero_shot: int, world_seed: int | None,
                  repeats: int, warmup: int) -> list[dict]:
    """Zero-shot top-1 against sparsity: magnitude pruning at each of ``amounts`` and structured pruning
    at 0.25/0.5/0.75, each before and after ``finetune_steps`` of fine-tuning; batch-32 speed-up over
    the original (paired rounds)."""
    import numpy as np

    from ..compress import compress
    from ..compress.pruning import STRUCTURED_AMOUNTS
    from ..data.world import shape_colour_classes
    from ..eval.matching import ZERO_SHOT_SEED, zero_shot_set
    from ..loading import pipeline
    from .timing import interleaved, paired_speedup

    pipe = pipeline("image-text-matching", model=model, device="cpu", fallback=False, cache=False)
    images, labels = zero_shot_set(n_zero_shot, ZERO_SHOT_SEED if world_seed is None else world_seed)
    classes = shape_colour_classes()
    px = pipe.backend.preprocess_images([_pil(im) for im in images[:32]])
    ids = pipe.backend.tokenize([f"a photo of a {c}." for c in classes][:32])

    def top1(p: Any) -> float:
        return float(np.mean([r.top == y for r, y in zip(p.zero_shot_classify_batch(images, classes), labels)]))

    def call(backend: Any) -> Any:
        import torch

        with torch.inference_mode():
            return backend.encode_images(px), backend.encode_texts(ids)

    out = []
    plan = [("prune-magnitude", a) for a in amounts] + [("prune-structured", a) for a in STRUCTURED_AMOUNTS]
    for method, amount in plan:
        log(f"pruning: {method} {amount}")
        before = compress(pipe, method, amount=amount, finetune_steps=0)
        after = compress(pipe, method, amount=amount, finetune_steps=finetune_steps, log=log)
        times = interleaved({"fp32": lambda: call(pipe.backend), "pruned": lambda: call(after.backend)},
                            rounds=max(5, repeats // 3), warmup=max(1, warmup - 1))
        row = {"method": method, "amount": amount, "sparsity": after.backend.pruning["sparsity"],
               "params": after.backend.pruning["params"], "nonzero_params": after.backend.pruning["nonzero_params"],
               "size_mb": round(after.size_mb, 3), "zero_shot_before_finetune": top1(before.pipeline),
               "zero_shot": top1(after.pipeline), "finetune": after.backend.pruning["finetune"],
               "speedup_batch32": paired_speedup(times["fp32"], times["pruned"])["median"]}
        log(f"  sparsity {row['sparsity']:.2f}, params {row['params']:,} (non-zero {row['nonzero_params']:,}), "
            f"zero-shot {row['zero_shot_before_finetune']:.3f} -> {row['zero_shot']:.3f} after {finetune_steps} steps, "
            f"x{row['speedup_batch32']:.2f} at batch 32")
        out.append(row)
    return out


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
