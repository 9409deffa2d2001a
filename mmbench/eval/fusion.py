"""Evaluate the fusion strategies on the default procedural sentiment setting (``mmbench eval fusion``).

Every strategy (unimodal baselines included) is trained and tested for each seed; the summary
has per-strategy mean/std macro-F1, accuracy, ROC-AUC and calibration error, the best fusion vs
the best unimodal baseline, the missing-modality robustness of each fusion strategy, the modality
ablation of ``ablation`` strategies (retrained without each modality), and the wall time.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from ..fusion.data import FusionSetting
from ..fusion.lab import compare
from ..fusion.training import TrainConfig

#: Strategies whose modality ablation ``mmbench eval fusion`` reports by default (3 x 3 extra trainings per seed).
DEFAULT_ABLATION: tuple[str, ...] = ("concat", "gated", "attention")


def evaluate_fusion(strategies: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2),
                    setting: FusionSetting | None = None, log: Callable[[str], None] | None = None,
                    representations: Mapping[str, str] | None = None,
                    ablation: Sequence[str] | bool = DEFAULT_ABLATION, config: TrainConfig = TrainConfig()) -> dict:
    """Run :func:`mmbench.fusion.lab.compare` and return its flat summary; the table goes to ``log``."""
    if ablation and ablation is not True and strategies is not None:
        ablation = [s for s in ablation if s in strategies]
    report = compare(strategies, seeds=seeds, setting=setting, progress=log, representations=representations,
                     ablation=ablation, config=config)
    if log:
        log(report.format_table())
    return report.summary()
