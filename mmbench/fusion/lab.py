"""The fusion lab: train several fusion strategies on the same features and compare them fairly.

:func:`compare` prepares the data for each seed (the procedural sentiment world, or real data from
the loaders via ``data=``), extracts the chosen representations once per seed, trains every strategy
(full-batch Adam, early stopping on a validation split; optional multi-task loss and modality
dropout, see :class:`TrainConfig`), and scores it on a test split: accuracy, macro P/R/F1, confusion
matrix, one-vs-rest ROC and PR curves with their AUCs, a reliability diagram and the calibration
error, robustness when a modality is removed or noised at test time, and (``ablation=True``) a
modality ablation that *retrains* without each modality. The :class:`FusionReport` keeps the test
probabilities, so curves, the error-case gallery (:mod:`mmbench.fusion.inspect`) and the
single-example view are computed from it without retraining.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..data.sentiment import LABELS, MODALITIES, SentimentWorld
from ..errors import InvalidInputError
from .data import LabData, lab_data, procedural_split
from .strategies import STRATEGIES, UNIMODAL, build_strategy

DEFAULT_STRATEGIES: tuple[str, ...] = tuple(STRATEGIES)
FUSION_STRATEGIES: tuple[str, ...] = tuple(s for s in STRATEGIES if s not in UNIMODAL)


@dataclass(frozen=True)
class FusionSetting:
    """Data setting: per-modality reliability/noise (see :class:`SentimentWorld`), split sizes, and
    the representation of each modality (see :mod:`mmbench.fusion.representations`; handcrafted
    by default)."""

    reliability: tuple[tuple[str, float], ...] | None = None
    noise: tuple[tuple[str, float], ...] | None = None
    n_train: int = 1500
    n_val: int = 300
    n_test: int = 600
    representations: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def make(cls, reliability: Mapping[str, float] | float | None = None,
             noise: Mapping[str, float] | float | None = None,
             representations: Mapping[str, str] | None = None, **sizes) -> "FusionSetting":
        def freeze(v):
            return tuple(sorted(v.items())) if isinstance(v, Mapping) else v
        if representations:
            from .representations import resolve

            resolve(representations)  # unknown names fail here, before any data is generated
        return cls(freeze(reliability), freeze(noise), representations=freeze(representations) or None, **sizes)

    def world(self, seed: int) -> SentimentWorld:
        def thaw(v):
            return dict(v) if isinstance(v, tuple) else v
        return SentimentWorld(seed, reliability=thaw(self.reliability), noise=thaw(self.noise))


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters shared by every strategy (so the comparison is fair).

    Multi-task loss: ``loss = fused_weight * L(y) + sum_m w_m * L(y_m)`` where ``y_m`` are
    per-modality logits — the late-fusion classifiers' own, or (``multitask=True``) auxiliary linear
    heads on the encodings ``h_m`` of every strategy that has per-modality encoders. ``w_m`` is
    ``modality_weights[m]`` when given, else ``aux_weight``. ``modality_dropout`` p: at each step
    every training sample loses one of its modalities with probability p (a robustness option).
    """

    hidden: int = 32
    dropout: float = 0.3
    lr: float = 5e-3
    weight_decay: float = 1e-3
    max_epochs: int = 250
    patience: int = 20
    aux_weight: float = 0.5  # weight of each per-modality loss (late fusion always; others with multitask)
    multitask: bool = False  # auxiliary per-modality heads on h_m for every strategy with encoders
    fused_weight: float = 1.0
    modality_weights: tuple[tuple[str, float], ...] | None = None
    modality_dropout: float = 0.0

    @classmethod
    def make(cls, modality_weights: Mapping[str, float] | None = None, **kw) -> "TrainConfig":
        return cls(modality_weights=tuple(sorted(modality_weights.items())) if modality_weights else None, **kw)

    def weight_of(self, modality: str) -> float:
        return dict(self.modality_weights or ()).get(modality, self.aux_weight)

    def check(self) -> None:
        if not 0.0 <= self.modality_dropout < 1.0:
            raise InvalidInputError(f"modality_dropout must be in [0, 1), got {self.modality_dropout!r}.")
        weights = [self.fused_weight, self.aux_weight, *dict(self.modality_weights or ()).values()]
        if any(not np.isfinite(w) or w < 0 for w in weights):
            raise InvalidInputError(f"Loss weights must be finite and >= 0, got {weights}.")
        if self.fused_weight == 0:
            raise InvalidInputError("fused_weight must be > 0: the fused prediction is what is evaluated.")


# -- input checks -----------------------------------------------------------------------------------
def check_features(features: Mapping[str, np.ndarray], labels: np.ndarray | None = None, *, split: str = "train",
                   n_classes: int = len(LABELS), require_all_classes: bool = False) -> None:
    """Raise :class:`InvalidInputError` unless ``features`` is a non-empty dict of finite 2-D
    arrays with one row per label (and, for training, every class present)."""
    if not isinstance(features, Mapping) or not features:
        raise InvalidInputError(f"The {split} features must be a non-empty dict {{modality: array}}.")
    lengths = {}
    for m, x in features.items():
        x = np.asarray(x)
        if x.ndim != 2:
            raise InvalidInputError(f"The {split} features of {m} must be 2-D (samples x features), got shape {x.shape}.")
        if not np.all(np.isfinite(x)):
            bad = int((~np.isfinite(x)).any(axis=1).sum())
            raise InvalidInputError(f"The {split} features of {m} contain NaN or infinite values ({bad} rows).",
                                    hint="Fix or drop those samples (or impute them) before fusion.")
        lengths[m] = x.shape[0]
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"The modalities of the {split} split have different numbers of samples: {lengths}.",
                                hint="Every modality needs exactly one row per sample, in the same order.")
    if labels is None:
        return
    labels = np.asarray(labels)
    n = next(iter(lengths.values()))
    if labels.shape != (n,):
        raise InvalidInputError(f"The {split} split has {n} samples but {labels.shape[0] if labels.ndim else 0} labels.")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise InvalidInputError(f"The {split} labels must be integers in [0, {n_classes}), got {labels.min()}..{labels.max()}.")
    if require_all_classes:
        absent = [LABELS[c] if n_classes == len(LABELS) else str(c) for c in range(n_classes) if not (labels == c).any()]
        if absent:
            raise InvalidInputError(f"The {split} labels have no example of class(es) {absent}.",
                                    hint="Every class needs training examples; use more data or another split.")


# -- features per seed (cached in memory) -----------------------------------------------------------
_FEATURE_CACHE: dict[tuple, LabData] = {}


def seed_data(seed: int, setting: FusionSetting = FusionSetting()) -> LabData:
    """The procedural data of one seed as :class:`~mmbench.fusion.data.LabData` (``data["train"]``,
    ``data["val"]``, ``data["test"]`` are ``(features, labels)``); computed once, then cached."""
    key = (seed, setting)
    if key not in _FEATURE_CACHE:
        _FEATURE_CACHE[key] = procedural_split(seed, setting)
        while len(_FEATURE_CACHE) > 12:
            _FEATURE_CACHE.pop(next(iter(_FEATURE_CACHE)))
    return _FEATURE_CACHE[key]


# -- training and scoring ---------------------------------------------------------------------------
def _tensors(features: Mapping[str, np.ndarray]):
    import torch

    return {m: torch.as_tensor(np.asarray(x, dtype=np.float32)) for m, x in features.items()}


def _aux_heads(model, config: TrainConfig, n_classes: int):
    """Auxiliary per-modality heads ``Linear(h_m) -> logits`` for the multi-task loss, or None."""
    from torch import nn

    if not config.multitask or not hasattr(model, "encoding_dim") or model.name in UNIMODAL:
        return None
    return nn.ModuleDict({m: nn.Linear(model.encoding_dim, n_classes) for m in model.modalities})


def modality_logits(model, aux_heads=None) -> dict:
    """Per-modality logits of the model's last call: the late-fusion classifiers' own, else the
    auxiliary heads' on the encodings (a model trained with ``multitask=True``); empty otherwise."""
    if model.modality_logits:
        return dict(model.modality_logits)
    if aux_heads is not None and model.encodings:
        return {m: aux_heads[m](h) for m, h in model.encodings.items()}
    return {}


def _loss(model, aux_heads, x, y, config: TrainConfig):
    """``fused_weight * L(y) + sum_m w_m L(y_m)`` on one (sub-)batch."""
    import torch.nn.functional as F

    loss = config.fused_weight * F.cross_entropy(model(x), y)
    per_modality = modality_logits(model, aux_heads)
    if per_modality:
        total_w = 0.0
        aux = 0.0
        for m, logits in per_modality.items():
            w = config.weight_of(m)
            aux = aux + w * F.cross_entropy(logits, y)
            total_w += 1
        loss = loss + aux / total_w  # the mean over modalities keeps the scale of the old aux_weight
    return loss


def _dropout_loss(model, aux_heads, x, y, config: TrainConfig, gen):
    """Modality dropout: each sample loses one random modality with probability p; samples are
    grouped by what they lost (one forward per group) and the group losses averaged by size."""
    import torch

    mods = [m for m in model.modalities if m in x]
    if len(mods) < 2 or config.modality_dropout <= 0:
        return _loss(model, aux_heads, x, y, config)
    n = y.shape[0]
    drop = torch.rand(n, generator=gen) < config.modality_dropout
    which = torch.randint(len(mods), (n,), generator=gen)
    group = torch.where(drop, which, torch.full_like(which, -1))
    loss = 0.0
    for g in group.unique().tolist():
        rows = (group == g).nonzero().squeeze(1)
        sub = {m: v[rows] for m, v in x.items() if g < 0 or m != mods[g]}
        loss = loss + _loss(model, aux_heads, sub, y[rows], config) * (len(rows) / n)
    return loss


def train_strategy(name: str, train: tuple[Mapping[str, np.ndarray], np.ndarray],
                   val: tuple[Mapping[str, np.ndarray], np.ndarray], seed: int = 0,
                   config: TrainConfig = TrainConfig(), n_classes: int = len(LABELS)):
    """Train strategy ``name`` full-batch with Adam; keep the weights of the best validation loss.

    With ``config.multitask`` the auxiliary heads are attached to the returned model as
    ``model.aux_heads`` (so :func:`modality_logits` can read them later)."""
    import torch
    import torch.nn.functional as F

    config.check()
    check_features(train[0], train[1], split="train", require_all_classes=True, n_classes=n_classes)
    check_features(val[0], val[1], split="validation", n_classes=n_classes)
    missing = set(val[0]) ^ set(train[0])
    if missing:
        raise InvalidInputError(f"The training and validation splits have different modalities: "
                                f"{sorted(train[0])} vs {sorted(val[0])}.")
    torch.manual_seed(seed * 1009 + sorted(STRATEGIES).index(name) if name in STRATEGIES else seed)
    dims = {m: int(np.asarray(x).shape[1]) for m, x in train[0].items()}
    model = build_strategy(name, dims, hidden=config.hidden, dropout=config.dropout, n_classes=n_classes)
    aux_heads = _aux_heads(model, config, n_classes)
    xtr, ytr = _tensors(train[0]), torch.as_tensor(np.asarray(train[1]), dtype=torch.long)
    xva, yva = _tensors(val[0]), torch.as_tensor(np.asarray(val[1]), dtype=torch.long)
    params = list(model.parameters()) + (list(aux_heads.parameters()) if aux_heads is not None else [])
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(seed * 7919 + 17)
    best, best_state, since = float("inf"), None, 0
    for _epoch in range(config.max_epochs):
        model.train()
        opt.zero_grad()
        loss = _dropout_loss(model, aux_heads, xtr, ytr, config, gen)
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            vloss = F.cross_entropy(model(xva), yva).item()
        if vloss < best - 1e-4:
            best, since = vloss, 0
            best_state = (copy.deepcopy(model.state_dict()),
                          copy.deepcopy(aux_heads.state_dict()) if aux_heads is not None else None)
        else:
            since += 1
            if since >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state[0])
        if aux_heads is not None:
            aux_heads.load_state_dict(best_state[1])
    model.aux_heads = aux_heads.eval() if aux_heads is not None else None
    model.eval()
    return model


def predict_proba(model, features: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(N, C)`` class probabilities; modalities absent from ``features`` count as missing."""
    import torch

    check_features(features, split="test", n_classes=model.n_classes)
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(_tensors(features)), dim=1).numpy()


def classification_metrics(labels: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy, macro precision/recall/F1, confusion matrix, one-vs-rest ROC-AUC and PR-AUC, and
    the expected calibration error (10 confidence bins)."""
    from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix,
                                 precision_recall_fscore_support, roc_auc_score)

    labels = np.asarray(labels)
    pred = proba.argmax(axis=1)
    classes = list(range(proba.shape[1]))
    p, r, f1, _ = precision_recall_fscore_support(labels, pred, labels=classes, average="macro", zero_division=0)
    onehot = np.eye(proba.shape[1])[labels]
    present = onehot.sum(axis=0) > 0
    try:
        roc = float(roc_auc_score(onehot[:, present], proba[:, present], average="macro"))
    except ValueError:
        roc = float("nan")
    pr = float(average_precision_score(onehot[:, present], proba[:, present], average="macro"))
    conf = proba.max(axis=1)
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(abs((pred[bins == b] == labels[bins == b]).mean() - conf[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    return {"accuracy": float(accuracy_score(labels, pred)), "macro_precision": float(p), "macro_recall": float(r),
            "macro_f1": float(f1), "roc_auc_ovr": roc, "pr_auc_ovr": pr, "ece": float(ece),
            "confusion_matrix": confusion_matrix(labels, pred, labels=classes).tolist()}


def calibration_bins(labels: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> dict:
    """Reliability diagram data: per confidence bin (top-class probability), the mean confidence,
    the accuracy and the number of samples; ``ece`` = sum_b (n_b / N) |acc_b - conf_b|."""
    labels = np.asarray(labels)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=correct.astype(float), minlength=n_bins) / count
    ece = float(np.nansum(np.abs(accuracy - mean_conf) * count) / max(1, len(labels)))
    return {"edges": np.linspace(0, 1, n_bins + 1).tolist(), "confidence": mean_conf.tolist(),
            "accuracy": accuracy.tolist(), "count": count.tolist(), "ece": ece}


def curves(labels: np.ndarray, proba: np.ndarray, label_names: Sequence[str] = LABELS) -> dict:
    """One-vs-rest ROC and precision-recall curves per class, and the reliability diagram.

    ``{"roc": {class: {"fpr", "tpr", "auc"}}, "pr": {class: {"recall", "precision", "ap"}},
    "calibration": calibration_bins(...)}``; a class absent from ``labels`` has no curve."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    labels = np.asarray(labels)
    out: dict = {"roc": {}, "pr": {}}
    for c, name in enumerate(label_names[:proba.shape[1]]):
        positive = labels == c
        if not positive.any() or positive.all():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, c])
        precision, recall, _ = precision_recall_curve(positive, proba[:, c])
        out["roc"][name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(auc(fpr, tpr))}
        out["pr"][name] = {"recall": recall.tolist(), "precision": precision.tolist(),
                           "ap": float(average_precision_score(positive, proba[:, c])), "prevalence": float(positive.mean())}
    out["calibration"] = calibration_bins(labels, proba)
    return out


def robustness(model, features: Mapping[str, np.ndarray], labels: np.ndarray, noise_std: float = 1.0,
               seed: int = 0) -> dict[str, float]:
    """Macro-F1 with each modality removed (``missing_<m>``) or noised with ``N(0, noise_std)`` on
    its standardised features (``noised_<m>``)."""
    from sklearn.metrics import f1_score

    out = {}
    rng = np.random.default_rng(seed)
    for m in features:
        rest = {k: v for k, v in features.items() if k != m}
        out[f"missing_{m}"] = float(f1_score(labels, predict_proba(model, rest).argmax(1), average="macro"))
        noised = dict(features)
        noised[m] = features[m] + rng.normal(0, noise_std, features[m].shape).astype(np.float32)
        out[f"noised_{m}"] = float(f1_score(labels, predict_proba(model, noised).argmax(1), average="macro"))
    return out


# -- the comparison ---------------------------------------------------------------------------------
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
        every seed pooled (see :func:`curves`)."""
        if strategy not in self.probas:
            raise InvalidInputError(f"No predictions of strategy {strategy!r} in this report.",
                                    hint=f"It has {list(self.probas)}.")
        return curves(np.concatenate(self.labels), np.concatenate(self.probas[strategy]), self.label_names)

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


def compare(strategies: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2),
            setting: FusionSetting | None = None, progress: Callable[[str], None] | None = None,
            config: TrainConfig = TrainConfig(), with_robustness: bool = True, *, data: Any = None,
            representations: Mapping[str, str] | None = None, ablation: bool | Sequence[str] = False,
            keep_models: bool = True) -> FusionReport:
    """Train and score every strategy for every seed, on procedural or real data.

    Args:
        strategies: names from :data:`~mmbench.fusion.strategies.STRATEGIES` (default: all that the
            data's modalities allow).
        seeds: each seed is its own procedural dataset (``SentimentWorld(seed)``) — or, for real
            data, its own split (one dataset) and weight initialisation.
        setting: the procedural data setting (reliability, noise, sizes); not with ``data``.
        progress: receives one line of text per step (e.g. ``print`` to stderr, or a UI callback).
        config: training options shared by every strategy (multi-task loss, modality dropout...).
        with_robustness: also score each fusion model with a modality removed / noised at test time.
        data: real data as the loaders give it (see :func:`mmbench.fusion.data.lab_data`): one or three
            :class:`~mmbench.data.loaders.MultimodalDataset`, or ``lab_splits(...)``'s dict.
        representations: ``{modality: name}`` (``"minilm"``, ``"clip"``, ``"cnn"``, ``"tfidf"``...).
        ablation: ``True`` (every fusion strategy) or a list of strategies to retrain without each modality.
        keep_models: keep the first seed's trained models in the report (single-example view).
    """
    if data is not None and setting is not None:
        raise InvalidInputError("Pass either setting= (procedural data) or data= (real data), not both.")
    if not seeds:
        raise InvalidInputError("compare needs at least one seed.")
    config.check()
    if data is None:
        setting = setting or FusionSetting()
        if representations:
            from dataclasses import replace

            from .representations import resolve

            setting = replace(setting, representations=tuple(sorted(resolve(representations).items())))
    log = progress or (lambda _msg: None)
    requested = None if strategies is None else list(strategies)
    unknown = [s for s in (requested or []) if s not in STRATEGIES]
    if unknown or requested == []:
        raise InvalidInputError(f"Unknown fusion strategy {unknown or requested!r}.",
                                hint=f"Choose from {list(STRATEGIES)}.")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the models are tiny: one thread is faster than paying for thread sync
    try:
        return _compare(requested, seeds, setting, data, representations, log, config, with_robustness, ablation,
                        keep_models)
    finally:
        torch.set_num_threads(threads)


def _seed_data(seed: int, setting, data, representations) -> LabData:
    if data is None:
        return seed_data(seed, setting)
    return lab_data(data, seed=seed, representations=representations)


def _usable(strategies, modalities, explicit: bool) -> list[str]:
    out = []
    for s in strategies:
        if s in UNIMODAL and s not in modalities:
            if explicit:
                raise InvalidInputError(f"Strategy {s!r} needs {s} features, and the data has none.",
                                        hint=f"The data has {modalities}; choose strategies that use them.")
            continue
        out.append(s)
    return out


def _compare(requested, seeds, setting, data, representations, log, config, with_robustness, ablation,
             keep_models) -> FusionReport:
    start = time.perf_counter()
    report: FusionReport | None = None
    gates: list[np.ndarray] = []
    for k, seed in enumerate(seeds):
        t0 = time.perf_counter()
        d = _seed_data(int(seed), setting, data, representations)
        log(f"seed {seed}: data and features ready ({time.perf_counter() - t0:.1f}s)")
        if report is None:
            strategies = _usable(requested or DEFAULT_STRATEGIES, d.modalities, requested is not None)
            if not strategies:
                raise InvalidInputError("No strategy can run on this data.")
            report = FusionReport(strategies, [int(s) for s in seeds], label_names=tuple(d.label_names),
                                  modalities=d.modalities, representations=dict(d.representations),
                                  source=d.source, config=config, example_data=d)
            ablate = [s for s in (strategies if ablation is True else (ablation or ())) if s not in UNIMODAL]
            unknown = [s for s in ablate if s not in strategies]
            if unknown:
                raise InvalidInputError(f"Ablation asked for strategies that are not compared: {unknown}.")
        (xte, yte) = d.test
        report.labels.append(np.asarray(yte))
        report.test_data.append(d.test_dataset)
        for name in report.strategies:
            t0 = time.perf_counter()
            model = train_strategy(name, d.train, d.val, seed=int(seed), config=config, n_classes=d.n_classes)
            proba = predict_proba(model, xte)
            result = classification_metrics(yte, proba)
            if with_robustness and name not in UNIMODAL and len(xte) > 1:
                result.update(robustness(model, xte, yte, seed=int(seed)))
            if name == "gated":
                w = model.gate_weights(_tensors(xte))
                gates.append(np.array([w[m].mean().item() for m in report.modalities if m in w]))
            if name in ablate and len(xte) > 1:
                for m in report.modalities:
                    without = ({x: v for x, v in d.train[0].items() if x != m}, d.train[1])
                    val = ({x: v for x, v in d.val[0].items() if x != m}, d.val[1])
                    sub = train_strategy(name, without, val, seed=int(seed), config=config, n_classes=d.n_classes)
                    f1 = classification_metrics(yte, predict_proba(sub, {x: v for x, v in xte.items() if x != m}))
                    report.ablation.setdefault(name, {}).setdefault(f"without_{m}", []).append(f1["macro_f1"])
            report.results.setdefault(name, []).append(result)
            report.probas.setdefault(name, []).append(proba)
            if keep_models and k == 0:
                report.models[name] = model
            log(f"seed {seed}: {name:13} macro-F1 {result['macro_f1']:.3f} ({time.perf_counter() - t0:.1f}s)")
    if gates:
        report.gate_weights = dict(zip([m for m in report.modalities], np.mean(gates, axis=0).tolist()))
    report.wall_seconds = time.perf_counter() - start
    return report
