"""Speech from Debian's ``espeak-ng``: formant synthesis in 100+ languages, run as a separate program.

espeak-ng (GPL-3.0-or-later) is never linked or imported: mmbench runs the ``espeak-ng`` program
with an argument list (no shell), hands it the text on standard input (so a text that starts with
``-`` cannot become an option), reads a WAV from its standard output and stops it after
``timeout`` seconds. Install it with ``apt-get install espeak-ng`` (Debian/Ubuntu), ``brew install
espeak-ng`` (macOS) or from https://github.com/espeak-ng/espeak-ng/releases (Windows).

Voices are language codes (``en-us``, ``en-gb``, ``cmn`` for Mandarin, ``de``...) optionally with a
variant after ``+`` (``en-us+f3``, ``en-gb+Annie``): :func:`list_voices` and :func:`list_variants`
read what the installed program offers.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from functools import lru_cache

import numpy as np

from ..errors import DependencyError, InvalidInputError, MMBenchError

__all__ = ["DEFAULT_VOICE", "DEFAULT_WPM", "espeak_path", "list_variants", "list_voices", "speak"]

DEFAULT_VOICE = "en-us"
#: espeak-ng's own default speaking rate (words per minute); ``speed=1.0`` means this rate.
DEFAULT_WPM = 175
#: espeak-ng accepts 80-450 words per minute.
MIN_WPM, MAX_WPM = 80, 450
_VOICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,39}(\+[A-Za-z0-9][A-Za-z0-9_\-]{0,39})?$")
INSTALL_HINT = ("Install the espeak-ng program: apt-get install espeak-ng (Debian/Ubuntu), brew install espeak-ng "
                "(macOS), or a release from https://github.com/espeak-ng/espeak-ng/releases (Windows).")


def espeak_path() -> str | None:
    """Path of the ``espeak-ng`` program, or None when it is not installed."""
    return shutil.which("espeak-ng")


def _require() -> str:
    exe = espeak_path()
    if exe is None:
        raise DependencyError("The espeak-ng program is not installed.", model="espeak-ng", hint=INSTALL_HINT)
    return exe


def _table(option: str) -> list[tuple[str, str, str]]:
    """``(language or variant id, name, file)`` rows of ``espeak-ng --voices[=variant]``."""
    exe = espeak_path()
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, option], capture_output=True, timeout=10, check=False).stdout.decode("utf-8",
                                                                                                       "replace")
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            rows.append((parts[1], parts[3], parts[4]))
    return rows


@lru_cache(maxsize=1)
def list_voices() -> tuple[str, ...]:
    """Language codes espeak-ng can speak (``"en-us"``, ``"cmn"``, ``"de"``...), empty if not installed."""
    return tuple(sorted({lang for lang, _name, _file in _table("--voices")}))


@lru_cache(maxsize=1)
def list_variants() -> tuple[str, ...]:
    """Voice variants (``"f3"``, ``"m1"``, ``"Annie"``, ``"whisper"``...) to append after ``+``."""
    return tuple(sorted({file.split("/", 1)[1] for _l, _n, file in _table("--voices=variant") if "/" in file}))


def check_voice(voice: str | None) -> str:
    """``voice`` if espeak-ng knows it (language code, optionally ``+variant``), else :class:`InvalidInputError`."""
    voice = DEFAULT_VOICE if voice is None or not str(voice).strip() else str(voice).strip()
    if not _VOICE_RE.match(voice):
        raise InvalidInputError(f"{voice[:60]!r} is not a voice name.",
                                hint="Use a language code such as 'en-us' or 'de', optionally with a variant: 'en-us+f3'.")
    language, _, variant = voice.partition("+")
    voices = list_voices()
    if voices and language.lower() not in {v.lower() for v in voices}:
        raise InvalidInputError(f"espeak-ng has no voice '{language}'.",
                                hint=f"Known voices include {', '.join(v for v in voices if v.startswith('en'))}, "
                                     "cmn (Mandarin), de, fr, es ... (see `espeak-ng --voices`).")
    variants = list_variants()
    if variant and variants and variant.lower() not in {v.lower() for v in variants}:
        raise InvalidInputError(f"espeak-ng has no voice variant '{variant}'.",
                                hint=f"Variants: {', '.join(variants[:20])}, ...")
    return voice


def speak(text: str, *, voice: str | None = DEFAULT_VOICE, speed: float = 1.0, pitch: int = 50,
          timeout: float = 60.0) -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)``: ``text`` spoken by espeak-ng (float32 mono, 22,050 Hz).

    Args:
        text: what to say (already validated by the caller; passed on standard input, never parsed as
            options or markup).
        voice: language code with an optional ``+variant`` (see the module docstring).
        speed: 1.0 = espeak-ng's normal 175 words per minute; 0.5-2.5.
        pitch: 0-99, 50 is the voice's normal pitch.
        timeout: seconds before the program is stopped.

    Raises:
        DependencyError: espeak-ng is not installed. InvalidInputError: bad voice/speed/pitch.
        MMBenchError: espeak-ng failed or ran out of time.
    """
    exe = _require()
    voice = check_voice(voice)
    wpm = int(round(DEFAULT_WPM * float(speed)))
    if not MIN_WPM <= wpm <= MAX_WPM:
        raise InvalidInputError(f"speed must give {MIN_WPM}-{MAX_WPM} words per minute "
                                f"({MIN_WPM / DEFAULT_WPM:.2f}-{MAX_WPM / DEFAULT_WPM:.2f}), not {speed}.")
    if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)) or not 0 <= int(pitch) <= 99:
        raise InvalidInputError(f"pitch must be a whole number from 0 to 99 (50 is normal), not {pitch!r}.")
    args = [exe, "-v", voice, "-s", str(wpm), "-p", str(int(pitch)), "--stdout", "--stdin"]
    try:
        result = subprocess.run(args, input=text.encode("utf-8"), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MMBenchError(f"espeak-ng did not finish within {timeout:g} s.", hint="Try a shorter text.") from None
    except OSError as err:
        raise DependencyError(f"espeak-ng could not be started: {err}.", model="espeak-ng", hint=INSTALL_HINT) from err
    if result.returncode != 0 or len(result.stdout) <= 44:
        detail = result.stderr.decode("utf-8", "replace").strip()[:200]
        raise MMBenchError(f"espeak-ng failed (exit code {result.returncode}){': ' + detail if detail else ''}.")
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=False)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)
