"""Online drift monitoring: a thread-safe :class:`DriftMonitor` over a live stream of embeddings.

Samples arrive one at a time or in batches (from any number of threads, e.g. request handlers);
every ``window_size`` samples form a window (a new one every ``stride`` samples: tumbling windows by
default) that is tested against the reference with a fitted detector. The monitor keeps the history
of window tests, raises ``alert`` once ``patience`` consecutive windows drift, and remembers when
that drift started (window index, sample index and wall-clock time of its first drifting window)::

    monitor = DriftMonitor(KSDetector().fit(reference), window_size=200)
    for emb in stream:
        monitor.update(emb)
        if monitor.alert:
            print("drift since window", monitor.drift_started.window)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError
from ..io.embeddings import validate_embeddings
from .detectors import Detector, DriftResult

__all__ = ["DriftMonitor", "DriftStart", "WindowRecord"]


@dataclass(frozen=True)
class WindowRecord:
    """One tested window: its index, the samples it spans (``[start, end)`` in stream order), when it
    was tested (``time``, seconds since the epoch) and the detector's result."""

    window: int
    start: int
    end: int
    time: float
    result: DriftResult

    @property
    def drift(self) -> bool:
        return self.result.drift


@dataclass(frozen=True)
class DriftStart:
    """Where the current drift began: the first window of the run of drifting windows that raised the alert."""

    window: int
    sample: int
    time: float


class DriftMonitor:
    """Rolling-window drift monitor over a live stream (thread-safe).

    Args:
        detector: a fitted :class:`~mmbench.monitor.detectors.Detector` (the reference is fitted already).
        window_size: samples per tested window.
        stride: samples between the starts of consecutive windows (default ``window_size``: windows do
            not overlap).
        patience: consecutive drifting windows needed to raise the alert (1: every drifting window alerts).
        max_history: window records kept (oldest dropped first).
        on_window: called with each :class:`WindowRecord` after it is recorded (e.g. to set a gauge).
        clock: returns the current time in seconds (``time.time``; tests may pass a fake clock).
    """

    def __init__(self, detector: Detector, window_size: int = 200, *, stride: int | None = None, patience: int = 1,
                 max_history: int = 10_000, on_window: Callable[[WindowRecord], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(detector, Detector) or not detector.fitted:
            raise InvalidInputError("DriftMonitor needs a fitted drift detector.",
                                    hint="Pass e.g. KSDetector().fit(reference_embeddings).")
        if int(window_size) < detector.min_window:
            raise InvalidInputError(f"window_size must be at least {detector.min_window} for the "
                                    f"{detector.method} detector, not {window_size}.", hint="Use 100-1000 samples.")
        stride = int(window_size) if stride is None else int(stride)
        if not 1 <= stride:
            raise InvalidInputError(f"stride must be at least 1, not {stride}.", hint="Leave it unset for "
                                    "non-overlapping windows.")
        if int(patience) < 1:
            raise InvalidInputError(f"patience must be at least 1, not {patience}.", hint="1 alerts at once.")
        self.detector = detector
        self.window_size = int(window_size)
        self.stride = stride
        self.patience = int(patience)
        self.on_window = on_window
        self.clock = clock
        self._lock = threading.RLock()
        self._buffer: deque[np.ndarray] = deque(maxlen=self.window_size)
        self._history: deque[WindowRecord] = deque(maxlen=int(max_history))
        self._seen = 0
        self._next_end = self.window_size
        self._run: list[WindowRecord] = []
        self._started: DriftStart | None = None
        self._n_windows = 0
        self._n_drift = 0

    # -- feeding ------------------------------------------------------------------------------
    def update(self, samples: Any) -> list[WindowRecord]:
        """Add one sample (a vector) or a batch (``(n, d)``); returns the windows this call completed."""
        arr = np.asarray(samples, dtype=np.float64) if samples is not None else None
        if arr is not None and arr.ndim == 1 and self.detector.dim not in (None, 1):
            arr = arr[None, :]
        batch = validate_embeddings(arr, what="stream samples", dim=self.detector.dim)
        done: list[WindowRecord] = []
        with self._lock:
            for row in batch:
                self._buffer.append(row)
                self._seen += 1
                if self._seen == self._next_end:
                    done.append(self._test_window())
                    self._next_end += self.stride
        return done

    def _test_window(self) -> WindowRecord:
        result = self.detector.test(np.stack(self._buffer))
        record = WindowRecord(self._n_windows, self._seen - self.window_size, self._seen, float(self.clock()), result)
        self._n_windows += 1
        self._n_drift += int(result.drift)
        self._history.append(record)
        if result.drift:
            self._run.append(record)
            if len(self._run) >= self.patience and self._started is None:
                first = self._run[0]
                self._started = DriftStart(first.window, first.start, first.time)
        else:
            self._run = []
            self._started = None
        if self.on_window is not None:
            self.on_window(record)
        return record

    def reset(self) -> None:
        """Forget the buffer, the history and the alert (the detector keeps its reference)."""
        with self._lock:
            self._buffer.clear()
            self._history.clear()
            self._seen, self._next_end, self._n_windows, self._n_drift = 0, self.window_size, 0, 0
            self._run, self._started = [], None

    # -- state --------------------------------------------------------------------------------
    @property
    def alert(self) -> bool:
        """True while the last ``patience`` (or more) windows all drifted."""
        with self._lock:
            return self._started is not None

    @property
    def drift_started(self) -> DriftStart | None:
        """Start of the drift behind the current alert (None when there is no alert)."""
        with self._lock:
            return self._started

    @property
    def history(self) -> list[WindowRecord]:
        """Every tested window still kept, oldest first."""
        with self._lock:
            return list(self._history)

    @property
    def samples_seen(self) -> int:
        with self._lock:
            return self._seen

    def first_drift_window(self, after: int = 0) -> int | None:
        """Index of the first drifting window at or after window ``after`` among the kept history."""
        with self._lock:
            return next((r.window for r in self._history if r.window >= after and r.drift), None)

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary: alert, where the drift started, counts and the last window's result."""
        with self._lock:
            last = self._history[-1] if self._history else None
            started = self._started
            return {
                "method": self.detector.method, "window_size": self.window_size, "stride": self.stride,
                "patience": self.patience, "samples_seen": self._seen, "windows_tested": self._n_windows,
                "windows_drifted": self._n_drift, "alert": started is not None,
                "drift_started_window": None if started is None else started.window,
                "drift_started_sample": None if started is None else started.sample,
                "drift_started_time": None if started is None else started.time,
                "last_p_value": None if last is None else last.result.p_value,
            }
