"""Benchmark: mmbench's video pipeline vs the raw libraries, same video, same model.

Run ``mmbench bench video`` (or ``python benchmarks/video.py`` in a checkout), or call :func:`run`.
Two comparisons:

* **decoding**: ``mmbench.io.load_video`` (header check, only the sampled frames decoded, seeking
  across long gaps, downscaled while decoding) vs decoding every frame with PyAV and picking the same
  ones — on a synthetic 30 fps H.264 video (``--seconds``, ``--size``);
* **classification**: ``pipe(video)`` vs transformers' own recipe (``VideoMAEImageProcessor`` + the
  model's forward, then softmax) on the same sampled windows. By default the model is the
  VideoMAE-base architecture (``VideoMAEConfig()``: 86 M parameters, 16 frames of 224x224) with random
  weights — nothing to download; speed does not depend on the weights. ``--model NAME`` uses a
  registry row instead (e.g. ``videomae-base-kinetics`` where it is cached).

Both sides share one loaded model, so the difference is what the pipeline adds. A table goes to
stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from .common import log, parse_and_run

RANDOM_MODEL = "bench-videomae-base-random"


def make_video(path: Path, seconds: float, size: int, fps: int = 30) -> Path:
    """A moving gradient with noise, written as H.264."""
    import numpy as np

    from ..io import write_video

    n = int(seconds * fps)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    frames = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        shift = i / n
        base = np.stack([(xx + shift) % 1, yy, (xx + yy + shift) % 1], -1) * 255
        frames[i] = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    return write_video(path, frames, fps)


def raw_decode(path: Path, indices):
    """What a user of PyAV would write: decode every frame, keep the wanted ones."""
    import av
    import numpy as np

    wanted = set(int(i) for i in indices)
    kept = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                kept[i] = frame.to_ndarray(format="rgb24")
            if i >= max(wanted):
                break
    return np.stack([kept[int(i)] for i in indices])


def timed_pair(first, second, repeats: int) -> tuple[float, object, float, object]:
    """Median seconds and last result of two callables, run alternately (so a busy machine slows both alike)."""
    times: tuple[list, list] = ([], [])
    outs = [None, None]
    for _ in range(repeats):
        for k, fn in enumerate((first, second)):
            start = time.perf_counter()
            outs[k] = fn()
            times[k].append(time.perf_counter() - start)
    return statistics.median(times[0]), outs[0], statistics.median(times[1]), outs[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--seconds", type=float, help="length of the synthetic video (default 60)")
    parser.add_argument("--size", type=int, help="frame side in pixels (default 320)")
    parser.add_argument("--model", help="registry name (default: VideoMAE-base architecture, random weights)")
    parser.add_argument("--windows", type=int, help="windows to classify (default 2)")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")


def run(*, seconds: float = 60.0, size: int = 320, model: str | None = None, windows: int = 2, repeats: int = 3,
        threads: int | None = None) -> dict:
    """Decoding (``load_video`` vs PyAV decode-all) and classification (``pipe(video)`` vs transformers)."""
    import numpy as np
    import torch

    from ..io import load_video
    from ..loading import pipeline
    from ..registry import ModelSpec, register

    if threads:
        torch.set_num_threads(threads)
    folder = Path(tempfile.mkdtemp(prefix="mmbench-bench-video-"))
    path = make_video(folder / "bench.mp4", seconds, size)

    # -- decoding -------------------------------------------------------------------------------------
    clip_len, stride = 16, 4
    sampled = load_video(path, clip_len=clip_len, stride=stride, max_windows=windows, short_side=None)
    t_mm, _, t_raw, raw = timed_pair(lambda: load_video(path, clip_len=clip_len, stride=stride,
                                                        max_windows=windows, short_side=None),
                                     lambda: raw_decode(path, sampled.indices), repeats)
    decode_diff = float(np.abs(raw.astype(np.int16) - sampled.frames.astype(np.int16)).mean())
    log(f"decode {len(sampled.indices)} of {int(seconds * 30)} frames: mmbench {t_mm * 1000:.0f} ms, "
        f"PyAV decode-all {t_raw * 1000:.0f} ms (mean abs pixel difference {decode_diff:.2f})")

    # -- classification -------------------------------------------------------------------------------
    if model is None:
        register(ModelSpec(name=RANDOM_MODEL, task="video-classification", tier="online",
                           backend="transformers_videomae", source="bench:videomae-base",
                           options={"config": {"num_labels": 400}, "seed": 0}))
        name = RANDOM_MODEL
    else:
        name = model
    pipe = pipeline("video-classification", model=name, device="cpu", fallback=False)
    video = pipe.load(path, max_windows=windows)
    clips = [list(video.window_frames(i)) for i in range(len(video.windows))]
    backend = pipe.backend

    def raw_classify():
        with torch.inference_mode():
            inputs = backend.processor(clips, return_tensors="pt")
            return backend.model(pixel_values=inputs["pixel_values"]).logits.softmax(-1).mean(0).numpy()

    t_pipe, result, t_ref, ref = timed_pair(lambda: pipe(video, top_k=5), raw_classify, repeats)
    max_diff = float(np.abs(result.probs - ref).max())
    log(f"classify {len(clips)} windows x {pipe.clip_len} frames with {pipe.spec.name}: pipeline "
        f"{t_pipe * 1000:.0f} ms, transformers {t_ref * 1000:.0f} ms (max prob difference {max_diff:.1e})")
    return {"benchmark": "video", "model": pipe.spec.name, "frames_decoded": int(len(sampled.indices)),
            "video_frames": int(seconds * 30), "decode_ms": round(t_mm * 1000, 1),
            "decode_all_ms": round(t_raw * 1000, 1), "decode_speedup": round(t_raw / t_mm, 2),
            "decode_mean_abs_diff": round(decode_diff, 3), "pipeline_ms": round(t_pipe * 1000, 1),
            "transformers_ms": round(t_ref * 1000, 1), "ratio": round(t_pipe / t_ref, 3),
            "max_prob_diff": max_diff, "windows": len(clips), "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
