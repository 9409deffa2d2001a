"""Voice-activity segmentation with Silero VAD, and the chunk plan for long recordings.

Whisper reads 30-second windows. A long recording is cut where nobody speaks: Silero VAD (the
model ships inside the ``silero-vad`` package, no download) marks the speech regions, and
:func:`plan_chunks` packs consecutive regions into chunks of at most ``max_chunk_s`` seconds, so
no word is cut in half and long silences are never transcribed (where Whisper tends to invent
text).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import DependencyError

__all__ = ["Chunk", "fixed_chunks", "plan_chunks", "speech_regions"]

SAMPLE_RATE = 16_000
_lock = threading.Lock()  # the Silero model carries recurrent state between windows: one user at a time


@dataclass(frozen=True)
class Chunk:
    """A stretch of the recording to transcribe, in seconds from its start."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@lru_cache(maxsize=1)
def _silero_model() -> Any:
    try:
        from silero_vad import load_silero_vad
    except ImportError as err:
        raise DependencyError("Voice-activity segmentation needs the silero-vad package.",
                              hint="pip install silero-vad") from err
    import warnings

    with warnings.catch_warnings():  # "torch.jit.load is deprecated": the package ships a TorchScript model
        warnings.simplefilter("ignore", FutureWarning)
        return load_silero_vad()


def speech_regions(samples: Any, sample_rate: int = SAMPLE_RATE, *, threshold: float = 0.5,
                   min_silence_s: float = 0.3, max_region_s: float = 28.0, pad_s: float = 0.1) -> list[Chunk]:
    """Where someone speaks in a 16 kHz mono clip: ``[Chunk(start, end), ...]`` in seconds.

    Args:
        threshold: Silero's speech probability above which a 32 ms window is speech.
        min_silence_s: pauses shorter than this do not split a region.
        max_region_s: longer speech is split (at the quietest point Silero finds).
        pad_s: seconds added on both sides of each region (Silero trims tightly).
    """
    import numpy as np
    import torch

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"speech_regions expects {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    from silero_vad import get_speech_timestamps

    model = _silero_model()
    audio = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    with _lock, torch.inference_mode():
        stamps = get_speech_timestamps(audio, model, threshold=threshold, sampling_rate=SAMPLE_RATE,
                                       min_silence_duration_ms=int(min_silence_s * 1000),
                                       max_speech_duration_s=max_region_s, speech_pad_ms=int(pad_s * 1000))
    return [Chunk(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def plan_chunks(regions: list[Chunk], duration: float, max_chunk_s: float = 30.0, max_gap_s: float = 2.0) -> list[Chunk]:
    """Pack consecutive speech regions into chunks of at most ``max_chunk_s`` seconds.

    A region joins the current chunk when the chunk would stay within ``max_chunk_s`` and the
    pause before the region is shorter than ``max_gap_s``; otherwise it starts a new chunk.
    A region longer than ``max_chunk_s`` (only if the VAD did not split it) is cut into equal parts.
    """
    chunks: list[Chunk] = []
    for region in sorted(regions, key=lambda r: r.start):
        start, end = max(0.0, region.start), min(duration, region.end)
        if end <= start:
            continue
        if chunks and end - chunks[-1].start <= max_chunk_s and start - chunks[-1].end <= max_gap_s:
            chunks[-1] = Chunk(chunks[-1].start, end)
            continue
        parts = max(1, int(-(-(end - start) // max_chunk_s)))
        step = (end - start) / parts
        chunks.extend(Chunk(start + i * step, start + (i + 1) * step) for i in range(parts))
    return chunks


def fixed_chunks(duration: float, max_chunk_s: float = 30.0) -> list[Chunk]:
    """Consecutive windows of ``max_chunk_s`` seconds covering ``duration`` (no VAD)."""
    n = max(1, int(-(-duration // max_chunk_s)))
    return [Chunk(i * max_chunk_s, min(duration, (i + 1) * max_chunk_s)) for i in range(n)]
