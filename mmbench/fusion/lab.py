"""The fusion lab: train several fusion strategies on the same features and compare them fairly.

:func:`compare` generates the procedural sentiment data for each seed, computes the handcrafted
features once per seed, trains every strategy (full-batch Adam, early stopping on a validation
split), and scores it on a test split: accuracy, macro P/R/F1, confusion matrix, one-vs-rest
ROC-AUC and PR-AUC, calibration error, and robustness when a modality is removed or noised.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..data.sentiment import LABELS, MODALITIES, SentimentWorld
from ..errors import InvalidInputError
from .strategies import STRATEGIES, UNIMODAL, build_strategy

DEFAULT_STRATEGIES: tuple[str, ...] = tuple(STRATEGIES)
FUSION_STRATEGIES: tuple[str, ...] = tuple(s for s in STRATEGIES if s not in UNIMODAL)


@dataclass(frozen=True)
class FusionSetting:
    """Data setting: per-modality reliability/noise (see :class:`SentimentWorld`) and split sizes."""

    reliability: tuple[tuple[str, float], ...] | None = None
    noise: tuple[tuple[str, float], ...] | None = None
    n_train: int = 1500
    n_val: int = 300
    n_test: int = 600

    @classmethod
    def make(cls, reliability: Mapping[str, float] | float | None = None,
             noise: Mapping[str, float] | float | None = None, **sizes) -> "FusionSetting":
        def freeze(v):
            return tuple(sorted(v.items())) if isinstance(v, Mapping) else v
        return cls(freeze(reliability), freeze(noise), **sizes)

    def world(self, seed: int) -> SentimentWorld:
        def thaw(v):
            return dict(v) if isinstance(v, tuple) else v
        return SentimentWorld(seed, reliability=thaw(self.reliability), noise=thaw(self.noise))


@dataclass
class TrainConfig:
    """Training hyper-parameters shared by every strategy (so the comparison is fair)."""

    hidden: int = 32
    dropout: float = 0.3
    lr: float = 5e-3
    weight_decay: float = 1e-3
    max_epochs: int = 250
    patience: int = 20
    aux_weight: float = 0.5  # weight of the per-modality losses for strategies that have per-modality logits


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
_FEATURE_CACHE: dict[tuple, dict] = {}


def seed_data(seed: int, setting: FusionSetting = FusionSetting()) -> dict:
    """``{"train"|"val"|"test": (features, labels)}`` for one seed; computed once, then cached."""
    key = (seed, setting)
    if key not in _FEATURE_CACHE:
        from .features import HandcraftedFeatures

        world = setting.world(seed)
        train = world.dataset(setting.n_train)
        val = world.dataset(setting.n_val, start=setting.n_train)
        test = world.dataset(setting.n_test, start=setting.n_train + setting.n_val)
        fx = HandcraftedFeatures()
        _FEATURE_CACHE[key] = {"train": (fx.fit_transform(train), train.labels),
                               "val": (fx.transform(val), val.labels),
                               "test": (fx.transform(test), test.labels),
                               "test_dataset": test}
        while len(_FEATURE_CACHE) > 12:
            _FEATURE_CACHE.pop(next(iter(_FEATURE_CACHE)))
    return _FEATURE_CACHE[key]


# -- training and scoring ---------------------------------------------------------------------------
def _tensors(features: Mapping[str, np.ndarray]):
    import torch

    return {m: torch.as_tensor(np.asarray(x, dtype=np.float32)) for m, x in features.items()}


def train_strategy(name: str, train: tuple[Mapping[str, np.ndarray], np.ndarray],
                   val: tuple[Mapping[str, np.ndarray], np.ndarray], seed: int = 0,
                   config: TrainConfig = TrainConfig()):
    """Train strategy ``name`` full-batch with Adam; keep the weights of the best validation loss."""
    import torch
    import torch.nn.functional as F

    check_features(train[0], train[1], split="train", require_all_classes=True)
    check_features(val[0], val[1], split="validation")
    torch.manual_seed(seed * 1009 + sorted(STRATEGIES).index(name) if name in STRATEGIES else seed)
    dims = {m: int(np.asarray(x).shape[1]) for m, x in train[0].items()}
    model = build_strategy(name, dims, hidden=config.hidden, dropout=config.dropout)
    xtr, ytr = _tensors(train[0]), torch.as_tensor(np.asarray(train[1]), dtype=torch.long)
    xva, yva = _tensors(val[0]), torch.as_tensor(np.asarray(val[1]), dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best, best_state, since = float("inf"), None, 0
    for _epoch in range(config.max_epochs):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(xtr), ytr)
        if model.modality_logits and config.aux_weight:
            aux = sum(F.cross_entropy(y, ytr) for y in model.modality_logits.values()) / len(model.modality_logits)
            loss = loss + config.aux_weight * aux
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            vloss = F.cross_entropy(model(xva), yva).item()
        if vloss < best - 1e-4:
            best, best_state, since = vloss, copy.deepcopy(model.state_dict()), 0
        else:
            since += 1
            if since >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model


def predict_proba(model, features: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(N, C)`` class probabilities; modalities absent from ``features`` count as missing."""
    import torch

    check_features(features, split="test")
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
    """Per-strategy, per-seed results of :func:`compare`, with tables and a flat JSON summary."""

    strategies: list[str]
    seeds: list[int]
    results: dict[str, list[dict]] = field(default_factory=dict)  # strategy -> one dict per seed
    gate_weights: dict[str, float] = field(default_factory=dict)  # mean test gate weight per modality
    wall_seconds: float = 0.0

    def _values(self, strategy: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.results[strategy]], dtype=float)

    def table(self) -> list[dict]:
        """One row per strategy: mean and std over seeds of macro-F1, accuracy, ROC-AUC, and the
        mean macro-F1 drop when a modality is removed at test time."""
        rows = []
        for s in self.strategies:
            f1 = self._values(s, "macro_f1")
            rows.append({"strategy": s, "macro_f1_mean": float(f1.mean()), "macro_f1_std": float(f1.std()),
                         "accuracy_mean": float(self._values(s, "accuracy").mean()),
                         "roc_auc_mean": float(self._values(s, "roc_auc_ovr").mean()),
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
        """Mean over seeds and over the three modalities of (full macro-F1 - macro-F1 with it removed)."""
        return self._drop(strategy, "missing_")

    def robustness_table(self) -> dict[str, dict[str, float]]:
        """``{strategy: {"full": f1, "missing_text": f1, "noised_text": f1, ...}}`` (means over seeds)."""
        out = {}
        for s in self.strategies:
            keys = ["macro_f1"] + sorted(k for k in self.results[s][0] if k.startswith(("missing_", "noised_")))
            out[s] = {("full" if k == "macro_f1" else k): float(self._values(s, k).mean()) for k in keys}
        return out

    def format_table(self) -> str:
        lines = [f"{'strategy':14} {'macro-F1':>16} {'acc':>6} {'AUC':>6} {'drop(missing)':>14} {'drop(noised)':>13}"]
        for row in sorted(self.table(), key=lambda r: -r["macro_f1_mean"]):
            md, nd = row["missing_modality_drop"], row["noised_modality_drop"]
            lines.append(f"{row['strategy']:14} {row['macro_f1_mean']:8.3f} ± {row['macro_f1_std']:.3f} "
                         f"{row['accuracy_mean']:6.3f} {row['roc_auc_mean']:6.3f} "
                         f"{'' if md is None else f'{md:14.3f}'} {'' if nd is None else f'{nd:13.3f}'}")
        return "\n".join(lines)

    def summary(self) -> dict:
        """Flat, plainly named numbers for ``mmbench eval fusion``."""
        rows = {r["strategy"]: r for r in self.table()}
        uni = [s for s in self.strategies if s in UNIMODAL]
        fus = [s for s in self.strategies if s not in UNIMODAL]
        out: dict = {"seeds": list(self.seeds), "n_strategies": len(self.strategies)}
        out["macro_f1_mean"] = {s: round(r["macro_f1_mean"], 4) for s, r in rows.items()}
        out["macro_f1_std"] = {s: round(r["macro_f1_std"], 4) for s, r in rows.items()}
        out["accuracy_mean"] = {s: round(r["accuracy_mean"], 4) for s, r in rows.items()}
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
        if self.gate_weights:
            out["gate_weights_mean"] = {m: round(v, 4) for m, v in self.gate_weights.items()}
        out["wall_seconds"] = round(self.wall_seconds, 2)
        return out


def compare(strategies: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2),
            setting: FusionSetting | None = None, progress: Callable[[str], None] | None = None,
            config: TrainConfig = TrainConfig(), with_robustness: bool = True) -> FusionReport:
    """Train and score every strategy for every seed on the procedural sentiment data.

    Each seed is its own dataset (``SentimentWorld(seed)``) and its own weight initialisation.
    ``progress`` receives one line of text per step (e.g. ``print`` to stderr, or a UI callback).
    """
    strategies = list(DEFAULT_STRATEGIES if strategies is None else strategies)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise InvalidInputError(f"Unknown fusion strategy {unknown or strategies!r}.",
                                hint=f"Choose from {list(STRATEGIES)}.")
    if not seeds:
        raise InvalidInputError("compare needs at least one seed.")
    setting = setting or FusionSetting()
    log = progress or (lambda _msg: None)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the models are tiny: one thread is faster than paying for thread sync
    try:
        return _compare(strategies, seeds, setting, log, config, with_robustness)
    finally:
        torch.set_num_threads(threads)


def _compare(strategies, seeds, setting, log, config, with_robustness) -> FusionReport:
    start = time.perf_counter()
    report = FusionReport(strategies, [int(s) for s in seeds])
    gates: list[np.ndarray] = []
    for seed in seeds:
        t0 = time.perf_counter()
        data = seed_data(int(seed), setting)
        log(f"seed {seed}: data and features ready ({time.perf_counter() - t0:.1f}s)")
        (xte, yte) = data["test"]
        for name in strategies:
            t0 = time.perf_counter()
            model = train_strategy(name, data["train"], data["val"], seed=int(seed), config=config)
            result = classification_metrics(yte, predict_proba(model, xte))
            if with_robustness and name not in UNIMODAL:
                result.update(robustness(model, xte, yte, seed=int(seed)))
            if name == "gated":
                w = model.gate_weights(_tensors(xte))
                gates.append(np.array([w[m].mean().item() for m in MODALITIES if m in w]))
            report.results.setdefault(name, []).append(result)
            log(f"seed {seed}: {name:13} macro-F1 {result['macro_f1']:.3f} ({time.perf_counter() - t0:.1f}s)")
    if gates:
        report.gate_weights = dict(zip(MODALITIES, np.mean(gates, axis=0).tolist()))
    report.wall_seconds = time.perf_counter() - start
    return report
