"""Input validation for every mmbench pipeline and the web app: images, texts and audio clips.

Each ``validate_*`` function turns whatever a user hands over into one clean, predictable form or
raises a typed :mod:`mmbench.errors` error whose message can be shown to the user as-is.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AudioError, ImageError, InvalidInputError, MMBenchError, TextError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = [
    "MAX_AUDIO_SAMPLE_RATE", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "MAX_TEXTS", "MAX_TEXT_CHARS",
    "MIN_AUDIO_SAMPLE_RATE", "MIN_IMAGE_SIDE", "split_lines", "validate_audio", "validate_image",
    "validate_images", "validate_text", "validate_texts",
]

#: Images with more pixels than this are refused before decoding (decompression-bomb safe).
MAX_IMAGE_PIXELS: int = 40_000_000
#: Images with a longer side are downscaled (aspect ratio kept) after decoding.
MAX_IMAGE_SIDE: int = 4096
#: Images with a shorter side are refused.
MIN_IMAGE_SIDE: int = 2
MAX_TEXT_CHARS: int = 1000
MAX_TEXTS: int = 1000
MIN_AUDIO_SAMPLE_RATE: int = 1000
MAX_AUDIO_SAMPLE_RATE: int = 384_000

_IMAGE_HINT = "Re-save it as PNG or JPEG and try again."
_AUDIO_HINT = "Convert it to WAV, FLAC or MP3 and try again."
_SILENT_PEAK = 1e-4
_SILENT_RMS = 1e-5


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _with_index(err: MMBenchError, what: str, index: int) -> MMBenchError:
    """The same error, its message prefixed with the item's 1-based position: ``"image 3: the file is empty."``."""
    message = err.message
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        message = message[0].lower() + message[1:]
    return type(err)(f"{what} {index + 1}: {message}", hint=err.hint)  # 1-based, as users count


def _describe_type(value: Any) -> str:
    return type(value).__name__


def _looks_like_url(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://", "ftp://"))


def _checked_path(value: str | os.PathLike, *, what: str, error: type[MMBenchError], kind: str) -> Path:
    """A path that exists, is a file and is not empty; otherwise ``error`` with a precise message."""
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise error(f"No {what} was given (the file path is empty).", hint=f"Choose {kind} file.")
    if _looks_like_url(text):
        raise error(f"The {what} {text!r} is a web address, not a file.",
                    hint="Download it first and pass the local file.")
    path = Path(text).expanduser()
    try:
        exists = path.exists()
        is_dir = exists and path.is_dir()
        size = path.stat().st_size if exists else -1
    except (OSError, ValueError) as exc:  # permission denied, NUL byte in the name, name too long...
        raise error(f"The {what} file cannot be opened: {text!r} ({exc.__class__.__name__}).",
                    hint="Check the path and that the file is readable.") from exc
    if not exists:
        raise error(f"The {what} file {str(path)!r} was not found.", hint="Check the path and the spelling.")
    if is_dir:
        raise error(f"The {what} path {str(path)!r} is a folder, not a file.", hint=f"Choose {kind} file inside it.")
    if size == 0:
        raise error(f"The {what} file {path.name!r} is empty (0 bytes).", hint=f"Choose a different {kind.split(' ', 1)[-1]} file.")
    return path


def _read_file_like(stream: Any, *, what: str, error: type[MMBenchError]) -> bytes:
    """All bytes of a binary file-like object (from its current position)."""
    try:
        data = stream.read()
    except Exception as exc:  # closed file, network error, anything the object raises
        raise error(f"The {what} could not be read from the file object ({exc}).",
                    hint="Open the file again in binary mode ('rb').") from exc
    if isinstance(data, str):
        raise error(f"The {what} file was opened in text mode.", hint="Open it in binary mode ('rb').")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"The {what} file object returned {_describe_type(data)} instead of bytes.",
                    hint="Pass a file opened in binary mode ('rb'), raw bytes or a path.")
    return bytes(data)


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def _too_many_pixels(width: int, height: int, what: str) -> ImageError:
    return ImageError(
        f"The {what} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
        f"the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels ({MAX_IMAGE_PIXELS} pixels).",
        hint=f"Resize it to at most {MAX_IMAGE_SIDE} pixels on its longest side and try again.",
    )


def _check_pixel_count(width: int, height: int, what: str) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_many_pixels(width, height, what)


def _open_image_bytes_or_path(source: Any, *, what: str) -> Image.Image:
    """Open an encoded image (path or BytesIO), check its header size, decode it fully."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as exc:
        # Pillow's own (higher) limit fired while reading the header: report it in our words.
        match = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({int(match.group(1)) / 1e6:.0f} megapixels)" if match else ""
        raise ImageError(
            f"The {what} is too large{size}; the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
            f"({MAX_IMAGE_PIXELS} pixels).",
            hint=f"Resize it to at most {MAX_IMAGE_SIDE} pixels on its longest side and try again.",
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"The {what} is not a recognised image file.",
                         hint="Use a PNG, JPEG, WebP, GIF, BMP or TIFF image.") from exc
    except Exception as exc:  # a damaged header can raise almost anything inside a Pillow plugin
        raise ImageError(f"The {what} file is damaged and cannot be read ({exc.__class__.__name__}).",
                         hint=_IMAGE_HINT) from exc

    width, height = image.size  # from the header: nothing decoded yet
    try:
        _check_pixel_count(width, height, what)
        if image.format == "JPEG" and max(width, height) > MAX_IMAGE_SIDE:
            # Let libjpeg decode at a reduced scale (still >= the final size): less memory and time.
            scale = MAX_IMAGE_SIDE / max(width, height)
            image.draft(image.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()  # animated GIF/WebP/APNG, multi-page TIFF: Image.open is on the first frame
        except Image.DecompressionBombError as exc:
            raise _too_many_pixels(width, height, what) from exc
        except MemoryError as exc:
            raise ImageError(f"The {what} is too large to decode in the available memory.",
                             hint=f"Resize it to at most {MAX_IMAGE_SIDE} pixels per side.") from exc
        except Exception as exc:  # OSError (truncated), SyntaxError, ValueError, EOFError, struct.error...
            reason = "is incomplete (truncated)" if "truncated" in str(exc).lower() else "is damaged"
            raise ImageError(f"The {what} file {reason} and cannot be decoded.", hint=_IMAGE_HINT) from exc
        # EXIF orientation is applied while TIFF tags are still attached; the result (a new image)
        # holds decoded pixels only, detached from the underlying file.
        upright = _upright(image)
        loaded = upright.copy() if upright is image else upright
    finally:
        image.close()
    return loaded


def _sixteen_bit_to_8(values: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.clip(np.rint(values.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _scale_float_to_8(values: np.ndarray, *, what: str) -> np.ndarray:
    """Float pixels -> uint8: 0..1 if the maximum is <= 1, else 0..255, else min-max stretched."""
    import numpy as np

    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageError(f"The {what} contains invalid pixel values (NaN or infinity).", hint=_IMAGE_HINT)
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        values = values * 255.0
    elif low < 0.0 or high > 255.0:  # scientific data in an arbitrary range: stretch to 0..255
        values = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _image_to_rgb(image: Image.Image, *, what: str) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparent areas become white."""
    import numpy as np
    from PIL import Image

    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image)
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            image = Image.fromarray(_scale_float_to_8(values, what=what))
        else:
            image = Image.fromarray(_sixteen_bit_to_8(values))
        mode = image.mode
    elif mode == "F":
        image = Image.fromarray(_scale_float_to_8(np.asarray(image), what=what))
        mode = image.mode

    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in image.info)
    try:
        if has_alpha:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")
    except Exception as exc:  # e.g. LAB or exotic raw modes Pillow cannot convert
        raise ImageError(f"The {what} uses the colour mode {mode!r}, which cannot be converted to RGB.",
                         hint=_IMAGE_HINT) from exc


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag (photos from phones); a broken EXIF block is ignored."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # damaged EXIF must not make an otherwise fine picture unusable
        return image


def _limit_size(image: Image.Image, *, what: str) -> Image.Image:
    """Refuse tiny images; downscale huge ones so the longest side is MAX_IMAGE_SIDE."""
    from PIL import Image

    width, height = image.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"The {what} is {width}x{height} pixels; it must be at least {MIN_IMAGE_SIDE} pixels on each side.",
            hint="Use a larger image.",
        )
    if max(width, height) > MAX_IMAGE_SIDE:
        scale = MAX_IMAGE_SIDE / max(width, height)
        size = (max(MIN_IMAGE_SIDE, round(width * scale)), max(MIN_IMAGE_SIDE, round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def _array_to_image(array: Any, *, what: str) -> Image.Image:
    """(H,W), (H,W,1), (H,W,3) or (H,W,4) array of uint8/uint16/other ints/bool/float -> Pillow image."""
    import numpy as np
    from PIL import Image

    try:
        values = np.asarray(array)
    except Exception as exc:  # e.g. a tensor on a GPU
        raise ImageError(f"The {what} array cannot be converted to numpy ({exc.__class__.__name__}).",
                         hint="Pass a numpy array on the CPU, e.g. tensor.cpu().numpy().") from exc

    shape = values.shape
    if values.ndim == 3 and shape[-1] not in (1, 3, 4) and shape[0] in (1, 3, 4):
        raise ImageError(
            f"The {what} array has shape {shape}, which looks channels-first (C, H, W).",
            hint="Images must be (height, width, channels): use array.transpose(1, 2, 0).",
        )
    if values.ndim not in (2, 3) or (values.ndim == 3 and shape[-1] not in (1, 3, 4)):
        raise ImageError(
            f"The {what} array has shape {shape}; expected (height, width) or (height, width, channels) "
            "with 1, 3 or 4 channels.",
            hint="Pass a grayscale (H, W), RGB (H, W, 3) or RGBA (H, W, 4) array.",
        )
    height, width = shape[0], shape[1]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"The {what} is {width}x{height} pixels; it must be at least {MIN_IMAGE_SIDE} pixels on each side.",
            hint="Use a larger image.",
        )
    _check_pixel_count(width, height, what)
    if values.ndim == 3 and shape[-1] == 1:
        values = values[..., 0]

    kind = values.dtype.kind
    if kind == "b":
        pixels = values.astype(np.uint8) * 255
    elif values.dtype == np.uint8:
        pixels = values
    elif values.dtype == np.uint16:
        pixels = _sixteen_bit_to_8(values)
    elif kind in "iu":
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ImageError(
                f"The {what} array has values from {low} to {high}; expected 0..255 (8-bit) or 0..65535 (16-bit).",
                hint="Rescale it to 0..255 and convert it with array.astype('uint8').",
            )
        pixels = values.astype(np.uint8) if high <= 255 else _sixteen_bit_to_8(values)
    elif kind == "f":
        if not np.isfinite(values).all():
            raise ImageError(f"The {what} array contains NaN or infinite values.",
                             hint="Replace them (e.g. with numpy.nan_to_num) before passing the image.")
        low, high = float(values.min()), float(values.max())
        if low < -1e-3 or high > 255.0 + 1e-3:
            raise ImageError(
                f"The {what} array has values from {low:.3g} to {high:.3g}; float images must be in 0..1 or 0..255.",
                hint="If it was normalised for a model, undo the normalisation first.",
            )
        scaled = values.astype(np.float64) * (255.0 if high <= 1.0 else 1.0)
        pixels = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    else:
        raise ImageError(f"The {what} array has dtype {values.dtype}, which is not an image type.",
                         hint="Use uint8 (0..255), uint16 or float (0..1) pixels.")
    return Image.fromarray(np.ascontiguousarray(pixels))


def validate_image(image: Any, *, what: str = "image") -> Image.Image:
    """Turn any supported image input into an upright 8-bit RGB Pillow image, or raise :class:`ImageError`.

    Accepts a Pillow image, a path (``str``/``Path``), raw ``bytes``/``bytearray``, a binary file
    object, or a numpy array shaped (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) with uint8, uint16,
    other integer, bool or float pixels (floats are read as 0..1 if their maximum is <= 1, else 0..255).

    Grayscale, 16-bit (scaled to 8 bits), float, palette, CMYK and alpha images are converted to
    RGB (transparent areas become white), the EXIF orientation is applied, and an animated image
    gives its first frame. Images over :data:`MAX_IMAGE_PIXELS` are refused from their header,
    before any pixel is decoded; images longer than :data:`MAX_IMAGE_SIDE` on a side are
    downscaled (aspect ratio kept); images under :data:`MIN_IMAGE_SIDE` on a side are refused.
    """
    from PIL import Image

    if image is None:
        raise ImageError(f"No {what} was given.", hint="Upload or choose an image.")

    if isinstance(image, Image.Image):
        width, height = image.size
        _check_pixel_count(width, height, what)
        try:
            image.load()  # a lazily opened image may still fail to decode
        except Exception as exc:
            raise ImageError(f"The {what} cannot be decoded: its file is damaged or incomplete.",
                             hint=_IMAGE_HINT) from exc
        decoded = _upright(image)
    elif isinstance(image, (str, os.PathLike)):
        path = _checked_path(image, what=what, error=ImageError, kind="an image")
        decoded = _open_image_bytes_or_path(path, what=what)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        if len(image) == 0:
            raise ImageError(f"The {what} is empty (0 bytes).", hint="Upload the image again.")
        decoded = _open_image_bytes_or_path(io.BytesIO(bytes(image)), what=what)
    elif hasattr(image, "read"):
        data = _read_file_like(image, what=what, error=ImageError)
        if not data:
            raise ImageError(f"The {what} file is empty (0 bytes).", hint="Upload the image again.")
        decoded = _open_image_bytes_or_path(io.BytesIO(data), what=what)
    elif isinstance(image, (list, tuple)):
        raise ImageError(f"Expected one {what}, got a {_describe_type(image)} of {len(image)} items.",
                         hint="Pass a single image here; use validate_images for several.")
    elif hasattr(image, "__array__") or hasattr(image, "__array_interface__"):
        decoded = _array_to_image(image, what=what)
    else:
        raise ImageError(
            f"The {what} has an unsupported type: {_describe_type(image)}.",
            hint="Pass a PIL image, a file path, bytes, a binary file object or a numpy array.",
        )

    rgb = _image_to_rgb(decoded, what=what)
    return _limit_size(rgb, what=what)


def _is_single_image(value: Any) -> bool:
    from PIL import Image

    if isinstance(value, (Image.Image, str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(value, "read"):
        return True
    ndim = getattr(value, "ndim", None)
    return isinstance(ndim, int) and ndim in (2, 3)


def validate_images(images: Any, *, what: str = "image", max_items: int = 10_000) -> list[Image.Image]:
    """One image or a sequence of images (or an (N, H, W[, C]) array) -> list of RGB Pillow images.

    Each item goes through :func:`validate_image`; an error names the 0-based index of the bad item,
    e.g. ``"image 3: the image file is empty (0 bytes)..."``.
    """
    if images is None:
        raise ImageError(f"No {what}s were given.", hint="Upload or choose at least one image.")
    if _is_single_image(images):
        return [validate_image(images, what=what)]
    if isinstance(images, Mapping) or not isinstance(images, Iterable):
        raise ImageError(f"Expected an image or a list of images, not {_describe_type(images)}.",
                         hint="Pass a PIL image, a path, bytes, an array or a list of these.")
    items = list(images)
    if not items:
        raise ImageError(f"No {what}s were given (the list is empty).", hint="Add at least one image.")
    if len(items) > max_items:
        raise ImageError(f"Too many {what}s: {len(items)}; the limit is {max_items}.",
                         hint="Process them in smaller batches.")
    validated = []
    for index, item in enumerate(items):
        try:
            validated.append(validate_image(item, what=what))
        except ImageError as err:
            raise _with_index(err, what, index) from err
    return validated


# --------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------

# Control characters that are not whitespace (whitespace controls such as \t \n \r are collapsed
# to one space instead), lone surrogates, the byte-order mark and invisible zero-width spaces.
# Zero-width (non-)joiners are kept: emoji sequences and several scripts need them.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\u200b\u2060]")


def validate_text(text: Any, *, what: str = "text", max_chars: int = MAX_TEXT_CHARS) -> str:
    """Clean one text or raise :class:`TextError`.

    The text is normalised to Unicode NFC, control and invisible characters are removed, all runs of
    whitespace (newlines and tabs included) become one space, and the ends are stripped. The result
    must be non-empty and at most ``max_chars`` characters long.
    """
    if text is None:
        raise TextError(f"No {what} was given.", hint=f"Type a {what}.")
    if not isinstance(text, str):
        hint = ("Decode it first, e.g. data.decode('utf-8')." if isinstance(text, (bytes, bytearray))
                else f"Pass the {what} as a string.")
        raise TextError(f"The {what} must be a string, not {_describe_type(text)}.", hint=hint)
    cleaned = _INVISIBLE.sub("", text)
    cleaned = " ".join(unicodedata.normalize("NFC", cleaned).split())
    if not cleaned:
        raise TextError(f"The {what} is empty.", hint="Type at least one word.")
    if len(cleaned) > max_chars:
        raise TextError(f"The {what} is {len(cleaned)} characters long; the limit is {max_chars}.",
                        hint=f"Shorten it to {max_chars} characters or fewer.")
    return cleaned


def validate_texts(texts: Any, *, what: str = "text", max_items: int = MAX_TEXTS,
                   max_chars: int = MAX_TEXT_CHARS) -> list[str]:
    """One text or a sequence of texts -> list of cleaned texts (see :func:`validate_text`).

    A single string is one text (it is *not* split on newlines: use :func:`split_lines` for a
    multi-line textbox). An error about one item names its 0-based index: ``"text 2: the text is empty."``.
    """
    if isinstance(texts, str):
        return [validate_text(texts, what=what, max_chars=max_chars)]
    if texts is None:
        raise TextError(f"No {what}s were given.", hint=f"Enter at least one {what}.")
    if isinstance(texts, (bytes, bytearray, Mapping)) or not isinstance(texts, Iterable):
        raise TextError(f"Expected a {what} or a list of {what}s, not {_describe_type(texts)}.",
                        hint="Pass a string or a list of strings.")
    items = list(texts)
    if not items:
        raise TextError(f"Enter at least one {what}.", hint="The list of texts is empty.")
    if len(items) > max_items:
        raise TextError(f"Too many {what}s: {len(items)}; the limit is {max_items}.",
                        hint=f"Keep at most {max_items} {what}s.")
    cleaned = []
    for index, item in enumerate(items):
        try:
            cleaned.append(validate_text(item, what=what, max_chars=max_chars))
        except TextError as err:
            raise _with_index(err, what, index) from err
    return cleaned


def split_lines(text: str | None) -> list[str]:
    """Split a multi-line textbox into its non-empty lines, each stripped (``None`` -> ``[]``)."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise TextError(f"Expected text, not {_describe_type(text)}.", hint="Pass a string.")
    return [line.strip() for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


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
        raise AudioError(f"The {what} sample rate must be a number, not {_describe_type(sample_rate)}.",
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
        return str(_checked_path(audio, what=what, error=AudioError, kind="an audio"))
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
        data = _read_file_like(audio, what=what, error=AudioError)
        if not data:
            raise AudioError(f"The {what} file is empty (0 bytes).", hint="Upload or record the clip again.")
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


def _resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """High-quality resampling along the last axis (soxr, as ``librosa.resample(res_type='soxr_hq')``)."""
    try:
        import soxr  # what librosa.resample uses by default; importing it directly skips librosa's import cost
    except ImportError:  # pragma: no cover - soxr is a librosa dependency
        import librosa

        return librosa.resample(samples, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=-1)
    return soxr.resample(samples.T, orig_sr, target_sr, quality="HQ").T


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
        raise AudioError(f"The {what} has an unsupported type: {_describe_type(audio)}.",
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
        clip = _resample(clip, sample_rate, target_sr)
        sample_rate = target_sr
    return np.clip(clip, -1.0, 1.0).astype(np.float32, copy=False), sample_rate
