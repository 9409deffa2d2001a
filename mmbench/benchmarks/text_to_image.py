"""Benchmark: mmbench's text-to-image pipeline vs calling the diffusers pipeline directly, same loaded model.

Run ``mmbench bench text-to-image`` (or ``python benchmarks/text_to_image.py`` in a checkout), or
call :func:`run`. Both sides generate the same prompt with the same ``StableDiffusionPipeline``
object (a small random-weight one built from configs, so nothing is downloaded; ``--model`` takes
any diffusers registry row instead), the same CPU-seeded generators, steps, guidance and size.
What mmbench adds: validation, seeds, the per-step callback, conversion to PIL and the typed
result. A table goes to stderr; the last line of stdout is one JSON object with ``ratio`` (mmbench
median / raw median) and whether the images are identical.
"""

from __future__ import annotations

import argparse
import statistics
import time

from .common import log, parse_and_run

#: The benchmark's model: Stable Diffusion's architecture at a small size (UNet 32-64-128 channels,
#: 4-channel latents, 2-layer CLIP text encoder), random weights.
BENCH_CONFIG = {"unet": {"block_out_channels": [32, 64, 128], "layers_per_block": 1,
                         "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                         "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]},
                "vae": {"block_out_channels": [32, 64]}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--model", help="a diffusers registry row (default: the random config-built SD)")
    parser.add_argument("--repeats", type=int, help="timed calls per side")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--size", type=int)
    parser.add_argument("--images", type=int, help="images per call")
    parser.add_argument("--device")


def run(*, model: str | None = None, repeats: int = 7, steps: int = 4, guidance: float = 3.0, size: int = 64,
        images: int = 2, device: str = "cpu") -> dict:
    """``pipe(prompt, seed=0, num_images=images)`` vs the diffusers pipeline with the same generators."""
    import numpy as np
    import torch

    from ..errors import InvalidInputError
    from ..loading import pipeline
    from ..registry import ModelSpec

    spec = model or ModelSpec(name="bench-tiny-sd", task="text-to-image", tier="online", backend="diffusers",
                              source="config", options={"config": BENCH_CONFIG, "seed": 0, "sizes": [16, 512],
                                                        "default_size": size})
    pipe = pipeline("text-to-image", spec, device=device, fallback=False)
    if pipe.spec.backend != "diffusers":
        raise InvalidInputError(f"{pipe.spec.name} is not a diffusers model; the raw side calls diffusers directly")
    raw = pipe.backend.pipe
    prompt, seeds = "a red circle left of a blue square", list(range(images))
    log(f"{pipe.describe()} · {images} image(s) {size}x{size}, {steps} steps, guidance {guidance}")

    def run_raw() -> list:
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        return raw(prompt=[prompt] * len(seeds), num_inference_steps=steps, guidance_scale=guidance,
                   width=size, height=size, generator=gens).images

    def run_mmbench() -> list:
        return pipe(prompt, seed=seeds[0], num_images=len(seeds), num_inference_steps=steps,
                    guidance_scale=guidance, width=size, height=size).images

    times: dict[str, list[float]] = {"raw diffusers": [], "mmbench": []}
    with torch.no_grad():
        a, b = run_raw(), run_mmbench()  # warm-up (and the equality check)
        identical = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
        for _ in range(repeats):  # interleaved, so drifting machine load hits both sides alike
            for name, fn in (("raw diffusers", run_raw), ("mmbench", run_mmbench)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    log(f"{'side':<14} {'median s':>9} {'min s':>8}")
    for k, v in times.items():
        log(f"{k:<14} {med[k]:9.4f} {min(v):8.4f}")
    ratio = med["mmbench"] / med["raw diffusers"]
    log(f"ratio (mmbench / raw) = {ratio:.3f}; images identical: {identical}")
    return {"ratio": round(ratio, 4), "mmbench_median_s": round(med["mmbench"], 4),
            "raw_median_s": round(med["raw diffusers"], 4), "identical_images": identical,
            "model": pipe.spec.name, "device": str(pipe.device), "steps": steps, "size": size,
            "images": images, "repeats": repeats}


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
