"""Backend for espeak-ng, the offline text-to-speech program (Debian package ``espeak-ng``).

Nothing is loaded: the program runs once per request (:func:`mmbench.audiogen.espeak.speak`).
Loading fails with :class:`~mmbench.errors.DependencyError` when the program is not installed.
"""

from __future__ import annotations

from typing import Any

from ..audiogen import Generation
from ..audiogen import espeak
from ..registry import ModelSpec


class EspeakBackend:
    """Formant speech synthesis; controls: voice (language[+variant]), speed, pitch. No randomness."""

    device = "cpu"
    controls = frozenset({"voice", "speed", "pitch"})
    default_voice = espeak.DEFAULT_VOICE
    sample_rate = 22_050

    def __init__(self, spec: ModelSpec, path: str) -> None:
        self.spec, self.path = spec, path
        self.note = "separate program, GPL-3.0"

    @property
    def voices(self) -> tuple[str, ...]:
        return espeak.list_voices()

    @property
    def variants(self) -> tuple[str, ...]:
        return espeak.list_variants()

    def check_voice(self, voice: str | None) -> str:
        return espeak.check_voice(voice)

    def synthesize(self, text: str, *, voice: str | None, speed: float, pitch: int | None, seed: int) -> Generation:
        samples, rate = espeak.speak(text, voice=voice or self.default_voice, speed=speed,
                                     pitch=50 if pitch is None else pitch)
        return Generation(samples, rate, details={"voice": voice or self.default_voice})

    def torch_modules(self) -> list:
        return []


def load(spec: ModelSpec, device: Any, dtype: Any) -> EspeakBackend:
    from ..errors import DependencyError

    path = espeak.espeak_path()
    if path is None:
        raise DependencyError(f"'{spec.name}' needs the espeak-ng program, which is not installed.", model=spec.name,
                              hint=espeak.INSTALL_HINT)
    return EspeakBackend(spec, path)
