"""The typed result of speech recognition: words, segments and the whole transcript.

Times are seconds from the start of the recording the user gave. Confidences are
probabilities: a word's is the mean probability of its tokens, a segment's is
``exp(avg_logprob)``, the geometric mean of its tokens' probabilities.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = ["Segment", "Transcript", "Word"]


@dataclass(frozen=True)
class Word:
    """One recognised word (with its leading space and punctuation, as the model wrote it)."""

    text: str
    start: float
    end: float
    probability: float

    def shifted(self, offset: float) -> Word:
        return replace(self, start=round(self.start + offset, 3), end=round(self.end + offset, 3))


@dataclass(frozen=True)
class Segment:
    """A stretch of speech the model transcribed as one unit (a phrase or sentence).

    Attributes:
        start, end: seconds from the start of the recording.
        text: the segment's text.
        avg_logprob: mean log-probability of its tokens (faster-whisper reports the mean over its whole
            decoding window, so segments decoded together share it; word probabilities are per word).
        no_speech_prob: the model's probability that the window holds no speech (None if unknown).
        words: word timings (empty unless asked for).
    """

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float | None = None
    words: tuple[Word, ...] = ()

    @property
    def confidence(self) -> float:
        """``exp(avg_logprob)``: the geometric-mean token probability, in (0, 1]."""
        return float(math.exp(min(0.0, self.avg_logprob)))

    def shifted(self, offset: float) -> Segment:
        return replace(self, start=round(self.start + offset, 3), end=round(self.end + offset, 3),
                       words=tuple(w.shifted(offset) for w in self.words))


@dataclass(frozen=True)
class Transcript:
    """What :class:`~mmbench.pipelines.speech.SpeechRecognitionPipeline` returns.

    Attributes:
        text: the whole transcript.
        segments: timed segments, in order.
        language: ISO code of the language transcribed (detected, given, or the model's only one).
        language_probability: the model's probability for ``language`` when it was detected;
            None when it was given or the model knows one language only.
        duration: seconds of audio.
        processing_s: wall time of the call (validation, segmentation and recognition).
        model: registry name of the model that transcribed.
        chunks: ``(start, end)`` of the stretches transcribed (one unless the recording was long
            or voice-activity segmentation was asked for).
        vad: whether voice-activity segmentation chose the chunks.
    """

    text: str
    segments: tuple[Segment, ...]
    language: str
    language_probability: float | None
    duration: float
    processing_s: float
    model: str
    chunks: tuple[tuple[float, float], ...] = ()
    vad: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def words(self) -> list[Word]:
        """Every word of every segment, in order."""
        return [w for s in self.segments for w in s.words]

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (below 1 is faster than real time)."""
        return self.processing_s / self.duration if self.duration > 0 else float("nan")

    @property
    def confidence(self) -> float | None:
        """Token-weighted confidence of the whole transcript (None without segments)."""
        if not self.segments:
            return None
        weights = [max(1, len(s.words) or len(s.text.split())) for s in self.segments]
        mean = sum(w * s.avg_logprob for w, s in zip(weights, self.segments)) / sum(weights)
        return float(math.exp(min(0.0, mean)))

    def table(self) -> list[dict[str, Any]]:
        """One row per segment: start, end, text, confidence (for tables in the app and notebooks)."""
        return [{"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text,
                 "confidence": round(s.confidence, 3)} for s in self.segments]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rtf"] = self.rtf
        for seg, raw in zip(self.segments, out["segments"]):
            raw["confidence"] = seg.confidence
        return out
