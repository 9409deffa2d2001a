"""``mmbench.io``: every user input goes through here — images, texts, audio clips and videos.

One module per kind (:mod:`.image`, :mod:`.text`, :mod:`.audio`, :mod:`.video`, :mod:`.video_write`);
:mod:`.files` holds the file handling they share (path checks, file objects, atomic writes).

Each ``validate_*`` function turns whatever a user hands over into one clean, predictable form or
raises a typed :mod:`mmbench.errors` error whose message can be shown to the user as-is.
"""

from .audio import MAX_AUDIO_SAMPLE_RATE, MIN_AUDIO_SAMPLE_RATE, resample, validate_audio
from .files import atomic_write
from .image import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MIN_IMAGE_SIDE, validate_image, validate_images
from .text import MAX_TEXT_CHARS, MAX_TEXTS, split_lines, validate_text, validate_texts
from .video import (DECODE_SHORT_SIDE, MAX_SAMPLED_FRAMES, MAX_VIDEO_PIXELS, MAX_VIDEO_SECONDS, MIN_VIDEO_FRAMES,
                    Video, VideoInfo, load_video, read_audio, reusable, sample_windows, seconds_label,
                    validate_video)
from .video_write import write_video

__all__ = [
    "MAX_AUDIO_SAMPLE_RATE", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "MAX_TEXT_CHARS", "MAX_TEXTS",
    "MIN_AUDIO_SAMPLE_RATE", "MIN_IMAGE_SIDE", "split_lines", "validate_audio", "validate_image", "validate_images",
    "validate_text", "validate_texts", "resample", "atomic_write",
    "DECODE_SHORT_SIDE", "MAX_SAMPLED_FRAMES", "MAX_VIDEO_PIXELS", "MAX_VIDEO_SECONDS", "MIN_VIDEO_FRAMES", "Video",
    "VideoInfo", "load_video", "read_audio", "reusable", "sample_windows", "seconds_label", "validate_video",
    "write_video",
]
