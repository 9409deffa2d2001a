"""Live monitoring of this process (the web app's Monitoring tab, 7.5.3): request metrics as time series,
and a drift monitor on the tiny CLIP's image embeddings fed by simulated request streams.

* :class:`RequestSeries` samples the process's Prometheus metrics (:func:`mmbench.telemetry.metrics`)
  over time and turns the counters into requests, errors and mean latency per interval and task.
* :class:`LiveDrift` fits a :class:`~.online.DriftMonitor` (KS on principal components, the alarm rule
  of ``mmbench eval drift``) on tiny-CLIP embeddings of the procedural world's single-object scenes,
  published in the metrics as ``mmbench_drift_*{monitor="tiny-clip-images"}``, and
  :meth:`LiveDrift.simulate` streams requests of shifted scenes (:mod:`mmbench.data.shifts`) through
  it: each request embeds a few images (its latency and errors recorded in the metrics under
  :data:`SIMULATED_ACTION`) and feeds them to the monitor.

The app uses one :class:`LiveDrift` per process (like its metrics): one simulated stream at a time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from .. import telemetry
from ..data.shifts import IMAGE_SHIFTS, SHIFTS, shifted_scenes
from ..errors import InvalidInputError, MMBenchError
from .detectors import KSDetector
from .online import ALARM_ALPHA, DriftMonitor

__all__ = ["SIMULATED_ACTION", "SIMULATION_SHIFTS", "LiveDrift", "LiveDriftSettings", "RequestSeries"]

#: ``action`` label of the simulated requests in the metrics (kept apart from users' requests).
SIMULATED_ACTION = "simulated request (monitoring tab)"
#: Shifts a stream can be simulated with: the image shifts of :mod:`mmbench.data.shifts`.
SIMULATION_SHIFTS: tuple[str, ...] = IMAGE_SHIFTS
MATCHING = "image-text-matching"


# ------------------------------------------------------------------ request metrics over time
class RequestSeries:
    """Snapshots of the process's request counters over time (thread-safe), for live plots.

    Args:
        metrics: the :class:`~mmbench.telemetry.Telemetry` to read (default: the process-wide one).
        max_points: snapshots kept (oldest dropped first).
        clock: seconds since the epoch (tests pass a fake one).
    """

    def __init__(self, metrics: telemetry.Telemetry | None = None, *, max_points: int = 720,
                 clock: Callable[[], float] = time.time) -> None:
        if int(max_points) < 2:
            raise InvalidInputError("max_points must be at least 2.", hint="Keep a few hundred snapshots.")
        self.metrics = metrics
        self.max_points = int(max_points)
        self.clock = clock
        self._lock = threading.Lock()
        self._points: list[tuple[float, dict[str, dict[str, float]]]] = []

    def sample(self) -> None:
        """Take one snapshot of the totals per task now."""
        totals = (self.metrics or telemetry.metrics()).by_task()
        with self._lock:
            self._points.append((float(self.clock()), totals))
            del self._points[:-self.max_points]

    def frame(self) -> dict[str, Any]:
        """``{"time": [...], "tasks": {task: {"requests", "errors", "latency_ms"}}}``: per task, the requests,
        errors and mean latency in each interval between consecutive snapshots (latency NaN without requests)."""
        with self._lock:
            points = list(self._points)
        tasks = sorted({task for _, totals in points for task in totals})
        out: dict[str, Any] = {"time": [t for t, _ in points], "tasks": {}}
        zero = {"requests": 0.0, "errors": 0.0, "latency_sum": 0.0, "latency_count": 0.0}
        for task in tasks:
            rows = [totals.get(task, zero) for _, totals in points]
            req, err, lat = [], [], []
            for prev, cur in zip(rows, rows[1:]):
                n = max(0.0, cur["latency_count"] - prev["latency_count"])
                req.append(max(0.0, cur["requests"] - prev["requests"]))
                err.append(max(0.0, cur["errors"] - prev["errors"]))
                lat.append(1000.0 * (cur["latency_sum"] - prev["latency_sum"]) / n if n else float("nan"))
            out["tasks"][task] = {"requests": req, "errors": err, "latency_ms": lat}
        return out

    def totals(self) -> dict[str, dict[str, float]]:
        """The latest snapshot's totals per task (empty before the first sample)."""
        with self._lock:
            return dict(self._points[-1][1]) if self._points else {}


# ------------------------------------------------------------------ drift on simulated streams
@dataclass(frozen=True)
class LiveDriftSettings:
    """How :class:`LiveDrift` is set up.

    The reference is ``n_reference`` scenes of world seed ``seed`` and KS's PCA is fitted on
    ``n_pca`` other scenes (seed ``seed + 1``); stream ``k`` draws fresh scenes (seed ``seed + 100 + k``),
    so no streamed image is a reference image. ``alpha``, ``patience`` and ``ks_components`` are the alarm
    rule of ``mmbench eval drift`` (KS on 64 principal components, p < 0.01, one window).
    """

    model: str = "mmbench-tiny-clip"
    n_reference: int = 1000
    n_pca: int = 500
    window_size: int = 200
    alpha: float = ALARM_ALPHA
    patience: int = 1
    ks_components: int = 64
    request_size: int = 10
    seed: int = 50_001
    name: str = "tiny-clip-images"
    max_requests: int = 400


class LiveDrift:
    """A process-wide drift monitor on tiny-CLIP image embeddings, fed by simulated request streams.

    Args:
        settings: sizes, seeds and the alarm rule (:class:`LiveDriftSettings`).
        pipe: the image-text-matching pipeline that embeds images (default: ``settings.model``, loaded on
            first use through :func:`mmbench.pipeline`).
        metrics: where simulated requests are counted (default: the process-wide metrics).
    """

    def __init__(self, settings: LiveDriftSettings = LiveDriftSettings(), *, pipe: Any = None,
                 metrics: telemetry.Telemetry | None = None) -> None:
        self.settings = settings
        self.pipe = pipe
        self.metrics = metrics
        self.monitor: DriftMonitor | None = None
        self.segments: list[dict[str, Any]] = []
        self._streams = 0
        self._fit_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def fitted(self) -> bool:
        return self.monitor is not None

    def _pipeline(self) -> Any:
        if self.pipe is None:
            from ..loading import pipeline

            self.pipe = pipeline(MATCHING, model=self.settings.model)
        return self.pipe

    def _embed(self, images: list) -> np.ndarray:
        return np.asarray(self._pipeline().embed_images(images, batch_size=250), np.float64)

    def fit(self, progress: Callable[[float, str], None] | None = None) -> DriftMonitor:
        """Embed the reference and PCA scenes and build the monitor (once; later calls return it)."""
        say = progress or (lambda fraction, text: None)
        with self._fit_lock:
            if self.monitor is None:
                s = self.settings
                say(0.0, f"Embedding {s.n_reference} reference scenes with {s.model}")
                reference = self._embed([sc.image for sc in shifted_scenes("none", s.n_reference, s.seed)])
                say(0.6, f"Embedding {s.n_pca} scenes for the PCA")
                pca = self._embed([sc.image for sc in shifted_scenes("none", s.n_pca, s.seed + 1)])
                detector = KSDetector(seed=s.seed, pca_reference=pca, n_components=s.ks_components).fit(reference)
                self.monitor = DriftMonitor(detector, s.window_size, alpha=s.alpha, patience=s.patience,
                                            name=s.name)
                say(1.0, "Monitor fitted")
        return self.monitor

    def reset(self) -> None:
        """Forget every tested window and simulated segment (the fitted reference is kept)."""
        with self._run_lock:
            if self.monitor is not None:
                self.monitor.reset()
            self.segments = []

    def simulate(self, shift: str, n_requests: int, *, corrupt_share: float = 0.0,
                 progress: Callable[[float, str], None] | None = None) -> Iterator[dict[str, Any]]:
        """Stream ``n_requests`` simulated requests of ``request_size`` scenes of image shift ``shift``
        through the monitor; yields :meth:`drift_data` after each window the stream completes and once at
        the end. A share ``corrupt_share`` of the requests carry an unreadable image: they fail with
        :class:`~mmbench.errors.ImageError`, are counted as errors and feed nothing to the monitor."""
        s = self.settings
        if shift not in SIMULATION_SHIFTS:
            raise InvalidInputError(f"Unknown shift {shift!r}.", hint=f"Choose one of: {', '.join(SIMULATION_SHIFTS)}.")
        try:
            n = int(n_requests)
            share = float(corrupt_share)
        except (TypeError, ValueError):
            raise InvalidInputError("The number of requests and the share of corrupt requests must be numbers.",
                                    hint="For example 60 requests and 0.05.") from None
        if not 1 <= n <= s.max_requests:
            raise InvalidInputError(f"Simulate from 1 to {s.max_requests} requests, not {n}.",
                                    hint=f"Each request holds {s.request_size} images; a window is "
                                         f"{s.window_size} images ({s.window_size // s.request_size} requests).")
        if not 0.0 <= share <= 0.5:
            raise InvalidInputError(f"The share of corrupt requests must be from 0 to 0.5, not {share:g}.",
                                    hint="0 sends only valid images.")
        if not self._run_lock.acquire(blocking=False):
            raise InvalidInputError("A simulated stream is already running.", hint="Wait for it to finish.")
        try:
            yield from self._stream(shift, n, share, progress or (lambda fraction, text: None))
        finally:
            self._run_lock.release()

    def _stream(self, shift: str, n: int, share: float, say: Callable[[float, str], None]) -> Iterator[dict]:
        s = self.settings
        monitor = self.fit(lambda f, text: say(0.1 * f, text))
        stream = self._streams
        self._streams += 1
        seed = s.seed + 100 + stream
        scenes = shifted_scenes(shift, n * s.request_size, seed)
        corrupt = np.random.default_rng([seed, 3]).random(n) < share
        metrics = self.metrics or telemetry.metrics()
        spec = getattr(self._pipeline(), "spec", None)
        segment = {"shift": shift, "first_sample": monitor.samples_seen, "first_window": None, "last_window": None,
                   "requests": n, "errors": 0}
        self.segments.append(segment)
        for r in range(n):
            record = telemetry.RequestRecord(action=SIMULATED_ACTION, task=MATCHING, model=getattr(spec, "name", s.model),
                                             tier=getattr(spec, "tier", "offline"))
            started = time.perf_counter()
            done = []
            try:
                images = [sc.image for sc in scenes[r * s.request_size:(r + 1) * s.request_size]]
                if corrupt[r]:
                    images[0] = b"\x89PNG\r\n\x1a\n corrupt upload"
                done = monitor.update(self._embed(images))
            except MMBenchError as error:
                record.error = telemetry.error_type(error)
                segment["errors"] += 1
            finally:
                metrics.record(record, time.perf_counter() - started)
            for w in done:
                if w.start >= segment["first_sample"]:  # a window made of this stream's samples only
                    segment["first_window"] = w.window if segment["first_window"] is None else segment["first_window"]
                    segment["last_window"] = w.window
            say(0.1 + 0.9 * (r + 1) / n, f"Request {r + 1}/{n} ({shift}): {monitor.samples_seen} images seen, "
                                         f"{len(monitor.history)} windows tested")
            if done:
                yield self.drift_data()
        yield self.drift_data()

    def drift_data(self) -> dict[str, Any]:
        """The monitor's windows (index, p-value, statistic, drift, alert, time), its state, its alarm level
        and the simulated segments — what :func:`mmbench.plots.monitoring.drift_pvalues_figure` draws."""
        monitor = self.monitor
        history = monitor.history if monitor is not None else []
        state = monitor.state() if monitor is not None else {"alert": False, "alpha": self.settings.alpha,
                                                             "drift_started_window": None}
        return {"windows": [r.window for r in history], "p_values": [r.result.p_value for r in history],
                "statistics": [r.result.statistic for r in history], "drift": [r.drift for r in history],
                "alert": [r.alert for r in history], "times": [r.time for r in history],
                "alpha": state["alpha"], "drift_started_window": state["drift_started_window"], "state": state,
                "segments": [dict(seg) for seg in self.segments],
                "shift_descriptions": {seg["shift"]: SHIFTS[("image", seg["shift"])] for seg in self.segments}}
