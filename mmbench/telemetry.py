"""Prometheus metrics of mmbench (chapter 7.5.3): what a model in production is watched by.

* ``mmbench_requests_total``, ``mmbench_request_errors_total`` (by ``error_type``) and the
  ``mmbench_request_duration_seconds`` histogram, labelled by ``task``, ``model``, ``tier`` and the
  ``action`` the user asked for ("computing the similarity matrix");
* ``mmbench_requests_in_progress`` and ``mmbench_queue_depth`` (requests waiting in a front end's queue);
* ``mmbench_model_cache_loads_total`` / ``_hits_total`` / ``_evictions_total``, ``mmbench_model_cache_models``
  and ``mmbench_model_cache_bytes``, read from :class:`mmbench.cache.ModelCache` when Prometheus scrapes;
* ``mmbench_gpu_memory_bytes`` (``kind`` = allocated / reserved) per CUDA device, when torch runs on CUDA;
* per named drift monitor (:class:`mmbench.monitor.DriftMonitor`, label ``monitor``, read at scrape time
  through :func:`watch_drift`): ``mmbench_drift_alert`` (1 while alerting, else 0), the latest window's
  ``mmbench_drift_p_value`` and ``mmbench_drift_statistic``, the alarm level ``mmbench_drift_alpha``,
  ``mmbench_drift_started_timestamp_seconds`` (when the alerting drift's first window was tested, 0
  without an alert), ``mmbench_drift_windows_total`` / ``_windows_drifted_total`` / ``_samples_total``.

All of it lives in one :class:`prometheus_client.CollectorRegistry` owned by mmbench
(:func:`metrics`), not in the client's process-wide default, so two apps or a test suite in one
process never collide; :func:`exposition` renders it in the Prometheus text format. A front end
wraps each user action in :func:`track_request` and names the model it resolved with
:func:`set_labels`; the model cache knows nothing about Prometheus (it keeps plain counters, read at
scrape time through :func:`watch_cache`). ``prometheus_client`` is imported on first use, so
``import mmbench`` stays fast.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .errors import MMBenchError

#: Labels of every request metric.
REQUEST_LABELS = ("task", "model", "tier", "action")
#: Label value for a request that ran no model (a plot redrawn, a procedural clip made).
NONE = "none"
#: Latency buckets (seconds): a cached embedding takes milliseconds, a diffusion run minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

#: ``error_type`` of a failure a front end reports as the user's own mistake (an empty text box).
USER_ERROR = "UserError"
#: ``error_type`` of an exception that is not an :class:`~mmbench.errors.MMBenchError` (a bug).
UNEXPECTED_ERROR = "UnexpectedError"
#: ``error_type`` of a request stopped from outside (a closed stream, an interrupt).
CANCELLED = "Cancelled"


def error_type(exc: BaseException) -> str:
    """The ``error_type`` label of ``exc``: the :class:`~mmbench.errors.MMBenchError` subclass's name
    (``ImageError``, ``ModelUnavailableError``), else :data:`UNEXPECTED_ERROR` (or :data:`CANCELLED`)."""
    if isinstance(exc, MMBenchError):
        return type(exc).__name__
    return UNEXPECTED_ERROR if isinstance(exc, Exception) else CANCELLED


@dataclass
class RequestRecord:
    """Labels of the request being handled, filled in while it runs; ``error`` is its error type."""

    action: str
    task: str = NONE
    model: str = NONE
    tier: str = NONE
    error: str | None = None

    def labels(self) -> dict[str, str]:
        return {"task": self.task, "model": self.model, "tier": self.tier, "action": self.action}


class Telemetry:
    """One set of mmbench metrics in its own registry (the process-wide one is :func:`metrics`)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("mmbench_requests", "Requests handled, by task, model, tier and action.",
                                REQUEST_LABELS, registry=self.registry)
        self.errors = Counter("mmbench_request_errors", "Requests that failed, by error type.",
                              (*REQUEST_LABELS, "error_type"), registry=self.registry)
        self.latency = Histogram("mmbench_request_duration_seconds", "Time to answer a request.", REQUEST_LABELS,
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_progress = Gauge("mmbench_requests_in_progress", "Requests being handled now.",
                                 registry=self.registry)
        #: name -> model cache (an object with ``loads``, ``hits``, ``evictions``, ``nbytes``, ``len()``).
        self.caches: dict[str, Any] = {}
        #: name -> callable giving the number of requests waiting in that front end's queue.
        self.queues: dict[str, Callable[[], int]] = {}
        #: name -> weak reference to a drift monitor (an object whose ``state()`` is a dict, see :func:`watch_drift`).
        self.drift_monitors: dict[str, Callable[[], Any]] = {}
        self.registry.register(_StateCollector(self))

    def watch_cache(self, cache: Any, name: str = "models") -> None:
        """Report ``cache``'s loads, hits, evictions and size under ``cache=name`` (replaces that name)."""
        self.caches[name] = cache

    def watch_queue(self, depth: Callable[[], int], name: str = "app") -> None:
        """Report ``depth()`` as ``mmbench_queue_depth{queue=name}`` at every scrape (replaces that name)."""
        self.queues[name] = depth

    def watch_drift(self, monitor: Any, name: str) -> None:
        """Report ``monitor.state()`` under ``monitor=name`` at every scrape (replaces that name). Held by a
        weak reference: a monitor that is garbage-collected disappears from the metrics."""
        self.drift_monitors[name] = weakref.ref(monitor)

    def record(self, request: RequestRecord, seconds: float) -> None:
        """Count one finished request, its latency and its error (if any)."""
        labels = request.labels()
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)
        if request.error is not None:
            self.errors.labels(**labels, error_type=request.error).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def by_task(self) -> dict[str, dict[str, float]]:
        """Totals per ``task`` label so far: ``{task: {"requests", "errors", "latency_sum", "latency_count"}}``
        (summed over models, tiers and actions) — what live plots difference over time."""
        names = {"mmbench_requests_total": "requests", "mmbench_request_errors_total": "errors",
                 "mmbench_request_duration_seconds_sum": "latency_sum",
                 "mmbench_request_duration_seconds_count": "latency_count"}
        out: dict[str, dict[str, float]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                key = names.get(sample.name)
                if key is not None:
                    row = out.setdefault(sample.labels.get("task", NONE), dict.fromkeys(names.values(), 0.0))
                    row[key] += sample.value
        return out

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of sample ``name`` with exactly these labels (0.0 when absent) — for tests
        and the notebook. Sums over label values not given: ``value("mmbench_requests_total", {"task": t})``."""
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                    total += sample.value
        return total


class _StateCollector:
    """Values read when Prometheus scrapes: model caches, queue depths, GPU memory."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def describe(self) -> list[Any]:
        return []  # values appear and disappear with caches and GPUs: not checked at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        caches = list(self.telemetry.caches.items())
        families = {
            "loads": CounterMetricFamily("mmbench_model_cache_loads", "Models loaded into the cache.", labels=["cache"]),
            "hits": CounterMetricFamily("mmbench_model_cache_hits", "Lookups answered from the cache.",
                                        labels=["cache"]),
            "evictions": CounterMetricFamily("mmbench_model_cache_evictions", "Models evicted from the cache.",
                                             labels=["cache"]),
        }
        models = GaugeMetricFamily("mmbench_model_cache_models", "Models held in the cache.", labels=["cache"])
        size = GaugeMetricFamily("mmbench_model_cache_bytes", "Bytes of parameters held in the cache.",
                                 labels=["cache"])
        for name, cache in caches:
            for attr, family in families.items():
                family.add_metric([name], float(getattr(cache, attr, 0)))
            models.add_metric([name], float(len(cache)))
            size.add_metric([name], float(getattr(cache, "nbytes", 0)))
        yield from families.values()
        yield models
        yield size

        depth = GaugeMetricFamily("mmbench_queue_depth", "Requests waiting in a front end's queue.", labels=["queue"])
        for name, fn in list(self.telemetry.queues.items()):
            try:
                depth.add_metric([name], float(fn()))
            except Exception:  # a front end that has shut down: no sample rather than a failed scrape
                continue
        yield depth

        yield from _drift_families(self.telemetry)

        gpu = gpu_memory()
        if gpu:
            family = GaugeMetricFamily("mmbench_gpu_memory_bytes", "CUDA memory held by PyTorch.",
                                       labels=["device", "kind"])
            for device, kinds in gpu.items():
                for kind, value in kinds.items():
                    family.add_metric([device, kind], float(value))
            yield family


def _drift_families(telemetry: Telemetry) -> list[Any]:
    """The ``mmbench_drift_*`` families, one sample per live watched monitor (see :func:`watch_drift`)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    labels = ["monitor", "method"]
    gauges = {
        "alert": GaugeMetricFamily("mmbench_drift_alert", "1 while the drift monitor alerts, else 0.", labels=labels),
        "last_p_value": GaugeMetricFamily("mmbench_drift_p_value", "p-value of the latest tested window.",
                                          labels=labels),
        "last_statistic": GaugeMetricFamily("mmbench_drift_statistic", "Test statistic of the latest tested window.",
                                            labels=labels),
        "alpha": GaugeMetricFamily("mmbench_drift_alpha", "Alarm level: a window drifts when its p-value is below it.",
                                   labels=labels),
        "drift_started_time": GaugeMetricFamily(
            "mmbench_drift_started_timestamp_seconds",
            "When the first window of the drift behind the current alert was tested (0 without an alert).",
            labels=labels),
    }
    counters = {
        "windows_tested": CounterMetricFamily("mmbench_drift_windows", "Windows tested by the drift monitor.",
                                              labels=labels),
        "windows_drifted": CounterMetricFamily("mmbench_drift_windows_drifted",
                                               "Windows whose p-value was below the alarm level.", labels=labels),
        "samples_seen": CounterMetricFamily("mmbench_drift_samples", "Samples fed to the drift monitor.",
                                            labels=labels),
    }
    for name, ref in list(telemetry.drift_monitors.items()):
        monitor = ref()
        if monitor is None:
            telemetry.drift_monitors.pop(name, None)
            continue
        try:
            state = monitor.state()
        except Exception:  # a broken monitor costs its own samples, never the scrape
            continue
        values = [name, str(state.get("method", NONE))]
        for key, family in gauges.items():
            value = state.get(key)
            if key == "alert":
                value = float(bool(value))
            elif key == "drift_started_time" and value is None:
                value = 0.0
            if value is not None:  # no p-value or statistic before the first window
                family.add_metric(values, float(value))
        for key, family in counters.items():
            family.add_metric(values, float(state.get(key) or 0))
    return [*gauges.values(), *counters.values()]


def gpu_memory() -> dict[str, dict[str, int]]:
    """``{"cuda:0": {"allocated": bytes, "reserved": bytes}, ...}`` when torch is imported and CUDA is
    available, else ``{}``. Never imports torch nor initialises CUDA (nothing is allocated before that)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    initialised = torch.cuda.is_initialized()
    out = {}
    for i in range(torch.cuda.device_count()):
        out[f"cuda:{i}"] = {"allocated": torch.cuda.memory_allocated(i) if initialised else 0,
                            "reserved": torch.cuda.memory_reserved(i) if initialised else 0}
    return out


_GLOBAL: Telemetry | None = None
_GLOBAL_LOCK = threading.Lock()
#: Caches registered with :func:`watch_cache` (kept here so registering imports nothing).
_PENDING_CACHES: dict[str, Any] = {}
#: Drift monitors registered with :func:`watch_drift` before the metrics were first used (weak references).
_PENDING_DRIFT: dict[str, Callable[[], Any]] = {}


def metrics() -> Telemetry:
    """The process-wide mmbench metrics (created on first use)."""
    global _GLOBAL
    if _GLOBAL is None:
        with _GLOBAL_LOCK:
            if _GLOBAL is None:
                made = Telemetry()
                made.caches.update(_PENDING_CACHES)
                made.drift_monitors.update(_PENDING_DRIFT)
                _GLOBAL = made
    return _GLOBAL


def watch_cache(cache: Any, name: str = "models") -> None:
    """Report ``cache`` in the process-wide metrics; cheap (nothing is imported until metrics are used)."""
    _PENDING_CACHES[name] = cache
    if _GLOBAL is not None:
        _GLOBAL.watch_cache(cache, name)


def watch_drift(monitor: Any, name: str) -> None:
    """Publish drift ``monitor``'s state in the process-wide metrics under ``monitor=name`` (weakly held;
    cheap: nothing is imported until metrics are used). :class:`mmbench.monitor.DriftMonitor` calls it
    when given a ``name``."""
    _PENDING_DRIFT[name] = weakref.ref(monitor)
    if _GLOBAL is not None:
        _GLOBAL.watch_drift(monitor, name)


def exposition() -> tuple[bytes, str]:
    """The process-wide metrics in the Prometheus text format, and its content type (serve at ``/metrics``)."""
    return metrics().exposition()


_CURRENT: ContextVar[RequestRecord | None] = ContextVar("mmbench_request", default=None)


@contextmanager
def track_request(action: str, *, telemetry: Telemetry | None = None) -> Iterator[RequestRecord]:
    """Count the request handled inside the block: one ``mmbench_requests_total``, its latency, its
    error (the record's ``error`` if the handler set one, else :func:`error_type` of the exception).

    Labels start as ``none`` and are set by :func:`set_labels` once the model is known. A block
    inside another one (a handler calling another handler) is part of the outer request, not a new one.
    """
    outer = _CURRENT.get()
    if outer is not None:
        yield outer
        return
    target = telemetry or metrics()
    request = RequestRecord(action=action)
    _CURRENT.set(request)
    target.in_progress.inc()
    start = time.perf_counter()
    try:
        yield request
    except BaseException as exc:
        if request.error is None:
            request.error = error_type(exc)
        raise
    finally:
        # set, not reset: a generator handler may finish in another context than it started in
        _CURRENT.set(None)
        target.in_progress.dec()
        target.record(request, time.perf_counter() - start)


def current_request() -> RequestRecord | None:
    """The request being handled in this context, if any."""
    return _CURRENT.get()


def set_labels(task: str | None = None, model: str | None = None, tier: str | None = None) -> None:
    """Name the task, model and tier of the request being handled (no-op outside :func:`track_request`)."""
    request = _CURRENT.get()
    if request is None:
        return
    if task is not None:
        request.task = task
    if model is not None:
        request.model = model
    if tier is not None:
        request.tier = tier
