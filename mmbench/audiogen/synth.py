"""MIDI -> audio: FluidSynth with the General MIDI soundfont, or a small numpy synthesizer without it.

:func:`render_midi` runs Debian's ``fluidsynth`` program (LGPL-2.1, a separate process with an
argument list, no shell, a timeout) on the FluidR3 General MIDI soundfont (``fluid-soundfont-gm``,
MIT): ``apt-get install fluidsynth fluid-soundfont-gm``. ``MMBENCH_SOUNDFONT`` points to another
``.sf2`` file. When either is missing, :func:`synthesize_numpy` renders the notes with additive
synthesis (harmonics and an ADSR envelope per note, noise bursts and a pitch-dropping sine for
drums) and the returned note says so: it is recognisably the same piece, with none of the
soundfont's instruments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MMBenchError

__all__ = ["SOUNDFONT_CANDIDATES", "find_soundfont", "fluidsynth_path", "render_midi", "synthesize_numpy"]

SOUNDFONT_CANDIDATES = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
                        "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
                        "/opt/homebrew/share/soundfonts/default.sf2", "/usr/local/share/soundfonts/default.sf2")
INSTALL_HINT = "Install FluidSynth and the General MIDI soundfont: apt-get install fluidsynth fluid-soundfont-gm"


def fluidsynth_path() -> str | None:
    return shutil.which("fluidsynth")


def find_soundfont() -> str | None:
    """``MMBENCH_SOUNDFONT`` if set and present, else the first General MIDI soundfont found."""
    configured = os.environ.get("MMBENCH_SOUNDFONT", "").strip()
    if configured:
        return configured if os.path.isfile(configured) else None
    return next((p for p in SOUNDFONT_CANDIDATES if os.path.isfile(p)), None)


def _fade_and_cut(samples: np.ndarray, sample_rate: int, duration: float | None, fade_s: float = 0.3) -> np.ndarray:
    if duration is not None:
        n = int(round(duration * sample_rate))
        samples = np.pad(samples[:n], (0, max(0, n - len(samples))))
        k = min(len(samples), int(fade_s * sample_rate))
        if k:
            samples[-k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)
    return samples


def _normalise(samples: np.ndarray, peak: float = 0.9) -> np.ndarray:
    top = float(np.max(np.abs(samples))) if samples.size else 0.0
    return (samples * (peak / top)).astype(np.float32) if top > 0 else samples.astype(np.float32)


def render_midi(pm: Any, *, sample_rate: int = 32_000, duration: float | None = None, timeout: float = 120.0,
                prefer: str = "fluidsynth") -> tuple[np.ndarray, int, str]:
    """``(samples, sample_rate, renderer)``: ``pm`` (a PrettyMIDI) rendered to mono float32 audio.

    ``renderer`` says what produced it: ``"FluidSynth <version> + <soundfont>"`` or, when FluidSynth or
    a General MIDI soundfont is missing (or ``prefer="numpy"``), ``"numpy synthesizer (...)"``.
    The audio is cut to ``duration`` seconds with a short fade-out, and normalised to a 0.9 peak.
    """
    exe, soundfont = fluidsynth_path(), find_soundfont()
    if prefer == "fluidsynth" and exe and soundfont:
        samples = _fluidsynth(pm, exe, soundfont, sample_rate, timeout)
        renderer = f"FluidSynth + {Path(soundfont).name}"
    else:
        why = ("numpy requested" if prefer == "numpy" else
               "FluidSynth is not installed" if not exe else "no General MIDI soundfont found")
        samples = synthesize_numpy(pm, sample_rate)
        renderer = f"numpy synthesizer ({why}; {INSTALL_HINT.split(': ')[1]} for real instruments)"
    return _normalise(_fade_and_cut(samples, sample_rate, duration)), sample_rate, renderer


def _fluidsynth(pm: Any, exe: str, soundfont: str, sample_rate: int, timeout: float) -> np.ndarray:
    import soundfile

    with tempfile.TemporaryDirectory(prefix="mmbench-midi-") as folder:
        midi_path, wav_path = Path(folder) / "piece.mid", Path(folder) / "piece.wav"
        pm.write(str(midi_path))
        args = [exe, "-ni", "-q", "-g", "0.5", "-r", str(int(sample_rate)), "-F", str(wav_path), "-T", "wav",
                soundfont, str(midi_path)]
        try:
            result = subprocess.run(args, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise MMBenchError(f"FluidSynth did not finish within {timeout:g} s.") from None
        if result.returncode != 0 or not wav_path.is_file():
            detail = (result.stderr or result.stdout).decode("utf-8", "replace").strip()[:200]
            raise MMBenchError(f"FluidSynth failed (exit code {result.returncode}){': ' + detail if detail else ''}.")
        samples, rate = soundfile.read(str(wav_path), dtype="float32", always_2d=True)
    return samples.mean(axis=1)


def synthesize_numpy(pm: Any, sample_rate: int = 32_000) -> np.ndarray:
    """A plain additive rendering of every note of ``pm`` (no soundfont): see the module docstring."""
    end = max([n.end for inst in pm.instruments for n in inst.notes] + [0.0]) + 0.5
    out = np.zeros(int(end * sample_rate) + 1, dtype=np.float64)
    rng = np.random.default_rng(0)
    for inst in pm.instruments:
        for note in inst.notes:
            start = int(note.start * sample_rate)
            length = max(1, int((note.end - note.start + 0.15) * sample_rate))
            t = np.arange(length) / sample_rate
            gain = note.velocity / 127.0
            if inst.is_drum:
                if note.pitch in (35, 36):  # kick: a sine dropping from 150 Hz
                    wave = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t * 30)) / sample_rate) * np.exp(-t * 12)
                else:  # snare, claps, cymbals: decaying noise, shorter and brighter for hats
                    decay = 40 if note.pitch in (42, 44) else 15
                    wave = rng.standard_normal(length) * np.exp(-t * decay) * 0.5
            else:
                f0 = 440.0 * 2 ** ((note.pitch - 69) / 12)
                harmonics = 4 if inst.program < 8 else 6 if inst.program in range(32, 40) else 3
                wave = sum(np.sin(2 * np.pi * f0 * k * t) / k ** 1.5 for k in range(1, harmonics + 1)
                           if f0 * k < sample_rate / 2)
                held = note.end - note.start
                env = np.minimum(1.0, t / 0.01) * np.where(t < held, np.exp(-t * 1.5), np.exp(-held * 1.5)
                                                           * np.exp(-(t - held) * 25))
                wave = wave * env
            stop = min(len(out), start + length)
            out[start:stop] += gain * wave[: stop - start]
    return out.astype(np.float32)
