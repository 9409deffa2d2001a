"""``mmbench eval audio-generation``: does generated sound contain what the prompt asked for?

Text-to-sound (the offline tiny model): fresh prompts of the procedural sound world (world seed
:data:`EVAL_SEED`, never used in training) go through the ``text-to-audio`` pipeline; the generated
waveform is analysed with librosa (:mod:`mmbench.audiogen.analysis`: events from the RMS envelope,
pitch by YIN) and a prompt counts as met when both the number of events and the pitch direction
(rising / falling / steady) are recovered. A second set asks only for the (sound, count, direction)
combinations the model never heard in training.

Text-to-speech (espeak-ng): several sentences are spoken; each must be non-silent and last
between :data:`SPEECH_SECONDS_PER_WORD` seconds per word.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from ..data.sound_world import HELD_OUT_COMBINATIONS, SoundPrompt, SoundWorld, all_combinations

__all__ = ["EVAL_SEED", "SPEECH_SENTENCES", "evaluate_audio_generation", "evaluate_speech_synthesis",
           "score_clip", "score_sound_model", "summarise_scores"]

EVAL_SEED = 30_001
#: Prompt accuracy the offline text-to-sound model must reach (issue #4).
BAR = 0.70
SPEECH_SENTENCES: tuple[str, ...] = (
    "Hello.",
    "The quick brown fox jumps over the lazy dog.",
    "Multimodal models read images, listen to sound and write text.",
    "Please speak a little more slowly, because the room is very noisy and I cannot hear you well.",
    "Seven hundred and twenty one.",
)
#: Plausible speaking time per word at normal speed (seconds): from fast reading to slow, careful speech.
SPEECH_SECONDS_PER_WORD = (0.2, 1.0)


def score_clip(samples: np.ndarray, sample_rate: int, prompt: SoundPrompt) -> dict[str, Any]:
    """Analyse one generated clip against its prompt: counts, directions and whether each matches."""
    from ..audiogen.analysis import analyse_sound

    found = analyse_sound(samples, sample_rate, onsets=False)
    count_ok = found.count == prompt.count
    direction_ok = found.direction == prompt.direction
    return {"caption": prompt.caption, "count": prompt.count, "direction": prompt.direction,
            "found_count": found.count, "found_direction": found.direction, "count_ok": count_ok,
            "direction_ok": direction_ok, "ok": bool(count_ok and direction_ok),
            "semitones": [e.semitones for e in found.events]}


def summarise_scores(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """``prompt_accuracy`` (count and direction right), ``count_accuracy``, ``direction_accuracy``."""
    n = max(1, len(rows))
    return {"prompt_accuracy": round(sum(r["ok"] for r in rows) / n, 4),
            "count_accuracy": round(sum(r["count_ok"] for r in rows) / n, 4),
            "direction_accuracy": round(sum(r["direction_ok"] for r in rows) / n, 4)}


def score_sound_model(model: Any, prompts: Sequence[SoundPrompt], *, seed: int = 0, batch_size: int = 50,
                      guidance_scale: float = 1.0) -> dict[str, Any]:
    """Score a :class:`mmbench.models.tiny_sound.TinySound` directly (used at the end of training)."""
    import torch

    from ..audiogen.melspec import MelConfig, mel_to_sound

    mel_cfg = MelConfig(**model.config.mel) if model.config.mel else MelConfig()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(0, len(prompts), batch_size):
        part = prompts[i:i + batch_size]
        mels = model.generate([p.caption for p in part], generator=gen, guidance_scale=guidance_scale).cpu().numpy()
        for prompt, mel in zip(part, mels):
            rows.append(score_clip(mel_to_sound(mel, mel_cfg), mel_cfg.sample_rate, prompt))
    return {**summarise_scores(rows), "n": len(rows), "rows": rows}


def evaluate_speech_synthesis(pipe: Any, sentences: Sequence[str] = SPEECH_SENTENCES,
                              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Speak ``sentences`` with a text-to-speech pipeline; each must be non-silent and of plausible length."""
    rows, total, started = [], 0.0, time.perf_counter()
    for text in sentences:
        out = pipe(text)
        words = len(text.split())
        low, high = SPEECH_SECONDS_PER_WORD[0] * words, SPEECH_SECONDS_PER_WORD[1] * words + 0.6
        rms = float(np.sqrt(np.mean(np.square(out.waveform, dtype=np.float64)))) if out.waveform.size else 0.0
        ok = bool(rms > 1e-3 and low <= out.duration <= high)
        rows.append({"text": text, "words": words, "seconds": round(out.duration, 3), "rms": round(rms, 4),
                     "expected_seconds": [round(low, 2), round(high, 2)], "ok": ok})
        total += out.duration
        log(f"  speech {'ok ' if ok else 'BAD'} {out.duration:5.2f} s ({words} words, expected {low:.1f}-{high:.1f} s): "
            f"{text}")
    return {"speech_ok": all(r["ok"] for r in rows), "speech_seconds": round(total, 2),
            "speech_synthesis_seconds": round(time.perf_counter() - started, 2), "speech_model": pipe.spec.name,
            "speech_rows": rows}


def evaluate_audio_generation(pipe: Any, *, n: int = 100, n_unseen: int = 40, seed: int = EVAL_SEED,
                              speech_pipe: Any = None, log: Callable[[str], None] = print,
                              on_result: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Score a text-to-sound pipeline on ``n`` fresh prompts (+ ``n_unseen`` of held-out combinations),
    and (if given) a text-to-speech pipeline on :data:`SPEECH_SENTENCES`.

    Returns the summary: ``prompt_accuracy``, ``count_accuracy``, ``direction_accuracy``,
    ``unseen_prompt_accuracy``, ``speech_ok``, ``speech_seconds``, ``model``, ``passes_bar``...
    """
    started = time.perf_counter()
    sets: dict[str, list[SoundPrompt]] = {"held_out": SoundWorld(seed).prompts(n)}
    if n_unseen:
        seen = all_combinations() - HELD_OUT_COMBINATIONS
        sets["unseen_combinations"] = SoundWorld(seed + 1, exclude=seen).prompts(n_unseen)
    summary: dict[str, Any] = {}
    for name, prompts in sets.items():
        rows = []
        for k, prompt in enumerate(prompts):
            out = pipe(prompt.caption, seed=k)
            row = score_clip(out.waveform, out.sample_rate, prompt)
            rows.append(row)
            if on_result is not None:
                on_result({"set": name, "index": k, **row})
        scores = summarise_scores(rows)
        log(f"{name}: {len(rows)} prompts, prompt accuracy {scores['prompt_accuracy']:.3f} "
            f"(count {scores['count_accuracy']:.3f}, direction {scores['direction_accuracy']:.3f})")
        if name == "held_out":
            summary.update(scores)
            summary["n"] = len(rows)
        else:
            summary.update({f"unseen_{k}": v for k, v in scores.items()})
            summary["n_unseen"] = len(rows)
    if speech_pipe is not None:
        log(f"speech: {speech_pipe.describe()}")
        speech = evaluate_speech_synthesis(speech_pipe, log=log)
        summary.update({k: v for k, v in speech.items() if k != "speech_rows"})
    else:
        summary.update({"speech_ok": None, "speech_seconds": None})
    summary.update({"model": pipe.spec.name, "seed": seed, "bar": BAR,
                    "passes_bar": bool(summary["prompt_accuracy"] >= BAR),
                    "seconds": round(time.perf_counter() - started, 1)})
    return summary
