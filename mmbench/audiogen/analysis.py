"""What is in a generated sound: how many events, and does each one's pitch rise, fall or stay steady.

This is how ``mmbench eval audio-generation`` scores the tiny text-to-sound model without a
listener: the request "three short high beeps" is met when the analysis finds three events whose
pitch is steady.

* **Events** (:func:`detect_events`): the RMS envelope (32 ms frames every 8 ms) in dB relative
  to its loudest frame; frames above ``threshold_db`` are "on". Runs of "on" frames separated by
  less than ``min_gap_s`` are merged and runs shorter than ``min_event_s`` dropped. Onsets from
  librosa's spectral-flux onset detector are reported beside them (:func:`onset_times`).
* **Pitch** (:func:`pitch_track`): YIN (``librosa.yin``) on 32 ms frames inside the events, or
  probabilistic YIN (``librosa.pyin``) with the spectral centroid where pYIN finds no pitch.
* **Direction** (:func:`event_direction`): the pitch change across an event in semitones, the
  median log-pitch of its last third minus that of its first third; beyond ``±threshold``
  semitones it is rising/falling, else steady. The clip's direction is the majority over events.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DetectedEvent", "SoundAnalysis", "analyse_sound", "detect_events", "event_direction", "onset_times",
           "pitch_track", "rms_db"]

FRAME = 512
HOP = 128
#: Pitch change (semitones) beyond which an event counts as rising or falling.
DIRECTION_THRESHOLD = 2.0


@dataclass(frozen=True)
class DetectedEvent:
    """One event found in a clip: times in seconds, pitch at its start/end in Hz, change in semitones."""

    start: float
    end: float
    f_start: float | None
    f_end: float | None
    semitones: float | None
    direction: str | None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SoundAnalysis:
    """Result of :func:`analyse_sound`: the events, their count, the majority direction, onsets, pitch track."""

    events: tuple[DetectedEvent, ...]
    direction: str | None
    onsets: tuple[float, ...]
    pitch_times: np.ndarray = field(repr=False)
    pitch_hz: np.ndarray = field(repr=False)

    @property
    def count(self) -> int:
        return len(self.events)

    def matches(self, count: int | None, direction: str | None) -> dict[str, bool | None]:
        """Whether the analysis agrees with a requested count and direction (None: not requested)."""
        return {"count": None if count is None else self.count == count,
                "direction": None if direction is None else self.direction == direction}

    def summary(self) -> str:
        """One line for people: ``"3 events (0.12-0.23 s, ...), pitch steady"``."""
        if not self.events:
            return "no sound events found"
        spans = ", ".join(f"{e.start:.2f}-{e.end:.2f} s" for e in self.events[:6])
        more = ", ..." if len(self.events) > 6 else ""
        return (f"{self.count} event{'s' if self.count != 1 else ''} ({spans}{more}), "
                f"pitch {self.direction or 'not measurable'}")


def _mono(samples: Any) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    return x


def rms_db(samples: Any, frame: int = FRAME, hop: int = HOP) -> tuple[np.ndarray, np.ndarray]:
    """``(frame start times in samples, RMS in dB relative to the loudest frame)``."""
    x = _mono(samples)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-10) / max(float(rms.max()), 1e-10))
    return np.arange(len(rms)) * hop, db


def detect_events(samples: Any, sample_rate: int, *, threshold_db: float = -20.0, min_gap_s: float = 0.04,
                  min_event_s: float = 0.03, silence_rms: float = 1e-4) -> list[tuple[float, float]]:
    """``[(start, end), ...]`` in seconds of the sound events in a clip (see the module docstring)."""
    x = _mono(samples)
    if not len(x) or float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) < silence_rms:
        return []
    starts, db = rms_db(x)
    on = db > threshold_db
    runs: list[list[int]] = []
    for i, flag in enumerate(on):
        if flag and (not runs or runs[-1][1] != i - 1):
            runs.append([i, i])
        elif flag:
            runs[-1][1] = i
    def to_s(i: int, end: bool = False) -> float:
        return float((starts[i] + (FRAME if end else 0)) / sample_rate)

    merged: list[list[float]] = []
    for a, b in runs:
        s, e = to_s(a), to_s(b, end=True)
        # frames overlap by FRAME - HOP samples: measure gaps between frame centres
        if merged and s - merged[-1][1] + (FRAME - HOP) / sample_rate < min_gap_s:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(round(s, 4), round(e, 4)) for s, e in merged if e - s - (FRAME - HOP) / sample_rate >= min_event_s]


def onset_times(samples: Any, sample_rate: int) -> list[float]:
    """Onsets (seconds) from librosa's spectral-flux onset detector, backtracked to the energy minimum."""
    import librosa

    x = _mono(samples)
    onsets = librosa.onset.onset_detect(y=x, sr=sample_rate, hop_length=HOP, backtrack=True, units="time")
    return [round(float(t), 4) for t in onsets]


def pitch_track(samples: Any, sample_rate: int, *, fmin: float = 65.0, fmax: float = 3000.0,
                method: str = "yin") -> tuple[np.ndarray, np.ndarray]:
    """``(times, f0 in Hz)`` every 8 ms on 32 ms frames.

    ``method="yin"`` (default): YIN (``librosa.yin``) in every frame; which frames are sound is
    decided by :func:`detect_events`, so YIN's lack of a voicing decision does not matter.
    ``method="pyin"``: probabilistic YIN (``librosa.pyin``, 10x slower) where it finds a pitch, the
    spectral centroid elsewhere (it follows the pitch of a harmonic sound of fixed timbre).
    """
    import librosa

    x = _mono(samples)
    fmin = max(fmin, 2.0 * sample_rate / FRAME)  # a period must fit twice into a frame
    fmax = min(fmax, sample_rate / 2 - 1)
    if method == "yin":
        track = librosa.yin(x, fmin=fmin, fmax=fmax, sr=sample_rate, frame_length=FRAME, hop_length=HOP, center=True)
    elif method == "pyin":
        f0, voiced, _prob = librosa.pyin(x, fmin=fmin, fmax=fmax, sr=sample_rate, frame_length=FRAME,
                                         hop_length=HOP, center=True, resolution=0.5)
        centroid = librosa.feature.spectral_centroid(y=x, sr=sample_rate, n_fft=FRAME, hop_length=HOP)[0]
        n = min(len(f0), len(centroid))
        track = np.where(voiced[:n] & np.isfinite(f0[:n]), f0[:n], centroid[:n])
    else:
        raise ValueError(f"unknown pitch method {method!r}; use 'yin' or 'pyin'")
    times = np.arange(len(track)) * HOP / sample_rate
    return times.astype(np.float64), np.asarray(track, dtype=np.float64)


def event_direction(times: np.ndarray, f0: np.ndarray, start: float, end: float, *,
                    threshold: float = DIRECTION_THRESHOLD) -> tuple[float | None, float | None, float | None, str | None]:
    """``(f_start, f_end, semitones, direction)`` of the event between ``start`` and ``end`` seconds."""
    inside = (times >= start) & (times <= end) & np.isfinite(f0) & (f0 > 0)
    values = f0[inside]
    if len(values) < 3:
        return None, None, None, None
    third = max(1, len(values) // 3)
    first, last = float(np.median(values[:third])), float(np.median(values[-third:]))
    semitones = 12.0 * np.log2(last / first)
    direction = "rising" if semitones > threshold else "falling" if semitones < -threshold else "steady"
    return round(first, 2), round(last, 2), round(float(semitones), 2), direction


def analyse_sound(samples: Any, sample_rate: int, *, threshold_db: float = -20.0,
                  direction_threshold: float = DIRECTION_THRESHOLD, pitch_method: str = "yin",
                  onsets: bool = True) -> SoundAnalysis:
    """Events, their pitch direction and the majority direction of a clip (see the module docstring)."""
    x = _mono(samples)
    spans = detect_events(x, sample_rate, threshold_db=threshold_db)
    times, f0 = pitch_track(x, sample_rate, method=pitch_method) if spans else (np.zeros(0), np.zeros(0))
    events = []
    for start, end in spans:
        # keep away from the edges: attack/release frames carry the neighbours' silence
        pad = min(0.02, (end - start) / 6)
        fs, fe, semis, direction = event_direction(times, f0, start + pad, end - pad, threshold=direction_threshold)
        events.append(DetectedEvent(start, end, fs, fe, semis, direction))
    votes = Counter(e.direction for e in events if e.direction)
    majority = None
    if votes:
        top = votes.most_common()
        if len(top) == 1 or top[0][1] > top[1][1]:
            majority = top[0][0]
        else:  # a tie: the direction of the longest event among the tied ones
            tied = {d for d, c in top if c == top[0][1]}
            majority = max((e for e in events if e.direction in tied), key=lambda e: e.duration).direction
    return SoundAnalysis(tuple(events), majority, tuple(onset_times(x, sample_rate)) if onsets and spans else (),
                         times, f0)
