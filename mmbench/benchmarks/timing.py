"""Interleaved latency measurement for comparing variants of one model on a shared, noisy machine.

:func:`interleaved` first calls every variant ``warmup`` times untimed. Then, in each *round*, every
variant is timed right next to a call of the baseline (``fp32``): the pair (baseline, variant), in
alternating order from round to round (AB, BA, ...), so the two calls of a pair run back to back. A
variant's latency is the median over rounds with its inter-quartile range (the baseline's over all
its calls). A speed-up is the median of the per-pair ratios baseline/variant
(:func:`paired_speedup`), with their IQR: a load spike from another process slows both calls of a
pair and mostly cancels in their ratio, where a ratio of two medians taken at different times would not.
Without a baseline, each round times every variant once (ABC..., then ...CBA).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass
class Timing:
    """Latencies (ms) of one variant, one per round."""

    times_ms: list[float] = field(default_factory=list)
    #: the baseline's time in the same pair as each of ``times_ms`` (empty for the baseline itself)
    paired_baseline_ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def iqr(self) -> tuple[float, float]:
        return quartiles(self.times_ms)

    def as_dict(self) -> dict[str, Any]:
        q1, q3 = self.iqr
        return {"median_ms": round(self.median, 3), "q1_ms": round(q1, 3), "q3_ms": round(q3, 3),
                "rounds": len(self.times_ms)}


def quartiles(values: list[float]) -> tuple[float, float]:
    """(first, third) quartile, linear interpolation (numpy's default); (v, v) for one value."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def interleaved(calls: Mapping[str, Callable[[], Any]], *, rounds: int = 15, warmup: int = 3,
                baseline: str | None = "fp32", progress: Callable[[str], None] | None = None) -> dict[str, Timing]:
    """Time each of ``calls`` (name -> zero-argument function) in ``rounds`` rounds (module docstring).

    With ``baseline`` (a key of ``calls``; ignored when absent), each variant is timed in a pair with
    the baseline; otherwise every call once per round, the order reversing each round.
    """
    order = list(calls)
    for _ in range(warmup):
        for name in order:
            calls[name]()
    out = {name: Timing() for name in order}

    def timed(name: str) -> float:
        start = time.perf_counter()
        calls[name]()
        ms = (time.perf_counter() - start) * 1e3
        out[name].times_ms.append(ms)
        return ms

    base = baseline if baseline in calls else None
    for i in range(rounds):
        if base is None:
            for name in (order if i % 2 == 0 else order[::-1]):
                timed(name)
        else:
            for name in (order if i % 2 == 0 else order[::-1]):
                if name == base:
                    continue
                if i % 2 == 0:
                    b = timed(base)
                    timed(name)
                else:
                    timed(name)
                    b = timed(base)
                out[name].paired_baseline_ms.append(b)
            if len(order) == 1:
                timed(base)
        if progress is not None:
            progress(f"round {i + 1}/{rounds}")
    return out


def paired_speedup(baseline: Timing, variant: Timing) -> dict[str, float]:
    """Median of the per-pair ratios baseline/variant, with their inter-quartile range (pairs from
    :func:`interleaved`; without them, the calls of the same rounds are paired)."""
    if baseline is variant:
        return {"median": 1.0, "q1": 1.0, "q3": 1.0}
    base = variant.paired_baseline_ms or baseline.times_ms
    ratios = [a / b for a, b in zip(base, variant.times_ms) if b > 0]
    q1, q3 = quartiles(ratios)
    return {"median": round(statistics.median(ratios), 3), "q1": round(q1, 3), "q3": round(q3, 3)}
