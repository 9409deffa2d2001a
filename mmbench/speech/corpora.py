"""Speech test material with known transcripts: real LibriVox recordings, espeak-ng sentences, examples.

* :func:`librivox_recordings`: the five LibriVox recordings (Jane Austen, *Sense and Sensibility*,
  read by a volunteer; public domain) with their transcripts, from Debian's
  ``pocketsphinx-testdata`` (``/usr/share/pocketsphinx/test/data/librivox``).
* :func:`espeak_sentences`: :data:`ESPEAK_SENTENCES` synthesised by Debian's ``espeak-ng`` (formant
  synthesis: intelligible but robotic, a harder test for a model trained on human speech).
* :func:`example_clips`: the small clips shipped in ``assets/audio`` for the app (no Debian package
  needed at run time; licences in ``assets/audio/README.md``).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import DependencyError, InvalidInputError
from ..registry import ASSETS_DIR

__all__ = ["ESPEAK_SENTENCES", "LIBRIVOX_DIR", "Recording", "espeak_sentences", "example_clips",
           "librivox_recordings", "synthesize_espeak"]

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
ALSA_SOUNDS_DIR = Path("/usr/share/sounds/alsa")
AUDIO_ASSETS = ASSETS_DIR / "audio"

#: Sentences for the espeak-ng test: everyday English, numbers spelled out (WER does not map digits).
ESPEAK_SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A teacher records a sentence and sees it transcribed with timings.",
    "Speech recognition turns sound waves into written words.",
    "The weather today is sunny with a light breeze from the west.",
    "She sells sea shells by the sea shore.",
    "Open the window and let some fresh air into the room.",
    "Multimodal models combine images, sound and text.",
)


@dataclass(frozen=True)
class Recording:
    """A recording and what is said in it."""

    id: str
    path: Path
    transcript: str
    source: str


def librivox_recordings(folder: Path | str = LIBRIVOX_DIR) -> list[Recording]:
    """The LibriVox recordings of ``pocketsphinx-testdata`` with their reference transcripts.

    Raises :class:`DependencyError` (with the ``apt-get`` line) when the package is not installed.
    """
    folder = Path(folder)
    listing = folder / "transcription"
    if not listing.is_file():
        raise DependencyError(f"The LibriVox test recordings are not installed ({listing} is missing).",
                              hint="apt-get install pocketsphinx-testdata")
    out = []
    for line in listing.read_text().splitlines():
        match = re.match(r"\s*(.*?)\s*\(([^()]+)\)\s*$", line)
        if not match:
            continue
        text = re.sub(r"</?s>", " ", match.group(1))
        utt = match.group(2)
        path = folder / f"{utt}.wav"
        if path.is_file():
            out.append(Recording(utt, path, " ".join(text.split()), "LibriVox via pocketsphinx-testdata"))
    return out


def synthesize_espeak(text: str, *, voice: str = "en-us", words_per_minute: int = 150) -> tuple[object, int]:
    """``(samples, sample_rate)`` of ``text`` spoken by espeak-ng (22,050 Hz float32 mono)."""
    import soundfile

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DependencyError("espeak-ng is not installed.", hint="apt-get install espeak-ng")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("There is no text to speak.")
    result = subprocess.run([exe, "-v", voice, "-s", str(int(words_per_minute)), "--stdout", text],
                            capture_output=True, timeout=60, check=False)
    if result.returncode != 0 or not result.stdout:
        raise InvalidInputError(f"espeak-ng failed: {result.stderr.decode(errors='replace').strip()[:200]}")
    samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    return samples, int(rate)


def espeak_sentences(sentences: tuple[str, ...] = ESPEAK_SENTENCES, **kwargs) -> list[tuple[str, tuple[int, object]]]:
    """``[(sentence, (sample_rate, samples)), ...]``: each sentence synthesised by espeak-ng."""
    out = []
    for sentence in sentences:
        samples, rate = synthesize_espeak(sentence, **kwargs)
        out.append((sentence, (rate, samples)))
    return out


def example_clips() -> list[Recording]:
    """The clips shipped in ``assets/audio`` (listed in its ``clips.tsv``: file, transcript, source)."""
    table = AUDIO_ASSETS / "clips.tsv"
    if not table.is_file():
        return []
    out = []
    for line in table.read_text(encoding="utf-8").splitlines()[1:]:
        if not line.strip():
            continue
        name, transcript, source = line.split("\t")
        path = AUDIO_ASSETS / name
        if path.is_file():
            out.append(Recording(path.stem, path, transcript, source))
    return out
