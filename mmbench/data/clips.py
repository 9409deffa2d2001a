"""Procedural video clips with a synchronised sound track: one shape of the procedural world
performing one of nine motions, seeded and fast (about 2 ms per 16-frame clip with its sound).

The sound carries *part* of the label: a beep on every bounce, a rising tone while the object
grows and a falling one while it shrinks, a tone that is on exactly while a blinking object is
visible, a warble while it rotates, and the same "whoosh" for all four translations (so sound
alone cannot tell left from right). Each clip can be made ambiguous in one modality — the object
hidden behind an occluder, drawn in low contrast or lost to dropped frames; the sound drowned in
noise or muted — which is what makes audio-visual fusion worth doing.

Every clip is a pure function of ``(seed, index)`` (and the options), like :class:`~.world.World`'s scenes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .world import COLOURS, SHAPES, pixel_grids, shape_mask, upsampler

#: The motion classes, in label-index order.
MOTIONS: tuple[str, ...] = ("moving left", "moving right", "moving up", "moving down", "growing", "shrinking",
                            "rotating", "blinking", "bouncing")
#: How each motion sounds (what the audio model can learn from).
SOUNDS: dict[str, str] = {
    "moving left": "whoosh (band-passed noise), the same for every direction",
    "moving right": "whoosh (band-passed noise), the same for every direction",
    "moving up": "whoosh (band-passed noise), the same for every direction",
    "moving down": "whoosh (band-passed noise), the same for every direction",
    "growing": "a tone gliding up in pitch as the object grows",
    "shrinking": "a tone gliding down in pitch as the object shrinks",
    "rotating": "a warbling tone (amplitude modulated at the rotation rate)",
    "blinking": "a tone that is on exactly while the object is visible",
    "bouncing": "a short beep at every bounce",
}
#: What makes the video of a clip ambiguous (``video_ambiguity``) ...
VIDEO_AMBIGUITIES: tuple[str, ...] = ("occluded", "low_contrast", "dropout")
#: ... and its sound (``audio_ambiguity``).
AUDIO_AMBIGUITIES: tuple[str, ...] = ("noise", "silent")
#: Motions under which the video changes if time runs backwards / the frame is mirrored.
TIME_REVERSED = {"moving left": "moving right", "moving right": "moving left", "moving up": "moving down",
                 "moving down": "moving up", "growing": "shrinking", "shrinking": "growing"}
MIRRORED_LR = {"moving left": "moving right", "moving right": "moving left"}
MIRRORED_UD = {"moving up": "moving down", "moving down": "moving up"}

_ROTATABLE = ("square", "triangle", "diamond", "cross")  # circles and rings look the same when rotated
_OCCLUDER = np.array([92.0, 92.0, 96.0], np.float32)


@dataclass
class Clip:
    """One procedural clip with its ground truth.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 video frames.
        audio: ``(N,)`` float32 mono samples in [-1, 1], exactly ``T / fps`` seconds long.
        sample_rate: audio samples per second.
        fps: video frames per second.
        motion: the label, one of :data:`MOTIONS`.
        shape, colour: the moving object.
        visible: ``(T,)`` bool, whether the object can be seen in each frame (False when it is
            blinked off, occluded or its frame was dropped): the frames that carry the label.
        events: frame times (float, in frames) of the bounces (``bouncing`` only).
        video_ambiguity, audio_ambiguity: what degrades each modality (None: clean).
    """

    frames: np.ndarray
    audio: np.ndarray
    sample_rate: int
    fps: float
    motion: str
    shape: str
    colour: str
    visible: np.ndarray
    events: list[float] = field(default_factory=list)
    video_ambiguity: str | None = None
    audio_ambiguity: str | None = None
    seed: int = 0
    index: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> int:
        """Index of :attr:`motion` in :data:`MOTIONS`."""
        return MOTIONS.index(self.motion)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.n_frames / self.fps

    @property
    def caption(self) -> str:
        article = "an" if self.colour[0] in "aeiou" else "a"
        return f"{article} {self.colour} {self.shape} {self.motion}"

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in (("video_ambiguity", self.video_ambiguity),
                                                      ("audio_ambiguity", self.audio_ambiguity)) if v)
        return (f"Clip({self.caption!r}, frames={self.n_frames}x{self.frames.shape[2]}x{self.frames.shape[1]}, "
                f"{self.duration:.1f} s{extra})")


class ClipWorld:
    """Seeded generator of procedural clips.

    >>> clip = ClipWorld(seed=1).clip(0)
    >>> clip.frames.shape, clip.audio.shape, clip.motion  # doctest: +SKIP
    ((16, 64, 64, 3), (32000,), 'bouncing')

    Args:
        seed: clips of different seeds are independent (held-out sets are other seeds).
        size: frame side in pixels (>= 32).
        n_frames: frames per clip (>= 8).
        fps: frames per second (the sound lasts ``n_frames / fps`` seconds).
        sample_rate: audio sample rate.
        motions: subset of :data:`MOTIONS` to draw from (uniformly).
        noise: standard deviation of per-pixel camera noise (drawn anew every frame).
        p_distractor: probability of a second, static object in the scene.
        p_video_ambiguous, p_audio_ambiguous: probability that a clip's video (sound) is degraded
            by one of :data:`VIDEO_AMBIGUITIES` (:data:`AUDIO_AMBIGUITIES`). Never both at once
            (a clip always carries its label somewhere); their sum is at most 1.
        audio, video: set False to skip rendering one modality (zeros are returned; faster when
            training a single-modality model).
    """

    def __init__(self, seed: int = 0, size: int = 64, n_frames: int = 16, fps: float = 8.0,
                 sample_rate: int = 16000, motions: Sequence[str] = MOTIONS, noise: float = 7.0,
                 p_distractor: float = 0.3, p_video_ambiguous: float = 0.0, p_audio_ambiguous: float = 0.0,
                 audio: bool = True, video: bool = True) -> None:
        if size < 32:
            raise ValueError("size must be at least 32 pixels")
        if n_frames < 8:
            raise ValueError("n_frames must be at least 8")
        unknown = [m for m in motions if m not in MOTIONS]
        if unknown or not motions:
            raise ValueError(f"unknown motions {unknown}; known: {', '.join(MOTIONS)}")
        for name, p in (("p_distractor", p_distractor), ("p_video_ambiguous", p_video_ambiguous),
                        ("p_audio_ambiguous", p_audio_ambiguous)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability, not {p}")
        self.seed, self.size, self.n_frames = int(seed), int(size), int(n_frames)
        self.fps, self.sample_rate = float(fps), int(sample_rate)
        self.motions = tuple(motions)
        self.noise, self.p_distractor = float(noise), float(p_distractor)
        self.p_video_ambiguous, self.p_audio_ambiguous = float(p_video_ambiguous), float(p_audio_ambiguous)
        self.render_audio, self.render_video = bool(audio), bool(video)

    @property
    def classes(self) -> list[str]:
        return list(MOTIONS)

    def clip(self, index: int, motion: str | None = None, *, video_ambiguity: str | None | bool = False,
             audio_ambiguity: str | None | bool = False, hidden_frames: Sequence[int] | None = None,
             speed: float | None = None) -> Clip:
        """Clip number ``index`` (deterministic).

        Args:
            motion: force the motion (default: drawn from ``motions``).
            video_ambiguity, audio_ambiguity: force a degradation (a name, or None for a clean
                modality); False (default) draws it with the world's probabilities.
            hidden_frames: frames in which the object is covered by the occluder (a controlled
                occlusion, e.g. to check which frames an explanation points at).
            speed: multiply the motion's randomly drawn speed by this factor.
        """
        rng = np.random.default_rng([self.seed, int(index)])
        motion = self.motions[int(rng.integers(len(self.motions)))] if motion is None else motion
        if motion not in MOTIONS:
            raise ValueError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
        u = rng.random()  # one draw decides which modality (if any) is degraded: never both
        v_kind = VIDEO_AMBIGUITIES[int(rng.integers(len(VIDEO_AMBIGUITIES)))]
        a_kind = AUDIO_AMBIGUITIES[int(rng.integers(len(AUDIO_AMBIGUITIES)))]
        p_v, p_a = self.p_video_ambiguous, self.p_audio_ambiguous
        if p_v + p_a > 1:
            p_v, p_a = p_v / (p_v + p_a), p_a / (p_v + p_a)
        if video_ambiguity is False:
            video_ambiguity = v_kind if u < p_v and audio_ambiguity in (False, None) else None
        if audio_ambiguity is False:
            audio_ambiguity = a_kind if p_v <= u < p_v + p_a and video_ambiguity is None else None
        if video_ambiguity is not None and video_ambiguity not in VIDEO_AMBIGUITIES:
            raise ValueError(f"unknown video_ambiguity {video_ambiguity!r}; known: {', '.join(VIDEO_AMBIGUITIES)}")
        if audio_ambiguity is not None and audio_ambiguity not in AUDIO_AMBIGUITIES:
            raise ValueError(f"unknown audio_ambiguity {audio_ambiguity!r}; known: {', '.join(AUDIO_AMBIGUITIES)}")

        track = self._track(rng, motion, 1.0 if speed is None else float(speed))
        visible = track["on"].copy()
        hidden = np.zeros(self.n_frames, bool)
        if hidden_frames is not None:
            hidden[np.asarray(list(hidden_frames), dtype=int)] = True
        if video_ambiguity == "occluded":  # the object is behind an occluder for most of the clip
            n_hidden = int(rng.integers(int(0.6 * self.n_frames), int(0.8 * self.n_frames) + 1))
            start = int(rng.integers(0, self.n_frames - n_hidden + 1))
            hidden[start:start + n_hidden] = True
        dropped = np.zeros(self.n_frames, bool)
        if video_ambiguity == "dropout":
            dropped[rng.permutation(self.n_frames)[: int(rng.integers(int(0.6 * self.n_frames),
                                                                      int(0.8 * self.n_frames) + 1))]] = True
        visible &= ~hidden & ~dropped
        if self.render_video:
            frames = self._render(rng, track, hidden, dropped, low_contrast=video_ambiguity == "low_contrast")
        else:
            frames = np.zeros((self.n_frames, self.size, self.size, 3), np.uint8)
        if self.render_audio:
            audio = self._sound(rng, motion, track, audio_ambiguity)
        else:
            audio = np.zeros(int(round(self.n_frames / self.fps * self.sample_rate)), np.float32)
        return Clip(frames, audio, self.sample_rate, self.fps, motion, track["shape"], track["colour"], visible,
                    list(track["events"]), video_ambiguity, audio_ambiguity, self.seed, int(index),
                    meta={"speed": track["speed"], "radius": track["r"].tolist()})

    def clips(self, n: int, start: int = 0, **options) -> list[Clip]:
        """``n`` consecutive clips starting at ``start`` (options as in :meth:`clip`)."""
        return [self.clip(i, **options) for i in range(start, start + n)]

    def balanced(self, n: int, start: int = 0, **options) -> list[Clip]:
        """``n`` clips cycling through the motions in order (equal class counts when ``n`` is a multiple)."""
        return [self.clip(i, self.motions[(i - start) % len(self.motions)], **options)
                for i in range(start, start + n)]

    # -- motion ---------------------------------------------------------------------------------
    def _track(self, rng: np.random.Generator, motion: str, speed_factor: float) -> dict:
        """Per-frame centre, radius, angle and visibility of the moving object."""
        n, T = self.size, self.n_frames
        s = n / 64.0
        t = np.arange(T, dtype=np.float32)
        shape = _ROTATABLE[int(rng.integers(len(_ROTATABLE)))] if motion == "rotating" else \
            SHAPES[int(rng.integers(len(SHAPES)))]
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        r0 = float(rng.uniform(7.0, 11.0)) * s
        r = np.full(T, r0, np.float32)
        angle = np.full(T, float(rng.uniform(0, 2 * np.pi)), np.float32)
        on = np.ones(T, bool)
        events: list[float] = []
        speed = float(rng.uniform(0.7, 1.3)) * speed_factor
        cx = np.full(T, float(rng.uniform(0.3, 0.7)) * n, np.float32)
        cy = np.full(T, float(rng.uniform(0.3, 0.7)) * n, np.float32)
        if motion.startswith("moving"):
            v = 2.0 * s * speed  # pixels per frame
            travel = v * (T - 1)
            lo, hi = r0 + 1, n - r0 - 1
            # start so that the object stays (mostly) in the frame
            start = float(rng.uniform(lo, max(lo, hi - travel)))
            along = start + v * t
            across = float(rng.uniform(r0 + 2, n - r0 - 2))
            sign = -1.0 if motion in ("moving left", "moving up") else 1.0
            along = along if sign > 0 else (n - along)
            if motion in ("moving left", "moving right"):
                cx, cy = along, np.full(T, across, np.float32)
            else:
                cx, cy = np.full(T, across, np.float32), along
        elif motion in ("growing", "shrinking"):
            ra, rb = float(rng.uniform(3.5, 5.5)) * s, float(rng.uniform(11.0, 15.0)) * s
            frac = np.clip(t / (T - 1) * min(1.0, speed), 0, 1)
            r = (ra + (rb - ra) * frac) if motion == "growing" else (rb - (rb - ra) * frac)
            r = r.astype(np.float32)
            cx[:] = float(rng.uniform(rb + 1, n - rb - 1))
            cy[:] = float(rng.uniform(rb + 1, n - rb - 1))
        elif motion == "rotating":
            omega = np.deg2rad(rng.uniform(12.0, 30.0)) * (1 if rng.random() < 0.5 else -1) * min(speed, 1.3)
            angle = (angle + omega * t).astype(np.float32)
            r[:] = float(rng.uniform(9.0, 13.0)) * s
        elif motion == "blinking":
            period = int(rng.integers(3, 7))  # frames per on+off cycle
            on_len = int(rng.integers(1, period))
            phase = int(rng.integers(period))
            on = ((np.arange(T) + phase) % period) < on_len
            if on.all() or not on.any():  # pragma: no cover - excluded by the ranges above
                on[::2] = False
        elif motion == "bouncing":
            period = float(rng.uniform(4.0, 7.0)) / min(speed, 1.3)  # frames between bounces
            height = float(rng.uniform(14.0, 26.0)) * s
            floor = float(rng.uniform(0.75, 0.85)) * n
            phase = float(rng.uniform(0, period))
            cy = (floor - height * np.abs(np.sin(np.pi * (t + phase) / period))).astype(np.float32)
            cy = np.minimum(cy, n - r0 - 1)
            k0 = int(np.ceil(phase / period - 1e-9))
            events = [k * period - phase for k in range(k0, k0 + T) if 0 <= k * period - phase <= T - 1]
        return {"shape": shape, "colour": colour, "cx": cx, "cy": cy, "r": r, "angle": angle, "on": on,
                "events": events, "speed": speed}

    # -- pixels ---------------------------------------------------------------------------------
    def _render(self, rng: np.random.Generator, track: dict, hidden: np.ndarray, dropped: np.ndarray,
                low_contrast: bool) -> np.ndarray:
        n, T = self.size, self.n_frames
        xs, ys = pixel_grids(n)
        coarse = 5
        up = upsampler(n, coarse)
        base = rng.uniform(70, 185)
        field_ = up @ rng.normal(0, 28, (coarse, coarse)).astype(np.float32) @ up.T
        bg = base + field_[..., None] + rng.normal(0, 8, 3).astype(np.float32)
        if rng.random() < 0.35:  # stripes for texture
            freq, theta = rng.uniform(0.15, 0.5), rng.uniform(0, np.pi)
            bg = bg + 12 * np.sin(freq * (xs * np.cos(theta) + ys * np.sin(theta)))[..., None]
        frames = np.broadcast_to(bg, (T, n, n, 3)).astype(np.float32)
        if rng.random() < self.p_distractor:  # a second object that does not move
            dshape = SHAPES[int(rng.integers(len(SHAPES)))]
            dcol = np.array(list(COLOURS.values())[int(rng.integers(len(COLOURS)))], np.float32)
            dr = float(rng.uniform(5.0, 8.0)) * n / 64
            dx, dy = float(rng.uniform(dr, n - dr)), float(rng.uniform(dr, n - dr))
            m = shape_mask(dshape, xs - dx, ys - dy, dr)
            frames[:, m] = dcol
        colour = np.array(COLOURS[track["colour"]], np.float32) + rng.normal(0, 10, 3).astype(np.float32)
        if low_contrast:  # the object barely differs from the background, and the camera is noisy
            colour = bg.reshape(-1, 3).mean(0) + rng.choice([-1.0, 1.0]) * rng.uniform(8, 14)
        for i in range(T):
            if not track["on"][i]:
                continue
            cx, cy, r, a = track["cx"][i], track["cy"][i], track["r"][i], track["angle"][i]
            x0, x1 = max(0, int(cx - 1.5 * r) - 1), min(n, int(cx + 1.5 * r) + 2)
            y0, y1 = max(0, int(cy - 1.5 * r) - 1), min(n, int(cy + 1.5 * r) + 2)
            if x0 >= x1 or y0 >= y1:
                continue
            dx, dy = xs[y0:y1, x0:x1] - cx, ys[y0:y1, x0:x1] - cy
            c, s_ = np.cos(a), np.sin(a)
            m = shape_mask(track["shape"], c * dx + s_ * dy, -s_ * dx + c * dy, float(r))
            frames[i, y0:y1, x0:x1][m] = colour
        if hidden.any():  # one still occluder over the object's whole path while it is hidden
            idx = np.flatnonzero(hidden)
            r = track["r"][idx] * 1.5 + 2
            x0, x1 = int(max(0, (track["cx"][idx] - r).min())), int(min(n, (track["cx"][idx] + r).max() + 1))
            y0, y1 = int(max(0, (track["cy"][idx] - r).min())), int(min(n, (track["cy"][idx] + r).max() + 1))
            frames[idx, y0:y1, x0:x1] = _OCCLUDER
        noise = self.noise * (3.5 if low_contrast else 1.0)
        if noise > 0:
            frames += rng.normal(0, noise, frames.shape).astype(np.float32)
        if dropped.any():  # a dropped frame is black with a little sensor noise
            frames[dropped] = rng.normal(8, 3, (int(dropped.sum()), n, n, 3)).astype(np.float32)
        return np.clip(frames, 0, 255).astype(np.uint8)

    # -- sound ----------------------------------------------------------------------------------
    def _sound(self, rng: np.random.Generator, motion: str, track: dict, ambiguity: str | None) -> np.ndarray:
        sr, T, fps = self.sample_rate, self.n_frames, self.fps
        n = int(round(T / fps * sr))
        ts = np.arange(n, dtype=np.float64) / sr
        frame_t = ts * fps  # time in frames
        gain = float(rng.uniform(0.25, 0.6))
        if motion.startswith("moving"):
            white = rng.normal(0, 1, n)
            spec = np.fft.rfft(white)
            freqs = np.fft.rfftfreq(n, 1 / sr)
            lo = float(rng.uniform(500, 900))
            spec[(freqs < lo) | (freqs > lo * float(rng.uniform(2.5, 4.0)))] = 0
            sig = np.fft.irfft(spec, n)
            sig = sig / (np.abs(sig).max() + 1e-9)
            sig *= 0.6 + 0.4 * np.sin(np.pi * np.clip(frame_t / (T - 1), 0, 1))  # swells as it passes
        elif motion in ("growing", "shrinking"):
            r = np.interp(frame_t, np.arange(T), track["r"])
            rr = (r - r.min()) / max(float(r.max() - r.min()), 1e-6)  # 0 -> 1 with the size
            f0 = float(rng.uniform(250, 400))
            freq = f0 * np.exp(np.log(float(rng.uniform(2.5, 4.0))) * rr)
            sig = np.sin(2 * np.pi * np.cumsum(freq) / sr)
        elif motion == "rotating":
            f = float(rng.uniform(500, 900))
            rate = float(rng.uniform(4.0, 9.0))
            sig = np.sin(2 * np.pi * f * ts) * (0.55 + 0.45 * np.sin(2 * np.pi * rate * ts))
        elif motion == "blinking":
            f = float(rng.uniform(600, 1000))
            on = track["on"][np.minimum(frame_t.astype(int), T - 1)].astype(np.float64)
            k = max(1, int(0.005 * sr))  # 5 ms ramps, no clicks
            on = np.convolve(on, np.ones(k) / k, mode="same")
            sig = np.sin(2 * np.pi * f * ts) * on
        elif motion == "bouncing":
            f = float(rng.uniform(1200, 2000))
            sig = np.zeros(n)
            for e in track["events"]:
                t0 = e / fps
                d = ts - t0
                env = np.where(d >= 0, np.exp(-np.maximum(d, 0) / 0.025), 0.0) * (d < 0.08)
                sig += env * np.sin(2 * np.pi * f * d)
        else:  # pragma: no cover - MOTIONS is exhaustive
            raise ValueError(motion)
        sig = gain * sig / (np.abs(sig).max() + 1e-9) + rng.normal(0, 0.004, n)  # room noise
        if ambiguity == "noise":  # drowned: noise 6-12 dB louder than the signal
            rms = float(np.sqrt(np.mean(sig ** 2)))
            sig = sig + rng.normal(0, rms * 10 ** (float(rng.uniform(6, 12)) / 20), n)
        elif ambiguity == "silent":  # muted track: only a faint hiss
            sig = rng.normal(0, 0.002, n)
        peak = float(np.abs(sig).max())
        if peak > 0.99:
            sig = sig * (0.99 / peak)
        return sig.astype(np.float32)


def motion_classes() -> list[str]:
    """The motion class names (:data:`MOTIONS`), the label set of the tiny video model."""
    return list(MOTIONS)
