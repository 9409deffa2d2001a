"""Benchmark: mmbench's ``explain(..., method="gradcam")`` vs calling pytorch-grad-cam's GradCAM directly.

Same model, same layer, same target, same batch (one image), same preprocessing function; the
direct path keeps one GradCAM object, as a careful user would. Timings are interleaved (mmbench,
direct, mmbench, ...) and summarised by their medians. ``allclose`` compares the two maps.

Run ``mmbench bench explain`` (or ``python benchmarks/explain.py`` in a checkout), or call
:func:`run`. A table goes to stderr; the last line of stdout is one JSON object; ``ratio`` =
mmbench median / direct median (worst model).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

from .common import log, parse_and_run

MODELS = ("efficientnet-lite0", "mmbench-tiny-clip")


def _case(name: str):
    """(pipe, image, target) for one model: chelsea for the classifier, a scene for the tiny CLIP."""
    from ..loading import pipeline

    if name == "mmbench-tiny-clip":
        from ..data.world import World

        scene = World(seed=10_101, n_objects=(2, 3)).scene(0)
        return pipeline("image-text-matching", model=name, device="cpu"), scene.to_pil(), scene.objects[0].phrase()
    from PIL import Image
    from skimage import data

    return pipeline("image-classification", model=name, device="cpu"), Image.fromarray(data.chelsea()), "Egyptian cat"


def bench_model(name: str, repeats: int, warmup: int, log: Callable[[str], None] = log) -> dict:
    """Time and compare both Grad-CAM paths on one model; one table line goes to ``log``."""
    import cv2
    import numpy as np
    from pytorch_grad_cam import GradCAM

    from ..explain import default_layer, explain, get_adapter

    pipe, image, target = _case(name)
    adapter = get_adapter(pipe)
    layer = default_layer(pipe)
    # mmbench's per-model defaults (shift averaging for the tiny CLIP) are switched off: the two
    # paths must do the same work.
    options = {"shifts": 1}
    fn = adapter.target(target)  # the same target object for both paths
    direct_cam = GradCAM(model=adapter.image_model, target_layers=[adapter.layers[layer]],
                         reshape_transform=adapter.reshape_transform if adapter.patch_size else None)

    def run_mmbench():
        return explain(pipe, image, target, method="gradcam", layer=layer, **options).heatmap

    def run_direct():
        return direct_cam(input_tensor=adapter.preprocess([image]), targets=[fn])[0]

    for _ in range(warmup):
        run_mmbench(), run_direct()
    t_mm, t_direct = [], []
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
        start = time.perf_counter()
        run_mmbench()
        t_mm.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_direct()
        t_direct.append(time.perf_counter() - start)
    ours = run_mmbench()
    theirs = run_direct()
    theirs = cv2.resize(theirs, (ours.shape[1], ours.shape[0]), interpolation=cv2.INTER_LINEAR)
    theirs = (theirs - theirs.min()) / max(float(theirs.max() - theirs.min()), 1e-12)
    direct_cam.activations_and_grads.release()
    mm, di = statistics.median(t_mm) * 1e3, statistics.median(t_direct) * 1e3
    row = {"model": name, "layer": layer, "mmbench_ms": round(mm, 2), "direct_ms": round(di, 2),
           "ratio": round(mm / di, 4), "allclose": bool(np.allclose(ours, theirs, atol=1e-4)),
           "max_abs_diff": float(np.abs(ours - theirs).max()), "repeats": repeats}
    log(f"{name:20s} {layer:22s} mmbench {mm:8.2f} ms   direct {di:8.2f} ms   ratio {mm / di:.3f}   "
        f"allclose {row['allclose']}")
    return row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--models", help=f"comma-separated (default: {','.join(MODELS)})")
    parser.add_argument("--repeats", type=int, help="timed calls per path and model (default 30)")
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")


def run(*, models: str = ",".join(MODELS), repeats: int = 30, warmup: int = 3, threads: int | None = None) -> dict:
    """Both Grad-CAM paths on each of the comma-separated ``models``; the summary is the worst ratio."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    rows = [bench_model(m.strip(), repeats, warmup) for m in models.split(",") if m.strip()]
    worst = max(rows, key=lambda r: r["ratio"])
    return {
        "ratio": worst["ratio"], "ratio_model": worst["model"], "allclose": all(r["allclose"] for r in rows),
        "mmbench_ms": worst["mmbench_ms"], "direct_ms": worst["direct_ms"], "batch": 1, "method": "gradcam",
        "models": {r["model"]: {k: v for k, v in r.items() if k != "model"} for r in rows},
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
