"""Backend for mmbench-composer, the offline text-to-music tier: a rule-based composer
(:mod:`mmbench.audiogen.composer`) whose MIDI is rendered by FluidSynth with the General MIDI
soundfont (:mod:`mmbench.audiogen.synth`), or by a numpy synthesizer where FluidSynth is missing.

Registry option ``renderer``: ``"auto"`` (default: FluidSynth when installed) or ``"numpy"``.
"""

from __future__ import annotations

from typing import Any, Callable

from ..audiogen import Generation
from ..registry import ModelSpec


class ComposerBackend:
    """Prompt -> :class:`~mmbench.audiogen.composer.MusicPlan` -> MIDI -> audio."""

    kind = "music"
    device = "cpu"
    default_duration = 10.0
    min_duration = 1.0
    max_duration = 120.0
    default_guidance = None  # rules, not a model: nothing to guide
    sample_rate = 32_000

    def __init__(self, spec: ModelSpec) -> None:
        from ..audiogen.synth import find_soundfont, fluidsynth_path

        self.spec = spec
        self.renderer = str(spec.options.get("renderer", "auto"))
        self.fluidsynth = self.renderer != "numpy" and bool(fluidsynth_path() and find_soundfont())
        self.note = ("rule-based, FluidSynth + General MIDI soundfont" if self.fluidsynth
                     else "rule-based, numpy synthesizer (FluidSynth or its soundfont is missing)")

    def generate(self, prompt: str, *, duration: float, seed: int, guidance_scale: float | None,
                 progress: Callable[[int, int], None] | None = None) -> Generation:
        from ..audiogen.composer import compose, midi_bytes, plan_music
        from ..audiogen.synth import render_midi

        plan = plan_music(prompt, duration=duration, seed=seed)
        if progress is not None:
            progress(1, 3)
        pm = compose(plan)
        if progress is not None:
            progress(2, 3)
        samples, rate, renderer = render_midi(pm, sample_rate=self.sample_rate, duration=duration,
                                              prefer="numpy" if self.renderer == "numpy" else "fluidsynth")
        if progress is not None:
            progress(3, 3)
        notes = []
        if renderer.startswith("numpy"):
            notes.append(f"Rendered by the {renderer}.")
        return Generation(samples, rate, tuple(notes), details={"plan": plan, "midi": midi_bytes(pm),
                                                                "renderer": renderer})

    def torch_modules(self) -> list:
        return []


def load(spec: ModelSpec, device: Any, dtype: Any) -> ComposerBackend:
    try:
        import pretty_midi  # noqa: F401
    except ImportError as err:
        from ..errors import DependencyError

        raise DependencyError(f"'{spec.name}' needs the pretty_midi package.", model=spec.name,
                              hint="pip install pretty_midi") from err
    return ComposerBackend(spec)
