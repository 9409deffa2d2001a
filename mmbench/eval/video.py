"""Evaluate the tiny video model and audio-visual fusion on held-out procedural clips (``mmbench eval video``).

Two held-out sets, from world seeds never used in training or for fitting the fusion weights:

* **standard** (``seed``): ``n`` clips with random motion, shape, colour, background, speed, start
  position, camera noise and distractors, both modalities clean. ``accuracy`` (the video network;
  the bar is >= 0.90) and ``audio_accuracy`` are measured here, and ``fusion_accuracy_standard``.
* **ambiguous** (``seed + 1``): ``n_ambiguous`` clips, each with exactly one modality degraded —
  half the video (occluded, low contrast, dropped frames), half the sound (drowned in noise,
  muted). This is where fusion matters: ``fusion_accuracy`` and ``fusion_gain`` (fused accuracy
  minus the better single modality's, ``video_accuracy_ambiguous`` / ``audio_accuracy_ambiguous``)
  are measured here, and again on each half (``*_video_ambiguous``, ``*_audio_ambiguous``).

Scores come from the same backend calls the pipeline makes (batched here for speed).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..data.clips import MOTIONS, ClipWorld
from ..errors import InvalidInputError
from ..models.audio_visual import evaluate_fusion, fuse

#: Held-out world seeds (training uses 0-1, the fusion weights are fitted on 19_999).
EVAL_SEED = 20_001


def clip_scores(pipe, clips: list, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(S_v, S_a)``: per-frame logits ``(N, T, C)`` of the video and the audio network of ``pipe``."""
    import torch

    backend = pipe.backend
    sv, sa = [], []
    with torch.inference_mode():
        for i in range(0, len(clips), batch_size):
            chunk = clips[i:i + batch_size]
            sv.append(backend.window_logits(np.stack([c.frames for c in chunk])).float().cpu().numpy())
            sa.extend(backend.audio_logits(c.audio, c.sample_rate).float().cpu().numpy() for c in chunk)
    s_v, s_a = np.concatenate(sv), np.stack(sa)
    t = min(s_v.shape[1], s_a.shape[1])
    return s_v[:, :t], s_a[:, :t]


def _per_class(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = scores.mean(axis=1).argmax(-1)
    return {m: round(float((pred[y == i] == i).mean()), 4) for i, m in enumerate(MOTIONS) if (y == i).any()}


def evaluate_video(pipe, n: int = 500, n_ambiguous: int = 500, seed: int = EVAL_SEED, a: float | None = None,
                   b: float | None = None, log: Callable[[str], None] | None = None,
                   on_result: Callable[[dict], None] | None = None) -> dict:
    """Accuracy of the video network, the audio network and their fusion; returns the summary dict.

    ``on_result`` receives one dict per (set, modality) as it is measured (the CLI prints them as
    JSON lines). ``a``, ``b``: fusion weights (default: the ones fitted at training time).
    """
    if not getattr(pipe, "has_audio_model", False) or list(pipe.labels or []) != list(MOTIONS):
        raise InvalidInputError(f"{pipe.spec.name} is not a procedural-motion model with an audio network.",
                                hint="Evaluate model='mmbench-tiny-video'.")
    started = time.perf_counter()
    default_a, default_b = pipe.backend.fusion_weights
    a = default_a if a is None else float(a)
    b = default_b if b is None else float(b)
    emit = on_result or (lambda row: None)
    say = log or (lambda msg: None)

    say(f"generating {n} standard and {n_ambiguous} ambiguous held-out clips (seeds {seed}, {seed + 1})")
    standard = ClipWorld(seed=seed).clips(n)
    ambiguous = ClipWorld(seed=seed + 1, p_video_ambiguous=0.5, p_audio_ambiguous=0.5).clips(n_ambiguous)
    say("scoring")
    sv, sa = clip_scores(pipe, standard)
    y = np.array([c.label for c in standard])
    std = evaluate_fusion(sv, sa, y, a, b)
    fused = fuse(sv, sa, a, b)
    for modality, scores in (("video", sv), ("audio", sa), ("fused", fused)):
        emit({"set": "standard", "modality": modality, "model": pipe.spec.name, "n": n,
              "accuracy": round(std[f"{'fusion' if modality == 'fused' else modality}_accuracy"], 4),
              "per_class": _per_class(scores, y)})

    out = {"model": pipe.spec.name, "n": n, "n_ambiguous": n_ambiguous, "seed": seed,
           "accuracy": round(std["video_accuracy"], 4), "audio_accuracy": round(std["audio_accuracy"], 4),
           "fusion_accuracy": None, "fusion_gain": None, "fusion_weights": {"a": round(a, 4), "b": round(b, 4)},
           "fusion_accuracy_standard": round(std["fusion_accuracy"], 4),
           "fusion_gain_standard": round(std["fusion_gain"], 4)}
    if n_ambiguous:
        av, aa = clip_scores(pipe, ambiguous)
        ya = np.array([c.label for c in ambiguous])
        groups = {"video_ambiguous": np.array([c.video_ambiguity is not None for c in ambiguous]),
                  "audio_ambiguous": np.array([c.audio_ambiguity is not None for c in ambiguous])}
        groups["ambiguous"] = groups["video_ambiguous"] | groups["audio_ambiguous"]
        for name, mask in groups.items():
            r = evaluate_fusion(av, aa, ya, a, b, mask)
            emit({"set": name, "modality": "all", "model": pipe.spec.name, "n": int(r["n"]),
                  **{k: round(v, 4) for k, v in r.items() if k != "n"}})
            suffix = "_ambiguous" if name == "ambiguous" else f"_{name}"
            out[f"video_accuracy{suffix}"] = round(r["video_accuracy"], 4)
            out[f"audio_accuracy{suffix}"] = round(r["audio_accuracy"], 4)
            # the headline fusion numbers are those on all ambiguous clips
            out[f"fusion_accuracy{'' if name == 'ambiguous' else suffix}"] = round(r["fusion_accuracy"], 4)
            out[f"fusion_gain{'' if name == 'ambiguous' else suffix}"] = round(r["fusion_gain"], 4)
        for kind in sorted({c.video_ambiguity for c in ambiguous if c.video_ambiguity}
                           | {c.audio_ambiguity for c in ambiguous if c.audio_ambiguity}):
            mask = np.array([kind in (c.video_ambiguity, c.audio_ambiguity) for c in ambiguous])
            r = evaluate_fusion(av, aa, ya, a, b, mask)
            emit({"set": f"ambiguous:{kind}", "modality": "all", "model": pipe.spec.name, "n": int(r["n"]),
                  **{k: round(v, 4) for k, v in r.items() if k != "n"}})
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
