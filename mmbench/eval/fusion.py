"""Evaluate the fusion strategies on the default procedural sentiment setting (``mmbench eval fusion``).

Every strategy (unimodal baselines included) is trained and tested for each seed; the summary
has per-strategy mean/std macro-F1, the best fusion vs the best unimodal baseline, the
missing-modality robustness of each fusion strategy, and the wall time.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..fusion.lab import FusionSetting, compare


def evaluate_fusion(strategies: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2),
                    setting: FusionSetting | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run :func:`mmbench.fusion.lab.compare` and return its flat summary; the table goes to ``log``."""
    report = compare(strategies, seeds=seeds, setting=setting, progress=log)
    if log:
        log(report.format_table())
    return report.summary()
