"""A rule-based composer: a text prompt about mood, genre, tempo and instrument -> a MIDI piece.

Two steps, each inspectable:

1. :func:`plan_music` reads the prompt with word lists (no model): tempo words or an explicit
   ``"120 bpm"``, a key (``"in D minor"``) or a mode from the mood (*sad*, *dark* -> minor;
   *happy*, *bright* -> major), a genre (dance, rock, jazz, waltz, march, lullaby, ambient, blues,
   pop, classical), an instrument from the General MIDI set. Every decision is recorded with the
   words that caused it (:attr:`MusicPlan.reasons`); what the prompt leaves open comes from the
   seed.
2. :func:`compose` writes the plan as MIDI with ``pretty_midi``: a chord progression typical of the
   genre and mode, a bass line, a melody (chord tones on strong beats, steps of the scale between,
   a rhythm as dense as the tempo and mood ask) and, for rhythmic genres, a drum part on the GM
   percussion channel. Tempo and key are written into the file as well.

:mod:`mmbench.audiogen.synth` renders the MIDI to audio (FluidSynth + the General MIDI soundfont).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GENRES", "INSTRUMENTS", "MusicPlan", "compose", "midi_bytes", "plan_music", "scale_pitch_classes"]

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the dominant chord borrows the leading tone

#: General MIDI programs (0-based) the composer uses, by the words that ask for them.
INSTRUMENTS: dict[str, tuple[int, tuple[str, ...]]] = {
    "piano": (0, ("piano", "keys")),
    "electric piano": (4, ("electric piano", "rhodes")),
    "music box": (10, ("music box",)),
    "marimba": (12, ("marimba", "xylophone")),
    "bells": (14, ("bell", "bells", "chimes")),
    "organ": (19, ("organ",)),
    "guitar": (24, ("guitar", "acoustic")),
    "electric guitar": (29, ("electric guitar", "distorted", "distortion")),
    "bass": (33, ("bass guitar",)),
    "violin": (40, ("violin", "fiddle")),
    "cello": (42, ("cello",)),
    "harp": (46, ("harp",)),
    "strings": (48, ("strings", "string", "orchestra", "orchestral")),
    "choir": (52, ("choir", "voices", "vocal")),
    "trumpet": (56, ("trumpet", "brass", "fanfare")),
    "saxophone": (65, ("sax", "saxophone")),
    "flute": (73, ("flute", "whistle")),
    "synth lead": (80, ("synth", "synthesizer", "chiptune", "8-bit", "retro")),
    "synth pad": (89, ("pad", "atmospheric")),
}

#: genre -> (words, tempo range, metre (beats per bar), default instrument, drums?)
GENRES: dict[str, tuple[tuple[str, ...], tuple[int, int], int, str, str | None]] = {
    "dance": (("dance", "disco", "techno", "edm", "house", "club", "party"), (120, 132), 4, "synth lead", "four"),
    "rock": (("rock", "punk", "metal"), (112, 140), 4, "electric guitar", "rock"),
    "jazz": (("jazz", "swing", "jazzy", "lounge"), (96, 132), 4, "piano", "jazz"),
    "waltz": (("waltz",), (84, 108), 3, "strings", None),
    "march": (("march", "marching", "military"), (104, 120), 4, "trumpet", "march"),
    "lullaby": (("lullaby", "sleep", "sleepy", "bedtime", "cradle"), (56, 70), 3, "music box", None),
    "ambient": (("ambient", "drone", "meditation", "meditative", "space", "dreamy"), (56, 72), 4, "synth pad", None),
    "blues": (("blues", "bluesy"), (72, 100), 4, "electric piano", "rock"),
    "pop": (("pop", "catchy", "song"), (100, 124), 4, "piano", "rock"),
    "classical": (("classical", "baroque", "sonata", "minuet"), (80, 112), 4, "piano", None),
    "folk": (("folk", "country", "campfire"), (88, 112), 4, "guitar", None),
}

_SLOW = ("slow", "calm", "calming", "peaceful", "relaxed", "relaxing", "gentle", "soft", "quiet", "tranquil",
         "serene", "slowly", "ballad", "soothing", "sad", "melancholy", "melancholic", "lazy")
_FAST = ("fast", "quick", "energetic", "upbeat", "lively", "exciting", "excited", "driving", "rapid", "furious",
         "racing", "running", "frantic", "intense", "hyper")
_MINOR = ("minor", "sad", "dark", "melancholy", "melancholic", "gloomy", "mysterious", "spooky", "scary", "tense",
          "tragic", "sorrowful", "lonely", "haunting", "ominous", "eerie")
_MAJOR = ("major", "happy", "bright", "cheerful", "joyful", "joyous", "uplifting", "sunny", "triumphant", "playful",
          "fun", "hopeful", "victorious", "festive")
_MOODS = {"calm": ("calm", "peaceful", "relaxed", "relaxing", "gentle", "serene", "tranquil", "soothing"),
          "sad": ("sad", "melancholy", "melancholic", "gloomy", "lonely", "sorrowful", "tragic"),
          "happy": ("happy", "cheerful", "joyful", "joyous", "sunny", "playful", "fun", "bright"),
          "energetic": ("energetic", "upbeat", "lively", "exciting", "driving", "intense", "fast"),
          "dark": ("dark", "spooky", "scary", "ominous", "eerie", "haunting", "mysterious", "tense"),
          "triumphant": ("triumphant", "heroic", "epic", "victorious", "uplifting")}

#: Chord progressions as scale degrees (0 = tonic); chosen by mode and genre.
_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 5, 3, 4), (0, 6, 5, 4)),
    "blues": ((0, 0, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4),),
    "jazz": ((1, 4, 0, 0), (1, 4, 0, 5), (0, 5, 1, 4)),
}


@dataclass(frozen=True)
class MusicPlan:
    """What the composer will write, and why (``reasons``: decision -> the words that caused it)."""

    prompt: str
    tempo: float
    tonic: int
    mode: str
    genre: str
    mood: str
    instrument: str
    program: int
    beats_per_bar: int
    drums: str | None
    bars: int
    duration: float
    seed: int
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """e.g. ``"A minor"``."""
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    @property
    def key_number(self) -> int:
        """pretty_midi's key number: 0-11 major, 12-23 minor."""
        return self.tonic + (12 if self.mode == "minor" else 0)

    def describe(self) -> str:
        """One line for people: ``"A minor · 66 BPM · 4/4 · piano · calm ballad (no drums)"``."""
        drums = f"{self.drums} drums" if self.drums else "no drums"
        return (f"{self.key} · {self.tempo:g} BPM · {self.beats_per_bar}/4 · {self.instrument} · {self.mood} "
                f"{self.genre} · {drums} · {self.bars} bars")


def scale_pitch_classes(tonic: int, mode: str) -> set[int]:
    """Pitch classes of the (natural) scale of ``tonic`` in ``mode``."""
    steps = MAJOR_STEPS if mode == "major" else MINOR_STEPS
    return {(tonic + s) % 12 for s in steps}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9#\-]+", text.lower())


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", text) is not None


def _found(words: list[str], vocabulary: tuple[str, ...]) -> list[str]:
    return [w for w in words if w in vocabulary]


_KEY_RE = re.compile(r"(?P<pre>\b(?:in|key of)\s+)?\b(?P<letter>[A-Ga-g])(?P<acc>#|♯|♭|b(?![a-z])|-?\s?sharp\b|-?\s?flat\b)?"
                     r"(?:\s+(?P<mode>major|minor))?(?P<keyword>\s+key)?(?![a-z#])")


def _parse_key(prompt: str) -> tuple[int | None, str | None, str]:
    """``(tonic, mode, matched words)`` of an explicit key: "in D minor", "F# major", "in B flat".

    A lone letter counts only after "in" / "key of" or before "major"/"minor"; a lower-case "a"
    without an accidental is the article ("in a minor key" states only the mode).
    """
    for match in _KEY_RE.finditer(prompt):
        letter, acc, mode = match.group("letter"), (match.group("acc") or "").replace(" ", "").strip("-").lower(), match.group("mode")
        mode = mode.lower() if mode else None
        if mode is None and match.group("pre") is None:
            continue
        if letter == "a" and not acc:
            if mode and match.group("keyword"):
                return None, mode, match.group(0).strip()
            if mode is None:
                continue
        name = letter.upper()
        if acc in ("#", "♯", "sharp"):
            name = {"E": "F", "B": "C"}.get(name, name + "#")
        elif acc in ("b", "♭", "flat"):
            name = _FLATS.get(name + "b", NOTE_NAMES[(NOTE_NAMES.index(name) - 1) % 12])
        return NOTE_NAMES.index(name), mode, match.group(0).strip()
    return None, None, ""


def plan_music(prompt: str, *, duration: float = 10.0, seed: int = 0) -> MusicPlan:
    """Read ``prompt`` into a :class:`MusicPlan` (see the module docstring); the seed settles the rest."""
    rng = np.random.default_rng(seed)
    text = prompt.lower()
    words = _words(prompt)
    reasons: dict[str, str] = {}

    genre = None
    for name, (vocab, *_rest) in GENRES.items():
        hit = _found(words, vocab)
        if hit:
            genre = name
            reasons["genre"] = f"'{hit[0]}'"
            break
    slow, fast = _found(words, _SLOW), _found(words, _FAST)
    mood = "neutral"
    for name, vocab in _MOODS.items():
        hit = _found(words, vocab)
        if hit:
            mood = name
            reasons["mood"] = f"'{hit[0]}'"
            break
    if genre is None:
        genre = {"calm": "classical", "sad": "classical", "dark": "ambient", "energetic": "pop", "happy": "pop",
                 "triumphant": "march"}.get(mood, str(rng.choice(["classical", "pop", "folk"])))
        reasons.setdefault("genre", f"default for a {mood} mood" if mood != "neutral" else "not stated: seed")
    vocab, (lo, hi), beats, default_instrument, drums = GENRES[genre]

    bpm = re.search(r"\b(\d{2,3})\s*(?:bpm|beats per minute)\b", text)
    if bpm and 40 <= int(bpm.group(1)) <= 220:
        tempo = float(bpm.group(1))
        reasons["tempo"] = f"'{bpm.group(0)}'"
    elif slow and not fast:
        tempo = float(rng.integers(60, 73)) if genre not in ("lullaby", "ambient") else float(rng.integers(lo, hi + 1))
        reasons["tempo"] = f"'{slow[0]}' -> slow"
    elif fast and not slow:
        tempo = float(rng.integers(max(lo, 126), max(hi, 140) + 1))
        reasons["tempo"] = f"'{fast[0]}' -> fast"
    else:
        tempo = float(rng.integers(lo, hi + 1))
        reasons["tempo"] = f"typical of {genre}"

    tonic, mode, key_words = _parse_key(prompt)
    if key_words:
        reasons["key" if tonic is not None else "mode"] = f"'{key_words}'"
    if mode is None:
        minor, major = _found(words, _MINOR), _found(words, _MAJOR)
        if minor and not major:
            mode, reasons["mode"] = "minor", f"'{minor[0]}'"
        elif major and not minor:
            mode, reasons["mode"] = "major", f"'{major[0]}'"
        elif genre == "blues":
            mode, reasons["mode"] = "major", "blues"
        else:
            mode = "minor" if rng.random() < 0.3 else "major"
            reasons["mode"] = "not stated: seed"
    if tonic is None:
        tonic = int(rng.choice([0, 2, 4, 5, 7, 9] if mode == "major" else [9, 2, 4, 7, 0]))
        reasons.setdefault("key", "tonic not stated: seed")

    matches = [(len(phrase), name, phrase) for name, (_program, names) in INSTRUMENTS.items() for phrase in names
               if _has_phrase(text, phrase)]
    instrument = None
    if matches:  # the longest phrase wins: "electric guitar" over "guitar"
        _n, instrument, phrase = max(matches)
        reasons["instrument"] = f"'{phrase}'"
    if instrument is None:
        instrument = default_instrument
        reasons["instrument"] = f"default for {genre}"
    if _has_phrase(text, "no drums") or _has_phrase(text, "without drums") or _has_phrase(text, "solo"):
        drums = None
        reasons["drums"] = "asked for none"
    elif _has_phrase(text, "drums") and drums is None:
        drums = "rock"
        reasons["drums"] = "'drums'"
    if _has_phrase(text, "3/4") and genre not in ("waltz", "lullaby"):
        beats, reasons["metre"] = 3, "'3/4'"
    seconds_per_bar = beats * 60.0 / tempo
    bars = max(1, int(np.ceil(duration / seconds_per_bar)))
    return MusicPlan(prompt, tempo, tonic, mode, genre, mood, instrument, INSTRUMENTS[instrument][0], beats, drums,
                     bars, float(duration), int(seed), reasons)


# -- composition -------------------------------------------------------------------------------------
def _chord(plan: MusicPlan, degree: int, seventh: bool = False) -> list[int]:
    """Pitch classes of the triad (or seventh chord) on scale ``degree`` of the plan's key."""
    steps = MAJOR_STEPS if plan.mode == "major" else MINOR_STEPS
    notes = [steps[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4, 6)[: 4 if seventh else 3]]
    pcs = [(plan.tonic + n) % 12 for n in notes]
    if plan.mode == "minor" and degree == 4:  # harmonic minor dominant: raise the third (the leading tone)
        pcs[1] = (pcs[1] + 1) % 12
    return pcs


def _near(pc: int, centre: int) -> int:
    """The MIDI pitch with pitch class ``pc`` closest to ``centre``."""
    base = centre - ((centre - pc) % 12)
    return base if centre - base <= 6 else base + 12


def compose(plan: MusicPlan) -> Any:
    """The plan as a ``pretty_midi.PrettyMIDI`` (tempo, key and time signature written in)."""
    import pretty_midi

    rng = np.random.default_rng([plan.seed, 1])
    beat = 60.0 / plan.tempo
    bar_len = plan.beats_per_bar * beat
    pm = pretty_midi.PrettyMIDI(initial_tempo=plan.tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(plan.beats_per_bar, 4, 0.0))
    pm.key_signature_changes.append(pretty_midi.KeySignature(plan.key_number, 0.0))

    style = "blues" if plan.genre == "blues" else "jazz" if plan.genre == "jazz" else plan.mode
    progressions = _PROGRESSIONS[style]
    progression = progressions[int(rng.integers(len(progressions)))]
    seventh = plan.genre in ("jazz", "blues")
    calm = plan.tempo < 80 or plan.mood in ("calm", "sad")
    velocity = 60 if calm else 90

    lead = pretty_midi.Instrument(program=plan.program, name=f"melody ({plan.instrument})")
    harmony_program = plan.program if plan.program not in (80, 56, 65, 73, 29) else (
        48 if plan.genre in ("waltz", "march", "classical") else 89 if plan.genre == "dance" else 0)
    harmony = pretty_midi.Instrument(program=harmony_program, name="harmony")
    bass = pretty_midi.Instrument(program=32 if plan.genre in ("jazz", "folk", "blues") else 38 if plan.genre == "dance"
                                  else 33, name="bass")
    scale = sorted(scale_pitch_classes(plan.tonic, plan.mode))
    centre = 67 if plan.instrument not in ("cello", "bass") else 55
    pitch = _near(plan.tonic, centre)

    def add(inst: Any, p: int, start: float, length: float, vel: int) -> None:
        if start < plan.duration - 0.05:  # the piece stops at the requested duration
            end = min(start + max(0.05, length), plan.duration)
            inst.notes.append(pretty_midi.Note(int(np.clip(vel, 1, 127)), int(p), start, end))

    # note lengths (in beats) for the melody: longer for calm music
    rhythms = ((2.0, 1.0, 1.0), (1.0, 1.0, 2.0), (3.0, 1.0)) if calm else (
        (0.5, 0.5, 1.0), (1.0, 0.5, 0.5), (0.5, 0.5, 0.5, 0.5), (1.0, 1.0))
    for bar in range(plan.bars):
        t0 = bar * bar_len
        chord = _chord(plan, progression[bar % len(progression)], seventh)
        # harmony: block chords, arpeggios when calm, off-beat stabs for dance
        voicing = [_near(pc, 60 + 2 * k) for k, pc in enumerate(chord)]
        if calm and plan.genre not in ("ambient",):
            for b in range(plan.beats_per_bar * 2):
                add(harmony, voicing[b % len(voicing)] - (12 if b % len(voicing) == 0 else 0), t0 + b * beat / 2,
                    beat * 1.5, velocity - 15)
        elif plan.genre == "dance":
            for b in range(plan.beats_per_bar):
                for p in voicing:
                    add(harmony, p, t0 + (b + 0.5) * beat, beat * 0.4, velocity - 20)
        elif plan.genre == "waltz":
            add(harmony, voicing[0] - 12, t0, beat, velocity - 10)
            for b in (1, 2):
                for p in voicing[1:]:
                    add(harmony, p, t0 + b * beat, beat * 0.8, velocity - 25)
        else:
            for p in voicing:
                add(harmony, p, t0, bar_len * 0.95, velocity - 20)
        # bass: roots, octave eighths for dance, walking for jazz
        root = _near(chord[0], 40)
        if plan.genre == "dance":
            for e in range(plan.beats_per_bar * 2):
                add(bass, root + (12 if e % 2 else 0), t0 + e * beat / 2, beat * 0.45, velocity)
        elif plan.genre == "jazz":
            walk = [root, _near(chord[1], 43), _near(chord[2], 45), _near(scale[(scale.index(chord[0] % 12) + 1) % 7]
                                                                          if chord[0] % 12 in scale else chord[0], 42)]
            for b in range(plan.beats_per_bar):
                add(bass, walk[b % 4], t0 + b * beat, beat * 0.9, velocity - 5)
        elif plan.genre != "ambient":
            for b in range(0, plan.beats_per_bar, 2 if plan.beats_per_bar == 4 else 3):
                add(bass, root, t0 + b * beat, beat * 1.8, velocity - 5)
        else:
            add(bass, root, t0, bar_len, velocity - 15)
        # melody: chord tones on the strong beats, steps of the scale in between
        position = 0.0
        while position < plan.beats_per_bar - 1e-6:
            pattern = rhythms[int(rng.integers(len(rhythms)))]
            for length in pattern:
                if position >= plan.beats_per_bar - 1e-6:
                    break
                length = min(length, plan.beats_per_bar - position)
                strong = abs(position - round(position)) < 1e-6 and int(round(position)) % 2 == 0
                if strong:
                    pitch = min((_near(pc, pitch) for pc in chord), key=lambda p: abs(p - pitch))
                else:
                    k = min(range(len(scale)), key=lambda i: abs(_near(scale[i], pitch) - pitch))
                    step = int(rng.choice([-2, -1, -1, 1, 1, 2]))
                    pitch = _near(scale[(k + step) % 7], pitch + 2 * step)
                pitch = int(np.clip(pitch, centre - 9, centre + 12))
                if pitch % 12 not in scale and pitch % 12 not in chord:
                    pitch = _near(chord[0], pitch)
                rest = plan.genre != "ambient" and rng.random() < 0.08
                if not rest:
                    add(lead, pitch, t0 + position * beat, length * beat * 0.95,
                        velocity + (8 if strong else 0) + int(rng.integers(-6, 7)))
                position += length
    pm.instruments.extend([lead, harmony, bass])
    if plan.drums:
        pm.instruments.append(_drums(plan, beat, bar_len, velocity))
    return pm


def _drums(plan: MusicPlan, beat: float, bar_len: float, velocity: int) -> Any:
    import pretty_midi

    kick, snare, clap, hat, open_hat, ride = 36, 38, 39, 42, 46, 51
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")

    def hit(note: int, t: float, vel: int) -> None:
        if t < plan.duration - 0.05:
            drums.notes.append(pretty_midi.Note(int(np.clip(vel, 1, 127)), note, t, min(t + 0.1, plan.duration)))

    for bar in range(plan.bars):
        t0 = bar * bar_len
        for b in range(plan.beats_per_bar):
            t = t0 + b * beat
            if plan.drums == "four":
                hit(kick, t, velocity + 20)
                hit(open_hat if b % 2 else hat, t + beat / 2, velocity - 10)
                if b % 2 == 1:
                    hit(clap, t, velocity)
            elif plan.drums == "rock":
                if b % 2 == 0:
                    hit(kick, t, velocity + 15)
                else:
                    hit(snare, t, velocity + 5)
                hit(hat, t, velocity - 15)
                hit(hat, t + beat / 2, velocity - 25)
            elif plan.drums == "jazz":
                hit(ride, t, velocity - 10)
                if b % 2 == 1:
                    hit(ride, t + 2 * beat / 3, velocity - 25)
                    hit(44, t, velocity - 20)  # pedal hi-hat on 2 and 4
            elif plan.drums == "march":
                hit(kick if b % 2 == 0 else snare, t, velocity + 5)
                hit(snare, t + beat / 2, velocity - 25)
    return drums


def midi_bytes(pm: Any) -> bytes:
    """A PrettyMIDI object as the bytes of a standard MIDI file."""
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()
