"""Audio input: :func:`validate_audio` decodes and checks one clip (header first, then samples) and returns
mono float32 at the wanted rate, or raises :class:`~mmbench.errors.AudioError`; :func:`resample` is the one
resampler (soxr) every module uses.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

from ..errors import AudioError, InvalidInputError
from .files import checked_path, describe_type, read_file_like

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["MAX_AUDIO_SAMPLE_RATE", "MIN_AUDIO_SAMPLE_RATE", "resample", "validate_audio"]

MIN_AUDIO_SAMPLE_RATE: int = 1000
MAX_AUDIO_SAMPLE_RATE: int = 384_000

_AUDIO_HINT = "Convert it to WAV, FLAC or MP3 and try again."
_SILENT_PEAK = 1e-4
_SILENT_RMS = 1e-5


def _format_duration(seconds: float) -> str:
    """Human-readable duration: ``"1 ms"``, ``"2.5 s"``, ``"11 min 40 s"``, ``"2 h"``."""
    if seconds < 1.0:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60.0:
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + " s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes) + [f"{secs} s"] * bool(secs)
    return " ".join(parts)


def _check_sample_rate(sample_rate: Any, *, what: str) -> int:
    import numbers

    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise AudioError(f"The {what} sample rate must be a number, not {describe_type(sample_rate)}.",
                         hint="Pass (sample_rate, data), the order Gradio uses.")
    if sample_rate != sample_rate or not (MIN_AUDIO_SAMPLE_RATE <= sample_rate <= MAX_AUDIO_SAMPLE_RATE):
        raise AudioError(
            f"The {what} has a sample rate of {sample_rate} Hz, outside the supported range "
            f"{MIN_AUDIO_SAMPLE_RATE}-{MAX_AUDIO_SAMPLE_RATE} Hz.",
            hint="Re-export it at a standard rate such as 16000, 44100 or 48000 Hz.",
        )
    return int(round(sample_rate))


def _check_duration(frames: int, sample_rate: int, *, what: str, min_seconds: float, max_seconds: float) -> None:
    if frames <= 0:
        raise AudioError(f"The {what} contains no samples.", hint="Record or upload a clip with sound in it.")
    seconds = frames / sample_rate
    if seconds > max_seconds:
        raise AudioError(f"The {what} is {_format_duration(seconds)} long; the limit is {_format_duration(max_seconds)}.",
                         hint=f"Trim it to {_format_duration(max_seconds)} or less.")
    if seconds < min_seconds:
        raise AudioError(
            f"{_format_duration(seconds)} of {what} is too short; at least {_format_duration(min_seconds)} is needed.",
            hint="Record or upload a longer clip.",
        )


def _samples_to_float(data: Any, *, what: str) -> np.ndarray:
    """Samples as float32 shaped (frames, channels): ints scaled by their full range, floats kept."""
    import numpy as np

    try:
        values = np.asarray(data)
    except Exception as exc:
        raise AudioError(f"The {what} samples cannot be converted to an array ({exc.__class__.__name__}).",
                         hint="Pass (sample_rate, numpy_array).") from exc
    if values.ndim == 1:
        values = values[:, None]
    elif values.ndim == 2:
        if values.shape[1] > 16:  # (channels, frames), as librosa and torchaudio store it
            if values.shape[0] > 16:
                raise AudioError(f"The {what} array has shape {values.shape}; expected (samples,) or "
                                 "(samples, channels).", hint="Pass one clip with at most 16 channels.")
            values = values.T
    else:
        raise AudioError(f"The {what} array has shape {values.shape}; expected (samples,) or (samples, channels).",
                         hint="Pass one clip at a time.")
    if values.size == 0:
        raise AudioError(f"The {what} contains no samples.", hint="Record or upload a clip with sound in it.")

    kind = values.dtype.kind
    if kind == "i":
        bits = values.dtype.itemsize * 8
        if bits == 64:  # numpy's default int: infer the scale from the values
            peak = int(np.abs(values).max())
            bits = 16 if peak <= 2**15 else 32 if peak <= 2**31 else 64
        return (values.astype(np.float64) / float(2 ** (bits - 1))).astype(np.float32)
    if kind == "u":
        half = float(2 ** (values.dtype.itemsize * 8 - 1))
        return ((values.astype(np.float64) - half) / half).astype(np.float32)
    if kind == "f":
        return values.astype(np.float32)
    raise AudioError(f"The {what} samples have dtype {values.dtype}, which is not audio.",
                     hint="Use int16, int32 or float samples.")


def _open_audio_source(audio: Any, *, what: str) -> str | io.IOBase:
    """A path string or a seekable binary stream for soundfile; empty and missing files refused here."""
    if isinstance(audio, (str, os.PathLike)):
        return str(checked_path(audio, what=what, error=AudioError, kind="an audio"))
    if isinstance(audio, (bytes, bytearray, memoryview)):
        if len(audio) == 0:
            raise AudioError(f"The {what} is empty (0 bytes).", hint="Upload or record the clip again.")
        return io.BytesIO(bytes(audio))
    if isinstance(audio, io.TextIOBase):
        raise AudioError(f"The {what} file was opened in text mode.", hint="Open it in binary mode ('rb').")
    seekable = False
    try:
        seekable = bool(audio.seekable())
    except Exception:
        pass
    if not seekable:  # soundfile needs to seek: buffer the bytes
        data = read_file_like(audio, what=what, error=AudioError, empty_hint="Upload or record the clip again.")
        return io.BytesIO(data)
    start = audio.tell()
    end = audio.seek(0, io.SEEK_END)
    audio.seek(start)
    if end - start <= 0:
        raise AudioError(f"The {what} file is empty (0 bytes).", hint="Upload or record the clip again.")
    return audio


def _decode_with_librosa(source: Any, *, what: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """Fallback decoder (audioread/ffmpeg) for formats libsndfile cannot read; decodes at most max_seconds + 1."""
    import tempfile
    import warnings

    temp_path = None
    try:
        if not isinstance(source, str):  # audioread needs a real file
            with tempfile.NamedTemporaryFile(suffix=".audio", delete=False) as handle:
                handle.write(source.read())
                temp_path = handle.name
            source = temp_path
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples, sample_rate = librosa.load(source, sr=None, mono=False, duration=max_seconds + 1.0)
    except Exception as exc:  # NoBackendError, DecodeError, EOFError, RuntimeError...
        raise AudioError(f"The {what} could not be decoded: it is not a supported audio file or it is damaged.",
                         hint=_AUDIO_HINT) from exc
    finally:
        if temp_path is not None:
            os.unlink(temp_path)
    samples = samples[:, None] if samples.ndim == 1 else samples.T
    return samples.astype("float32"), int(sample_rate)


def _decode_audio(audio: Any, *, what: str, min_seconds: float, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode a path, bytes or file object to float32 (frames, channels), checking the header first."""
    import soundfile

    source = _open_audio_source(audio, what=what)
    start = None if isinstance(source, str) else source.tell()
    try:
        info = soundfile.info(source)
    except Exception:
        info = None
    if start is not None:
        source.seek(start)
    if info is None:
        samples, sample_rate = _decode_with_librosa(source, what=what, max_seconds=max_seconds)
        _check_sample_rate(sample_rate, what=what)
        return samples, sample_rate

    # Everything the header tells us is checked before a single sample is decoded.
    sample_rate = _check_sample_rate(info.samplerate, what=what)
    _check_duration(int(info.frames), sample_rate, what=what, min_seconds=min_seconds, max_seconds=max_seconds)
    max_frames = int(max_seconds * sample_rate) + 1  # never trust the header with the memory budget
    try:
        samples, _ = soundfile.read(source, frames=max_frames, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"The {what} file is damaged and cannot be decoded.", hint=_AUDIO_HINT) from exc
    return samples, sample_rate


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality float32 resampling along the last axis (soxr, as ``librosa.resample(res_type='soxr_hq')``).

    ``samples`` already at ``target_sr`` are returned unchanged.
    """
    import numpy as np

    if orig_sr == target_sr:
        return samples
    try:
        import soxr  # what librosa.resample uses by default; importing it directly skips librosa's import cost
    except ImportError:  # pragma: no cover - soxr is a librosa dependency
        import librosa

        out = librosa.resample(samples, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=-1)
    else:
        out = soxr.resample(samples.T, orig_sr, target_sr, quality="HQ").T
    return out.astype(np.float32)


def validate_audio(audio: Any, *, target_sr: int | None = 16000, mono: bool = True, min_seconds: float = 0.1,
                   max_seconds: float = 600.0, allow_silent: bool = False,
                   what: str = "audio") -> tuple[np.ndarray, int]:
    """Decode and check one audio clip; returns ``(samples, sample_rate)`` or raises :class:`AudioError`.

    ``audio`` is a path, raw bytes, a binary file object, or a ``(sample_rate, data)`` tuple in the
    order Gradio's ``gr.Audio(type="numpy")`` gives it (``data`` int16/int32/float shaped
    ``(samples,)`` or ``(samples, channels)``). ``(data, sample_rate)`` is refused, not guessed.

    Files are checked from their header (sample rate, duration) before decoding, so a two-hour
    file is refused without being loaded. libsndfile decodes WAV/FLAC/OGG/MP3...; other formats fall
    back to ``librosa.load``. Samples become float32 in [-1, 1] (integers by their full range,
    floats louder than 1 are scaled down to peak at 1), are averaged to mono if ``mono``, and are
    resampled to ``target_sr`` with soxr (``None`` keeps the original rate).

    Returns a 1-D float32 array when ``mono`` (or the clip has one channel), else
    ``(channels, samples)`` like librosa. Refused: empty, corrupt or unsupported files, NaN/inf
    samples, clips shorter than ``min_seconds`` or longer than ``max_seconds``, silent clips (peak
    below 1e-4 or RMS below 1e-5) unless ``allow_silent``, sample rates outside 1000-384000 Hz.
    """
    import numpy as np

    if target_sr is not None:
        if (isinstance(target_sr, bool) or not isinstance(target_sr, (int, np.integer))
                or not (MIN_AUDIO_SAMPLE_RATE <= target_sr <= MAX_AUDIO_SAMPLE_RATE)):
            raise InvalidInputError(
                f"target_sr must be an integer from {MIN_AUDIO_SAMPLE_RATE} to {MAX_AUDIO_SAMPLE_RATE} Hz "
                f"or None, not {target_sr!r}."
            )
        target_sr = int(target_sr)

    if audio is None:
        raise AudioError(f"No {what} was given.", hint="Upload or record a clip.")
    if isinstance(audio, (tuple, list)):
        if len(audio) != 2:
            raise AudioError(f"An {what} tuple must be (sample_rate, data), not {len(audio)} items.",
                             hint="Pass (sample_rate, data), the order Gradio uses.")
        sample_rate, data = audio
        if hasattr(sample_rate, "__len__") and not hasattr(data, "__len__"):
            raise AudioError(f"The {what} tuple looks like (data, sample_rate); mmbench expects (sample_rate, data).",
                             hint="Swap the two items: (sample_rate, data), the order Gradio uses.")
        sample_rate = _check_sample_rate(sample_rate, what=what)
        if data is None:
            raise AudioError(f"No {what} was given.", hint="Upload or record a clip.")
        samples = _samples_to_float(data, what=what)
    elif isinstance(audio, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(audio, "read"):
        samples, sample_rate = _decode_audio(audio, what=what, min_seconds=min_seconds, max_seconds=max_seconds)
    elif hasattr(audio, "__array__"):
        raise AudioError(f"A bare {what} array has no sample rate.",
                         hint="Pass (sample_rate, array), the order Gradio uses.")
    else:
        raise AudioError(f"The {what} has an unsupported type: {describe_type(audio)}.",
                         hint="Pass a file path, bytes, a binary file object or (sample_rate, array).")

    _check_duration(samples.shape[0], sample_rate, what=what, min_seconds=min_seconds, max_seconds=max_seconds)
    if not np.isfinite(samples).all():
        raise AudioError(f"The {what} contains invalid samples (NaN or infinity).", hint=_AUDIO_HINT)
    peak = float(np.abs(samples).max())
    if peak > 1.0:
        samples = samples / np.float32(peak)

    channels_first = samples.T  # (channels, frames)
    clip = channels_first.mean(axis=0) if mono or channels_first.shape[0] == 1 else channels_first
    clip = np.ascontiguousarray(clip, dtype=np.float32)

    if not allow_silent:
        loudest = float(np.abs(clip).max())
        rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
        if loudest < _SILENT_PEAK or rms < _SILENT_RMS:
            level = f"{20 * np.log10(loudest):.0f} dBFS" if loudest > 0 else "digital silence"
            raise AudioError(f"The {what} is silent (peak level: {level}).",
                             hint="Check the microphone or the file and record again.")

    if target_sr is not None and target_sr != sample_rate:
        clip = resample(clip, sample_rate, target_sr)
        sample_rate = target_sr
    return np.clip(clip, -1.0, 1.0).astype(np.float32, copy=False), sample_rate
