"""The result of a fusion-lab comparison: :class:`FusionReport` keeps per-strategy, per-seed metrics and
the test probabilities, and turns them into tables, curves and the flat summary of ``mmbench eval fusion``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.sentiment import LABELS, MODALITIES
from ..errors import InvalidInputError
from ..metrics import classification_curves
from ..models.fusion_strategies import UNIMODAL
from .data import LabData
from .training import TrainConfig


@dataclass
class FusionReport:
    """Per-strategy, per-seed results of :func:`compare`, with tables and a flat JSON summary.

    Besides the metrics (``results``) it keeps what later views need without retraining: the test
    probabilities and labels per seed (``probas``, ``labels``: curves, error gallery), the raw test
    samples (``test_data``), and for the first seed the trained models and its :class:`LabData`
    (``models``, ``example_data``: the single-example view). ``ablation`` holds the macro-F1 of each
    strategy retrained without each modality (``ablation=True``).
    """

    strategies: list[str]
    seeds: list[int]
    results: dict[str, list[dict]] = field(default_factory=dict)  # strategy -> one dict per seed
    gate_weights: dict[str, float] = field(default_factory=dict)  # mean test gate weight per modality
    wall_seconds: float = 0.0
    label_names: tuple[str, ...] = LABELS
    modalities: list[str] = field(default_factory=lambda: list(MODALITIES))
    representations: dict[str, str] = field(default_factory=dict)
    source: str = "procedural"
    config: TrainConfig = field(default_factory=TrainConfig)
    probas: dict[str, list[np.ndarray]] = field(default_factory=dict)
    labels: list[np.ndarray] = field(default_factory=list)
    test_data: list[Any] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)
    example_data: LabData | None = None
    ablation: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def _values(self, strategy: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.results[strategy]], dtype=float)

    def table(self) -> list[dict]:
        """One row per strategy: mean and std over seeds of macro-F1, accuracy, ROC-AUC, PR-AUC, the
        calibration error, and the mean macro-F1 drop when a modality is removed at test time."""
        rows = []
        for s in self.strategies:
            f1 = self._values(s, "macro_f1")
            rows.append({"strategy": s, "macro_f1_mean": float(f1.mean()), "macro_f1_std": float(f1.std()),
                         "accuracy_mean": float(self._values(s, "accuracy").mean()),
                         "roc_auc_mean": float(self._values(s, "roc_auc_ovr").mean()),
                         "pr_auc_mean": float(self._values(s, "pr_auc_ovr").mean()),
                         "ece_mean": float(self._values(s, "ece").mean()),
                         "missing_modality_drop": self.missing_modality_drop(s),
                         "noised_modality_drop": self._drop(s, "noised_")})
        return rows

    def _drop(self, strategy: str, prefix: str) -> float | None:
        drops = []
        for r in self.results[strategy]:
            keys = [k for k in r if k.startswith(prefix)]
            if keys:
                drops.append(r["macro_f1"] - np.mean([r[k] for k in keys]))
        return float(np.mean(drops)) if drops else None

    def missing_modality_drop(self, strategy: str) -> float | None:
        """Mean over seeds and over the modalities of (full macro-F1 - macro-F1 with it removed)."""
        return self._drop(strategy, "missing_")

    def robustness_table(self) -> dict[str, dict[str, float]]:
        """``{strategy: {"full": f1, "missing_text": f1, "noised_text": f1, ...}}`` (means over seeds)."""
        out = {}
        for s in self.strategies:
            keys = ["macro_f1"] + sorted(k for k in self.results[s][0] if k.startswith(("missing_", "noised_")))
            out[s] = {("full" if k == "macro_f1" else k): float(self._values(s, k).mean()) for k in keys}
        return out

    def ablation_table(self) -> dict[str, dict[str, float]]:
        """Modality ablation (means over seeds): ``{strategy: {"all": f1, "without_text": f1 retrained
        without the text, "missing_text": f1 of the full model with the text removed at test time, ...}}``.
        The gap between the two says how much the model had come to rely on that modality."""
        out = {}
        for s, runs in self.ablation.items():
            row = {"all": float(self._values(s, "macro_f1").mean())}
            for key, values in runs.items():
                row[key] = float(np.mean(values))
                m = key.removeprefix("without_")
                if f"missing_{m}" in self.results[s][0]:
                    row[f"missing_{m}"] = float(self._values(s, f"missing_{m}").mean())
            out[s] = row
        return out

    def curves(self, strategy: str) -> dict:
        """ROC / PR curves (one-vs-rest) and the reliability diagram of ``strategy``, test samples of
        every seed pooled (see :func:`mmbench.metrics.classification_curves`)."""
        if strategy not in self.probas:
            raise InvalidInputError(f"No predictions of strategy {strategy!r} in this report.",
                                    hint=f"It has {list(self.probas)}.")
        return classification_curves(np.concatenate(self.labels), np.concatenate(self.probas[strategy]), self.label_names)

    def best(self, kind: str = "fusion") -> str | None:
        """The best strategy by mean macro-F1 among ``"fusion"``, ``"unimodal"`` or ``"all"`` strategies."""
        pool = [s for s in self.strategies
                if kind == "all" or (s in UNIMODAL) == (kind == "unimodal")]
        return max(pool, key=lambda s: self._values(s, "macro_f1").mean()) if pool else None

    def format_table(self) -> str:
        lines = [f"{'strategy':14} {'macro-F1':>16} {'acc':>6} {'AUC':>6} {'ECE':>6} {'drop(missing)':>14} "
                 f"{'drop(noised)':>13}"]
        for row in sorted(self.table(), key=lambda r: -r["macro_f1_mean"]):
            md, nd = row["missing_modality_drop"], row["noised_modality_drop"]
            lines.append(f"{row['strategy']:14} {row['macro_f1_mean']:8.3f} ± {row['macro_f1_std']:.3f} "
                         f"{row['accuracy_mean']:6.3f} {row['roc_auc_mean']:6.3f} {row['ece_mean']:6.3f} "
                         f"{'' if md is None else f'{md:14.3f}'} {'' if nd is None else f'{nd:13.3f}'}")
        if self.ablation:
            mods = self.modalities
            lines.append("")
            lines.append("modality ablation (macro-F1): all | retrained without m | m removed at test time")
            for s, row in self.ablation_table().items():
                parts = [f"{m}: {row.get(f'without_{m}', float('nan')):.3f} | {row.get(f'missing_{m}', float('nan')):.3f}"
                         for m in mods]
                lines.append(f"{s:14} {row['all']:.3f}   " + "   ".join(parts))
        return "\n".join(lines)

    def summary(self) -> dict:
        """Flat, plainly named numbers for ``mmbench eval fusion``."""
        rows = {r["strategy"]: r for r in self.table()}
        uni = [s for s in self.strategies if s in UNIMODAL]
        fus = [s for s in self.strategies if s not in UNIMODAL]
        out: dict = {"seeds": list(self.seeds), "n_strategies": len(self.strategies), "source": self.source}
        if self.representations:
            out["representations"] = dict(self.representations)
        out["macro_f1_mean"] = {s: round(r["macro_f1_mean"], 4) for s, r in rows.items()}
        out["macro_f1_std"] = {s: round(r["macro_f1_std"], 4) for s, r in rows.items()}
        out["accuracy_mean"] = {s: round(r["accuracy_mean"], 4) for s, r in rows.items()}
        out["roc_auc_mean"] = {s: round(r["roc_auc_mean"], 4) for s, r in rows.items()}
        out["ece_mean"] = {s: round(r["ece_mean"], 4) for s, r in rows.items()}
        if fus:
            best = max(fus, key=lambda s: rows[s]["macro_f1_mean"])
            out["best_strategy"], out["best_macro_f1"] = best, round(rows[best]["macro_f1_mean"], 4)
        if uni:
            bu = max(uni, key=lambda s: rows[s]["macro_f1_mean"])
            out["best_unimodal"], out["best_unimodal_macro_f1"] = bu, round(rows[bu]["macro_f1_mean"], 4)
        if fus and uni:
            out["gain_over_best_unimodal"] = round(rows[out["best_strategy"]]["macro_f1_mean"]
                                                   - rows[out["best_unimodal"]]["macro_f1_mean"], 4)
        out["missing_modality_drop"] = {s: round(r["missing_modality_drop"], 4) for s, r in rows.items()
                                        if s in fus and r["missing_modality_drop"] is not None}
        out["noised_modality_drop"] = {s: round(r["noised_modality_drop"], 4) for s, r in rows.items()
                                       if s in fus and r["noised_modality_drop"] is not None}
        drops = out["missing_modality_drop"]
        if "concat" in drops:
            for s in ("gated", "attention"):
                if s in drops:
                    out[f"{s}_more_robust_than_concat"] = bool(drops[s] < drops["concat"])
        out["robustness"] = {s: {k: round(v, 4) for k, v in t.items()} for s, t in self.robustness_table().items()
                             if s in fus}
        if self.ablation:
            out["ablation"] = {s: {k: round(v, 4) for k, v in t.items()} for s, t in self.ablation_table().items()}
        if self.gate_weights:
            out["gate_weights_mean"] = {m: round(v, 4) for m, v in self.gate_weights.items()}
        cfg = self.config
        if cfg.multitask or cfg.modality_dropout or cfg.modality_weights:
            out["training"] = {"multitask": cfg.multitask, "aux_weight": cfg.aux_weight,
                               "modality_weights": dict(cfg.modality_weights or ()),
                               "modality_dropout": cfg.modality_dropout}
        out["wall_seconds"] = round(self.wall_seconds, 2)
        return out
