"""Image input: :func:`validate_image` / :func:`validate_images` turn a Pillow image, a path, bytes, a
binary file object or an array into an upright 8-bit RGB Pillow image, or raise :class:`~mmbench.errors.ImageError`.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ImageError
from .files import checked_path, describe_type, read_file_like, with_index

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = ["MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "MIN_IMAGE_SIDE", "validate_image", "validate_images"]

#: Images with more pixels than this are refused before decoding (decompression-bomb safe).
MAX_IMAGE_PIXELS: int = 40_000_000
#: Images with a longer side are downscaled (aspect ratio kept) after decoding.
MAX_IMAGE_SIDE: int = 4096
#: Images with a shorter side are refused.
MIN_IMAGE_SIDE: int = 2

_IMAGE_HINT = "Re-save it as PNG or JPEG and try again."


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
        path = checked_path(image, what=what, error=ImageError, kind="an image")
        decoded = _open_image_bytes_or_path(path, what=what)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        if len(image) == 0:
            raise ImageError(f"The {what} is empty (0 bytes).", hint="Upload the image again.")
        decoded = _open_image_bytes_or_path(io.BytesIO(bytes(image)), what=what)
    elif hasattr(image, "read"):
        data = read_file_like(image, what=what, error=ImageError, empty_hint="Upload the image again.")
        decoded = _open_image_bytes_or_path(io.BytesIO(data), what=what)
    elif isinstance(image, (list, tuple)):
        raise ImageError(f"Expected one {what}, got a {describe_type(image)} of {len(image)} items.",
                         hint="Pass a single image here; use validate_images for several.")
    elif hasattr(image, "__array__") or hasattr(image, "__array_interface__"):
        decoded = _array_to_image(image, what=what)
    else:
        raise ImageError(
            f"The {what} has an unsupported type: {describe_type(image)}.",
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
        raise ImageError(f"Expected an image or a list of images, not {describe_type(images)}.",
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
            raise with_index(err, what, index) from err
    return validated

