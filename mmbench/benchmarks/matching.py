"""Benchmark: mmbench's matching pipeline vs the raw library forward, same model, same batch.

Run ``mmbench bench matching`` (or ``python benchmarks/matching.py`` in a checkout), or call
:func:`run`. By default the model is open_clip's ViT-B-32 architecture with random weights (nothing
to download; speed does not depend on the weights); ``--model NAME`` benchmarks a registry row
instead (open_clip or transformers CLIP backend). Both sides share one loaded model, so the
difference is what the pipeline adds: input validation, batching, normalisation and the host copy.
A table goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

from .common import log, parse_and_run

RANDOM_MODEL = "bench-openclip-vit-b-32-random"
CAPTIONS = ("a photo of a dog", "a red sports car parked on a street", "two cats sleeping on a sofa",
            "a bowl of fresh fruit", "a mountain lake at sunrise", "a man riding a bicycle",
            "a plate of spaghetti", "a city skyline at night")


def make_batch(batch: int, size: int = 256, seed: int = 0) -> tuple[list, list[str]]:
    """``batch`` deterministic RGB PIL images (smooth gradients plus noise) and ``batch`` captions."""
    import numpy as np
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


def raw_forward(backend: Any) -> Callable[[list, list[str]], Any]:
    """The library's own recipe, written as a user of that library would, on the same model object."""
    import torch

    from ..errors import InvalidInputError

    model, device, dtype = backend.model, backend.device, backend.dtype
    if backend.spec.backend == "open_clip":
        preprocess, tokenizer = backend.preprocess, backend.tokenizer

        def forward(images: list, texts: list[str]):
            with torch.inference_mode():
                pixels = torch.stack([preprocess(im) for im in images]).to(device, dtype)
                img = model.encode_image(pixels)
                txt = model.encode_text(tokenizer(texts).to(device))
                img = img / img.norm(dim=-1, keepdim=True)
                txt = txt / txt.norm(dim=-1, keepdim=True)
                return (img @ txt.T).float().cpu().numpy()
        return forward
    if backend.spec.backend == "transformers_clip":
        processor = backend.processor

        def forward(images: list, texts: list[str]):
            with torch.inference_mode():
                inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
                out = model(input_ids=inputs["input_ids"].to(device),
                            attention_mask=inputs["attention_mask"].to(device),
                            pixel_values=inputs["pixel_values"].to(device, dtype))
                return (out.logits_per_image / model.logit_scale.exp()).float().cpu().numpy()
        return forward
    raise InvalidInputError(f"no raw reference for backend {backend.spec.backend!r} "
                            "(use an open_clip or transformers_clip model)")


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _sync(device: Any) -> None:
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.synchronize()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--model", help="registry model name (default: open_clip ViT-B-32 with random weights)")
    parser.add_argument("--batch", type=int, help="images and texts per call")
    parser.add_argument("--repeats", type=int, help="timed calls per side (interleaved)")
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--device", help="cpu, cuda, mps or auto")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def run(*, model: str | None = None, batch: int = 8, repeats: int = 10, warmup: int = 2, device: str = "cpu",
        seed: int = 0, threads: int | None = None) -> dict:
    """``pipe.similarity_matrix`` vs :func:`raw_forward` on the same loaded model and batch."""
    import numpy as np
    import torch

    from ..io import validate_images, validate_texts
    from ..loading import pipeline
    from ..registry import ModelSpec, register, unregister

    if threads:
        torch.set_num_threads(threads)

    if model is None:
        spec = register(ModelSpec(name=RANDOM_MODEL, task="image-text-matching", tier="offline", backend="open_clip",
                                  source="open_clip:ViT-B-32", options={"arch": "ViT-B-32", "pretrained": None}))
    try:
        start = time.perf_counter()
        pipe = pipeline("image-text-matching", model=model or RANDOM_MODEL, device=device,
                       fallback=False, cache=False)
        log(f"loaded {pipe.spec.name} on {pipe.device} ({pipe.backend.dtype}) in {time.perf_counter() - start:.1f} s"
            + (f" — {pipe.backend.note}" if getattr(pipe.backend, "note", "") else ""))
    finally:
        if model is None:
            unregister(spec.name)

    images, texts = make_batch(batch, seed=seed)
    raw = raw_forward(pipe.backend)
    pipe_device = pipe.device

    def run_raw() -> np.ndarray:
        out = raw(images, texts)
        _sync(pipe_device)
        return out

    def run_mmbench() -> np.ndarray:
        out = pipe.similarity_matrix(images, texts)
        _sync(pipe_device)
        return out

    for _ in range(warmup):
        run_raw()
        run_mmbench()
    times: dict[str, list[float]] = {"raw": [], "mmbench": []}
    sides = {"raw": run_raw, "mmbench": run_mmbench}
    for i in range(repeats):  # interleaved, alternating which side goes first (ABBA...) to cancel drift
        order = ("raw", "mmbench") if i % 2 == 0 else ("mmbench", "raw")
        for side in order:
            times[side].append(_timed(sides[side]))
    # The pipeline's extra work, timed on its own (already inside the mmbench number).
    validate_ms = statistics.median(_timed(lambda: (validate_images(images), validate_texts(texts)))
                                    for _ in range(max(3, repeats)))

    ref, ours = run_raw(), run_mmbench()
    half = pipe.backend.dtype in (torch.float16, torch.bfloat16)
    atol = 2e-2 if half else 1e-5
    max_diff = float(np.abs(ref - ours).max())
    close = bool(np.allclose(ref, ours, atol=atol))

    raw_ms, mm_ms = statistics.median(times["raw"]), statistics.median(times["mmbench"])
    ratio = mm_ms / raw_ms
    ratio_min = min(times["mmbench"]) / min(times["raw"])  # robust to other processes stealing the CPU
    log(f"\nbatch: {batch} images 256x256 + {batch} texts, {repeats} interleaved repeats, "
        f"{warmup} warm-up; torch threads {torch.get_num_threads()}")
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
        "device": str(pipe_device),
        "dtype": str(pipe.backend.dtype).removeprefix("torch."),
        "batch": batch,
        "repeats": repeats,
        "raw_ms": round(raw_ms, 2),
        "mmbench_ms": round(mm_ms, 2),
        "validate_ms": round(validate_ms, 3),
        "ratio": round(ratio, 4),
        "ratio_of_minimums": round(ratio_min, 4),
        "threads": torch.get_num_threads(),
        "allclose": close,
        "max_abs_diff": max_diff,
    }


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
