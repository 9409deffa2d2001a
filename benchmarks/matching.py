"""Benchmark: mmbench's matching pipeline vs the raw library forward, same model, same batch.

Run ``python benchmarks/matching.py`` (or ``mmbench bench matching``). By default the model is
open_clip's ViT-B-32 architecture with random weights (nothing to download; speed does not depend
on the weights); ``--model NAME`` benchmarks a registry row instead (open_clip or transformers
CLIP backend). Both sides share one loaded model, so the difference is what the pipeline adds:
input validation, batching, normalisation and the host copy. A table goes to stderr; the last
line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

try:
    import mmbench  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RANDOM_MODEL = "bench-openclip-vit-b-32-random"
CAPTIONS = ("a photo of a dog", "a red sports car parked on a street", "two cats sleeping on a sofa",
            "a bowl of fresh fruit", "a mountain lake at sunrise", "a man riding a bicycle",
            "a plate of spaghetti", "a city skyline at night")


def make_batch(batch: int, size: int = 256, seed: int = 0) -> tuple[list, list[str]]:
    """``batch`` deterministic RGB PIL images (smooth gradients plus noise) and ``batch`` captions."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = []
    for i in range(batch):
        base = np.stack([xx, yy, (xx + yy) / 2], axis=-1) * rng.uniform(80, 255, 3)
        pixels = np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels, "RGB"))
    texts = [CAPTIONS[i % len(CAPTIONS)] + (f" ({i // len(CAPTIONS)})" if i >= len(CAPTIONS) else "")
             for i in range(batch)]
    return images, texts


def raw_forward(backend: Any) -> Callable[[list, list[str]], np.ndarray]:
    """The library's own recipe, written as a user of that library would, on the same model object."""
    import torch

    model, device, dtype = backend.model, backend.device, backend.dtype
    if backend.spec.backend == "open_clip":
        preprocess, tokenizer = backend.preprocess, backend.tokenizer

        def run(images: list, texts: list[str]) -> np.ndarray:
            with torch.inference_mode():
                pixels = torch.stack([preprocess(im) for im in images]).to(device, dtype)
                img = model.encode_image(pixels)
                txt = model.encode_text(tokenizer(texts).to(device))
                img = img / img.norm(dim=-1, keepdim=True)
                txt = txt / txt.norm(dim=-1, keepdim=True)
                return (img @ txt.T).float().cpu().numpy()
        return run
    if backend.spec.backend == "transformers_clip":
        processor = backend.processor

        def run(images: list, texts: list[str]) -> np.ndarray:
            with torch.inference_mode():
                inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
                out = model(input_ids=inputs["input_ids"].to(device),
                            attention_mask=inputs["attention_mask"].to(device),
                            pixel_values=inputs["pixel_values"].to(device, dtype))
                return (out.logits_per_image / model.logit_scale.exp()).float().cpu().numpy()
        return run
    raise SystemExit(f"no raw reference for backend {backend.spec.backend!r} "
                     "(use an open_clip or transformers_clip model)")


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _sync(device: Any) -> None:
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="registry model name (default: open_clip ViT-B-32 with random weights)")
    parser.add_argument("--batch", type=int, default=8, help="images and texts per call")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per side (interleaved)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    import mmbench
    from mmbench.registry import ModelSpec, register, unregister
    from mmbench.validate import validate_images, validate_texts

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.model is None:
        spec = register(ModelSpec(name=RANDOM_MODEL, task="image-text-matching", tier="offline", backend="open_clip",
                                  source="open_clip:ViT-B-32", options={"arch": "ViT-B-32", "pretrained": None}))
    try:
        start = time.perf_counter()
        pipe = mmbench.pipeline("image-text-matching", model=args.model or RANDOM_MODEL, device=args.device,
                                fallback=False, cache=False)
        log(f"loaded {pipe.spec.name} on {pipe.device} ({pipe.backend.dtype}) in {time.perf_counter() - start:.1f} s"
            + (f" — {pipe.backend.note}" if getattr(pipe.backend, "note", "") else ""))
    finally:
        if args.model is None:
            unregister(spec.name)

    images, texts = make_batch(args.batch, seed=args.seed)
    raw = raw_forward(pipe.backend)
    device = pipe.device

    def run_raw() -> np.ndarray:
        out = raw(images, texts)
        _sync(device)
        return out

    def run_mmbench() -> np.ndarray:
        out = pipe.similarity_matrix(images, texts)
        _sync(device)
        return out

    for _ in range(args.warmup):
        run_raw()
        run_mmbench()
    times: dict[str, list[float]] = {"raw": [], "mmbench": []}
    sides = {"raw": run_raw, "mmbench": run_mmbench}
    for i in range(args.repeats):  # interleaved, alternating which side goes first (ABBA...) to cancel drift
        order = ("raw", "mmbench") if i % 2 == 0 else ("mmbench", "raw")
        for side in order:
            times[side].append(_timed(sides[side]))
    # The pipeline's extra work, timed on its own (already inside the mmbench number).
    validate_ms = statistics.median(_timed(lambda: (validate_images(images), validate_texts(texts)))
                                    for _ in range(max(3, args.repeats)))

    ref, ours = run_raw(), run_mmbench()
    half = pipe.backend.dtype in (torch.float16, torch.bfloat16)
    atol = 2e-2 if half else 1e-5
    max_diff = float(np.abs(ref - ours).max())
    close = bool(np.allclose(ref, ours, atol=atol))

    raw_ms, mm_ms = statistics.median(times["raw"]), statistics.median(times["mmbench"])
    ratio = mm_ms / raw_ms
    ratio_min = min(times["mmbench"]) / min(times["raw"])  # robust to other processes stealing the CPU
    log(f"\nbatch: {args.batch} images 256x256 + {args.batch} texts, {args.repeats} interleaved repeats, "
        f"{args.warmup} warm-up; torch threads {torch.get_num_threads()}")
    log(f"{'side':<34} {'median ms':>10} {'min ms':>9} {'max ms':>9}")
    for label, side in ((f"raw {pipe.spec.backend} forward", "raw"), ("mmbench similarity_matrix", "mmbench")):
        log(f"{label:<34} {statistics.median(times[side]):>10.1f} {min(times[side]):>9.1f} {max(times[side]):>9.1f}")
    log(f"{'  of which input validation':<34} {validate_ms:>10.2f}")
    log(f"ratio mmbench/raw = {ratio:.3f} of medians, {ratio_min:.3f} of minimums (target <= 1.05); "
        f"outputs allclose(atol={atol:g}): {close} "
        f"(max |diff| {max_diff:.2e})")

    return {
        "model": pipe.spec.name,
        "backend": pipe.spec.backend,
        "weights": "random" if getattr(pipe.backend, "note", "") else "pretrained",
        "device": str(device),
        "dtype": str(pipe.backend.dtype).removeprefix("torch."),
        "batch": args.batch,
        "repeats": args.repeats,
        "raw_ms": round(raw_ms, 2),
        "mmbench_ms": round(mm_ms, 2),
        "validate_ms": round(validate_ms, 3),
        "ratio": round(ratio, 4),
        "ratio_of_minimums": round(ratio_min, 4),
        "threads": torch.get_num_threads(),
        "allclose": close,
        "max_abs_diff": max_diff,
    }


if __name__ == "__main__":
    print(json.dumps(main()), flush=True)
