"""Writing videos: :func:`write_video` encodes ``(T, H, W, 3)`` uint8 frames, with optional mono sound,
to an MP4 (H.264 + AAC) that browsers play. Reading and validation live in :mod:`mmbench.io.video`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .video import require_av

__all__ = ["write_video"]


def write_video(path: str | os.PathLike, frames: Any, fps: float, audio: Any = None, sample_rate: int = 16000,
                scale: int = 1, codec: str = "libx264", options: dict[str, str] | None = None) -> Path:
    """Write ``(T, H, W, 3)`` uint8 frames (and optional mono float audio) to an MP4 that browsers play.

    H.264 (``libx264``, yuv420p, CRF 18) with AAC sound by default; ``codec="mpeg4"`` for builds
    without x264. ``scale`` enlarges each frame by pixel repetition (crisp procedural clips).
    Sides are padded to even sizes (yuv420p needs them). ``options``: FFmpeg codec options, e.g.
    ``{"g": "250", "sc_threshold": "0"}`` for a keyframe exactly every 250 frames.
    """
    import fractions

    av = require_av()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 1:
        raise InvalidInputError(f"write_video needs (T, H, W, 3) uint8 frames, not {frames.dtype} {frames.shape}.")
    if scale > 1:
        frames = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    path = Path(path)
    rate = fractions.Fraction(float(fps)).limit_denominator(1001)
    with av.open(str(path), mode="w") as out:
        vs = out.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        vs.options = {**({"crf": "18", "preset": "veryfast"} if codec == "libx264" else {}), **(options or {})}
        aus = None
        if audio is not None:
            aus = out.add_stream("aac", rate=int(sample_rate))
            aus.layout = "mono"
        for f in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is not None:
            samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(1, -1), -1, 1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="flt", layout="mono")
            frame.sample_rate = int(sample_rate)
            frame.pts, frame.time_base = 0, fractions.Fraction(1, int(sample_rate))  # lets the muxer record AAC priming
            for packet in aus.encode(frame):
                out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    return path
