"""Behavioural tests for mmbench.io: every odd input becomes clean data or a typed, friendly error.

Fixtures (images, audio files, damaged files) are generated in each test under ``tmp_path``.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import soundfile
from PIL import Image

from mmbench.errors import AudioError, ImageError, InvalidInputError, TextError
from mmbench.io import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_TEXT_CHARS,
    split_lines,
    validate_audio,
    validate_image,
    validate_images,
    validate_text,
    validate_texts,
)


class DecodedAnyway(BaseException):
    """Raised by patched decoders: a BaseException so no ``except Exception`` can swallow it."""


def _refuse_decoding(*args, **kwargs):
    raise DecodedAnyway("the input was decoded although its header should have been enough")


def _png_bytes(image: Image.Image, **save_kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **save_kwargs)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, followed by a token IDAT: tiny on disk, huge if decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def _sine(freq: float, seconds: float, sr: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_frequency(samples: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sr)[np.argmax(spectrum)])


# --------------------------------------------------------------------------------------------
# Import cost
# --------------------------------------------------------------------------------------------


def test_import_does_not_pull_torch_or_librosa():
    code = "import sys, mmbench.io; print(sorted(m for m in ('torch', 'librosa') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Images: accepted inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif"), ("BMP", ".bmp"),
                                         ("WEBP", ".webp"), ("GIF", ".gif")])
def test_image_files_of_common_formats_become_rgb(tmp_path, fmt, suffix):
    path = tmp_path / f"picture{suffix}"
    Image.new("RGB", (40, 30), (200, 30, 40)).save(path, fmt)
    for source in (path, str(path), path.read_bytes(), bytearray(path.read_bytes()), io.BytesIO(path.read_bytes())):
        image = validate_image(source)
        assert image.mode == "RGB" and image.size == (40, 30)
        red, green, blue = image.getpixel((20, 15))
        assert red > 150 and green < 90 and blue < 90


def test_pil_rgb_image_is_returned_with_same_pixels():
    original = Image.new("RGB", (10, 8), (1, 2, 3))
    image = validate_image(original)
    assert image.mode == "RGB" and image.size == (10, 8) and image.getpixel((0, 0)) == (1, 2, 3)


def test_grayscale_and_bilevel_become_rgb_with_equal_channels():
    assert validate_image(Image.new("L", (4, 4), 77)).getpixel((1, 1)) == (77, 77, 77)
    assert validate_image(Image.new("1", (4, 4), 1)).getpixel((1, 1)) == (255, 255, 255)


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 32768, 65535], [257, 1000, 65535]], dtype=np.uint16)
    path = tmp_path / "depth16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I;16")  # the fixture really is 16-bit
    pixels = np.asarray(validate_image(path))
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 3, 3)
    assert pixels[0, 0, 0] == 0 and pixels[0, 2, 0] == 255 and pixels[1, 2, 1] == 255
    assert pixels[0, 1, 0] == 128 and pixels[1, 0, 0] == 1 and pixels[1, 1, 0] == 4


def test_mode_i_and_float_images_are_scaled():
    as_int = Image.fromarray(np.array([[0, 65535], [32768, 0]], dtype=np.int32))
    assert as_int.mode == "I"
    assert np.asarray(validate_image(as_int))[0, 1, 0] == 255
    as_float = Image.fromarray(np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32))
    assert as_float.mode == "F"
    pixels = np.asarray(validate_image(as_float))[..., 0]
    assert pixels.tolist() == [[0, 255], [128, 64]]


def test_float_tiff_file_is_decoded(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.full((5, 6), 0.5, dtype=np.float32)).save(path)
    assert validate_image(path).getpixel((2, 2)) == (128, 128, 128)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, "JPEG", quality=95)  # pure red in CMYK
    image = validate_image(path)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((8, 8))
    assert red > 230 and green < 30 and blue < 30


def test_rgba_alpha_is_composited_onto_white(tmp_path):
    rgba = Image.new("RGBA", (3, 2), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 255, 0))  # fully transparent blue
    rgba.putpixel((2, 0), (0, 0, 0, 128))  # half-transparent black
    path = tmp_path / "alpha.png"
    rgba.save(path)
    image = validate_image(path)
    assert image.getpixel((0, 0)) == (255, 0, 0)
    assert image.getpixel((1, 0)) == (255, 255, 255)
    assert all(120 <= channel <= 135 for channel in image.getpixel((2, 0)))


def test_la_image_is_composited_onto_white():
    la = Image.new("LA", (2, 2), (0, 0))
    assert validate_image(la).getpixel((0, 0)) == (255, 255, 255)


def test_palette_images_with_and_without_transparency(tmp_path):
    palette_image = Image.new("P", (4, 4), 0)
    palette_image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette_image.putpixel((0, 0), 1)
    plain = tmp_path / "palette.png"
    palette_image.save(plain)
    image = validate_image(plain)
    assert image.getpixel((0, 0)) == (0, 0, 255) and image.getpixel((2, 2)) == (255, 0, 0)

    transparent = tmp_path / "palette_transparent.png"
    palette_image.save(transparent, transparency=1)
    image = validate_image(transparent)
    assert image.getpixel((0, 0)) == (255, 255, 255) and image.getpixel((2, 2)) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.new("RGB", (40, 20), (0, 128, 0)).save(path, exif=exif)
    assert validate_image(path).size == (20, 40)
    with Image.open(path) as opened:
        assert validate_image(opened).size == (20, 40)


def test_animated_gif_gives_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (10, 10), colour) for colour in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as check:
        assert check.n_frames == 3
    red, green, blue = validate_image(path).getpixel((5, 5))
    assert red > 200 and green < 50 and blue < 50


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.full((4, 5), 9, dtype=np.uint8), (9, 9, 9)),
        (np.full((4, 5, 1), 9, dtype=np.uint8), (9, 9, 9)),
        (np.full((4, 5, 3), [10, 20, 30], dtype=np.uint8), (10, 20, 30)),
        (np.full((4, 5, 3), 0.5, dtype=np.float32), (128, 128, 128)),
        (np.full((4, 5, 3), 200.0, dtype=np.float64), (200, 200, 200)),
        (np.full((4, 5), 65535, dtype=np.uint16), (255, 255, 255)),
        (np.full((4, 5), 100, dtype=np.int64), (100, 100, 100)),
        (np.ones((4, 5), dtype=bool), (255, 255, 255)),
        (np.zeros((4, 5, 4), dtype=np.uint8), (255, 255, 255)),  # fully transparent -> white
    ],
)
def test_numpy_arrays_are_accepted(array, expected):
    image = validate_image(array)
    assert image.mode == "RGB" and image.size == (5, 4)
    assert image.getpixel((2, 2)) == expected


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.full((4, 5, 3), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((4, 5, 2), dtype=np.uint8), "shape"),
        (np.zeros((3, 32, 32), dtype=np.float32), "channels-first"),
        (np.zeros(16, dtype=np.uint8), "shape"),
        (np.zeros((2, 4, 5, 3, 1), dtype=np.uint8), "shape"),
        (np.full((4, 5), -1.5, dtype=np.float32), "normalis"),
        (np.full((4, 5), 70000, dtype=np.int64), "0..255"),
        (np.full((4, 5), "x"), "dtype"),
        (np.zeros((1, 5, 3), dtype=np.uint8), "at least 2 pixels"),
    ],
)
def test_bad_numpy_arrays_are_refused(array, fragment):
    with pytest.raises(ImageError, match=fragment):
        validate_image(array)


# --------------------------------------------------------------------------------------------
# Images: sizes
# --------------------------------------------------------------------------------------------


def test_wide_image_is_downscaled_keeping_aspect():
    image = validate_image(Image.new("RGB", (5000, 100), (5, 5, 5)))
    assert image.size == (MAX_IMAGE_SIDE, round(100 * MAX_IMAGE_SIDE / 5000))


def test_large_jpeg_is_downscaled(tmp_path):
    path = tmp_path / "panorama.jpg"
    Image.new("RGB", (9000, 300), (50, 100, 150)).save(path, quality=80)
    image = validate_image(path)
    assert image.size == (MAX_IMAGE_SIDE, round(300 * MAX_IMAGE_SIDE / 9000))


@pytest.mark.parametrize("size", [(1, 1), (1, 100), (100, 1)])
def test_tiny_images_are_refused(size):
    with pytest.raises(ImageError, match="at least 2 pixels"):
        validate_image(Image.new("RGB", size))


@pytest.mark.parametrize("width, height, fragment", [(7000, 7000, "7000x7000"), (20000, 20000, "400 megapixels")])
def test_huge_image_is_refused_from_its_header_without_decoding(tmp_path, monkeypatch, width, height, fragment):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(width, height))
    assert path.stat().st_size < 200
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", _refuse_decoding)
    for source in (path, path.read_bytes()):
        with pytest.raises(ImageError) as caught:
            validate_image(source)
        message = str(caught.value)
        assert fragment in message and f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels" in message


def test_huge_pil_image_is_refused():
    # An in-memory image only costs a header here: mode "1" at 1 bit per pixel is ~6 MB.
    with pytest.raises(ImageError, match="limit"):
        validate_image(Image.new("1", (8000, 6000)))


# --------------------------------------------------------------------------------------------
# Images: errors
# --------------------------------------------------------------------------------------------


def test_missing_empty_and_non_image_inputs(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    random_bytes = tmp_path / "noise.png"
    random_bytes.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("this is not a picture")
    cases = [
        (None, "No image"),
        (tmp_path / "missing.png", "not found"),
        (str(tmp_path / "missing.png"), "not found"),
        (tmp_path, "folder"),
        (empty, "empty"),
        (b"", "empty"),
        (io.BytesIO(b""), "empty"),
        (random_bytes, "not a recognised image"),
        (text_file, "not a recognised image"),
        (b"GIF89a garbage", "image"),
        ("https://example.com/cat.png", "web address"),
        (12, "unsupported type"),
        ([Image.new("RGB", (4, 4))], "validate_images"),
        (io.StringIO("text"), "text mode"),
    ]
    for source, fragment in cases:
        with pytest.raises(ImageError, match=fragment) as caught:
            validate_image(source)
        assert isinstance(caught.value, InvalidInputError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_refused(tmp_path, fmt):
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    full = tmp_path / f"full.{fmt.lower()}"
    noise.save(full, fmt)
    cut = tmp_path / f"cut.{fmt.lower()}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as caught:
        validate_image(cut)
    assert "truncated" in str(caught.value) or "damaged" in str(caught.value)
    assert caught.value.hint and "PNG or JPEG" in caught.value.hint


def test_truncated_lazy_pil_image_is_refused(tmp_path):
    full = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full)
    data = full.read_bytes()
    lazy = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(ImageError, match="damaged|incomplete"):
        validate_image(lazy)


# --------------------------------------------------------------------------------------------
# Image lists
# --------------------------------------------------------------------------------------------


def test_validate_images_accepts_single_items_lists_and_batches(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (6, 6)).save(path)
    assert len(validate_images(path)) == 1
    assert len(validate_images(np.zeros((6, 6, 3), dtype=np.uint8))) == 1
    assert len(validate_images([path, str(path), Image.new("L", (3, 3)), path.read_bytes()])) == 4
    batch = validate_images(np.zeros((5, 6, 7, 3), dtype=np.uint8))
    assert len(batch) == 5 and all(image.size == (7, 6) for image in batch)
    assert len(validate_images(image for image in [Image.new("RGB", (3, 3))] * 2)) == 2


def test_validate_images_names_the_bad_index(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (6, 6)).save(good)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError) as caught:
        validate_images([good, good, good, empty])
    assert str(caught.value).startswith("image 4: the image file 'empty.png' is empty")
    with pytest.raises(ImageError, match="^photo 2: "):
        validate_images([good, None], what="photo")


def test_validate_images_refuses_empty_none_and_too_many():
    with pytest.raises(ImageError, match="No images"):
        validate_images([])
    with pytest.raises(ImageError, match="No images"):
        validate_images(None)
    with pytest.raises(ImageError, match="Too many"):
        validate_images([Image.new("RGB", (3, 3))] * 3, max_items=2)
    with pytest.raises(ImageError):
        validate_images({"a": 1})


# --------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------


def test_text_is_stripped_normalised_and_collapsed():
    assert validate_text("  cafe\u0301 \n\t au   lait  ") == "caf\u00e9 au lait"
    assert validate_text("a\x00b\u200bc\ufeff") == "abc"
    assert validate_text("line one\r\nline two") == "line one line two"
    assert validate_text("family: \U0001F468\u200d\U0001F469\u200d\U0001F467") == (
        "family: \U0001F468\u200d\U0001F469\u200d\U0001F467")  # zero-width joiners kept


@pytest.mark.parametrize("text", ["", "   ", "\n\t \r\n", "\x00\u200b"])
def test_empty_text_is_refused(text):
    with pytest.raises(TextError, match="The text is empty"):
        validate_text(text)


def test_long_text_is_refused_with_length_and_limit():
    assert len(validate_text("x" * MAX_TEXT_CHARS)) == MAX_TEXT_CHARS
    with pytest.raises(TextError) as caught:
        validate_text("x" * 10_000)
    message = str(caught.value)
    assert "10000" in message and str(MAX_TEXT_CHARS) in message and "Shorten" in message
    with pytest.raises(TextError, match="limit is 5"):
        validate_text("abcdef", max_chars=5)


@pytest.mark.parametrize("value, fragment", [(None, "No text"), (5, "not int"), (b"abc", "decode"),
                                             (["a"], "not list")])
def test_non_string_text_is_refused(value, fragment):
    with pytest.raises(TextError, match=fragment):
        validate_text(value)


def test_validate_texts():
    assert validate_texts("a red circle") == ["a red circle"]
    assert validate_texts("one\ntwo") == ["one two"]  # not split here: callers use split_lines
    assert validate_texts([" a ", "b", np.str_("c")]) == ["a", "b", "c"]
    assert validate_texts(text for text in ["x", "y"]) == ["x", "y"]
    with pytest.raises(TextError, match="Enter at least one text"):
        validate_texts([])
    with pytest.raises(TextError, match="Enter at least one label"):
        validate_texts([], what="label")
    with pytest.raises(TextError, match="Too many"):
        validate_texts(["a"] * 4, max_items=3)
    with pytest.raises(TextError, match="^text 3: the text is empty"):
        validate_texts(["ok", "fine", "   "])
    with pytest.raises(TextError, match="^label 2: the label must be a string"):
        validate_texts(["ok", 3], what="label")
    with pytest.raises(TextError, match="^text 1: the text is 6 characters long"):
        validate_texts(["abcdef"], max_chars=5)
    for bad in (None, 42, b"bytes", {"a": "b"}):
        with pytest.raises(TextError):
            validate_texts(bad)


def test_split_lines():
    assert split_lines("a red circle\n\n   a blue square  \r\n\t\nthird") == ["a red circle", "a blue square", "third"]
    assert split_lines("") == [] and split_lines(None) == []
    with pytest.raises(TextError):
        split_lines(3)


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


def test_stereo_96k_wav_becomes_mono_16k_with_frequency_preserved(tmp_path):
    path = tmp_path / "stereo.wav"
    tone = _sine(1000.0, 1.0, 96_000)
    soundfile.write(path, np.stack([tone, tone], axis=1), 96_000, subtype="PCM_24")
    samples, sr = validate_audio(path)
    assert sr == 16_000 and samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 16_000) <= 1
    assert abs(_peak_frequency(samples, sr) - 1000.0) <= 2.0
    assert 0.45 < np.abs(samples).max() <= 0.55


def test_audio_from_path_bytes_and_file_objects_agree(tmp_path):
    path = tmp_path / "tone.flac"
    soundfile.write(path, _sine(440.0, 0.5, 22_050), 22_050)
    reference, sr = validate_audio(path)
    assert sr == 16_000
    with open(path, "rb") as handle:
        for source in (str(path), path.read_bytes(), io.BytesIO(path.read_bytes()), handle):
            samples, rate = validate_audio(source)
            assert rate == sr and np.allclose(samples, reference)


def test_audio_keeps_rate_and_channels_when_asked(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = _sine(300.0, 0.5, 8000), _sine(600.0, 0.5, 8000, amplitude=0.25)
    soundfile.write(path, np.stack([left, right], axis=1), 8000)
    samples, sr = validate_audio(path, target_sr=None, mono=False)
    assert sr == 8000 and samples.shape == (2, 4000)
    assert np.allclose(samples[0], left, atol=1e-4) and np.allclose(samples[1], right, atol=1e-4)


def test_gradio_int16_tuple_is_converted():
    data = (np.array([0, 16384, -16384, 32767] * 1000, dtype=np.int16))
    samples, sr = validate_audio((16_000, data))
    assert sr == 16_000 and samples.dtype == np.float32 and len(samples) == 4000
    assert samples[:3].tolist() == [0.0, 0.5, -0.5]
    stereo = np.stack([data, data], axis=1)
    assert validate_audio((16_000, stereo))[0].shape == (4000,)
    channels_first = np.stack([data, data], axis=0)
    assert validate_audio((16_000, channels_first))[0].shape == (4000,)
    wide = (np.iinfo(np.int32).max // 2 * np.sign(np.sin(np.arange(4000)))).astype(np.int32)
    assert 0.45 < validate_audio((16_000, wide))[0].max() < 0.55


def test_loud_float_tuple_is_scaled_into_range():
    samples, _ = validate_audio((8000, _sine(200.0, 0.5, 8000, amplitude=3.0)), target_sr=None)
    assert np.isclose(np.abs(samples).max(), 1.0, atol=1e-3)


def test_silent_audio_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "silent.wav"
    soundfile.write(path, np.zeros(16_000, dtype=np.float32), 16_000)
    with pytest.raises(AudioError, match="silent"):
        validate_audio(path)
    with pytest.raises(AudioError, match="silent"):
        validate_audio((16_000, np.full(16_000, 1e-6, dtype=np.float32)))
    samples, sr = validate_audio(path, allow_silent=True)
    assert len(samples) == 16_000 and not samples.any()


def test_one_millisecond_is_too_short(tmp_path):
    path = tmp_path / "click.wav"
    soundfile.write(path, _sine(1000.0, 0.001, 16_000), 16_000)
    with pytest.raises(AudioError, match="^1 ms of audio is too short"):
        validate_audio(path)
    with pytest.raises(AudioError, match="too short"):
        validate_audio((16_000, _sine(1000.0, 0.001, 16_000)))


def test_long_file_is_refused_from_its_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    soundfile.write(path, np.zeros(700 * 1000, dtype=np.int16), 1000)  # 700 s at 1 kHz, 1.4 MB
    monkeypatch.setattr(soundfile, "read", _refuse_decoding)
    monkeypatch.setattr(soundfile.SoundFile, "read", _refuse_decoding)
    monkeypatch.setattr("librosa.load", _refuse_decoding)
    for source in (path, path.read_bytes()):
        with pytest.raises(AudioError) as caught:
            validate_audio(source)
        assert "11 min 40 s" in str(caught.value) and "10 min" in str(caught.value)
    with pytest.raises(AudioError, match="limit is 5 s"):
        validate_audio(path, max_seconds=5)


def test_long_array_is_refused():
    with pytest.raises(AudioError, match="limit is 1 s"):
        validate_audio((8000, _sine(100.0, 2.0, 8000)), max_seconds=1.0)


@pytest.mark.parametrize("rate", [500, 500_000])
def test_absurd_sample_rates_are_refused(tmp_path, rate):
    with pytest.raises(AudioError, match="sample rate"):
        validate_audio((rate, _sine(100.0, 1.0, 1000)))
    if rate < 1000:
        path = tmp_path / "slow.wav"
        soundfile.write(path, _sine(100.0, 1.0, rate), rate)
        with pytest.raises(AudioError, match=f"{rate} Hz"):
            validate_audio(path)


def test_bad_audio_inputs_are_refused(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + np.random.default_rng(3).bytes(300))
    header_only = tmp_path / "header_only.wav"
    soundfile.write(header_only, np.zeros(0, dtype=np.float32), 16_000)
    with_nan = _sine(100.0, 1.0, 8000)
    with_nan[10] = np.nan
    cases = [
        (None, "No audio"),
        (tmp_path / "missing.wav", "not found"),
        (empty, "empty"),
        (b"", "empty"),
        (io.BytesIO(b""), "empty"),
        (corrupt, "could not be decoded"),
        (np.random.default_rng(4).bytes(5000), "could not be decoded"),
        (header_only, "no samples"),
        ((8000, with_nan), "NaN"),
        ((8000, np.zeros(0, dtype=np.int16)), "no samples"),
        ((8000, np.zeros((2, 3, 4))), "shape"),
        ((8000, np.array(["a", "b"])), "dtype"),
        ((_sine(100.0, 1.0, 8000), 8000), "sample_rate, data"),
        ((8000, None), "No audio"),
        ((1, 2, 3), "sample_rate, data"),
        (_sine(100.0, 1.0, 8000), "no sample rate"),
        (3.5, "unsupported type"),
        (io.StringIO("text"), "text mode"),
    ]
    for source, fragment in cases:
        with pytest.raises(AudioError, match=fragment) as caught:
            validate_audio(source)
        assert isinstance(caught.value, InvalidInputError)


def test_invalid_target_rate_is_an_input_error():
    for target in (0, 10, 16000.5, "16k", True):
        with pytest.raises(InvalidInputError, match="target_sr"):
            validate_audio((16_000, _sine(100.0, 1.0, 16_000)), target_sr=target)
