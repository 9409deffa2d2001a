"""Which frames of a video mattered: temporal occlusion for video classifiers.

Each sampled frame (or a run of ``window`` frames centred on it) is replaced by a neutral frame
and the video is scored again; a frame's importance is how much the target's probability drops
(Zeiler & Fergus' occlusion, along time). Model-agnostic: it needs only the pipeline's window
scores, so it explains VideoMAE, X-CLIP and the tiny video model alike. Reached through the one
explain API — ``mmbench.explain.explain(video_pipe, video, target)`` — and returns a
:class:`TemporalExplanation`, the time-axis sibling of :class:`~.explanation.Explanation`.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.labels import lookup_class
from ..errors import InvalidInputError

#: Temporal methods, name -> description (for UIs and error messages).
TEMPORAL_METHODS: dict[str, str] = {
    "temporal-occlusion": "Replace each frame (or a short run of frames) by a neutral frame and measure how much "
                          "the target's probability drops.",
}
#: What an occluded frame is replaced by.
BASELINES: tuple[str, ...] = ("mean", "black", "freeze")


@dataclass
class TemporalExplanation:
    """How much each sampled frame of a video mattered for one target.

    Attributes:
        importance: ``(T,)`` drop of the target's probability when the frame is occluded (can be
            negative: hiding the frame made the target *more* likely).
        frames: ``(T, H, W, 3)`` uint8, the sampled frames (each source frame once, in time order).
        times: ``(T,)`` seconds of the frames.
        frame_indices: ``(T,)`` source frame numbers.
        method: ``"temporal-occlusion"``.
        target: the explained label; ``target_index`` its index.
        base_score: the target's probability on the unoccluded video.
        occluded_scores: ``(T,)`` the target's probability with each frame occluded.
        meta: model, window, baseline, timing...
    """

    importance: np.ndarray
    frames: np.ndarray
    times: np.ndarray
    frame_indices: np.ndarray
    method: str
    target: str
    target_index: int
    base_score: float
    occluded_scores: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def curve(self) -> np.ndarray:
        """``importance`` clipped at 0 and scaled to [0, 1] (all zeros when no frame matters)."""
        pos = np.clip(self.importance, 0, None)
        top = float(pos.max()) if len(pos) else 0.0
        return (pos / top).astype(np.float32) if top > 1e-12 else np.zeros_like(pos, dtype=np.float32)

    @property
    def peak(self) -> int:
        """Position (in ``frames``) of the most important frame."""
        return int(np.argmax(self.importance))

    def top_frames(self, k: int = 3) -> list[int]:
        """Positions of the ``k`` most important frames, most important first."""
        return [int(i) for i in np.argsort(-self.importance)[:k]]

    def figure(self, title: str | None = None, max_frames: int = 16) -> Any:
        """A matplotlib ``Figure``: the frame strip on top, the importance curve below (no pyplot state)."""
        from ..plots.video import temporal_importance_figure

        return temporal_importance_figure(self, title=title, max_frames=max_frames)

    def to_png(self, path: str | os.PathLike | None = None) -> bytes:
        """:meth:`figure` as PNG bytes (also written to ``path`` if given)."""
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=100)
        data = buf.getvalue()
        if path is not None:
            with open(path, "wb") as fh:
                fh.write(data)
        return data

    def __repr__(self) -> str:
        return (f"TemporalExplanation(method={self.method!r}, target={self.target!r}, frames={len(self.frames)}, "
                f"peak=frame {int(self.frame_indices[self.peak])} at {float(self.times[self.peak]):.2f} s, "
                f"base_score={self.base_score:.3f})")


def is_video_pipeline(pipe: Any) -> bool:
    return getattr(pipe, "task", None) == "video-classification"


def _occlude(frames: np.ndarray, positions: np.ndarray, baseline: str, mean_frame: np.ndarray) -> np.ndarray:
    out = frames.copy()
    if baseline == "mean":
        out[positions] = mean_frame
    elif baseline == "black":
        out[positions] = 0
    else:  # freeze: the frame before the occluded run stays on screen (the first run shows the frame after)
        before, after = int(positions.min()) - 1, int(positions.max()) + 1
        out[positions] = frames[before] if before >= 0 else frames[min(after, len(frames) - 1)]
    return out


def explain_video(pipe: Any, video: Any, target: Any = None, method: str = "temporal-occlusion",
                  layer: str | None = None, *, window: int = 1, baseline: str = "mean", labels: Any = None,
                  clip_len: int | None = None, stride: int | None = None, fps: float | None = None,
                  batch_size: int = 32) -> TemporalExplanation:
    """Temporal occlusion of one video for one target (see the module docstring).

    Args:
        pipe: a video-classification pipeline (``mmbench.pipeline("video-classification", ...)``).
        video: what the pipeline accepts (path, bytes, array with ``fps``, procedural Clip).
        target: a label name or index (None: the top prediction).
        window: frames occluded at once, centred on each frame (odd numbers keep it centred).
        baseline: what replaces an occluded frame: ``"mean"`` (the window's mean frame, default),
            ``"black"``, or ``"freeze"`` (the frame before, i.e. the video pauses).
        labels: the candidate labels of a zero-shot model (X-CLIP).
        clip_len, stride, fps: frame sampling, as for the pipeline call.
    """
    started = time.perf_counter()
    key = method.strip().lower() if isinstance(method, str) else method
    if key not in TEMPORAL_METHODS:
        raise InvalidInputError(f"Unknown method {method!r} for a video model.",
                                hint=f"Video methods: {', '.join(TEMPORAL_METHODS)}.")
    if layer is not None:
        raise InvalidInputError("Temporal occlusion does not use a layer; leave layer unset.")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise InvalidInputError(f"window (frames occluded at once) must be a positive whole number, not {window!r}.")
    if baseline not in BASELINES:
        raise InvalidInputError(f"Unknown baseline {baseline!r}.", hint=f"Choose one of: {', '.join(BASELINES)}.")
    score, names = pipe.score_function(labels)
    v = pipe.load(video, clip_len, stride, fps=fps)
    windows = np.stack([v.window_frames(i) for i in range(len(v.windows))])
    base = score(windows)  # (W, C)
    if target is None:
        t_index = int(base.mean(axis=0).argmax())
    else:
        t_index = lookup_class(names, target, pipe.spec.name)
    base_score = float(base[:, t_index].mean())

    uniq, first = np.unique(v.indices, return_index=True)
    half_lo, half_hi = (window - 1) // 2, window // 2
    variants: list[np.ndarray] = []
    owners: list[tuple[int, int]] = []  # (unique frame, window) of each variant
    for u, idx in enumerate(uniq):
        hidden = set(uniq[max(0, u - half_lo):u + half_hi + 1].tolist())
        for w, (s, e) in enumerate(v.windows):
            positions = np.array([p - s for p in range(s, e) if int(v.indices[p]) in hidden], dtype=int)
            if len(positions):
                frames = windows[w]
                variants.append(_occlude(frames, positions, baseline, frames.mean(axis=0).astype(np.uint8)))
                owners.append((u, w))
    occluded_probs = np.concatenate([score(np.stack(variants[i:i + batch_size]))
                                     for i in range(0, len(variants), batch_size)]) if variants else np.zeros((0, len(names)))
    per_window = np.repeat(base[None, :, t_index], len(uniq), axis=0)  # (U, W): unchanged windows keep their score
    for (u, w), probs in zip(owners, occluded_probs):
        per_window[u, w] = probs[t_index]
    occluded = per_window.mean(axis=1)
    importance = (base_score - occluded).astype(np.float32)
    meta = {"model": pipe.spec.name, "window": int(window), "baseline": baseline, "n_windows": len(v.windows),
            "forward_passes": len(variants) + len(windows), "seconds": time.perf_counter() - started,
            "labels": list(names)}
    return TemporalExplanation(importance=importance, frames=v.frames[first], times=uniq / float(v.fps),
                               frame_indices=uniq, method=key, target=names[t_index], target_index=t_index,
                               base_score=base_score, occluded_scores=occluded.astype(np.float32), meta=meta)
