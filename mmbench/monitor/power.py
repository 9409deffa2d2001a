"""Measuring detectors: power and false alarms by resampling windows from pools of embeddings, and
detection delay on a simulated stream whose distribution changes at a known window.

A *pool* is a finite sample of one condition (no shift, or one shift), embedded once; windows are
drawn from it without replacement within a window. The reference a detector was fitted on must not
overlap the pools (use disjoint seeds), or no-shift windows would share samples with the reference.
Windows drawn from one pool overlap each other when the pool is small, so the repetitions are not
independent: the spread of a rate estimated from them is larger than binomial.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from .detectors import Detector
from .online import ALARM_ALPHA, DriftMonitor

__all__ = ["alarm_rate", "draw_windows", "rejection_rates", "stream_delay"]


def draw_windows(n_pool: int, size: int, reps: int, seed: int | Sequence[int]) -> list[np.ndarray]:
    """``reps`` index arrays of ``size`` distinct rows of a pool of ``n_pool`` rows (seeded)."""
    if size > n_pool:
        raise ValueError(f"a window of {size} needs a pool of at least {size} samples, not {n_pool}")
    rng = np.random.default_rng(seed)
    return [rng.choice(n_pool, size, replace=False) for _ in range(reps)]


def alarm_rate(p_values: Sequence[float], alpha: float, patience: int = 1) -> float:
    """Share of windows after which a monitor with alarm level ``alpha`` and ``patience`` alerts, the
    windows taken in the given order as a stream: window ``i`` alerts when windows ``i - patience + 1 .. i``
    all have ``p < alpha`` (with ``patience=1``, the share of p-values below ``alpha``)."""
    flags = np.asarray(p_values, float) < alpha
    if not len(flags):
        return float("nan")
    run, alerts = 0, 0
    for flag in flags:
        run = run + 1 if flag else 0
        alerts += run >= patience
    return alerts / len(flags)


def rejection_rates(detectors: Mapping[str, Detector], pool: np.ndarray, windows: Sequence[np.ndarray],
                    tick: Callable[[], None] | None = None) -> dict[str, dict]:
    """Share of ``windows`` (index arrays into ``pool``) each detector flags at its own alpha (``rate``):
    the power under a shift, the false-alarm rate without one; with every window's ``p_values`` (for
    rates at other levels, :func:`alarm_rate`). Every detector sees the same windows."""
    import time

    out = {}
    for name, det in detectors.items():
        flags, pvals = [], []
        started = time.perf_counter()
        for idx in windows:
            res = det.test(pool[idx])
            flags.append(res.drift)
            pvals.append(res.p_value)
            if tick is not None:
                tick()
        out[name] = {"rate": float(np.mean(flags)) if flags else float("nan"),
                     "median_p": float(np.median(pvals)) if pvals else float("nan"), "n_windows": len(flags),
                     "p_values": pvals, "seconds": time.perf_counter() - started}
    return out


def stream_delay(detector: Detector, before: np.ndarray, after: np.ndarray, *, window_size: int, shift_at: int,
                 n_after: int, seed: int | Sequence[int], alpha: float = ALARM_ALPHA, patience: int = 1) -> dict:
    """Stream ``shift_at`` windows from ``before`` then ``n_after`` windows from ``after`` through a
    :class:`DriftMonitor` (tumbling windows of ``window_size``, alarm level ``alpha``, ``patience``); each
    pool is streamed in a random order without repeats until it runs out. Returns the first window at or
    after the shift after which the monitor alerts, the delay ``first - shift_at`` in windows (None when
    it never alerted within the ``n_after`` shifted windows), the monitor's ``drift_started`` window at
    the end, and the false alarms before the shift: windows after which the monitor alerted
    (``false_alerts_before``) and windows below ``alpha`` (``false_alarms_before``)."""
    rng = np.random.default_rng(seed)
    monitor = DriftMonitor(detector, window_size, alpha=alpha, patience=patience)

    def chunks(pool: np.ndarray, n_windows: int):
        order = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n_windows * window_size // len(pool)))])
        for w in range(n_windows):
            yield pool[order[w * window_size:(w + 1) * window_size]]

    for chunk in chunks(before, shift_at):
        monitor.update(chunk)
    for chunk in chunks(after, n_after):
        monitor.update(chunk)
        if monitor.alert:
            break
    history = monitor.history
    first = monitor.first_alert_window(after=shift_at)
    started = monitor.drift_started
    return {"shift_at": shift_at, "first_alert": first, "delay": None if first is None else first - shift_at,
            "drift_started_window": None if started is None else started.window,
            "false_alarms_before": sum(r.drift for r in history if r.window < shift_at),
            "false_alerts_before": sum(r.alert for r in history if r.window < shift_at),
            "p_values_after": [round(r.result.p_value, 6) for r in history if r.window >= shift_at],
            "windows": len(history)}
