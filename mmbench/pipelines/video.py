"""Video classification: a clip in, the most likely actions out, with per-window and per-frame scores.

One pipeline serves every video backend: VideoMAE fine-tuned on Kinetics-400 (online default),
zero-shot X-CLIP with the labels you write, and mmbench's own tiny video model trained on
procedural clips (offline). The backend turns windows of frames into scores; frame sampling
(:func:`mmbench.io.load_video`: clip length, stride, windows), validation, aggregation,
top-k and — for the tiny model, which also has an audio network — the audio-visual fusion
``S(t) = a S_v(t) + b S_a(t)`` live here once. Which frames mattered: :func:`mmbench.explain.explain`
(temporal occlusion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..data.labels import lookup_class
from ..errors import InvalidInputError, VideoError
from ..io import Video, load_video, reusable
from .base import Pipeline
from .classification import Prediction

#: Most windows one request scores (long videos get evenly spread windows).
MAX_WINDOWS = 8


@dataclass
class VideoClassification:
    """The result of classifying one video.

    Attributes:
        predictions: the ``top_k`` most likely labels, most likely first.
        probs: ``(C,)`` probabilities of every label for the whole video (mean over windows).
        labels: the label names, index-aligned with ``probs``.
        video: the sampled frames, their source frame numbers and times, and the windows.
        window_probs: ``(W, C)`` probabilities of each window.
        frame_probs: ``(T, C)`` probabilities per sampled frame: the model's own per-frame scores
            when it has them (the tiny model), else the mean of the windows the frame belongs to.
        per_frame_model: whether ``frame_probs`` come from the model's per-frame outputs.
        model: the registry name of the model used.
    """

    predictions: list[Prediction]
    probs: np.ndarray
    labels: list[str]
    video: Video
    window_probs: np.ndarray
    frame_probs: np.ndarray
    per_frame_model: bool
    model: str

    @property
    def top(self) -> Prediction:
        return self.predictions[0]

    @property
    def frames(self) -> np.ndarray:
        return self.video.frames

    @property
    def times(self) -> np.ndarray:
        return self.video.times

    @property
    def window_times(self) -> list[tuple[float, float]]:
        """``(first, last)`` frame time of each window, in seconds."""
        t = self.video.times
        return [(float(t[s]), float(t[e - 1])) for s, e in self.video.windows]

    def frame_scores(self, label: Any = None) -> np.ndarray:
        """``(T,)`` probability of ``label`` (name or index; default: the top prediction) per sampled frame."""
        index = self.top.index if label is None else lookup_class(self.labels, label, self.model)
        return self.frame_probs[:, index]

    def as_dict(self, max_frames: int = 64) -> dict[str, Any]:
        """JSON-friendly summary (used by the app and the CLI)."""
        return {
            "model": self.model,
            "top_k": [{"label": p.label, "index": p.index, "prob": round(p.prob, 4)} for p in self.predictions],
            "video": self.video.info.describe(),
            "frames_sampled": int(len(self.video.indices)),
            "frame_indices": self.video.indices[:max_frames].tolist(),
            "windows": [{"frames": [int(self.video.indices[s]), int(self.video.indices[e - 1])],
                         "seconds": [round(a, 3), round(b, 3)], "top": self.labels[int(w.argmax())],
                         "prob": round(float(w.max()), 4)}
                        for (s, e), (a, b), w in zip(self.video.windows, self.window_times, self.window_probs)],
        }


@dataclass
class AudioVisualResult:
    """Video-only, audio-only and fused scores of one clip (the chapter's ``S(t) = a S_v(t) + b S_a(t)``).

    ``video_scores``, ``audio_scores``, ``fused_scores``: ``(T, C)`` per-frame logits at ``times``;
    ``*_probs``: ``(C,)`` clip probabilities (softmax of the time-mean); ``a``, ``b``: the weights used.
    """

    labels: list[str]
    times: np.ndarray
    video_scores: np.ndarray
    audio_scores: np.ndarray
    fused_scores: np.ndarray
    video_probs: np.ndarray
    audio_probs: np.ndarray
    fused_probs: np.ndarray
    a: float
    b: float
    frames: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 1, 1, 3), np.uint8))

    def top(self, which: str = "fused", k: int = 3) -> list[Prediction]:
        probs = {"video": self.video_probs, "audio": self.audio_probs, "fused": self.fused_probs}[which]
        order = np.argsort(-probs)[:k]
        return [Prediction(self.labels[i], int(i), float(probs[i])) for i in order]


class VideoClassificationPipeline(Pipeline):
    """Classify actions in videos.

    >>> pipe = mmbench.pipeline("video-classification", model="mmbench-tiny-video")   # doctest: +SKIP
    >>> pipe(ClipWorld(seed=5).clip(0), top_k=3)[0]                                      # doctest: +SKIP
    Prediction(label='bouncing', index=8, prob=0.97)
    """

    task = "video-classification"

    @property
    def labels(self) -> list[str] | None:
        """Label names of a closed-set model; None for zero-shot models (pass ``labels=``)."""
        return self.backend.labels

    @property
    def zero_shot(self) -> bool:
        return bool(getattr(self.backend, "zero_shot", False))

    @property
    def clip_len(self) -> int:
        """Frames per model window (VideoMAE 16, X-CLIP 8, the tiny model 16)."""
        return int(self.backend.clip_len)

    @property
    def default_stride(self) -> int:
        return int(self.backend.default_stride)

    @property
    def has_audio_model(self) -> bool:
        return bool(getattr(self.backend, "has_audio_model", False))

    # -- input -------------------------------------------------------------------------------------------
    def load(self, video: Any, clip_len: int | None = None, stride: int | None = None,
             max_windows: int = MAX_WINDOWS, fps: float | None = None, with_audio: bool = False) -> Video:
        """Validate ``video`` and sample its frames into model windows.

        ``clip_len``: frames per window (default: the model's); ``stride``: source frames between
        sampled frames (default: the model's, shrunk so one window fits a short video); ``fps``:
        frame rate of an in-memory array.
        """
        clip_len = self.clip_len if clip_len is None else clip_len
        if isinstance(video, Video):
            return video
        video = reusable(video)  # a file object is read once, then checked and decoded from its bytes
        if stride is None:
            n = _frame_count(video)
            stride = self.default_stride
            if n is not None and clip_len > 1 and (clip_len - 1) * stride + 1 > n:
                stride = max(1, (n - 1) // (clip_len - 1))
        return load_video(video, clip_len=clip_len, stride=stride, max_windows=max_windows, fps=fps,
                          with_audio=with_audio)

    def _labels(self, labels: Sequence[str] | None) -> list[str]:
        from ..io import validate_texts

        if labels is None:
            if self.labels is None:
                raise InvalidInputError(f"{self.spec.name} is zero-shot: it classifies among labels you write.",
                                        hint="Pass labels=['playing guitar', 'riding a bike', ...].")
            return list(self.labels)
        if isinstance(labels, str):
            raise InvalidInputError("labels is a list of label texts, not one string.",
                                    hint="Pass labels=['label one', 'label two'].")
        texts = validate_texts(list(labels), what="label")
        if not self.zero_shot:
            raise InvalidInputError(f"{self.spec.name} has a fixed label set ({len(self.labels)} labels); "
                                    "free-text labels need a zero-shot model such as x-clip-base-patch32.")
        if len(texts) < 2:
            raise InvalidInputError("Give at least two labels to choose between.")
        return texts

    # -- scoring -----------------------------------------------------------------------------------------
    def window_probabilities(self, windows: np.ndarray, labels: Sequence[str] | None = None) -> np.ndarray:
        """``(W, C)`` probabilities of each window of a ``(W, T, H, W, 3)`` uint8 stack of frames."""
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(windows), self.backend.batch_size):
                logits = self.backend.window_logits(windows[i:i + self.backend.batch_size], labels)
                if logits.dim() == 3:  # per-frame scores: the window's score is their mean
                    logits = logits.mean(dim=1)
                out.append(logits.float().softmax(-1).cpu())
        return torch.cat(out).numpy()

    def __call__(self, video: Any, top_k: int = 5, labels: Sequence[str] | None = None,
                 clip_len: int | None = None, stride: int | None = None, max_windows: int = MAX_WINDOWS,
                 fps: float | None = None) -> VideoClassification:
        """Classify one video (a path, bytes, file object, ``(T, H, W, 3)`` array with ``fps``, or a
        procedural Clip): top-k labels plus per-window and per-frame scores."""
        import torch

        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidInputError(f"top_k must be a positive integer, not {top_k!r}.")
        names = self._labels(labels)
        v = self.load(video, clip_len, stride, max_windows, fps)
        windows = np.stack([v.window_frames(i) for i in range(len(v.windows))])
        per_frame = bool(getattr(self.backend, "per_frame", False))
        frame_logits = None
        if per_frame:
            with torch.inference_mode():
                chunks = [self.backend.window_logits(windows[i:i + self.backend.batch_size], labels).float().cpu()
                          for i in range(0, len(windows), self.backend.batch_size)]
            frame_logits = torch.cat(chunks).numpy()  # (W, T, C)
            window_probs = _softmax(frame_logits.mean(axis=1))
        else:
            window_probs = self.window_probabilities(windows, labels)
        probs = window_probs.mean(axis=0)
        frame_probs = np.zeros((len(v.indices), len(names)), np.float64)
        counts = np.zeros(len(v.indices))
        for w, (s, e) in enumerate(v.windows):
            frame_probs[s:e] += _softmax(frame_logits[w]) if per_frame else window_probs[w]
            counts[s:e] += 1
        # the same source frame can sit in two overlapping windows: give both copies their average
        for idx in np.unique(v.indices):
            pos = np.flatnonzero(v.indices == idx)
            if len(pos) > 1:
                frame_probs[pos] = frame_probs[pos].sum(0) / counts[pos].sum()
                counts[pos] = 1
        frame_probs /= np.maximum(counts, 1)[:, None]
        k = min(top_k, len(names))
        order = np.argsort(-probs)[:k]
        preds = [Prediction(names[i], int(i), float(probs[i])) for i in order]
        return VideoClassification(preds, probs.astype(np.float32), names, v, window_probs.astype(np.float32),
                                   frame_probs.astype(np.float32), per_frame, self.spec.name)

    def score_function(self, labels: Sequence[str] | None = None) -> tuple[Any, list[str]]:
        """``(score, names)``: ``score(windows) -> (W, C)`` window probabilities over ``names``, for
        perturbation methods (temporal occlusion)."""
        names = self._labels(labels)
        passed = None if labels is None else names

        def score(windows: Any) -> np.ndarray:
            return self.window_probabilities(np.asarray(windows), passed)

        return score, names

    # -- audio-visual fusion --------------------------------------------------------------------------------
    def audio_visual(self, video: Any, a: float | None = None, b: float | None = None, stride: int | None = None,
                     fps: float | None = None) -> AudioVisualResult:
        """Video-only, audio-only and fused scores ``S(t) = a S_v(t) + b S_a(t)`` of one clip.

        ``a``, ``b``: the fusion weights (default: the ones fitted on validation clips when the
        model was trained). Needs a model with an audio network (``mmbench-tiny-video``) and a
        video with a sound track.
        """
        import torch

        from ..models.audio_visual import clip_probabilities, fuse

        if not self.has_audio_model:
            raise InvalidInputError(f"{self.spec.name} has no audio network, so it cannot fuse sound and video.",
                                    hint="Use model='mmbench-tiny-video' for the audio-visual fusion demo.")
        default_a, default_b = self.backend.fusion_weights
        a = default_a if a is None else a
        b = default_b if b is None else b
        v = self.load(video, self.clip_len, stride, MAX_WINDOWS, fps, with_audio=True)
        if v.audio is None:
            raise VideoError("This video has no audio track, so there is no sound to fuse with the pictures.",
                             hint="Use a video with sound (the procedural examples have one), or classify the "
                                  "video alone.")
        windows = np.stack([v.window_frames(i) for i in range(len(v.windows))])
        with torch.inference_mode():
            sv = self.backend.window_logits(windows, None).float().cpu().numpy()  # (W, T, C)
            sa_steps = self.backend.audio_logits(v.audio, v.sample_rate).float().cpu().numpy()  # (steps, C)
        uniq, first = np.unique(v.indices, return_index=True)
        s_v = np.zeros((len(uniq), sv.shape[-1]))
        n = np.zeros(len(uniq))
        flat = sv.reshape(-1, sv.shape[-1])
        pos = np.searchsorted(uniq, v.indices)
        np.add.at(s_v, pos, flat)
        np.add.at(n, pos, 1)
        s_v /= n[:, None]
        times = uniq / float(v.fps)
        step = np.clip((times * self.backend.audio_steps_per_second).astype(int), 0, len(sa_steps) - 1)
        s_a = sa_steps[step]
        fused = fuse(s_v, s_a, a, b)
        return AudioVisualResult(list(self.labels), times, s_v, s_a, fused, clip_probabilities(s_v),
                                 clip_probabilities(s_a), clip_probabilities(fused), float(a), float(b),
                                 v.frames[first])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _frame_count(video: Any) -> int | None:
    """Frames of an in-memory video (None for files: load_video reads the header)."""
    frames = getattr(video, "frames", None)
    if frames is not None and hasattr(frames, "shape"):
        return int(frames.shape[0])
    if isinstance(video, np.ndarray) and video.ndim == 4:
        return int(video.shape[0])
    if isinstance(video, (str, bytes)) or hasattr(video, "read") or hasattr(video, "__fspath__"):
        from ..io import validate_video

        return validate_video(video).n_frames
    return None
