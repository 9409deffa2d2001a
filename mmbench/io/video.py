"""Video input for mmbench: validation, frame sampling and audio extraction with PyAV (writing MP4s:
:mod:`mmbench.io.video_write`).

:func:`validate_video` checks a file from its container header (streams, codec, size, duration)
before decoding anything, so a corrupt file, an image or audio file passed as a video, a codec
FFmpeg cannot decode, a gigantic frame size or a two-hour film is refused with a
:class:`~mmbench.errors.VideoError` whose message is meant for users. :func:`load_video` then
decodes only the frames a model needs (seeking past long gaps, never the whole film) and
downscales them as they are decoded. In-memory videos — a ``(T, H, W, 3)`` uint8 array or a
procedural :class:`~mmbench.data.clips.Clip` — go through the same checks.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError, VideoError
from .audio import resample
from .files import checked_path, read_file_like

__all__ = ["MAX_VIDEO_PIXELS", "MAX_VIDEO_SECONDS", "MIN_VIDEO_FRAMES", "Video", "VideoInfo", "load_video",
           "read_audio", "require_av", "reusable", "sample_windows", "seconds_label", "validate_video"]

#: Videos longer than this are refused from the header (seconds).
MAX_VIDEO_SECONDS: float = 600.0
#: Frames with more pixels than this are refused from the header (8K is 33 M; 4K UHD 8.3 M passes).
MAX_VIDEO_PIXELS: int = 3840 * 2160
#: A video model needs motion: at least this many frames.
MIN_VIDEO_FRAMES: int = 2
#: Frames are downscaled while decoding so that their shorter side is at most this.
DECODE_SHORT_SIDE: int = 256
#: The most frames one request keeps in memory.
MAX_SAMPLED_FRAMES: int = 512
_HINT = "Convert it to MP4 (H.264) or WebM and try again."


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about a video (nothing decoded)."""

    container: str
    codec: str
    width: int
    height: int
    fps: float
    n_frames: int
    duration: float
    has_audio: bool
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    source: str = "file"

    def describe(self) -> str:
        audio = f", audio {self.audio_codec} {self.audio_sample_rate} Hz" if self.has_audio else ", no audio track"
        return (f"{self.width}x{self.height} {self.codec} in {self.container}, {self.fps:.3g} fps, "
                f"{self.n_frames} frames ({self.duration:.1f} s){audio}")


@dataclass
class Video:
    """Frames sampled from a video, with where they came from.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8, the sampled frames in time order.
        indices: ``(T,)`` source frame numbers of ``frames``.
        fps: the source frame rate.
        info: the source's :class:`VideoInfo`.
        windows: ``(start, end)`` positions in ``frames`` of each model window (end exclusive).
        audio: mono float32 samples of the source's sound (None: not read, or no audio track).
        sample_rate: of ``audio``.
    """

    frames: np.ndarray
    indices: np.ndarray
    fps: float
    info: VideoInfo
    windows: list[tuple[int, int]] = field(default_factory=list)
    audio: np.ndarray | None = None
    sample_rate: int | None = None

    @property
    def times(self) -> np.ndarray:
        """Seconds of each sampled frame."""
        return self.indices / float(self.fps)

    def window_frames(self, i: int) -> np.ndarray:
        start, end = self.windows[i]
        return self.frames[start:end]


# --------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------
def require_av() -> Any:
    """The PyAV module, or a :class:`~mmbench.errors.DependencyError` saying how to install it."""
    try:
        import av
    except ImportError as err:  # pragma: no cover - av is in requirements.txt
        from ..errors import DependencyError

        raise DependencyError("Reading videos needs the PyAV package.", hint="pip install av") from err
    return av


def _source(video: Any) -> tuple[Any, str]:
    """A path string or a seekable binary stream for ``av.open``, and a short name for messages."""
    if isinstance(video, (str, os.PathLike)):
        path = checked_path(video, what="video", error=VideoError, kind="a video")
        return str(path), path.name
    if isinstance(video, (bytes, bytearray, memoryview)):
        if len(video) == 0:
            raise VideoError("The video is empty (0 bytes).", hint="Upload the file again.")
        return io.BytesIO(bytes(video)), "video"
    if hasattr(video, "read"):
        data = read_file_like(video, what="video", error=VideoError, empty_hint="Upload the file again.")
        return io.BytesIO(data), getattr(video, "name", "video")
    raise VideoError(f"A video is a file path, bytes, a binary file object, a (T, H, W, 3) uint8 array or a "
                     f"procedural Clip, not {type(video).__name__}.")


def reusable(video: Any) -> Any:
    """``video`` unchanged, except that a binary file object becomes its bytes (it can then be opened twice:
    once to check the header, once to decode)."""
    if hasattr(video, "read") and not isinstance(video, (str, bytes, bytearray, memoryview, os.PathLike)):
        return read_file_like(video, what="video", error=VideoError, empty_hint="Upload the file again.")
    return video


def _open(source: Any, name: str) -> Any:
    av = require_av()
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        return av.open(source, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as err:
        raise VideoError(f"The video {name!r} could not be opened: it is not a video file FFmpeg can read, "
                         f"or it is damaged (truncated or corrupt).", hint=_HINT) from err
    except (OSError, ValueError) as err:
        raise VideoError(f"The video {name!r} could not be opened ({type(err).__name__}).", hint=_HINT) from err


def _info(container: Any, name: str) -> VideoInfo:
    if not container.streams.video:
        kind = "an audio file" if container.streams.audio else "not a video"
        raise VideoError(f"The file {name!r} has no video stream ({kind}, container '{container.format.name}').",
                         hint="Choose a video file (MP4, WebM, MOV, AVI...).")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None:
        tag = getattr(stream, "codec_tag", "") or "unknown"
        raise VideoError(f"The video {name!r} uses a codec FFmpeg cannot decode here (tag {tag!r}).", hint=_HINT)
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    n_frames = int(stream.frames or 0)
    if n_frames <= 0 and fps > 0 and duration > 0:
        n_frames = int(round(duration * fps))
    if fps <= 0 and n_frames > 0 and duration > 0:
        fps = n_frames / duration
    if duration <= 0 and fps > 0 and n_frames > 0:
        duration = n_frames / fps
    audio = container.streams.audio[0] if container.streams.audio else None
    actx = audio.codec_context if audio is not None else None
    return VideoInfo(container=container.format.name, codec=ctx.name, width=width, height=height, fps=fps,
                     n_frames=n_frames, duration=duration, has_audio=actx is not None,
                     audio_codec=actx.name if actx is not None else None,
                     audio_sample_rate=int(actx.sample_rate) if actx is not None and actx.sample_rate else None,
                     source=name)


def _check_limits(info: VideoInfo, name: str, *, max_seconds: float, max_pixels: int, min_frames: int) -> None:
    if info.width * info.height > max_pixels:
        raise VideoError(f"The video {name!r} is {info.width}x{info.height} pixels per frame; the limit is "
                         f"{max_pixels / 1e6:.1f} megapixels ({max_pixels} pixels).",
                         hint="Downscale it (for example to 1280x720) and try again.")
    if info.width < 2 or info.height < 2:
        raise VideoError(f"The video {name!r} has an unusable frame size ({info.width}x{info.height}).", hint=_HINT)
    if info.duration > max_seconds:
        raise VideoError(f"The video {name!r} lasts {_clock(info.duration)}; the limit is {_clock(max_seconds)}.",
                         hint="Cut out the part you want analysed and upload that.")
    if info.n_frames and info.n_frames < min_frames:
        still = info.container.endswith("_pipe") or info.n_frames == 1
        raise VideoError(f"The video {name!r} has only {info.n_frames} frame"
                         f"{'' if info.n_frames == 1 else 's'}; a video model needs at least {min_frames} to see "
                         "motion" + (" (is it a still image?)." if still else "."),
                         hint="Upload a video clip, not a single image.")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def validate_video(video: Any, *, max_seconds: float | None = None, max_pixels: int | None = None,
                   min_frames: int = MIN_VIDEO_FRAMES) -> VideoInfo:
    """Check a video file from its header, and that its first frames decode; returns its :class:`VideoInfo`.

    ``video``: a path, bytes or a binary file object (in-memory arrays and clips are checked by
    :func:`load_video`). Refused with :class:`VideoError`: missing, empty, corrupt or truncated
    files; files with no video stream (audio files) or a codec FFmpeg cannot decode; frames over
    ``max_pixels`` (default :data:`MAX_VIDEO_PIXELS`); videos longer than ``max_seconds`` (default
    :data:`MAX_VIDEO_SECONDS`); fewer than ``min_frames`` frames (a still image). A video without
    an audio track is valid (``info.has_audio`` is False).
    """
    source, name = _source(video)
    with _open(source, name) as container:
        info = _info(container, name)
        _check_limits(info, name, max_seconds=MAX_VIDEO_SECONDS if max_seconds is None else max_seconds,
                      max_pixels=MAX_VIDEO_PIXELS if max_pixels is None else max_pixels, min_frames=min_frames)
        decoded = _decode_some(container, name, min_frames)
    if decoded < min_frames:
        raise VideoError(f"The video {name!r} has only {decoded} decodable frame{'' if decoded == 1 else 's'}; "
                         f"a video model needs at least {min_frames}.",
                         hint="Upload a video clip, not a single image (or re-encode a damaged file).")
    if not info.n_frames:
        info = VideoInfo(**{**info.__dict__, "n_frames": decoded})
    return info


def _decode_some(container: Any, name: str, n: int) -> int:
    av = require_av()
    got = 0
    try:
        for _frame in container.decode(video=0):
            got += 1
            if got >= n:
                break
    except av.error.FFmpegError as err:
        if got == 0:
            raise VideoError(f"The video {name!r} could not be decoded: its data are damaged or its codec is "
                             "not supported.", hint=_HINT) from err
    return got


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------
def sample_windows(n_frames: int, clip_len: int, stride: int = 1, max_windows: int = 8,
                   hop: int | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Which source frames to decode and how they group into model windows.

    A window is ``clip_len`` frames taken every ``stride``-th source frame (so it spans
    ``(clip_len - 1) * stride + 1`` source frames). Windows start every ``hop`` source frames
    (default: half a window span) until the video ends; when that gives more than ``max_windows``
    the starts are spread evenly over the whole video instead. A video shorter than one window
    gives one window whose missing frames repeat the last one (the way VideoMAE's Kinetics
    evaluation pads short clips).

    Returns ``(indices, windows)``: sorted unique source frame numbers, and per window the
    ``(start, end)`` positions of its frames in ``indices``... when frames repeat, the returned
    ``indices`` contain the repeats so that each window is a contiguous slice.
    """
    for name, value in (("clip_len", clip_len), ("stride", stride), ("max_windows", max_windows)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidInputError(f"{name} must be a positive whole number, not {value!r}.")
    if n_frames < 1:
        raise VideoError("The video has no frames.")
    span = (clip_len - 1) * stride + 1
    if hop is None:
        hop = max(1, span // 2)
    if n_frames <= span:
        starts = [0]
    else:
        last = n_frames - span
        starts = list(range(0, last + 1, hop))
        if starts[-1] != last:
            starts.append(last)
        if len(starts) > max_windows:
            starts = sorted({int(round(x)) for x in np.linspace(0, last, max_windows)})
    indices: list[int] = []
    windows: list[tuple[int, int]] = []
    for s in starts:
        window = [min(s + k * stride, n_frames - 1) for k in range(clip_len)]
        if windows and window[: len(window)] == indices[windows[-1][0]:windows[-1][1]]:
            continue  # pragma: no cover - identical windows only from degenerate inputs
        windows.append((len(indices), len(indices) + clip_len))
        indices.extend(window)
    if len(indices) > MAX_SAMPLED_FRAMES:
        raise InvalidInputError(f"{len(windows)} windows of {clip_len} frames is more than the {MAX_SAMPLED_FRAMES} "
                                "frames one request may sample.", hint="Use fewer windows or a shorter clip length.")
    return np.asarray(indices, dtype=np.int64), windows


def _scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _read_frames(container: Any, info: VideoInfo, wanted: np.ndarray, short_side: int | None,
                 name: str) -> dict[int, np.ndarray]:
    """Decode the unique frames in ``wanted`` (source frame numbers), seeking across long gaps."""
    av = require_av()
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    targets = sorted(set(int(i) for i in wanted))
    width, height = _scaled_size(info.width, info.height, short_side)
    fps = info.fps or 25.0
    start_time = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    got: dict[int, np.ndarray] = {}
    seek_gap = max(int(4 * fps), 64)  # decoding through a shorter gap is cheaper than a seek
    pos = 0
    last_index = -1
    sought = None  # the target of the last seek: it lands on the keyframe before it, never seek twice for one
    frames_iter = None
    try:
        while pos < len(targets):
            target = targets[pos]
            if frames_iter is None or (target - last_index > seek_gap and target != sought):
                if frames_iter is not None or target > seek_gap:
                    ts = int((start_time + max(0.0, target / fps - 1.0)) / stream.time_base)
                    container.seek(ts, stream=stream, backward=True, any_frame=False)
                    sought = target
                frames_iter = container.decode(stream)
                last_index = -1
            frame = next(frames_iter, None)
            if frame is None:
                break
            t = frame.time if frame.time is not None else (last_index + 1) / fps + start_time
            index = int(round((t - start_time) * fps))
            last_index = index
            while pos < len(targets) and targets[pos] < index:  # a target we skipped (VFR, bad seek): nearest
                if targets[pos] not in got and got:
                    got[targets[pos]] = got[max(got)]
                pos += 1
            if pos < len(targets) and targets[pos] == index:
                if (frame.width, frame.height) != (width, height):
                    frame = frame.reformat(width=width, height=height)
                got[index] = frame.to_ndarray(format="rgb24")
                pos += 1
    except av.error.FFmpegError as err:
        if not got:
            raise VideoError(f"The video {name!r} could not be decoded: its data are damaged or its codec is "
                             "not supported.", hint=_HINT) from err
    if not got:
        raise VideoError(f"No frame of the video {name!r} could be decoded.", hint=_HINT)
    return got


def read_audio(video: Any, sample_rate: int = 16000, max_seconds: float | None = None) -> np.ndarray | None:
    """The video's sound as mono float32 at ``sample_rate`` (None when it has no audio track).

    Samples are placed by their timestamps, so encoder priming (AAC's 1024 samples) is removed
    when the container records it; at most ``max_seconds`` (default: the video limit) are decoded.
    """
    if isinstance(video, Video):
        return video.audio
    av = require_av()
    source, name = _source(video)
    max_seconds = MAX_VIDEO_SECONDS if max_seconds is None else float(max_seconds)
    with _open(source, name) as container:
        if not container.streams.audio or container.streams.audio[0].codec_context is None:
            return None
        stream = container.streams.audio[0]
        video_start = 0.0
        if container.streams.video and container.streams.video[0].start_time is not None:
            v = container.streams.video[0]
            video_start = float(v.start_time * v.time_base)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=int(sample_rate))
        pieces: list[tuple[float | None, np.ndarray]] = []
        try:
            for frame in container.decode(stream):
                for res in resampler.resample(frame):
                    pieces.append((res.time, res.to_ndarray().reshape(-1)))
                if pieces and pieces[-1][0] is not None and pieces[-1][0] - video_start > max_seconds:
                    break
            for res in resampler.resample(None):
                pieces.append((res.time, res.to_ndarray().reshape(-1)))
        except av.error.FFmpegError as err:
            if not pieces:
                raise VideoError(f"The sound of the video {name!r} could not be decoded.", hint=_HINT) from err
    limit = int(max_seconds * sample_rate)
    placed, pos = [], 0
    for t, data in pieces:  # by timestamp where known, so the sound stays in sync with the frames
        start = pos if t is None else int(round((t - video_start) * sample_rate))
        if start < 0:
            data, start = data[-start:], 0
        placed.append((start, data))
        pos = start + len(data)
    out = np.zeros(min(limit, max((s + len(d) for s, d in placed), default=0)), np.float32)
    for start, data in placed:
        end = min(start + len(data), len(out))
        if end > start:
            out[start:end] = data[: end - start]
    return np.clip(out, -1.0, 1.0)


def _in_memory(video: Any, fps: float | None) -> tuple[np.ndarray, float, np.ndarray | None, int | None, str] | None:
    """``(frames, fps, audio, sample_rate, name)`` of a Clip, an array or a (frames, fps) pair; None for files."""
    audio = sr = None
    name = "array"
    if hasattr(video, "frames") and hasattr(video, "fps") and not isinstance(video, Video):  # a procedural Clip
        frames, fps_, audio, sr, name = video.frames, float(video.fps), getattr(video, "audio", None), \
            getattr(video, "sample_rate", None), "clip"
    elif isinstance(video, np.ndarray) or (hasattr(video, "__array__") and not isinstance(video, (bytes, str))):
        frames, fps_ = np.asarray(video), fps
    else:
        return None
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise VideoError(f"A video array must be (frames, height, width, 3) RGB, not shape {frames.shape}.")
    if frames.dtype != np.uint8:
        if np.issubdtype(frames.dtype, np.floating) and np.isfinite(frames).all() and frames.min() >= 0 \
                and frames.max() <= 1:
            frames = (frames * 255 + 0.5).astype(np.uint8)
        else:
            raise VideoError(f"A video array must be uint8 (0-255) or float in [0, 1], not {frames.dtype}.")
    if fps_ is None or not np.isfinite(fps_) or fps_ <= 0:
        raise VideoError("An in-memory video needs its frame rate: pass fps=... (frames per second).")
    return frames, float(fps_), audio, sr, name


def load_video(video: Any, *, clip_len: int = 16, stride: int = 1, max_windows: int = 8, hop: int | None = None,
               fps: float | None = None, short_side: int | None = DECODE_SHORT_SIDE, with_audio: bool = False,
               sample_rate: int = 16000, max_seconds: float | None = None,
               max_pixels: int | None = None) -> Video:
    """Validate ``video`` and decode the frames of its model windows (see :func:`sample_windows`).

    Args:
        video: a file path, bytes, a binary file object, a ``(T, H, W, 3)`` array (give ``fps``),
            a procedural :class:`~mmbench.data.clips.Clip`, or an already loaded :class:`Video`
            (returned as is).
        clip_len, stride, max_windows, hop: the sampling (frames per window, source frames between
            sampled frames, the most windows, source frames between window starts).
        short_side: frames are downscaled while decoding so their shorter side is at most this (None: keep).
        with_audio: also read the sound (mono, ``sample_rate``); ``video.audio`` is None when the
            source has no audio track.

    Raises:
        VideoError (see :func:`validate_video`), InvalidInputError (bad sampling options).
    """
    if isinstance(video, Video):
        return video
    max_seconds = MAX_VIDEO_SECONDS if max_seconds is None else max_seconds
    max_pixels = MAX_VIDEO_PIXELS if max_pixels is None else max_pixels
    memory = _in_memory(video, fps)
    if memory is not None:
        frames, fps_, audio, sr, name = memory
        t, h, w = frames.shape[:3]
        info = VideoInfo(container="memory", codec="raw", width=w, height=h, fps=fps_, n_frames=t, duration=t / fps_,
                         has_audio=audio is not None, audio_codec="pcm" if audio is not None else None,
                         audio_sample_rate=sr, source=name)
        _check_limits(info, name, max_seconds=max_seconds, max_pixels=max_pixels, min_frames=MIN_VIDEO_FRAMES)
        indices, windows = sample_windows(t, clip_len, stride, max_windows, hop)
        picked = frames[indices]
        if short_side and min(h, w) > short_side:
            from PIL import Image

            size = _scaled_size(w, h, short_side)
            picked = np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in picked])
        out = Video(np.ascontiguousarray(picked), indices, fps_, info, windows)
        if with_audio and audio is not None:
            out.audio, out.sample_rate = resample(np.asarray(audio, np.float32), int(sr), sample_rate), sample_rate
        return out

    video = reusable(video)
    info = validate_video(video, max_seconds=max_seconds, max_pixels=max_pixels)
    source, name = _source(video)
    n = info.n_frames or int(MAX_SAMPLED_FRAMES)
    indices, windows = sample_windows(n, clip_len, stride, max_windows, hop)
    with _open(source, name) as container:
        got = _read_frames(container, info, indices, short_side, name)
    if len(got) < min(MIN_VIDEO_FRAMES, len(set(indices.tolist()))):
        raise VideoError(f"Only {len(got)} frame of the video {name!r} could be decoded; a video model needs at "
                         f"least {MIN_VIDEO_FRAMES}.", hint=_HINT)
    # headers can overstate the frame count: a frame that could not be decoded is its nearest decoded one
    real = np.array([i if i in got else _nearest(got, i) for i in indices.tolist()], dtype=np.int64)
    frames = np.stack([got[i] for i in real.tolist()])
    out = Video(frames, real, info.fps or float(fps or 25.0), info, windows)
    if with_audio and info.has_audio:
        out.audio, out.sample_rate = read_audio(video, sample_rate, max_seconds), sample_rate
    return out


def _nearest(got: dict[int, np.ndarray], index: int) -> int:
    keys = np.fromiter(got.keys(), dtype=np.int64)
    return int(keys[np.abs(keys - index).argmin()])


def seconds_label(seconds: float) -> str:
    """``"0:03.250"``-style time for frame strips."""
    m, s = divmod(max(0.0, float(seconds)), 60)
    return f"{int(m)}:{s:06.3f}" if m else f"{s:.2f} s"

