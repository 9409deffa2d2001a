"""Audio-visual late fusion, the chapter's ``S(t) = a S_v(t) + b S_a(t)`` (section 7.2).

``S_v(t)`` and ``S_a(t)`` are per-time-step class scores (logits) of a video model and an audio
model on the same clip, aligned in time; the fused score of the clip is the mean of ``S(t)`` over
time, and its probabilities are the softmax of that. ``a, b`` are set by the user or fitted on a
validation set by minimising the log-loss (:func:`fit_weights`). Numpy only: any pair of models
that give per-step scores over the same classes can be fused.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError


def _scores(s: Any, what: str) -> np.ndarray:
    arr = np.asarray(s, dtype=np.float64)
    if arr.ndim not in (2, 3):
        raise InvalidInputError(f"{what} must be (T, C) or (N, T, C) per-step scores, not shape {arr.shape}.")
    return arr


def _weight(value: Any, name: str) -> float:
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"The fusion weight {name} must be a number, not {value!r}.") from None
    if not np.isfinite(w) or w < 0:
        raise InvalidInputError(f"The fusion weight {name} must be a finite number >= 0, not {value!r}.")
    return w


def fuse(s_v: Any, s_a: Any, a: float = 1.0, b: float = 1.0) -> np.ndarray:
    """``S(t) = a S_v(t) + b S_a(t)`` for ``(T, C)`` or ``(N, T, C)`` score arrays of equal shape."""
    sv, sa = _scores(s_v, "S_v"), _scores(s_a, "S_a")
    if sv.shape != sa.shape:
        raise InvalidInputError(f"S_v {sv.shape} and S_a {sa.shape} must have the same shape (same steps, same classes).")
    return _weight(a, "a") * sv + _weight(b, "b") * sa


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def clip_probabilities(s: Any) -> np.ndarray:
    """Probabilities of a clip from its per-step scores: ``softmax(mean_t S(t))``."""
    arr = _scores(s, "S")
    return softmax(arr.mean(axis=-2))


def fit_weights(s_v: Any, s_a: Any, labels: Sequence[int], max_weight: float = 10.0) -> tuple[float, float]:
    """``(a, b) >= 0`` minimising the mean log-loss of ``softmax(mean_t(a S_v + b S_a))`` on labelled clips.

    Args:
        s_v, s_a: ``(N, T, C)`` per-step scores of the two models on N validation clips.
        labels: ``(N,)`` true class indices.
    """
    from scipy.optimize import minimize

    mv, ma = _scores(s_v, "S_v").mean(axis=-2), _scores(s_a, "S_a").mean(axis=-2)
    y = np.asarray(labels, dtype=int)
    if mv.ndim != 2 or mv.shape != ma.shape or len(y) != len(mv):
        raise InvalidInputError("fit_weights needs (N, T, C) scores for both models and N labels.")

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = w[0] * mv + w[1] * ma
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        nll = -logp[np.arange(len(y)), y].mean()
        onehot = np.zeros_like(p)
        onehot[np.arange(len(y)), y] = 1
        g = p - onehot  # d nll / d z, per clip
        grad = np.array([(g * mv).sum(axis=1).mean(), (g * ma).sum(axis=1).mean()])
        return float(nll), grad

    res = minimize(loss, np.array([1.0, 1.0]), jac=True, method="L-BFGS-B", bounds=[(0.0, max_weight)] * 2)
    a, b = (float(v) for v in res.x)
    return a, b


def accuracy(s: Any, labels: Sequence[int]) -> float:
    """Top-1 accuracy of per-step scores ``(N, T, C)`` (clip score = mean over time)."""
    arr = _scores(s, "S")
    return float((arr.mean(axis=-2).argmax(-1) == np.asarray(labels)).mean()) if len(arr) else float("nan")


def evaluate_fusion(s_v: Any, s_a: Any, labels: Sequence[int], a: float, b: float,
                    mask: Any = None) -> dict[str, float]:
    """Video-only, audio-only and fused accuracy on clips (optionally only those where ``mask`` is True),
    and ``fusion_gain``: fused accuracy minus the better single modality's."""
    sv, sa, y = _scores(s_v, "S_v"), _scores(s_a, "S_a"), np.asarray(labels)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        sv, sa, y = sv[m], sa[m], y[m]
    out = {"n": float(len(y)), "video_accuracy": accuracy(sv, y), "audio_accuracy": accuracy(sa, y),
           "fusion_accuracy": accuracy(fuse(sv, sa, a, b), y)}
    out["fusion_gain"] = out["fusion_accuracy"] - max(out["video_accuracy"], out["audio_accuracy"])
    return out
