"""Audio generation: text in, a waveform out — speech (``text-to-speech``), music and sounds (``text-to-audio``).

Two pipelines share one result type (:class:`GeneratedAudio`: samples, sample rate, the seed that
reproduces it, notes) and one way to look at it (:meth:`AudioGenerationPipeline.views`: waveform
and mel spectrogram from :mod:`mmbench.plots.audio`):

* :class:`TextToSpeechPipeline` — ``pipe(text, voice=..., speed=..., pitch=..., seed=...)``.
  Online: MMS-TTS (VITS) via transformers; offline: the espeak-ng program, or the optional Piper voice.
* :class:`TextToAudioPipeline` — ``pipe(prompt, duration=..., seed=..., guidance_scale=...)``.
  Online: MusicGen small; offline: the rule-based composer (MIDI rendered by FluidSynth) for
  music and ``mmbench-tiny-sound`` (trained by mmbench) for the procedural sound world.

Validation is here, the same for every backend: texts through :func:`mmbench.io.validate_text`
(empty, control characters, too long), durations inside what the model can make, seeds, speeds
and guidance scales checked, each with a :class:`~mmbench.errors.InvalidInputError` naming the
allowed range. A control that the loaded model does not have is not an error: the result's
``notes`` say it was ignored. Pipelines keep no per-request state.
"""

from __future__ import annotations

import io
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import InvalidInputError
from .base import Pipeline

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["GeneratedAudio", "MAX_PROMPT_CHARS", "MAX_SPEECH_CHARS", "TextToAudioPipeline", "TextToSpeechPipeline"]

#: Longest text spoken in one call (about a minute of speech).
MAX_SPEECH_CHARS = 1000
#: Longest music/sound prompt.
MAX_PROMPT_CHARS = 500
MAX_SEED = 2**32 - 1
SPEED_RANGE = (0.5, 2.5)
GUIDANCE_RANGE = (0.0, 15.0)


@dataclass(frozen=True)
class GeneratedAudio:
    """One generated clip.

    Attributes:
        waveform: mono float32 samples in [-1, 1]. sample_rate: in Hz.
        prompt: the (cleaned) text it was made from. model: registry name of the model that made it.
        seed: the seed that reproduces it (None for deterministic models such as espeak-ng).
        processing_s: wall time of the call. notes: sentences for the user (ignored controls,
            unknown words, the renderer used...). details: backend extras, e.g. the composer's
            ``plan`` and ``midi`` bytes, the tiny sound model's ``mel``.
    """

    waveform: np.ndarray = field(repr=False)
    sample_rate: int
    prompt: str
    model: str
    seed: int | None
    processing_s: float
    notes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.waveform) / self.sample_rate if self.sample_rate else 0.0

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration (below 1 = faster than real time)."""
        return self.processing_s / self.duration if self.duration else math.inf

    def wav_bytes(self) -> bytes:
        """The clip as a 16-bit PCM WAV file."""
        import soundfile

        buffer = io.BytesIO()
        soundfile.write(buffer, self.waveform, self.sample_rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()

    def save(self, path: str) -> None:
        """Write the clip as a WAV (or FLAC/OGG, from the file extension) file."""
        import soundfile

        soundfile.write(path, self.waveform, self.sample_rate)


def _check_number(value: Any, name: str, low: float, high: float, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number from {low:g} to {high:g}{unit}, not {value!r}.")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be from {low:g} to {high:g}{unit}, not {value:g}.")
    return value


def check_seed(seed: Any) -> int:
    """``seed`` as an int in [0, 2**32), or a fresh random one when None."""
    if seed is None:
        return secrets.randbelow(MAX_SEED)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) and not (
            isinstance(seed, float) and seed.is_integer()):
        raise InvalidInputError(f"seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}.")
    if not 0 <= int(seed) <= MAX_SEED:
        raise InvalidInputError(f"seed must be from 0 to {MAX_SEED}, not {int(seed)}.")
    return int(seed)


def _with_cancel(progress: Callable[[int, int], None] | None, cancel: Any) -> Callable[[int, int], None] | None:
    """``progress`` that first raises :class:`GenerationCancelled` once ``cancel`` is set."""
    if cancel is None:
        return progress
    from .text_to_image import GenerationCancelled  # one "cancelled" error for every generation pipeline

    if cancel.is_set():
        raise GenerationCancelled("Generation cancelled before it started.")

    def report(done: int, total: int) -> None:
        if cancel.is_set():
            raise GenerationCancelled(f"Generation cancelled after {done} of {total} steps.")
        if progress is not None:
            progress(done, total)

    return report


class AudioGenerationPipeline(Pipeline):
    """What both audio generation pipelines share: the output rate and the views of a result."""

    @property
    def sample_rate(self) -> int:
        return int(self.backend.sample_rate)

    def views(self, result: GeneratedAudio, views: tuple[str, ...] = ("waveform", "mel"),
              title: str | None = None) -> Figure:
        """Waveform and mel spectrogram (or any of :data:`mmbench.plots.audio.VIEWS`) of ``result``."""
        from ..plots.audio import audio_views

        if not result.waveform.size:
            raise InvalidInputError("The generated clip is empty; there is nothing to draw.")
        heading = title or f"{result.model} · {result.duration:.2f} s at {result.sample_rate} Hz"
        return audio_views(result.waveform, result.sample_rate, views=views, title=heading)

    def _finish(self, samples: np.ndarray, rate: int, prompt: str, seed: int | None, started: float,
                notes: list[str], details: dict[str, Any]) -> GeneratedAudio:
        samples = np.nan_to_num(np.asarray(samples, dtype=np.float32).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        if peak > 1.0:  # never hand out clipped audio
            samples = samples / peak
        return GeneratedAudio(samples, int(rate), prompt, self.spec.name, seed, time.perf_counter() - started,
                              tuple(notes), details)


class TextToSpeechPipeline(AudioGenerationPipeline):
    """Speak a text.

    >>> pipe = mmbench.pipeline("text-to-speech", model="espeak-ng")        # doctest: +SKIP
    >>> speech = pipe("Hello from mmbench.", voice="en-gb", speed=1.2)        # doctest: +SKIP
    >>> speech.waveform, speech.sample_rate, speech.duration                  # doctest: +SKIP
    """

    task = "text-to-speech"

    @property
    def controls(self) -> frozenset[str]:
        """Which of ``voice``, ``speed``, ``pitch``, ``seed`` the loaded model uses."""
        return frozenset(self.backend.controls)

    @property
    def voices(self) -> tuple[str, ...]:
        """Voices the model offers (espeak-ng: language codes; add ``+variant`` for a variant)."""
        return tuple(self.backend.voices)

    @property
    def default_voice(self) -> str:
        return str(self.backend.default_voice)

    def __call__(self, text: Any, *, voice: str | None = None, speed: float = 1.0, pitch: int | None = None,
                 seed: int | None = None) -> GeneratedAudio:
        """Speech for ``text``.

        Args:
            text: at most :data:`MAX_SPEECH_CHARS` characters (whitespace is normalised).
            voice: a voice of :attr:`voices` (espeak-ng: ``"en-us"``, ``"en-gb+f3"``, ``"cmn"``...);
                None for the model's default.
            speed: 1.0 = the voice's normal rate; from 0.5 to 2.5.
            pitch: 0-99 (espeak-ng only; 50 is normal).
            seed: for models that sample (VITS); None draws one (returned in ``result.seed``).

        Raises:
            TextError: empty, too long or unusable text. InvalidInputError: unknown voice, speed or
            pitch out of range, bad seed.
        """
        from ..io import validate_text

        started = time.perf_counter()
        text = validate_text(text, what="text", max_chars=MAX_SPEECH_CHARS)
        speed = _check_number(speed, "speed", *SPEED_RANGE, "x")
        controls = self.controls
        notes: list[str] = []
        if pitch is not None:
            if "pitch" in controls:
                if isinstance(pitch, bool) or not float(_check_number(pitch, "pitch", 0, 99)).is_integer():
                    raise InvalidInputError(f"pitch must be a whole number from 0 to 99, not {pitch!r}.")
                pitch = int(pitch)
            else:
                notes.append(f"{self.spec.name} has no pitch control; pitch was ignored.")
                pitch = None
        voice = self.backend.check_voice(voice)
        seed_used = check_seed(seed) if "seed" in controls else None
        if seed is not None and "seed" not in controls:
            notes.append(f"{self.spec.name} is deterministic; the seed was ignored.")
        out = self.backend.synthesize(text, voice=voice, speed=speed, pitch=pitch, seed=seed_used or 0)
        notes.extend(out.notes)
        return self._finish(out.samples, out.sample_rate, text, seed_used, started, notes,
                            {"voice": voice, "speed": speed, "pitch": pitch, **out.details})


class TextToAudioPipeline(AudioGenerationPipeline):
    """Music or sound from a text prompt.

    >>> pipe = mmbench.pipeline("text-to-audio")                             # MusicGen, else the composer  # doctest: +SKIP
    >>> music = pipe("a calm slow piano piece in a minor key", duration=10, seed=1)                     # doctest: +SKIP
    >>> beeps = mmbench.pipeline("text-to-audio", model="mmbench-tiny-sound")("three short high beeps")  # doctest: +SKIP
    """

    task = "text-to-audio"

    @property
    def kind(self) -> str:
        """``"music"`` or ``"sound"``: what the model makes."""
        return str(self.backend.kind)

    @property
    def duration_range(self) -> tuple[float, float]:
        """Shortest and longest clip the model makes, in seconds (equal for fixed-length models)."""
        return float(self.backend.min_duration), float(self.backend.max_duration)

    @property
    def default_duration(self) -> float:
        return float(self.backend.default_duration)

    @property
    def default_guidance(self) -> float | None:
        """The model's guidance scale (None: the model has no guidance)."""
        return self.backend.default_guidance

    def check_duration(self, duration: Any) -> float:
        """``duration`` in seconds if the model can make it (None -> its default), else :class:`InvalidInputError`."""
        if duration is None:
            return self.default_duration
        low, high = self.duration_range
        if high - low < 1e-6:
            value = _check_number(duration, "duration", 0.0, 24 * 3600.0, " s")
            if abs(value - low) > 0.05:
                raise InvalidInputError(f"{self.spec.name} always makes {low:.2f}-second clips, not {value:g} s.",
                                        hint="Leave the duration empty for this model.")
            return low
        return _check_number(duration, "duration", low, high, f" seconds for {self.spec.name}")

    def __call__(self, prompt: Any, *, duration: float | None = None, seed: int | None = None,
                 guidance_scale: float | None = None,
                 progress_callback: Callable[[int, int], None] | None = None, cancel: Any = None) -> GeneratedAudio:
        """Audio for ``prompt``.

        Args:
            prompt: at most :data:`MAX_PROMPT_CHARS` characters, e.g. ``"fast happy dance"`` or
                (tiny sound model) ``"two long low hums"``.
            duration: seconds (None: the model's default); must lie in :attr:`duration_range`.
            seed: None draws one; the result's ``seed`` reproduces it.
            guidance_scale: classifier-free guidance (MusicGen default 3, tiny sound model 1 = none);
                ignored, with a note, by the rule-based composer.
            progress_callback: called as ``(done, total)`` while generating (MusicGen: per frame).
            cancel: an object with ``is_set()`` (e.g. ``threading.Event``), checked at every progress
                step; once set, the generation stops there and
                :class:`~mmbench.pipelines.text_to_image.GenerationCancelled` is raised.

        Raises:
            TextError: empty or too long prompt. InvalidInputError: duration outside the model's
            range, bad seed or guidance scale.
        """
        from ..io import validate_text

        started = time.perf_counter()
        prompt = validate_text(prompt, what="prompt", max_chars=MAX_PROMPT_CHARS)
        duration = self.check_duration(duration)
        seed = check_seed(seed)
        notes: list[str] = []
        if guidance_scale is not None:
            guidance_scale = _check_number(guidance_scale, "guidance_scale", *GUIDANCE_RANGE)
            if self.default_guidance is None:
                notes.append(f"{self.spec.name} has no guidance; guidance_scale was ignored.")
                guidance_scale = None
        out = self.backend.generate(prompt, duration=duration, seed=seed, guidance_scale=guidance_scale,
                                    progress=_with_cancel(progress_callback, cancel))
        notes.extend(out.notes)
        details = {"duration": duration, "guidance_scale": guidance_scale if guidance_scale is not None
                   else self.default_guidance, **out.details}
        return self._finish(out.samples, out.sample_rate, prompt, seed, started, notes, details)
