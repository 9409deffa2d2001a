"""Speech recognition: a recording in, a timed transcript out (Whisper, online or offline tier).

One pipeline serves both backends (transformers Whisper, faster-whisper). The backend turns at
most 30 s of 16 kHz audio into timed segments; this class does what is the same for every model:
validation and resampling (:func:`mmbench.io.validate_audio`), the language check,
language detection, cutting long recordings into chunks at pauses (Silero VAD), shifting
timestamps back onto the recording, and timing the call (real-time factor).
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import InvalidInputError
from ..speech.transcript import Segment, Transcript, Word
from .base import Pipeline

__all__ = ["LANGUAGE_NAMES", "Segment", "SpeechRecognitionPipeline", "Transcript", "Word"]

SAMPLE_RATE = 16_000
#: Whisper reads 30-second windows; longer recordings are cut into chunks no longer than this.
CHUNK_SECONDS = 30.0
#: Longest recording accepted (checked from the file header before decoding).
MAX_SECONDS = 30 * 60.0

#: Names accepted for the most common languages (ISO 639-1 codes are always accepted).
LANGUAGE_NAMES = {"english": "en", "chinese": "zh", "mandarin": "zh", "german": "de", "french": "fr",
                  "spanish": "es", "japanese": "ja", "korean": "ko", "russian": "ru", "italian": "it",
                  "portuguese": "pt", "arabic": "ar", "hindi": "hi", "dutch": "nl", "cantonese": "yue"}
_NO_SPACE = {"zh", "ja", "th", "lo", "my", "yue"}


class SpeechRecognitionPipeline(Pipeline):
    """Transcribe speech with timestamps.

    >>> pipe = mmbench.pipeline("speech-recognition", model="whisper-tiny.en-ct2")   # doctest: +SKIP
    >>> result = pipe("sentence.wav")                                                  # doctest: +SKIP
    >>> result.text, result.segments[0].start, result.words[0].text                   # doctest: +SKIP
    """

    task = "speech-recognition"

    def __init__(self, backend: Any, spec: Any, notice: str = "") -> None:
        super().__init__(backend, spec, notice)
        self.max_seconds = MAX_SECONDS
        self.chunk_seconds = CHUNK_SECONDS

    @property
    def multilingual(self) -> bool:
        """Whether the model knows several languages (and can detect which one is spoken)."""
        return bool(self.backend.multilingual)

    @property
    def languages(self) -> list[str]:
        """ISO codes of the languages the model can transcribe."""
        return list(self.backend.languages)

    def __call__(self, audio: Any, *, language: str | None = None, word_timestamps: bool = True,
                 vad: bool | None = None, beam_size: int = 5) -> Transcript:
        """Transcribe one recording.

        Args:
            audio: a path, bytes, a binary file object or ``(sample_rate, samples)`` (what
                ``gr.Audio(type="numpy")`` gives); any rate and channel count: it is resampled to
                16 kHz mono. At most :data:`MAX_SECONDS` long (a longer file is refused from its
                header, before decoding).
            language: ISO code (``"en"``, ``"zh"``) or English name; None detects it
                (multilingual models) or uses the model's only language.
            word_timestamps: also time every word.
            vad: cut the recording at pauses found by Silero VAD and transcribe only speech.
                None (default): only when it is longer than 30 s.
            beam_size: beam-search width (1 = greedy, fastest).

        Returns:
            :class:`Transcript` (text, segments with confidences, words, language, real-time factor).

        Raises:
            AudioError: unusable audio (corrupt, silent, shorter than 0.1 s, too long...).
            InvalidInputError: a language the model does not know, a bad beam size.
        """
        from ..io import validate_audio

        started = time.perf_counter()
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or not 1 <= beam_size <= 16:
            raise InvalidInputError(f"beam_size must be an integer from 1 to 16, not {beam_size!r}.")
        language = self.check_language(language)
        samples, _ = validate_audio(audio, target_sr=SAMPLE_RATE, max_seconds=self.max_seconds)
        duration = len(samples) / SAMPLE_RATE
        chunks, used_vad = self._plan(samples, duration, vad)
        notes: list[str] = []
        language_prob = None
        if not chunks:
            notes.append("No speech was found in the recording (voice-activity detection).")
            return Transcript("", (), language or self._only_language(), None, duration,
                              time.perf_counter() - started, self.spec.name, (), used_vad, tuple(notes))
        if language is None:
            if self.multilingual:
                first = chunks[0]
                language, language_prob = self.backend.detect_language(self._cut(samples, first.start, first.end))
            else:
                language = self._only_language()
        segments: list[Segment] = []
        for chunk in chunks:
            piece = self._cut(samples, chunk.start, chunk.end)
            for seg in self.backend.transcribe(piece, language=language, word_timestamps=word_timestamps,
                                               beam_size=beam_size):
                segments.append(_clamped(seg, chunk.duration).shifted(chunk.start))
        joiner = "" if language in _NO_SPACE else " "
        text = joiner.join(s.text.strip() for s in segments if s.text.strip())
        return Transcript(text, tuple(segments), language, language_prob, duration, time.perf_counter() - started,
                          self.spec.name, tuple((round(c.start, 3), round(c.end, 3)) for c in chunks), used_vad,
                          tuple(notes))

    def detect_language(self, audio: Any) -> tuple[str, float]:
        """The language spoken in the first 30 s and the model's probability for it.

        Raises :class:`InvalidInputError` for an English-only model.
        """
        from ..io import validate_audio

        if not self.multilingual:
            raise InvalidInputError(f"{self.spec.name} knows English only and cannot detect languages.",
                                    hint="Use a multilingual model such as whisper-small.")
        samples, _ = validate_audio(audio, target_sr=SAMPLE_RATE, max_seconds=self.max_seconds)
        return self.backend.detect_language(samples[: int(CHUNK_SECONDS * SAMPLE_RATE)])

    def check_language(self, language: str | None) -> str | None:
        """``language`` as an ISO code this model knows (None stays None), else :class:`InvalidInputError`."""
        if language is None:
            return None
        if not isinstance(language, str) or not language.strip():
            raise InvalidInputError(f"language must be an ISO code such as 'en' or 'zh', not {language!r}.")
        code = language.strip().lower()
        code = LANGUAGE_NAMES.get(code, code)
        if code in ("auto", "detect"):
            return None
        if code not in self.languages:
            if not self.multilingual:
                raise InvalidInputError(f"{self.spec.name} transcribes English only, not '{language}'.",
                                        hint="Choose a multilingual model such as whisper-small.")
            raise InvalidInputError(f"{self.spec.name} does not know the language '{language}'.",
                                    hint="Use an ISO 639-1 code such as 'en', 'zh', 'de'; or leave it empty to detect.")
        return code

    # -- helpers --------------------------------------------------------------------------------
    def _only_language(self) -> str:
        return self.languages[0] if self.languages else "en"

    @staticmethod
    def _cut(samples: Any, start: float, end: float) -> Any:
        return samples[int(round(start * SAMPLE_RATE)):int(round(end * SAMPLE_RATE))]

    def _plan(self, samples: Any, duration: float, vad: bool | None) -> tuple[list, bool]:
        from ..speech.vad import Chunk, fixed_chunks, plan_chunks, speech_regions

        use_vad = duration > self.chunk_seconds if vad is None else bool(vad)
        if use_vad:
            regions = speech_regions(samples, SAMPLE_RATE, max_region_s=self.chunk_seconds - 2.0)
            return plan_chunks(regions, duration, self.chunk_seconds), True
        if duration > self.chunk_seconds:
            return fixed_chunks(duration, self.chunk_seconds), False
        return [Chunk(0.0, duration)], False


def _clamped(seg: Segment, limit: float) -> Segment:
    """``seg`` with its times inside ``[0, limit]`` (a model may overshoot the end of a chunk)."""
    from dataclasses import replace

    def clip(t: float) -> float:
        return float(min(max(t, 0.0), limit))

    words = tuple(replace(w, start=clip(w.start), end=clip(w.end)) for w in seg.words)
    return replace(seg, start=clip(seg.start), end=clip(max(seg.end, seg.start)), words=words)
