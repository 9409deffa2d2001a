"""Benchmark: wall time of the full default fusion comparison (every strategy x 3 seeds, CPU).

Run ``python benchmarks/fusion.py`` (or ``mmbench bench fusion``). The results table goes to
stderr; the last line of stdout is one JSON object with ``wall_seconds`` and the headline numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    import mmbench  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategies", nargs="+", default=None, help="default: all of them")
    parser.add_argument("--n-train", type=int, default=None, help="training samples per seed (default: the lab's)")
    parser.add_argument("--representations", default=None,
                        help="e.g. text=minilm,image=clip,audio=cnn (default: handcrafted; deep features are cached "
                             "after the first run)")
    parser.add_argument("--use-cache", action="store_true",
                        help="reuse cached features (default: extract them afresh, so the time includes extraction)")
    args = parser.parse_args(argv)

    import os

    from mmbench.fusion.lab import FusionSetting, compare
    from mmbench.fusion.representations import parse_assignments

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    setting = FusionSetting(n_train=args.n_train) if args.n_train else FusionSetting()
    reps = parse_assignments(args.representations) if args.representations else None
    saved = os.environ.get("MMBENCH_FEATURE_CACHE")
    if not args.use_cache:  # a cold start: features are part of the comparison's cost
        os.environ["MMBENCH_FEATURE_CACHE"] = "off"
        from mmbench.fusion.representations import FEATURE_CACHE

        FEATURE_CACHE.clear()
    start = time.perf_counter()
    try:
        report = compare(args.strategies, seeds=args.seeds, setting=setting, progress=log, representations=reps)
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
            "features_cached": bool(args.use_cache), "under_3_minutes": wall < 180}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])), flush=True)
