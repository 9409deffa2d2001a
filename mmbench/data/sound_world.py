"""The procedural sound world: seeded two-second clips of beeps, tones, hums and chirps with exact ground truth.

A clip is 1-4 identical events ("three short high beeps", "a low tone rising", "two long low hums",
"a fast falling chirp"): how many, how long, how high, and whether the pitch rises, falls or stays
steady. Every clip is a pure function of ``(seed, index)``, so a held-out set is another seed. The
world is the training data of ``mmbench-tiny-sound`` (:mod:`mmbench.train.tiny_sound`) and the
test material of the audio analysis that scores it (:mod:`mmbench.audiogen.analysis`).

Captions vary their wording (``"a pair of"``, ``"going up"``, ``"brief"``) and sometimes leave the
length or the register out; the count, the sound and (except for "steady") the direction are
always stated, because those are what the evaluation checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

__all__ = ["CLIP_SECONDS", "COUNTS", "DIRECTIONS", "HELD_OUT_COMBINATIONS", "LENGTHS", "REGISTERS", "SAMPLE_RATE",
           "SOUNDS", "SoundClip",
           "SoundEvent", "SoundPrompt", "SoundWorld", "all_combinations", "parse_sound_prompt", "render_prompt", "sound_vocabulary"]

SAMPLE_RATE = 16_000
#: Clip length: 32,768 samples = 128 hops of 256 samples (the tiny model's mel frames).
CLIP_SECONDS = 2.048
COUNTS: tuple[int, ...] = (1, 2, 3, 4)
LENGTHS: tuple[str, ...] = ("short", "long")
REGISTERS: tuple[str, ...] = ("low", "high")
DIRECTIONS: tuple[str, ...] = ("rising", "falling", "steady")
SOUNDS: tuple[str, ...] = ("beep", "tone", "hum", "chirp")

COUNT_WORDS: dict[int, tuple[str, ...]] = {1: ("a", "one", "a single"), 2: ("two", "a pair of"), 3: ("three",),
                                           4: ("four",)}
LENGTH_WORDS: dict[str, tuple[str, ...]] = {"short": ("short", "brief", "quick", "fast"),
                                            "long": ("long", "slow", "sustained")}
#: Direction words placed before the noun ("a rising tone") and after it ("a tone going up").
DIRECTION_BEFORE: dict[str, tuple[str, ...]] = {"rising": ("rising",), "falling": ("falling",),
                                                "steady": ("steady", "flat")}
DIRECTION_AFTER: dict[str, tuple[str, ...]] = {"rising": ("rising", "going up", "sweeping up"),
                                               "falling": ("falling", "going down", "sweeping down"),
                                               "steady": ("steady",)}

#: Event length in seconds, per length word.
_DURATION = {"short": (0.09, 0.13), "long": (0.26, 0.32)}
#: Geometric centre of the pitch glide in Hz, per register.
_CENTRE_HZ = {"low": (180.0, 300.0), "high": (800.0, 1300.0)}
#: Pitch ratio end/start of a rising event (falling: the inverse). Chirps sweep wider.
_GLIDE = {"beep": (1.6, 2.0), "tone": (1.6, 2.0), "hum": (1.6, 2.0), "chirp": (2.5, 3.5)}
_MAX_GAP_S = 0.5
_SHIFT_S = 0.04
_MARGIN_S = 0.05


@dataclass(frozen=True)
class SoundPrompt:
    """What a clip contains and the caption that says so.

    ``stated`` lists the attributes the caption mentions (``"count"``, ``"sound"``, ``"length"``,
    ``"register"``, ``"direction"``); an attribute left out was drawn at random.
    """

    count: int
    length: str
    register: str
    direction: str
    sound: str
    caption: str
    stated: tuple[str, ...] = ("count", "sound", "length", "register", "direction")

    @property
    def combination(self) -> tuple[str, int, str]:
        """``(sound, count, direction)``: the triple the training set may hold out."""
        return (self.sound, self.count, self.direction)


@dataclass(frozen=True)
class SoundEvent:
    """One event: start and duration in seconds, pitch at its start and end in Hz."""

    start: float
    duration: float
    f_start: float
    f_end: float

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class SoundClip:
    """A rendered clip: samples (float32, mono, :data:`SAMPLE_RATE`), its prompt and its events."""

    prompt: SoundPrompt
    events: tuple[SoundEvent, ...]
    samples: np.ndarray = field(repr=False)
    sample_rate: int = SAMPLE_RATE

    @property
    def caption(self) -> str:
        return self.prompt.caption


#: (sound, count, direction) never drawn for training ``mmbench-tiny-sound``: the evaluation asks for them too.
HELD_OUT_COMBINATIONS: frozenset[tuple[str, int, str]] = frozenset({
    ("beep", 2, "rising"), ("tone", 3, "falling"), ("hum", 4, "steady"), ("chirp", 1, "falling")})


def all_combinations() -> frozenset[tuple[str, int, str]]:
    """Every ``(sound, count, direction)`` the world can draw (chirps always rise or fall)."""
    return frozenset((s, c, d) for s in SOUNDS for c in COUNTS for d in DIRECTIONS
                     if not (s == "chirp" and d == "steady"))


def sound_vocabulary() -> list[str]:
    """Every word a caption of the sound world can use (the tiny model's vocabulary)."""
    words: set[str] = set()
    for table in (COUNT_WORDS, LENGTH_WORDS, DIRECTION_BEFORE, DIRECTION_AFTER):
        for phrases in table.values():
            for p in phrases:
                words.update(p.split())
    words.update(REGISTERS)
    words.update(SOUNDS)
    words.update(s + "s" for s in SOUNDS)
    words.update({"of", "pair", "single", "and"})
    return sorted(words)


def _plural(sound: str, count: int) -> str:
    return sound if count == 1 else sound + "s"


def caption_for(count: int, length: str | None, register: str | None, direction: str | None, sound: str,
                rng: np.random.Generator) -> str:
    """One caption for the attributes (``None`` = leave that attribute out), wording drawn from ``rng``."""
    count_word = str(rng.choice(COUNT_WORDS[count]))
    adjectives = [str(rng.choice(LENGTH_WORDS[length])) if length else None, register]
    after = ""
    if direction is not None:
        if rng.random() < 0.5:
            adjectives.insert(int(rng.integers(0, 3)), str(rng.choice(DIRECTION_BEFORE[direction])))
        else:
            after = str(rng.choice(DIRECTION_AFTER[direction]))
    words = [count_word, *[a for a in adjectives if a], _plural(sound, count), after]
    return " ".join(w for w in words if w)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def parse_sound_prompt(text: str) -> dict[str, object]:
    """The attributes a free-text prompt asks for, as far as the sound world's words say.

    Returns ``{"count", "length", "register", "direction", "sound"}`` with ``None`` for what the text
    does not state. ``"three short high beeps"`` -> count 3, length short, register high, direction
    None (steady is the default when a direction is missing), sound beep.
    """
    words = _tokens(text)
    joined = " ".join(words)
    out: dict[str, object] = {"count": None, "length": None, "register": None, "direction": None, "sound": None}
    number = {"one": 1, "single": 1, "two": 2, "pair": 2, "three": 3, "four": 4}
    for w in words:
        if w in number:
            out["count"] = number[w]
            break
    for w in words:
        base = w[:-1] if w.endswith("s") and w[:-1] in SOUNDS else w
        if base in SOUNDS:
            out["sound"] = base
            if out["count"] is None:
                out["count"] = 1 if base == w else None
            break
    if out["count"] is None and words and words[0] in ("a", "an") and out["sound"] is not None:
        out["count"] = 1
    for length, phrases in LENGTH_WORDS.items():
        if any(p in words for p in phrases):
            out["length"] = length
    for register in REGISTERS:
        if register in words:
            out["register"] = register
    for direction in DIRECTIONS:
        phrases = set(DIRECTION_BEFORE[direction]) | set(DIRECTION_AFTER[direction])
        if any(re.search(rf"\b{re.escape(p)}\b", joined) for p in phrases):
            out["direction"] = direction
    return out


def _envelope(n: int, attack_s: float, release_s: float, sr: int) -> np.ndarray:
    env = np.ones(n, dtype=np.float64)
    a, r = max(1, int(attack_s * sr)), max(1, int(release_s * sr))
    a, r = min(a, n // 2), min(r, n // 2)
    env[:a] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, a))
    env[n - r:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, r))
    return env


def render_event(sound: str, duration: float, f_start: float, f_end: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Samples of one event: an exponential pitch glide from ``f_start`` to ``f_end`` Hz.

    beep: sine + a little second harmonic, hard edges; tone: pure sine, soft edges; hum: six
    harmonics falling as 1/k, soft edges; chirp: sine, very hard edges.
    """
    n = max(8, int(round(duration * sr)))
    t = np.arange(n) / sr
    freq = f_start * (f_end / f_start) ** (t / duration)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    if sound == "beep":
        wave = np.sin(phase) + 0.2 * np.sin(2 * phase)
        env = _envelope(n, 0.005, 0.01, sr)
    elif sound == "tone":
        wave = np.sin(phase)
        env = _envelope(n, 0.02, 0.03, sr)
    elif sound == "hum":
        nyquist = sr / 2
        wave = sum(np.sin(k * phase) / k * (k * max(f_start, f_end) < nyquist) for k in range(1, 7))
        env = _envelope(n, 0.03, 0.03, sr)
    elif sound == "chirp":
        wave = np.sin(phase)
        env = _envelope(n, 0.003, 0.006, sr)
    else:
        raise ValueError(f"unknown sound {sound!r}; known: {', '.join(SOUNDS)}")
    wave = wave / np.max(np.abs(wave))
    return (wave * env).astype(np.float32)


def render_prompt(prompt: SoundPrompt, rng: np.random.Generator, sr: int = SAMPLE_RATE,
                  noise: float = 0.001) -> SoundClip:
    """Render ``prompt`` into a clip. The events are spread evenly over the clip (the count and length set
    the rhythm); ``rng`` draws the pattern's shift (up to 40 ms), the event length within its range, the
    pitch within the register (and each event's +-3 % detune), the glide ratio and the loudness."""
    n_total = int(round(CLIP_SECONDS * sr))
    d = float(rng.uniform(*_DURATION[prompt.length]))
    ratio = 1.0
    if prompt.direction != "steady":
        ratio = float(rng.uniform(*_GLIDE[prompt.sound]))
        ratio = ratio if prompt.direction == "rising" else 1.0 / ratio
    centre = float(np.exp(rng.uniform(*np.log(_CENTRE_HZ[prompt.register]))))
    # events are spread evenly over the clip (centred, spacing set by the count and the nominal length),
    # then the whole pattern is shifted by up to +-40 ms: the caption fixes the rhythm, the seed the details
    nominal = float(np.mean(_DURATION[prompt.length]))
    usable = CLIP_SECONDS - 2 * _MARGIN_S
    gap = min(_MAX_GAP_S, (usable - prompt.count * nominal) / prompt.count)
    span = prompt.count * nominal + (prompt.count - 1) * gap
    t0 = (CLIP_SECONDS - span) / 2 + float(rng.uniform(-_SHIFT_S, _SHIFT_S))
    samples = np.zeros(n_total, dtype=np.float32)
    events = []
    for k in range(prompt.count):
        jitter = float(rng.uniform(0.97, 1.03))
        f0 = centre * jitter / np.sqrt(ratio)
        f1 = centre * jitter * np.sqrt(ratio)
        start = t0 + k * (nominal + gap)
        wave = render_event(prompt.sound, d, f0, f1, sr) * float(rng.uniform(0.85, 1.0))
        i = int(round(start * sr))
        samples[i:i + len(wave)] += wave[: n_total - i]
        events.append(SoundEvent(round(start, 4), round(d, 4), round(f0, 2), round(f1, 2)))
    samples *= float(rng.uniform(0.3, 0.7))
    samples += (noise * rng.standard_normal(n_total)).astype(np.float32)
    return SoundClip(prompt, tuple(events), samples.astype(np.float32), sr)


class SoundWorld:
    """Seeded generator of sound prompts and clips.

    >>> world = SoundWorld(seed=1)
    >>> clip = world.clip(0)
    >>> clip.caption, len(clip.events) == clip.prompt.count
    ('...', True)

    Args:
        seed: world seed; every ``prompt(i)`` / ``clip(i)`` is a pure function of ``(seed, i)``.
        exclude: ``(sound, count, direction)`` combinations never drawn (a training set's held-out
            combinations).
        omit_prob: probability that a caption leaves the length (and, independently, the register) out.
    """

    def __init__(self, seed: int = 0, *, exclude: frozenset[tuple[str, int, str]] | set = frozenset(),
                 omit_prob: float = 0.2) -> None:
        self.seed = int(seed)
        self.exclude = frozenset(exclude)
        self.omit_prob = float(omit_prob)

    def _rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(index), stream])

    def prompt(self, index: int) -> SoundPrompt:
        """The prompt of clip ``index`` (attributes and caption)."""
        rng = self._rng(index, 0)
        while True:
            sound = str(rng.choice(SOUNDS))
            count = int(rng.choice(COUNTS))
            directions = ("rising", "falling") if sound == "chirp" else DIRECTIONS
            direction = str(rng.choice(directions))
            if (sound, count, direction) not in self.exclude:
                break
        length, register = str(rng.choice(LENGTHS)), str(rng.choice(REGISTERS))
        say_length = rng.random() >= self.omit_prob
        say_register = rng.random() >= self.omit_prob
        say_direction = direction != "steady" or rng.random() < 0.5  # "three high beeps" means steady
        caption = caption_for(count, length if say_length else None, register if say_register else None,
                              direction if say_direction else None, sound, rng)
        stated = tuple(a for a, said in (("count", True), ("sound", True), ("length", say_length),
                                         ("register", say_register), ("direction", say_direction)) if said)
        return SoundPrompt(count, length, register, direction, sound, caption, stated)

    def clip(self, index: int) -> SoundClip:
        """Clip ``index``: :meth:`prompt` rendered with its own random timing and pitches."""
        return render_prompt(self.prompt(index), self._rng(index, 1))

    def prompts(self, n: int, start: int = 0) -> list[SoundPrompt]:
        return [self.prompt(i) for i in range(start, start + n)]

    def clips(self, n: int, start: int = 0) -> Iterator[SoundClip]:
        for i in range(start, start + n):
            yield self.clip(i)
