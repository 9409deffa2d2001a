"""Training and scoring of one fusion strategy: :class:`TrainConfig` (shared by every strategy, so the
comparison is fair), the multi-task loss and modality dropout, :func:`train_strategy` (full-batch Adam,
early stopping on the validation split), :func:`predict_proba` and the test-time :func:`robustness`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..data.sentiment import LABELS
from ..errors import InvalidInputError
from ..models.fusion_strategies import STRATEGIES, UNIMODAL, build_strategy
from .data import check_features


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


def tensors(features: Mapping[str, np.ndarray]):
    """``{modality: float32 torch tensor}`` from ``{modality: array}`` (the models' input)."""
    import torch

    return {m: torch.as_tensor(np.asarray(x, dtype=np.float32)) for m, x in features.items()}


def auxiliary_heads(model, config: TrainConfig, n_classes: int):
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


def multitask_loss(model, aux_heads, x, y, config: TrainConfig):
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


def modality_dropout_loss(model, aux_heads, x, y, config: TrainConfig, gen):
    """Modality dropout: each sample loses one random modality with probability p; samples are
    grouped by what they lost (one forward per group) and the group losses averaged by size."""
    import torch

    mods = [m for m in model.modalities if m in x]
    if len(mods) < 2 or config.modality_dropout <= 0:
        return multitask_loss(model, aux_heads, x, y, config)
    n = y.shape[0]
    drop = torch.rand(n, generator=gen) < config.modality_dropout
    which = torch.randint(len(mods), (n,), generator=gen)
    group = torch.where(drop, which, torch.full_like(which, -1))
    loss = 0.0
    for g in group.unique().tolist():
        rows = (group == g).nonzero().squeeze(1)
        sub = {m: v[rows] for m, v in x.items() if g < 0 or m != mods[g]}
        loss = loss + multitask_loss(model, aux_heads, sub, y[rows], config) * (len(rows) / n)
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
    aux_heads = auxiliary_heads(model, config, n_classes)
    xtr, ytr = tensors(train[0]), torch.as_tensor(np.asarray(train[1]), dtype=torch.long)
    xva, yva = tensors(val[0]), torch.as_tensor(np.asarray(val[1]), dtype=torch.long)
    params = list(model.parameters()) + (list(aux_heads.parameters()) if aux_heads is not None else [])
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(seed * 7919 + 17)
    best, best_state, since = float("inf"), None, 0
    for _epoch in range(config.max_epochs):
        model.train()
        opt.zero_grad()
        loss = modality_dropout_loss(model, aux_heads, xtr, ytr, config, gen)
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
        return torch.softmax(model(tensors(features)), dim=1).numpy()


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
