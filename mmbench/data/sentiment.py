"""A procedural tri-modal sentiment world: a review text, a face image and a prosody clip per sample.

Every sample is a pure function of ``(seed, index)``. Each modality shows a *cue class*: with
probability ``reliability[m]`` the true label, otherwise one of the two other classes (so a
modality can be made to lie), and the cue is rendered with ``noise[m]`` of ambiguity. The three
cues are drawn independently, so the modalities err independently and fusion has room to win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import InvalidInputError

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
MODALITIES: tuple[str, ...] = ("text", "image", "audio")
IMAGE_SIZE = 32
SAMPLE_RATE = 8000
AUDIO_SECONDS = 0.5

# Default setting: each modality alone reaches ~0.65-0.72 macro-F1 (<= 0.75 by design), all three
# together clearly more. Reliability 1.0 with the default noise gives a unimodal F1 above 0.9.
DEFAULT_RELIABILITY: dict[str, float] = {"text": 0.78, "image": 0.78, "audio": 0.78}
DEFAULT_NOISE: dict[str, float] = {"text": 0.5, "image": 0.5, "audio": 0.5}

# -- text vocabulary ----------------------------------------------------------------------------------
_NOUNS = ("film", "phone", "hotel", "meal", "concert", "book", "laptop", "service", "game", "trip")
_WORDS = {
    0: ("terrible", "awful", "bad", "disappointing", "horrible", "boring", "poor"),
    1: ("okay", "average", "fine", "ordinary", "acceptable", "decent enough", "so-so"),
    2: ("great", "wonderful", "excellent", "amazing", "lovely", "fantastic", "good"),
}
# With probability ERASURE * noise a modality carries no cue at all (no sentiment words, an occluded
# face, a clip drowned in noise): the receiver knows it cannot tell, which fusion can exploit.
ERASURE = 0.24
_INTENSIFIERS = ("", "", "really ", "very ", "truly ", "extremely ")
_FILLER = ("I used it on a Tuesday.", "My friend came along.", "It arrived in a box.",
           "We went there last week.", "The price was listed online.", "It took about an hour.")


def _text(rng: np.random.Generator, cue: int, noise: float) -> str:
    noun = _NOUNS[rng.integers(len(_NOUNS))]
    if rng.random() < ERASURE * noise:  # no sentiment-bearing words at all: unreadable
        return f"The {noun} happened. {_FILLER[rng.integers(len(_FILLER))]}"
    kind = rng.random()
    if cue == 0 and kind < 0.2:  # sarcasm: positive words, negative meaning, marked by its phrasing
        word = _WORDS[2][rng.integers(len(_WORDS[2]))]
        body = f"Oh {word}, yeah right, another {noun} that broke after a day. Just what I needed."
    elif cue != 1 and kind < 0.4:  # negation of the opposite pole: "not good" / "not bad at all"
        opposite = _WORDS[2 - cue][rng.integers(len(_WORDS[2 - cue]))]
        tail = " at all" if cue == 2 else ""
        body = f"The {noun} was not {opposite}{tail}."
    elif cue == 1 and kind < 0.3:
        body = f"The {noun} was neither great nor terrible, just {_WORDS[1][rng.integers(len(_WORDS[1]))]}."
    else:
        word = _WORDS[cue][rng.integers(len(_WORDS[cue]))]
        body = f"The {noun} was {_INTENSIFIERS[rng.integers(len(_INTENSIFIERS))]}{word}."
    if rng.random() < 0.2 * noise:  # a contradicting side remark about a detail, signalled by "though"
        other = _WORDS[int(rng.integers(3))]
        body += f" The packaging was {other[rng.integers(len(other))]} though."
    if rng.random() < 0.5:
        body += " " + _FILLER[rng.integers(len(_FILLER))]
    return body


# -- image: a face whose mouth curvature and background warmth carry the cue -----------------------------
_YY, _XX = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)


def _image(rng: np.random.Generator, cue: int, noise: float) -> np.ndarray:
    valence = (cue - 1) * rng.uniform(1.0 - 0.9 * noise, 1.0)  # -1 (frown, cool) .. +1 (smile, warm)
    warmth = valence + rng.normal(0, 0.3 * noise)
    bg = np.array([128 + 70 * warmth, 128 + 10 * rng.normal(), 128 - 70 * warmth], np.float32)
    img = np.broadcast_to(bg, (IMAGE_SIZE, IMAGE_SIZE, 3)).copy()
    cx, cy = 16 + rng.uniform(-2, 2), 16 + rng.uniform(-2, 2)
    r = rng.uniform(10, 13)
    face = (_XX - cx) ** 2 + (_YY - cy) ** 2 <= r * r
    img[face] = (235, 205, 120)
    for ex in (cx - r * 0.38, cx + r * 0.38):  # eyes
        img[(_XX - ex) ** 2 + (_YY - (cy - r * 0.3)) ** 2 <= 2.0] = (30, 30, 30)
    # mouth: y = my - c * (x - cx)^2, corners up (c > 0) for a smile, down for a frown
    curvature = 0.09 * (valence + rng.normal(0, 0.25 * noise))
    my = cy + r * 0.45 + curvature * 12
    xs = np.linspace(cx - r * 0.5, cx + r * 0.5, 24)
    ys = my - curvature * (xs - cx) ** 2
    for x, y in zip(xs, ys):
        xi, yi = int(round(x)), int(round(y))
        if 0 <= xi < IMAGE_SIZE and 0 <= yi < IMAGE_SIZE:
            img[yi, xi] = (120, 20, 30)
    img += rng.normal(0, 30 * noise, img.shape).astype(np.float32)
    if rng.random() < ERASURE * noise:  # occluded: a grey blob hides the face
        img[(_XX - cx) ** 2 + (_YY - cy) ** 2 <= (r + 2) ** 2] = 128 + rng.normal(0, 30, 3)
        img[...] = 128 + 0.3 * (img - 128)
    return np.clip(img, 0, 255).astype(np.uint8)


# -- audio: a chord (major / power / minor) gliding up, flat or down, pulsed fast, medium or slow --------
_T = np.arange(int(SAMPLE_RATE * AUDIO_SECONDS), dtype=np.float64) / SAMPLE_RATE
_CHORDS = {0: (0, 3, 7), 1: (0, 7, 12), 2: (0, 4, 7)}  # minor, open fifth (no third), major
_GLIDE = {0: -8.0, 1: 0.0, 2: 8.0}  # semitones per second
_PULSE = {0: 3.0, 1: 5.0, 2: 8.0}  # syllables per second


def _audio(rng: np.random.Generator, cue: int, noise: float) -> np.ndarray:
    root = 220.0 * 2 ** (rng.integers(-1, 2) / 12)
    glide = _GLIDE[cue] + rng.normal(0, 5.0 * noise)
    pulse = _PULSE[cue] * 2 ** rng.normal(0, 0.4 * noise)
    semis = glide * _T  # the pitch contour, in semitones from the start
    wave = np.zeros_like(_T)
    for step in _CHORDS[cue]:
        f = root * 2 ** ((step + semis) / 12)
        wave += np.sin(2 * np.pi * np.cumsum(f) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * pulse * _T + rng.uniform(0, 2 * np.pi))
    wave = wave / 3 * envelope + rng.normal(0, 0.6 * noise, _T.shape)
    if rng.random() < ERASURE * noise:  # drowned: loud noise with barely a trace of the tone
        wave = 0.05 * wave + rng.normal(0, 1.0, _T.shape)
    return (wave / max(1e-6, np.abs(wave).max())).astype(np.float32)


# -- the world ----------------------------------------------------------------------------------------
@dataclass
class SentimentSample:
    """One review: the three modalities, the true label and the cue class each modality shows."""

    text: str
    image: np.ndarray  # (32, 32, 3) uint8
    audio: np.ndarray  # (4000,) float32 at 8 kHz
    label: int
    cues: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    index: int = 0

    @property
    def label_name(self) -> str:
        return LABELS[self.label]


@dataclass
class SentimentDataset:
    """``n`` samples as parallel containers: ``texts`` (list), ``images`` (N,32,32,3), ``audio`` (N,4000),
    ``labels`` (N,) ints, ``cues`` {modality: (N,) ints}."""

    texts: list[str]
    images: np.ndarray
    audio: np.ndarray
    labels: np.ndarray
    cues: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.labels)

    def modality(self, name: str):
        return {"text": self.texts, "image": self.images, "audio": self.audio}[name]


def _per_modality(value, default: dict[str, float], what: str) -> dict[str, float]:
    if value is None:
        return dict(default)
    if isinstance(value, (int, float)):
        out = {m: float(value) for m in MODALITIES}
    elif isinstance(value, Mapping):
        unknown = set(value) - set(MODALITIES)
        if unknown:
            raise InvalidInputError(f"Unknown modality in {what}: {sorted(unknown)}.",
                                    hint=f"Use the modalities {list(MODALITIES)}.")
        out = {**default, **{k: float(v) for k, v in value.items()}}
    else:
        raise InvalidInputError(f"{what} must be a number or a dict {{modality: number}}, got {value!r}.")
    for m, v in out.items():
        if not np.isfinite(v) or not 0.0 <= v <= 1.0:
            raise InvalidInputError(f"{what} for {m} must be in [0, 1], got {v!r}.",
                                    hint="It is a probability (reliability) or a fraction of the maximum (noise).")
    return out


class SentimentWorld:
    """Seeded generator of tri-modal sentiment samples.

    ``reliability``: probability that a modality's cue equals the label (a number for all three, or
    a dict overriding some); ``1/3`` makes a modality uninformative, ``0`` makes it always lie.
    ``noise``: how ambiguously each cue is rendered (0 = crisp, 1 = very hard to read).
    """

    def __init__(self, seed: int = 0, reliability: Mapping[str, float] | float | None = None,
                 noise: Mapping[str, float] | float | None = None) -> None:
        self.seed = int(seed)
        self.reliability = _per_modality(reliability, DEFAULT_RELIABILITY, "reliability")
        self.noise = _per_modality(noise, DEFAULT_NOISE, "noise")

    def sample(self, index: int) -> SentimentSample:
        root = np.random.default_rng([self.seed, int(index), 7])
        label = int(root.integers(3))
        cues, out = {}, {}
        for k, (m, render) in enumerate((("text", _text), ("image", _image), ("audio", _audio))):
            rng = np.random.default_rng([self.seed, int(index), k])  # independent stream per modality
            cue = label
            if rng.random() >= self.reliability[m]:
                cue = (label + 1 + int(rng.integers(2))) % 3  # one of the two other classes
            cues[m] = cue
            out[m] = render(rng, cue, self.noise[m])
        return SentimentSample(out["text"], out["image"], out["audio"], label, cues, self.seed, int(index))

    def dataset(self, n: int, start: int = 0) -> SentimentDataset:
        """Samples ``start .. start+n-1`` as a :class:`SentimentDataset`."""
        if n < 1:
            raise InvalidInputError(f"n must be a positive integer, got {n!r}.")
        samples = [self.sample(i) for i in range(start, start + n)]
        return SentimentDataset(
            texts=[s.text for s in samples],
            images=np.stack([s.image for s in samples]),
            audio=np.stack([s.audio for s in samples]),
            labels=np.array([s.label for s in samples], dtype=np.int64),
            cues={m: np.array([s.cues[m] for s in samples], dtype=np.int64) for m in MODALITIES},
        )
