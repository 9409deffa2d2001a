"""Compression tables for every model the issue lists: one :class:`Case` per model, measured by :func:`measure`.

Each table: one row per :func:`mmbench.compress.compress` method, with the size on disk of what the
method stores (MB), CPU latency at batch 1 and batch 32 (median and inter-quartile range over
interleaved rounds, :mod:`.timing`), the paired speed-up over the fp32 row, and the model's own
held-out metric, the original's (the ``fp32`` row) in the same run on the same data:

* ``mmbench-tiny-clip``: zero-shot top-1 on held-out procedural scenes (all 40 shape-colour classes).
* ``all-minilm-l6-v2``: sentiment accuracy of a nearest-centroid classifier on the model's own
  embeddings (centroids from 300 sentences of ``SentimentWorld(0)``, tested on 300 held-out
  sentences of ``SentimentWorld(20_021)``), and the mean cosine to the original's embeddings.
* ``mmbench-tiny-video``: top-1 of the video network on held-out clips (``ClipWorld(20_001)``).
* ``efficientnet-lite0``: ImageNet top-1 agreement with the original on views (whole, flipped,
  five crops) of the photos that scikit-image ships (no labels exist offline, so agreement it is).
* ``fusion-tfn``: macro-F1 on the test split of the procedural sentiment world of a tensor-fusion
  model trained here (seed 0, ~15 s).
* ``whisper-tiny.en-ct2``: word error rate on the five LibriVox recordings, seconds per recording
  (batch sizes do not apply), weights in memory.

Latency is measured on prepared inputs (pixels, token ids, features): preprocessing is the same
code for every row and is left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .timing import interleaved, paired_speedup

TORCH_METHODS = "fp32,int8-dynamic,torchao-int8,bfloat16,float16,onnx,onnx-int8"
#: float16 convolutions have no fast CPU kernels (the tiny video network: 70x slower than float32 at
#: batch 32), so the convolutional models leave it out by default (``--methods`` adds it back).
CONV_METHODS = "fp32,int8-dynamic,torchao-int8,bfloat16,onnx,onnx-int8"
HELD_OUT_SENTIMENT_SEED, VIDEO_EVAL_SEED, CLIP_EVAL_SEED = 20_021, 20_001, 10_001
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                  "camera", "coins", "moon", "page", "text", "brick", "grass", "gravel", "colorwheel", "cell", "clock")


@dataclass
class Case:
    """How one model is loaded, fed and scored.

    ``data(original, n)`` makes the held-out set once; ``inputs(original, batch)`` the prepared
    tensors that are timed; ``call(backend, inputs)`` the timed forward pass of a compressed copy;
    ``score(compressed, data)`` the metric (a dict; its ``metric`` key is the headline).
    """

    name: str
    metric: str
    load: Callable[[], Any]
    data: Callable[[Any, int], Any]
    inputs: Callable[[Any, int], Any]
    call: Callable[[Any, Any], Any]
    score: Callable[[Any, Any], dict]
    n_eval: int
    methods: str = TORCH_METHODS
    notes: list[str] = field(default_factory=list)
    threads: int | None = None  # a thread count this model always runs with (every row alike)


def _pipe(task: str, model: str) -> Callable[[], Any]:
    def load() -> Any:
        from ..loading import pipeline

        return pipeline(task, model=model, device="cpu", fallback=False, cache=False)

    return load


def _pil(arr: Any) -> Any:
    from PIL import Image

    return Image.fromarray(arr)


# -- tiny CLIP ----------------------------------------------------------------------------------
def _clip_data(pipe: Any, n: int) -> Any:
    from ..eval.matching import zero_shot_set

    return zero_shot_set(n, CLIP_EVAL_SEED)


def _clip_inputs(pipe: Any, b: int) -> Any:
    from ..data.world import shape_colour_classes
    from ..eval.matching import zero_shot_set

    images, _ = zero_shot_set(b, CLIP_EVAL_SEED + 7)
    prompts = [f"a photo of a {c}." for c in shape_colour_classes()]
    return pipe.backend.preprocess_images([_pil(im) for im in images]), pipe.backend.tokenize((prompts * 2)[:b])


def _clip_call(backend: Any, inputs: Any) -> Any:
    return backend.encode_images(inputs[0]), backend.encode_texts(inputs[1])


def _clip_score(cm: Any, data: Any) -> dict:
    import numpy as np

    from ..data.world import shape_colour_classes

    images, labels = data
    results = cm.pipeline.zero_shot_classify_batch(images, shape_colour_classes())
    return {"metric": float(np.mean([r.top == y for r, y in zip(results, labels)]))}


# -- MiniLM -------------------------------------------------------------------------------------
def _minilm_data(pipe: Any, n: int) -> Any:
    from ..data.sentiment import SentimentWorld

    train, test = SentimentWorld(seed=0).dataset(n), SentimentWorld(seed=HELD_OUT_SENTIMENT_SEED).dataset(n)
    return {"train": (list(train.texts), train.labels), "test": (list(test.texts), test.labels),
            "reference": pipe.embed(list(test.texts))}


def _minilm_inputs(pipe: Any, b: int) -> Any:
    from ..data.sentiment import SentimentWorld

    return pipe.backend.tokenize(list(SentimentWorld(seed=7).dataset(b).texts))


def _minilm_score(cm: Any, data: Any) -> dict:
    import numpy as np

    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    etr, ete = cm.pipeline.embed(xtr), cm.pipeline.embed(xte)
    centroids = np.stack([etr[ytr == c].mean(0) for c in np.unique(ytr)])
    pred = (ete @ centroids.T).argmax(1)
    return {"metric": float((pred == yte).mean()),
            "cosine_to_original": round(float((ete * data["reference"]).sum(1).mean()), 5)}


# -- tiny video ---------------------------------------------------------------------------------
def _video_data(pipe: Any, n: int) -> Any:
    import numpy as np

    from ..data.clips import ClipWorld

    clips = ClipWorld(seed=VIDEO_EVAL_SEED).clips(n)
    return np.stack([c.frames for c in clips]), np.array([c.label for c in clips])


def _video_inputs(pipe: Any, b: int) -> Any:
    import numpy as np

    from ..data.clips import ClipWorld

    return pipe.backend.model.video.preprocess(np.stack([c.frames for c in ClipWorld(seed=9).clips(b)]))


def _video_score(cm: Any, data: Any) -> dict:
    import numpy as np
    import torch

    frames, labels = data
    with torch.inference_mode():
        logits = np.concatenate([cm.backend.window_logits(frames[i:i + 32]).float().numpy()
                                 for i in range(0, len(frames), 32)])
    return {"metric": float((logits.mean(1).argmax(-1) == labels).mean())}


# -- EfficientNet-Lite0 -------------------------------------------------------------------------
def skimage_views(n_photos: int | None = None) -> list:
    """Eight views of each offline scikit-image photo: whole, mirrored, four corner crops and two
    centre crops (60% and 80% of the side), as RGB PIL images."""
    import numpy as np
    import skimage.data
    from PIL import Image, ImageOps

    views = []
    for name in SKIMAGE_PHOTOS[:n_photos]:
        arr = np.asarray(getattr(skimage.data, name)())
        img = Image.fromarray(arr.astype(np.uint8) if arr.dtype != bool else arr.astype(np.uint8) * 255).convert("RGB")
        w, h = img.size
        cw, ch = int(0.6 * w), int(0.6 * h)
        boxes = [(0, 0, cw, ch), (w - cw, 0, w, ch), (0, h - ch, cw, h), (w - cw, h - ch, w, h),
                 ((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2),
                 (w // 10, h // 10, w - w // 10, h - h // 10)]
        views += [img, ImageOps.mirror(img)] + [img.crop(b) for b in boxes]
    return views


def _efficientnet_data(pipe: Any, n: int) -> Any:
    views = skimage_views(max(1, n // 8))
    return views, pipe.probabilities(views).argmax(1)


def _efficientnet_inputs(pipe: Any, b: int) -> Any:
    views = skimage_views()
    return pipe.backend.preprocess_images((views * 2)[:b])


def _efficientnet_score(cm: Any, data: Any) -> dict:
    views, reference = data
    return {"metric": float((cm.pipeline.probabilities(views).argmax(1) == reference).mean())}


# -- fusion -------------------------------------------------------------------------------------
def _fusion_load(strategy: str = "tfn") -> Any:
    import torch

    from ..fusion.data import FusionSetting, seed_data
    from ..fusion.training import train_strategy

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the fusion lab trains: one thread is faster for these tiny models
    try:
        data = seed_data(0, FusionSetting())
        model = train_strategy(strategy, data.train, data.val, seed=0)
    finally:
        torch.set_num_threads(threads)
    model.lab_data = data
    return model


def _fusion_data(model: Any, n: int) -> Any:
    xte, yte = model.lab_data.test
    return {m: x[:n] for m, x in xte.items()}, yte[:n]


def _fusion_inputs(model: Any, b: int) -> Any:
    from ..fusion.training import tensors

    xte, _ = model.lab_data.test
    return tensors({m: x[:b] for m, x in xte.items()})


def _fusion_score(cm: Any, data: Any) -> dict:
    from sklearn.metrics import f1_score

    from ..fusion.training import predict_proba

    x, y = data
    out = {"metric": float(f1_score(y, predict_proba(cm.backend, x).argmax(1), average="macro"))}
    if cm.method in ("fp32", "distilled"):  # the student's size next to the teacher's
        out["params"] = sum(p.numel() for p in cm.backend.parameters())
    return out


CASES: dict[str, Case] = {
    "mmbench-tiny-clip": Case("mmbench-tiny-clip", "zero_shot_top1", _pipe("image-text-matching", "mmbench-tiny-clip"),
                              _clip_data, _clip_inputs, _clip_call, _clip_score, 500),
    "all-minilm-l6-v2": Case("all-minilm-l6-v2", "sentiment_centroid_accuracy",
                             _pipe("sentence-embedding", "all-minilm-l6-v2"), _minilm_data, _minilm_inputs,
                             lambda b, x: b.encode_tokens(**x), _minilm_score, 300),
    "mmbench-tiny-video": Case("mmbench-tiny-video", "video_top1", _pipe("video-classification", "mmbench-tiny-video"),
                               _video_data, _video_inputs, lambda b, x: b.model.video(x), _video_score, 300,
                               methods=CONV_METHODS,
                               notes=["int8 methods need nn.Linear layers; the video network is all convolutions",
                                      "float16 left out by default: no fast CPU convolution kernels"]),
    "efficientnet-lite0": Case("efficientnet-lite0", "imagenet_top1_agreement",
                               _pipe("image-classification", "efficientnet-lite0"), _efficientnet_data,
                               _efficientnet_inputs, lambda b, x: b.logits(x.to(b.dtype)), _efficientnet_score, 144,
                               methods=CONV_METHODS,
                               notes=["int8 methods convert only the classifier's nn.Linear; the convolutions stay float32",
                                      "float16 left out by default: no fast CPU convolution kernels"]),
    "fusion-tfn": Case("fusion-tfn", "macro_f1", _fusion_load, _fusion_data, _fusion_inputs,
                       lambda m, x: m(x), _fusion_score, 600, methods=TORCH_METHODS + ",distilled", threads=1,
                       notes=["one thread for every row, as the fusion lab runs these sub-millisecond models",
                              "distilled = a tensor-fusion student with <= 1/4 of the parameters (smaller encodings "
                              "and hidden layer), trained here against the original (mmbench.fusion.distill)",
                              "float16/bfloat16 do not apply: tensor fusion builds float32 constants in forward"]),
}
MODELS = (*CASES, "whisper-tiny.en-ct2")


def measure(model: str, methods: str | None = None, *, rounds: int = 10, warmup: int = 2, threads: int | None = None,
            n_eval: int | None = None, batches: tuple[int, ...] = (1, 32), allocator: str = "default",
            progress: Callable[[str], None] | None = None) -> dict:
    """One compression table for ``model`` (a key of :data:`CASES`, or ``"whisper-tiny.en-ct2"``).

    Returns ``{"model", "metric", "rows": {method: row}, "runtime", "notes"}``; a row holds
    ``size_mb``, ``ms_batch{b}`` (median), ``ms_batch{b}_iqr``, ``speedup_batch{b}`` (paired, against
    fp32, with ``_iqr``), ``metric`` and ``metric_original``, or ``error`` when the method does not
    apply (the message says why). ``threads``/``allocator`` go to :func:`mmbench.compress.cpu_runtime`.
    """
    import torch

    threads_before = torch.get_num_threads()
    try:
        return _measure(model, methods, rounds=rounds, warmup=warmup, threads=threads, n_eval=n_eval, batches=batches,
                        allocator=allocator, progress=progress)
    finally:
        torch.set_num_threads(threads_before)  # a table may run with its own thread count (fusion: 1)


def _measure(model: str, methods: str | None, *, rounds: int, warmup: int, threads: int | None, n_eval: int | None,
             batches: tuple[int, ...], allocator: str, progress: Callable[[str], None] | None) -> dict:
    import torch

    from ..compress import compress, cpu_runtime
    from ..errors import InvalidInputError, MMBenchError

    say = progress or (lambda _m: None)
    settings = cpu_runtime(threads, allocator=allocator)
    if model == "whisper-tiny.en-ct2":
        return whisper_table(methods or "fp32,int8-dynamic", threads=settings.threads, progress=say) | {
            "runtime": settings.as_dict()}
    if model not in CASES:
        raise InvalidInputError(f"No compression table for {model!r}.", hint=f"Choose from: {', '.join(MODELS)}.")
    case = CASES[model]
    if case.threads is not None:
        settings = cpu_runtime(case.threads, allocator=allocator)
    say(f"{model}: loading the original and its held-out data")
    original = case.load()
    data = case.data(original, n_eval or case.n_eval)
    inputs = {b: case.inputs(original, b) for b in batches}
    rows: dict[str, dict] = {}
    backends: dict[str, Any] = {}
    names = [m.strip() for m in (methods or case.methods).split(",") if m.strip()]
    if "fp32" not in names:
        names.insert(0, "fp32")  # the reference row: the original, same run
    for method in names:
        say(f"{model}: {method}")
        start = time.perf_counter()
        try:
            cm = compress(original, method, threads=settings.threads)
            with torch.inference_mode():
                scored = case.score(cm, data)
        except MMBenchError as err:
            rows[method] = {"error": f"{err}" + (f" {err.hint}" if getattr(err, "hint", "") else "")}
            continue
        backends[method] = cm.backend
        rows[method] = {"size_mb": round(cm.size_mb, 3), **{k: round(v, 4) for k, v in scored.items()},
                        "compress_s": round(time.perf_counter() - start, 2)}
    for row in rows.values():
        if "metric" in row and "metric" in rows.get("fp32", {}):
            row["metric_original"] = rows["fp32"]["metric"]
            row["metric_drop"] = round(rows["fp32"]["metric"] - row["metric"], 4)
        if "params" in row and rows.get("fp32", {}).get("params"):
            row["params_ratio"] = round(row["params"] / rows["fp32"]["params"], 4)
    for b in batches:
        say(f"{model}: timing batch {b} ({rounds} interleaved rounds)")

        def timed(backend: Any, x: Any = inputs[b]) -> Callable[[], Any]:
            def call() -> Any:
                with torch.inference_mode():
                    return case.call(backend, x)
            return call

        times = interleaved({m: timed(bk) for m, bk in backends.items()}, rounds=rounds, warmup=warmup)
        for m, t in times.items():
            q1, q3 = t.iqr
            rows[m][f"ms_batch{b}"] = round(t.median, 3)
            rows[m][f"ms_batch{b}_iqr"] = [round(q1, 3), round(q3, 3)]
            if "fp32" in times:
                s = paired_speedup(times["fp32"], t)
                rows[m][f"speedup_batch{b}"] = s["median"]
                rows[m][f"speedup_batch{b}_iqr"] = [s["q1"], s["q3"]]
    return {"model": model, "metric": case.metric, "rows": rows, "runtime": settings.as_dict(),
            "rounds": rounds, "warmup": warmup, "notes": list(case.notes)}


def whisper_table(methods: str, *, threads: int, beam_size: int = 5, progress: Callable[[str], None] | None = None) -> dict:
    """CTranslate2 float32 vs int8 on the LibriVox recordings: WER, seconds per recording, weight bytes."""
    from ..compress import compress
    from ..errors import MMBenchError
    from ..loading import pipeline
    from ..speech.corpora import librivox_recordings
    from ..speech.wer import word_error_rate
    from .timing import Timing

    from ..compress.ct2 import weight_bytes

    say = progress or (lambda _m: None)
    pipe = pipeline("speech-recognition", model="whisper-tiny.en-ct2", device="cpu", fallback=False, cache=False)
    recordings = librivox_recordings()
    variants, rows = {}, {}
    for method in [m.strip() for m in methods.split(",") if m.strip()]:
        try:
            cm = compress(pipe, method, threads=threads)
        except MMBenchError as err:
            rows[method] = {"error": str(err)}
            continue
        variants[method] = cm
        rows[method] = {"size_mb": round(cm.size_mb, 3), "compute_type": cm.backend.note,
                        "weights_in_memory_mb": round(weight_bytes(cm.backend, pipe.spec.params or 0) / 1e6, 1)}
    hyps: dict[str, list[str]] = {m: [] for m in variants}
    durations: dict[str, float] = {}
    times = {m: Timing() for m in variants}
    for m in variants:  # warm-up: first-call costs are not speed
        variants[m].pipeline(recordings[0].path, beam_size=beam_size)
    for i, rec in enumerate(recordings):  # interleaved: each recording by every variant in turn
        for m in (list(variants) if i % 2 == 0 else list(variants)[::-1]):
            say(f"whisper {m}: {rec.id}")
            start = time.perf_counter()
            result = variants[m].pipeline(rec.path, beam_size=beam_size)
            times[m].times_ms.append((time.perf_counter() - start) * 1e3)
            hyps[m].append(result.text)
            durations[rec.id] = float(result.duration)
    audio_s = sum(durations.values())
    for m in variants:
        rows[m]["metric"] = round(word_error_rate([r.transcript for r in recordings], hyps[m]).wer, 4)
        rows[m]["s_per_recording"] = round(times[m].median / 1e3, 3)
        rows[m]["s_total"] = round(sum(times[m].times_ms) / 1e3, 2)
        if audio_s:
            rows[m]["rtf"] = round(rows[m]["s_total"] / audio_s, 4)
        base = "fp32" if "fp32" in times else None
        if base:
            rows[m]["metric_original"] = rows[base]["metric"]
            rows[m]["speedup"] = paired_speedup(times[base], times[m])["median"]
    return {"model": "whisper-tiny.en-ct2", "metric": "librivox_wer", "rows": rows, "rounds": len(recordings),
            "notes": ["fp32 = CTranslate2 float32 on the shipped (float16-stored) weights; int8-dynamic = CTranslate2 "
                      f"int8 weights, int8 activations quantized on the fly; {threads} CTranslate2 threads; "
                      f"beam {beam_size}; lower WER is better"]}


def format_table(table: dict) -> list[str]:
    """The table as text lines (what the CLI prints to stderr)."""
    rows, metric = table["rows"], table["metric"]
    out = [f"{table['model']}  ({metric}; original = the fp32 row)"]
    if table["model"].startswith("whisper"):
        out.append(f"{'method':<14} {'size MB':>8} {'mem MB':>7} {'s/rec':>7} {'speedup':>8} {'WER':>7}")
        for m, r in rows.items():
            out.append(f"{m:<14} error: {r['error']}" if "error" in r else
                       f"{m:<14} {r['size_mb']:>8.2f} {r['weights_in_memory_mb']:>7.1f} {r['s_per_recording']:>7.2f} "
                       f"{r.get('speedup', float('nan')):>8.2f} {r['metric']:>7.4f}")
        return out + [f"  note: {n}" for n in table.get("notes", [])]
    out.append(f"{'method':<16} {'size MB':>8} {'ms b=1':>8} {'ms b=32':>9} {'IQR b=32':>17} {'x b=32':>7} {'metric':>8}")
    for m, r in rows.items():
        if "error" in r:
            out.append(f"{m:<16} not applicable: {r['error'][:150]}")
            continue
        iqr = r.get("ms_batch32_iqr", [float("nan")] * 2)
        out.append(f"{m:<16} {r['size_mb']:>8.2f} {r.get('ms_batch1', float('nan')):>8.2f} "
                   f"{r.get('ms_batch32', float('nan')):>9.2f} {f'{iqr[0]:.1f}-{iqr[1]:.1f}':>17} "
                   f"{r.get('speedup_batch32', float('nan')):>7.2f} {r['metric']:>8.4f}"
                   + (f"  params {r['params']:,} (x{r['params_ratio']:.3f})" if "params_ratio" in r else ""))
    return out + [f"  note: {n}" for n in table.get("notes", [])]


QUICK_N_EVAL = {"mmbench-tiny-clip": 100, "all-minilm-l6-v2": 100, "mmbench-tiny-video": 60, "efficientnet-lite0": 48,
                "fusion-tfn": 600}


def table_rows(table: dict) -> tuple[list[str], list[list[Any]]]:
    """``(headers, rows)`` of a :func:`measure` table for a data-frame view (errors in the last column)."""
    if table["model"].startswith("whisper"):
        headers = ["method", "size MB", "weights in memory MB", "s per recording", "speed-up", "WER", "WER original", "note"]
        keys = ["size_mb", "weights_in_memory_mb", "s_per_recording", "speedup", "metric", "metric_original"]
    else:
        headers = ["method", "size MB", "ms batch 1", "ms batch 32", "IQR batch 32", "speed-up batch 32",
                   table["metric"], "original", "note"]
        keys = ["size_mb", "ms_batch1", "ms_batch32", "ms_batch32_iqr", "speedup_batch32", "metric", "metric_original"]
    rows = []
    for method, r in table["rows"].items():
        cells: list[Any] = [method]
        for k in keys:
            v = r.get(k)
            cells.append(f"{v[0]:.1f}–{v[1]:.1f}" if isinstance(v, list) else ("" if v is None else v))
        cells.append(r.get("error", ""))
        rows.append(cells)
    return headers, rows
