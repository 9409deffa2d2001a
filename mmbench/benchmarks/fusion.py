"""Benchmark: wall time of the full default fusion comparison (every strategy x 3 seeds, CPU).

Run ``mmbench bench fusion`` (or ``python benchmarks/fusion.py`` in a checkout), or call
:func:`run`. The results table goes to stderr; the last line of stdout is one JSON object with
``wall_seconds`` and the headline numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Sequence

from .common import log, parse_and_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of this benchmark (the defaults are :func:`run`'s)."""
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--strategies", nargs="+", help="default: all of them")
    parser.add_argument("--n-train", type=int, help="training samples per seed (default: the lab's)")
    parser.add_argument("--representations",
                        help="e.g. text=minilm,image=clip,audio=cnn (default: handcrafted; deep features are cached "
                             "after the first run)")
    parser.add_argument("--use-cache", action="store_true",
                        help="reuse cached features (default: extract them afresh, so the time includes extraction)")


def run(*, seeds: Sequence[int] = (0, 1, 2), strategies: Sequence[str] | None = None, n_train: int | None = None,
        representations: str | None = None, use_cache: bool = False) -> dict:
    """Time ``compare(strategies, seeds)`` of the fusion lab; without ``use_cache`` the feature cache
    is off, so the time includes extracting the features."""
    from ..fusion.data import FusionSetting
    from ..fusion.lab import compare
    from ..fusion.representations import FEATURE_CACHE, parse_assignments

    setting = FusionSetting(n_train=n_train) if n_train else FusionSetting()
    reps = parse_assignments(representations) if representations else None
    saved = os.environ.get("MMBENCH_FEATURE_CACHE")
    if not use_cache:  # a cold start: features are part of the comparison's cost
        os.environ["MMBENCH_FEATURE_CACHE"] = "off"
        FEATURE_CACHE.clear()
    start = time.perf_counter()
    try:
        report = compare(strategies, seeds=list(seeds), setting=setting, progress=log, representations=reps)
    finally:
        if saved is None:
            os.environ.pop("MMBENCH_FEATURE_CACHE", None)
        else:
            os.environ["MMBENCH_FEATURE_CACHE"] = saved
    wall = time.perf_counter() - start
    log(report.format_table())
    summary = report.summary()
    log(f"full comparison: {len(report.strategies)} strategies x {len(report.seeds)} seeds in {wall:.1f} s")
    return {"wall_seconds": round(wall, 2), "n_strategies": len(report.strategies), "n_seeds": len(report.seeds),
            "representations": report.representations, "best_strategy": summary.get("best_strategy"),
            "best_unimodal": summary.get("best_unimodal"),
            "gain_over_best_unimodal": summary.get("gain_over_best_unimodal"),
            "macro_f1_mean": summary.get("macro_f1_mean"), "macro_f1_std": summary.get("macro_f1_std"),
            "features_cached": bool(use_cache), "under_3_minutes": wall < 180}


def main(argv: list[str] | None = None) -> dict:
    """:func:`run` with the options of the command line ``argv`` (default ``sys.argv[1:]``)."""
    return parse_and_run(__doc__, add_arguments, run, argv)
