"""Plots of a model in production (7.5.3): requests, errors and latency per task over time, and a drift
monitor's p-value per window with its alarm level, its alerts and the stretches of the stream that
were shifted.

Both take plain data (lists and dicts, as :mod:`mmbench.monitor.live` hands them out), so they can be
redrawn from a saved record. Like every module of :mod:`mmbench.plots`, each function returns a fresh
Agg-backed ``Figure`` and never touches ``pyplot``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .figures import new_figure, truncate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["drift_pvalues_figure", "request_series_figure"]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_SHIFT_COLOURS = {"none": "#e8f5e9", "noise": "#fff3e0", "background": "#ede7f6", "palette": "#fce4ec",
                  "shape": "#e3f2fd", "label": "#fffde7"}
#: p-values below this are drawn at it (a permutation or asymptotic p-value of 0 has no log)
P_FLOOR = 1e-12


def request_series_figure(frame: Mapping[str, Any], *, title: str = "Requests per task") -> Figure:
    """Three panels over time (seconds, relative to the latest sample): requests and errors per interval
    and mean latency (ms) per interval, one line per task.

    ``frame`` is ``{"time": [t0, t1, ...], "tasks": {task: {"requests": [...], "errors": [...],
    "latency_ms": [...]}}}`` with one value per interval between consecutive times (latency NaN where
    an interval had no request), as :meth:`mmbench.monitor.live.RequestSeries.frame` returns.
    """
    times = np.asarray(frame.get("time", []), float)
    tasks: Mapping[str, Mapping[str, Sequence[float]]] = frame.get("tasks", {})
    fig = new_figure(8.0, 5.2)
    axes = fig.subplots(3, 1, sharex=True)
    panels = (("requests", "requests / interval"), ("errors", "errors / interval"), ("latency_ms", "mean latency (ms)"))
    if len(times) < 2 or not tasks:
        for ax, (_, label) in zip(axes, panels):
            ax.set_ylabel(label, fontsize=8)
        axes[0].text(0.5, 0.5, "No requests yet: use any tab, or simulate a stream below.", ha="center",
                     va="center", transform=axes[0].transAxes, fontsize=9, color="#555555")
        axes[0].set_title(title, fontsize=10, loc="left")
        return fig
    x = times[1:] - times[-1]
    for i, (task, series) in enumerate(sorted(tasks.items())):
        colour = _COLOURS[i % len(_COLOURS)]
        for ax, (key, _) in zip(axes, panels):
            y = np.asarray(series.get(key, []), float)
            if len(y) == len(x) and np.isfinite(y).any():
                ax.plot(x, y, color=colour, lw=1.4, marker="o" if len(x) < 30 else None, ms=3,
                        label=truncate(task, 30) if key == "requests" else None)
    for ax, (_, label) in zip(axes, panels):
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=7, loc="upper left", ncol=2)
    axes[-1].set_xlabel("seconds before the latest sample", fontsize=8)
    axes[0].set_title(title, fontsize=10, loc="left")
    return fig


def drift_pvalues_figure(data: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """The p-value of every tested window (log scale) against the alarm level ``alpha``: drifting windows
    in red, the first window of the alerting drift marked, and the stretches of the stream fed by each
    simulated shift shaded and labelled.

    ``data`` is ``{"windows": [...], "p_values": [...], "drift": [...], "alpha": float,
    "drift_started_window": int | None, "segments": [{"shift", "first_window", "last_window"}, ...]}``,
    as :meth:`mmbench.monitor.live.LiveDrift.drift_data` returns.
    """
    windows = np.asarray(data.get("windows", []), float)
    p = np.clip(np.asarray(data.get("p_values", []), float), P_FLOOR, 1.0)
    drift = np.asarray(data.get("drift", []), bool)
    alpha = float(data.get("alpha", 0.01))
    fig = new_figure(8.0, 3.4)
    ax = fig.subplots()
    ax.set_yscale("log")
    lower = min(alpha / 10, float(p.min()) / 3) if len(p) else alpha / 10
    ax.set_ylim(max(lower, P_FLOOR / 2), 5.0)  # fixed before drawing: no autoscaling on the lone α line
    for seg in data.get("segments", []):
        lo, hi = seg.get("first_window"), seg.get("last_window")
        if lo is None or hi is None or hi < lo:
            continue
        ax.axvspan(lo - 0.5, hi + 0.5, color=_SHIFT_COLOURS.get(seg.get("shift"), "#eeeeee"), zorder=0)
        ax.text((lo + hi) / 2, 1.6, str(seg.get("shift")), ha="center", va="bottom", fontsize=7, color="#444444")
    ax.axhline(alpha, color="#d62728", ls="--", lw=1, label=f"alarm level α = {alpha:g}")
    if len(windows):
        ax.plot(windows, p, color="#1f77b4", lw=1, zorder=2)
        ax.scatter(windows[~drift], p[~drift], s=18, color="#1f77b4", zorder=3, label="window")
        if drift.any():
            ax.scatter(windows[drift], p[drift], s=26, color="#d62728", zorder=4, label="drifting window (p < α)")
        start = data.get("drift_started_window")
        if start is not None:
            ax.axvline(start - 0.5, color="#d62728", lw=2, alpha=0.7, label=f"drift started (window {start})")
        ax.set_xlim(windows.min() - 0.7, windows.max() + 0.7)
    else:
        ax.text(0.5, 0.5, "No window tested yet: simulate a stream.", ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="#555555")
    ax.set_xlabel("window", fontsize=8)
    ax.set_ylabel("p-value", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title or "Drift monitor: p-value per window", fontsize=10, loc="left")
    return fig
