"""Benchmark: mmbench's text-to-image pipeline vs calling the diffusers pipeline directly, same loaded model.

Run ``python benchmarks/text_to_image.py`` (or ``mmbench bench text-to-image``). Both sides generate
the same prompt with the same ``StableDiffusionPipeline`` object (a small random-weight one built
from configs, so nothing is downloaded; ``--model`` takes any diffusers registry row instead), the
same CPU-seeded generators, steps, guidance and size. What mmbench adds: validation, seeds,
the per-step callback, conversion to PIL and the typed result. A table goes to stderr; the last
line of stdout is one JSON object with ``ratio`` (mmbench median / raw median) and whether the
images are identical.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

try:
    import mmbench  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The benchmark's model: Stable Diffusion's architecture at a small size (UNet 32-64-128 channels,
#: 4-channel latents, 2-layer CLIP text encoder), random weights.
BENCH_CONFIG = {"unet": {"block_out_channels": [32, 64, 128], "layers_per_block": 1,
                         "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                         "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]},
                "vae": {"block_out_channels": [32, 64]}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a diffusers registry row (default: the random config-built SD)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per side")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=2, help="images per call")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    import mmbench
    from mmbench.registry import ModelSpec

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    spec = args.model or ModelSpec(name="bench-tiny-sd", task="text-to-image", tier="online", backend="diffusers",
                                   source="config", options={"config": BENCH_CONFIG, "seed": 0, "sizes": [16, 512],
                                                             "default_size": args.size})
    pipe = mmbench.pipeline("text-to-image", spec, device=args.device, fallback=False)
    if pipe.spec.backend != "diffusers":
        raise SystemExit(f"{pipe.spec.name} is not a diffusers model; the raw side calls diffusers directly")
    raw = pipe.backend.pipe
    prompt, seeds = "a red circle left of a blue square", list(range(args.images))
    log(f"{pipe.describe()} · {args.images} image(s) {args.size}x{args.size}, {args.steps} steps, "
        f"guidance {args.guidance}")

    def run_raw() -> list:
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        return raw(prompt=[prompt] * len(seeds), num_inference_steps=args.steps, guidance_scale=args.guidance,
                   width=args.size, height=args.size, generator=gens).images

    def run_mmbench() -> list:
        return pipe(prompt, seed=seeds[0], num_images=len(seeds), num_inference_steps=args.steps,
                    guidance_scale=args.guidance, width=args.size, height=args.size).images

    torch.set_grad_enabled(False)
    a, b = run_raw(), run_mmbench()  # warm-up (and the equality check)
    identical = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    times: dict[str, list[float]] = {"raw diffusers": [], "mmbench": []}
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits both sides alike
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
            "model": pipe.spec.name, "device": str(pipe.device), "steps": args.steps, "size": args.size,
            "images": args.images, "repeats": args.repeats}


if __name__ == "__main__":
    import json

    print(json.dumps(main()))
