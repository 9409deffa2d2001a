"""``mmbench eval speech``: word error rate and speed of a speech-recognition pipeline.

Two sets with known transcripts (:mod:`mmbench.speech.corpora`): the five real LibriVox
recordings of Debian's ``pocketsphinx-testdata`` (the bar: WER <= 0.10 for the offline tier) and
sentences synthesised by ``espeak-ng``. WER is computed after normalising case and punctuation
(:func:`mmbench.speech.wer.word_error_rate`), pooled over each set (total errors / total
reference words). The real-time factor is total processing time over total audio duration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..speech.wer import word_error_rate

__all__ = ["WER_BAR", "evaluate_speech"]

#: The bar of issue #6 for the offline tier on the LibriVox recordings.
WER_BAR = 0.10


def _score_set(pipe: Any, name: str, items: list[tuple[str, str, Any]], beam_size: int,
               on_result: Callable[[dict], None] | None) -> dict:
    refs, hyps, seconds, audio = [], [], 0.0, 0.0
    for item_id, reference, source in items:
        result = pipe(source, beam_size=beam_size)
        score = word_error_rate(reference, result.text)
        refs.append(reference)
        hyps.append(result.text)
        seconds += result.processing_s
        audio += result.duration
        if on_result is not None:
            on_result({"set": name, "id": item_id, "wer": round(score.wer, 4), "errors": score.errors,
                       "reference_words": score.reference_words, "duration_s": round(result.duration, 2),
                       "rtf": round(result.rtf, 4), "reference": reference, "hypothesis": result.text})
    pooled = word_error_rate(refs, hyps)
    return {"wer": pooled.wer, "errors": pooled.errors, "reference_words": pooled.reference_words,
            "seconds": seconds, "audio_s": audio, "items": len(items)}


def evaluate_speech(pipe: Any, *, beam_size: int = 5, espeak: bool = True, log: Callable[[str], None] = print,
                    on_result: Callable[[dict], None] | None = None) -> dict:
    """WER on the LibriVox recordings (and espeak-ng sentences when ``espeak``) and the real-time factor.

    ``on_result`` receives one dict per recording (set, id, wer, rtf, reference, hypothesis).
    Returns the summary: ``model``, ``wer`` (LibriVox), ``wer_espeak`` (None when espeak-ng is
    missing or ``espeak=False``), ``rtf`` (all recordings), counts, and ``passes_bar``.
    Raises :class:`~mmbench.errors.DependencyError` when ``pocketsphinx-testdata`` is missing.
    """
    from ..errors import DependencyError
    from ..speech.corpora import espeak_sentences, librivox_recordings

    recordings = librivox_recordings()
    log(f"LibriVox: {len(recordings)} recordings")
    pipe(recordings[0].path, beam_size=beam_size)  # warm-up: first-call costs are not speed
    libri = _score_set(pipe, "librivox", [(r.id, r.transcript, r.path) for r in recordings], beam_size, on_result)
    log(f"LibriVox WER {libri['wer']:.4f} ({libri['errors']} errors / {libri['reference_words']} words)")
    synth = None
    note = ""
    if espeak:
        try:
            sentences = espeak_sentences()
        except DependencyError as err:
            note = f"espeak-ng sentences skipped: {err}"
            log(note)
        else:
            synth = _score_set(pipe, "espeak", [(f"espeak-{i + 1}", text, clip) for i, (text, clip)
                                                in enumerate(sentences)], beam_size, on_result)
            log(f"espeak-ng WER {synth['wer']:.4f} ({synth['errors']} errors / {synth['reference_words']} words)")
    seconds = libri["seconds"] + (synth["seconds"] if synth else 0.0)
    audio = libri["audio_s"] + (synth["audio_s"] if synth else 0.0)
    summary = {
        "model": pipe.spec.name,
        "tier": pipe.spec.tier,
        "device": str(pipe.device),
        "wer": round(libri["wer"], 4),
        "wer_espeak": None if synth is None else round(synth["wer"], 4),
        "rtf": round(seconds / audio, 4),
        "librivox_recordings": libri["items"],
        "librivox_errors": libri["errors"],
        "librivox_words": libri["reference_words"],
        "espeak_sentences": 0 if synth is None else synth["items"],
        "audio_s": round(audio, 2),
        "beam_size": beam_size,
        "wer_bar": WER_BAR,
        "passes_bar": libri["wer"] <= WER_BAR,
    }
    if note:
        summary["note"] = note
    return summary
