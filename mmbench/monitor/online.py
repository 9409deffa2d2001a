"""Online drift monitoring: a thread-safe :class:`DriftMonitor` over a live stream of embeddings.

Samples arrive one at a time or in batches (from any number of threads, e.g. request handlers);
every ``window_size`` samples form a window (a new one every ``stride`` samples: tumbling windows by
default) that is tested against the reference with a fitted detector. The monitor keeps the history
of window tests, raises ``alert`` once ``patience`` consecutive windows drift, and remembers when
that drift started (window index, sample index and wall-clock time of its first drifting window)::

    monitor = DriftMonitor(KSDetector().fit(reference), window_size=200, name="images")
    for emb in stream:
        monitor.update(emb)
        if monitor.alert:
            print("drift since window", monitor.drift_started.window)

**The alarm rule.** A monitor tests one window after another, so its per-window level is its false-alarm
rate on a healthy stream: at the usual alpha = 0.05 one window in twenty raises a false alert, and a
measured rate lands above 0.05 about half the time (the test is calibrated *at* 0.05). The monitor
therefore flags a window when its p-value is below :data:`ALARM_ALPHA` (0.01) by default, independent of
the detector's own ``alpha`` (which stays 0.05 for one-off tests and power tables): about one false
alert per hundred windows of a healthy stream, while a shift the detector catches at 0.05 in windows
of 200 is still caught in the first shifted window. ``mmbench eval drift`` measures both (power at
0.05 per shift and window size; false alarms, power and delay under this rule): with KS on 64
principal components of tiny-CLIP image embeddings, windows of 200, over 7 world seeds, false alarms
0.005-0.025 under the rule against 0.02-0.07 at 0.05, noise and palette power 1.0, delay 0 windows.
``patience=2`` (alert after two drifting windows in a row) trades one window of delay for about
alpha^2 false alerts.

With a ``name``, the monitor's state (alert, last p-value and statistic, drift start time, windows
tested and drifted) is published in the process's Prometheus metrics (:mod:`mmbench.telemetry`,
``mmbench_drift_*{monitor=name}``), read at every scrape.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from .. import telemetry
from ..errors import InvalidInputError
from ..io.embeddings import validate_embeddings
from .detectors import Detector, DriftResult

__all__ = ["ALARM_ALPHA", "DriftMonitor", "DriftStart", "WindowRecord"]

#: Default alarm level of a :class:`DriftMonitor`: a window drifts when its p-value is below this.
ALARM_ALPHA = 0.01


@dataclass(frozen=True)
class WindowRecord:
    """One tested window: its index, the samples it spans (``[start, end)`` in stream order), when it
    was tested (``time``, seconds since the epoch), the detector's result, whether the window drifted
    under the monitor's alarm level (``drift``: ``p_value < alpha``) and whether the monitor was
    alerting once it was recorded (``alert``)."""

    window: int
    start: int
    end: int
    time: float
    result: DriftResult
    drift: bool
    alert: bool = False


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
        alpha: alarm level: a window drifts when its p-value is below it (default :data:`ALARM_ALPHA`,
            0.01; the detector's own ``alpha`` is not used here).
        stride: samples between the starts of consecutive windows (default ``window_size``: windows do
            not overlap).
        patience: consecutive drifting windows needed to raise the alert (1: every drifting window alerts).
        max_history: window records kept (oldest dropped first).
        on_window: called with each :class:`WindowRecord` after it is recorded (e.g. to set a gauge).
        clock: returns the current time in seconds (``time.time``; tests may pass a fake clock).
        name: publish the monitor's state in the process's Prometheus metrics under ``monitor=name``
            (replaces an earlier monitor of that name); None publishes nothing.
    """

    def __init__(self, detector: Detector, window_size: int = 200, *, alpha: float = ALARM_ALPHA,
                 stride: int | None = None, patience: int = 1, max_history: int = 10_000,
                 on_window: Callable[[WindowRecord], None] | None = None, clock: Callable[[], float] = time.time,
                 name: str | None = None) -> None:
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
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            alpha = float("nan")
        if not 0.0 < alpha < 1.0:
            raise InvalidInputError(f"The monitor's alarm level alpha must be between 0 and 1, not {alpha}.",
                                    hint=f"Leave it unset for {ALARM_ALPHA} (about one false alert per "
                                         f"{1 / ALARM_ALPHA:.0f} windows of a healthy stream).")
        if name is not None and not str(name).strip():
            raise InvalidInputError("A monitor name must not be empty.", hint="Name it after what it watches, "
                                    "e.g. 'image-embeddings', or pass name=None to publish no metrics.")
        self.detector = detector
        self.alpha = alpha
        self.name = None if name is None else str(name).strip()
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
        self._run: tuple[WindowRecord, int] | None = None
        self._started: DriftStart | None = None
        self._n_windows = 0
        self._n_drift = 0
        if self.name is not None:
            telemetry.watch_drift(self, self.name)

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
        drift = bool(result.p_value < self.alpha)
        record = WindowRecord(self._n_windows, self._seen - self.window_size, self._seen, float(self.clock()),
                              result, drift)
        self._n_windows += 1
        self._n_drift += int(drift)
        if drift:  # a run of drifting windows: its first window and its length
            self._run = (self._run[0] if self._run else record, (self._run[1] if self._run else 0) + 1)
            if self._run[1] >= self.patience and self._started is None:
                first = self._run[0]
                self._started = DriftStart(first.window, first.start, first.time)
        else:
            self._run = None
            self._started = None
        record = replace(record, alert=self._started is not None)
        self._history.append(record)
        if self.on_window is not None:
            self.on_window(record)
        return record

    def reset(self) -> None:
        """Forget the buffer, the history and the alert (the detector keeps its reference)."""
        with self._lock:
            self._buffer.clear()
            self._history.clear()
            self._seen, self._next_end, self._n_windows, self._n_drift = 0, self.window_size, 0, 0
            self._run, self._started = None, None

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

    def first_alert_window(self, after: int = 0) -> int | None:
        """Index of the first window at or after ``after`` once which the monitor was alerting."""
        with self._lock:
            return next((r.window for r in self._history if r.window >= after and r.alert), None)

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary: alert, where the drift started, counts and the last window's result."""
        with self._lock:
            last = self._history[-1] if self._history else None
            started = self._started
            return {
                "name": self.name, "method": self.detector.method, "alpha": self.alpha,
                "window_size": self.window_size, "stride": self.stride, "patience": self.patience,
                "samples_seen": self._seen, "windows_tested": self._n_windows, "windows_drifted": self._n_drift,
                "alert": started is not None,
                "drift_started_window": None if started is None else started.window,
                "drift_started_sample": None if started is None else started.sample,
                "drift_started_time": None if started is None else started.time,
                "last_p_value": None if last is None else last.result.p_value,
                "last_statistic": None if last is None else last.result.statistic,
                "last_window_time": None if last is None else last.time,
            }
