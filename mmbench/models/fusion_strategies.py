"""Fusion strategies with one interface: ``model({modality: (N, D_m) tensor}) -> (N, C) logits``.

A modality missing at test time is simply absent from the input dict. Each strategy decides what
that means, which is part of what the lab compares: feature-level fusion must impute (a zero row
is the training mean, since features are standardised), while gated, attention and late fusion
renormalise over the modalities that are present. Strategies that also produce per-modality
logits store them in ``self.modality_logits``, and strategies with per-modality encoders store the
encodings ``h_m`` of the last call in ``self.encodings`` (the lab's multi-task loss puts auxiliary
heads on them: ``loss = w_0 L(y) + sum_m w_m L(head_m(h_m))``).

Formulas (``x_m``: features of modality m, ``h_m = enc_m(x_m)``: a small per-modality encoder):

* unimodal:   ``y = MLP(x_m)``
* concat:     ``h = [x_text; x_image; x_audio]``, ``y = MLP(h)`` (early / feature-level fusion)
* fc:         ``y = FC(ReLU(FC([h_text; h_image; h_audio])))`` (deep fusion of learned encodings)
* late_*:     per-modality classifiers ``y_m``; average ``log mean_m softmax(y_m)``, product
              ``sum_m log softmax(y_m)``, max ``log max_m softmax(y_m)``, learned ``sum_m w_m y_m``
              with ``w = softmax(v)`` (the chapter's ``S = a S_v + b S_a``)
* gated:      ``a_m = softmax_m(w^T h_m)``, ``h = sum_m a_m h_m``, ``y = FC(h)`` (the chapter's gate)
* tfn:        ``z = [h_t; 1] (x) [h_i; 1] (x) [h_a; 1]`` (outer product), ``y = MLP(vec z)``
* lmf:        ``z = sum_k prod_m ([h_m; 1] W_m^(k))`` (rank-k factors of the TFN weight), ``y = FC(z)``
* attention:  tokens ``h_m + e_m`` -> one transformer encoder layer -> mean over present tokens -> FC
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from ..errors import InvalidInputError

MODALITIES: tuple[str, ...] = ("text", "image", "audio")


def _mlp(d_in: int, hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, d_out))


def _encoder(d_in: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, hidden), nn.ReLU())


class FusionModel(nn.Module):
    """Base class: holds the modality names and input sizes; subclasses implement ``fuse``."""

    name = "fusion"
    uses_modalities: tuple[str, ...] | None = None  # None: all of ``dims``

    def __init__(self, dims: Mapping[str, int], n_classes: int = 3, hidden: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        self.dims = dict(dims)
        self.modalities = tuple(m for m in self.dims if self.uses_modalities is None or m in self.uses_modalities)
        self.n_classes, self.hidden, self.dropout = n_classes, hidden, dropout
        self.modality_logits: dict[str, torch.Tensor] | None = None
        self.encodings: dict[str, torch.Tensor] | None = None

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        present = [m for m in self.modalities if m in inputs]
        if not present:
            n = next(iter(inputs.values())).shape[0] if inputs else 0
            return torch.zeros(n, self.n_classes)  # nothing to go on: uniform prediction
        self.modality_logits = None
        self.encodings = None
        return self.fuse(inputs, present)

    def fuse(self, inputs: Mapping[str, torch.Tensor], present: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def _batch(self, inputs: Mapping[str, torch.Tensor]) -> int:
        return next(iter(inputs.values())).shape[0]

    def _filled(self, inputs: Mapping[str, torch.Tensor], m: str) -> torch.Tensor:
        """The features of ``m``, or the training mean (zeros: features are standardised) if missing."""
        return inputs[m] if m in inputs else torch.zeros(self._batch(inputs), self.dims[m])


class Unimodal(FusionModel):
    """Baseline on one modality: ``y = MLP(x_m)``."""

    def __init__(self, dims, modality: str, **kw) -> None:
        self.uses_modalities = (modality,)
        super().__init__(dims, **kw)
        self.name = modality
        self.net = _mlp(self.dims[modality], self.hidden, self.n_classes, self.dropout)

    def fuse(self, inputs, present):
        return self.net(inputs[present[0]])


class ConcatFusion(FusionModel):
    """Early fusion: ``h = [x_text; x_image; x_audio]``, ``y = MLP(h)``; a missing modality is mean-imputed."""

    name = "concat"

    def __init__(self, dims, **kw) -> None:
        super().__init__(dims, **kw)
        self.net = _mlp(sum(self.dims[m] for m in self.modalities), self.hidden, self.n_classes, self.dropout)

    def fuse(self, inputs, present):
        return self.net(torch.cat([self._filled(inputs, m) for m in self.modalities], dim=1))


class _Encoded(FusionModel):
    """Strategies that first encode each modality: ``h_m = ReLU(W_m x_m + b_m)``."""

    def __init__(self, dims, **kw) -> None:
        super().__init__(dims, **kw)
        self.encoders = nn.ModuleDict({m: _encoder(self.dims[m], self.hidden, self.dropout) for m in self.modalities})

    @property
    def encoding_dim(self) -> int:
        """Size of each ``h_m`` (what an auxiliary per-modality head takes)."""
        return self.hidden

    def encode(self, inputs, present) -> dict[str, torch.Tensor]:
        self.encodings = {m: self.encoders[m](inputs[m]) for m in present}
        return self.encodings


class FCFusion(_Encoded):
    """Deep fusion: ``y = FC(ReLU(FC([h_text; h_image; h_audio])))``; a missing ``h_m`` is zero."""

    name = "fc"

    def __init__(self, dims, **kw) -> None:
        super().__init__(dims, **kw)
        self.head = nn.Sequential(nn.Linear(self.hidden * len(self.modalities), self.hidden), nn.ReLU(),
                                  nn.Dropout(self.dropout), nn.Linear(self.hidden, self.n_classes))

    def fuse(self, inputs, present):
        h = self.encode(inputs, present)
        zeros = torch.zeros(self._batch(inputs), self.hidden)
        return self.head(torch.cat([h.get(m, zeros) for m in self.modalities], dim=1))


class LateFusion(FusionModel):
    """Decision-level fusion of per-modality classifiers ``y_m = MLP_m(x_m)``.

    ``rule``: ``average`` (of probabilities), ``product`` (sum of log-probabilities), ``max`` (of
    probabilities) or ``learned`` (``sum_m w_m y_m`` with ``w = softmax(v)`` learned).
    """

    RULES = ("average", "product", "max", "learned")

    def __init__(self, dims, rule: str = "average", **kw) -> None:
        super().__init__(dims, **kw)
        if rule not in self.RULES:
            raise InvalidInputError(f"Unknown late-fusion rule {rule!r}.", hint=f"Use one of {list(self.RULES)}.")
        self.rule, self.name = rule, f"late_{rule}"
        self.heads = nn.ModuleDict({m: _mlp(self.dims[m], self.hidden, self.n_classes, self.dropout)
                                    for m in self.modalities})
        self.v = nn.Parameter(torch.zeros(len(self.modalities)))

    def weights(self) -> dict[str, float]:
        """The learned per-modality weights ``w = softmax(v)`` (meaningful for ``rule="learned"``)."""
        return dict(zip(self.modalities, torch.softmax(self.v, 0).tolist()))

    def fuse(self, inputs, present):
        logits = {m: self.heads[m](inputs[m]) for m in present}
        self.modality_logits = logits
        stacked = torch.stack([logits[m] for m in present])  # (M, N, C)
        logp = torch.log_softmax(stacked, dim=-1)
        if self.rule == "average":
            return torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(len(present))))
        if self.rule == "product":
            return logp.sum(dim=0)
        if self.rule == "max":
            return logp.max(dim=0).values
        idx = torch.tensor([self.modalities.index(m) for m in present])
        w = torch.softmax(self.v[idx], dim=0)  # renormalised over the present modalities
        return (w[:, None, None] * stacked).sum(dim=0)


class GatedFusion(_Encoded):
    """The chapter's gated attention: ``a_m = softmax_m(w^T h_m)``, ``h = sum_m a_m h_m``, ``y = FC(h)``.

    The softmax runs over the modalities present, so a missing modality gets weight 0. The
    per-sample weights of the last call are in ``last_weights`` (N, M) — or call :meth:`gate_weights`.
    """

    name = "gated"

    def __init__(self, dims, **kw) -> None:
        super().__init__(dims, **kw)
        self.encoders = nn.ModuleDict({m: nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.dims[m], self.hidden),
                                                        nn.Tanh()) for m in self.modalities})
        self.w = nn.Linear(self.hidden, 1)
        self.head = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.hidden, self.n_classes))
        self.last_weights: torch.Tensor | None = None
        self.last_modalities: list[str] = []

    def fuse(self, inputs, present):
        h = torch.stack(list(self.encode(inputs, present).values()), dim=1)  # (N, M, d)
        a = torch.softmax(self.w(h).squeeze(-1), dim=1)  # (N, M)
        self.last_weights, self.last_modalities = a.detach(), list(present)
        return self.head((a.unsqueeze(-1) * h).sum(dim=1))

    @torch.no_grad()
    def gate_weights(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-sample gate weights ``{modality: (N,)}`` (eval mode; they sum to 1 over modalities)."""
        was = self.training
        self.eval()
        self(inputs)
        self.train(was)
        return {m: self.last_weights[:, k] for k, m in enumerate(self.last_modalities)}


class TensorFusion(_Encoded):
    """Tensor Fusion Network: ``z = [h_t; 1] (x) [h_i; 1] (x) [h_a; 1]`` keeps every uni-, bi- and
    trimodal product term; ``y = MLP(vec z)``. A missing modality contributes ``[0; 1]``."""

    name = "tfn"

    def __init__(self, dims, rank_dim: int = 8, **kw) -> None:
        super().__init__(dims, **kw)
        self.rank_dim = rank_dim
        self.encoders = nn.ModuleDict({m: _encoder(self.dims[m], rank_dim, self.dropout) for m in self.modalities})
        self.head = _mlp((rank_dim + 1) ** len(self.modalities), self.hidden, self.n_classes, self.dropout)

    @property
    def encoding_dim(self) -> int:
        return self.rank_dim

    def fuse(self, inputs, present):
        n = self._batch(inputs)
        z = torch.ones(n, 1)
        enc = self.encode(inputs, present)
        for m in self.modalities:
            h = enc[m] if m in enc else torch.zeros(n, self.rank_dim)
            zm = torch.cat([h, torch.ones(n, 1)], dim=1)
            z = (z.unsqueeze(2) * zm.unsqueeze(1)).reshape(n, -1)
        return self.head(z)


class LowRankFusion(_Encoded):
    """Low-rank Multimodal Fusion: the TFN weight factorised into ``rank`` per-modality factors,
    ``z = sum_k prod_m ([h_m; 1] W_m^(k))`` — never materialising the outer product; ``y = FC(z)``."""

    name = "lmf"

    def __init__(self, dims, rank: int = 4, **kw) -> None:
        super().__init__(dims, **kw)
        self.rank = rank
        self.factors = nn.ParameterDict({m: nn.Parameter(torch.randn(rank, self.hidden + 1, self.hidden) * 0.1)
                                         for m in self.modalities})
        self.head = nn.Sequential(nn.Dropout(self.dropout), nn.Linear(self.hidden, self.n_classes))

    def fuse(self, inputs, present):
        n = self._batch(inputs)
        prod = torch.ones(self.rank, n, self.hidden)
        enc = self.encode(inputs, present)
        for m in self.modalities:
            h = enc[m] if m in enc else torch.zeros(n, self.hidden)
            zm = torch.cat([h, torch.ones(n, 1)], dim=1)
            prod = prod * torch.einsum("nd,kdo->kno", zm, self.factors[m])
        return self.head(prod.sum(dim=0))


class CrossModalAttention(_Encoded):
    """A small transformer over the modality tokens: ``t_m = h_m + e_m``; one encoder layer
    (self-attention lets each modality attend to the others); mean over present tokens; ``y = FC``."""

    name = "attention"

    def __init__(self, dims, heads: int = 4, **kw) -> None:
        super().__init__(dims, **kw)
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.modalities), self.hidden))
        self.layer = nn.TransformerEncoderLayer(self.hidden, heads, dim_feedforward=2 * self.hidden,
                                                dropout=self.dropout, batch_first=True)
        self.head = nn.Linear(self.hidden, self.n_classes)

    def fuse(self, inputs, present):
        idx = [self.modalities.index(m) for m in present]
        tokens = torch.stack(list(self.encode(inputs, present).values()), dim=1) + self.modality_embedding[idx]
        return self.head(self.layer(tokens).mean(dim=1))


UNIMODAL: tuple[str, ...] = MODALITIES
STRATEGIES: dict[str, Callable[..., FusionModel]] = {
    "text": lambda dims, **kw: Unimodal(dims, "text", **kw),
    "image": lambda dims, **kw: Unimodal(dims, "image", **kw),
    "audio": lambda dims, **kw: Unimodal(dims, "audio", **kw),
    "concat": ConcatFusion,
    "fc": FCFusion,
    "late_average": lambda dims, **kw: LateFusion(dims, "average", **kw),
    "late_product": lambda dims, **kw: LateFusion(dims, "product", **kw),
    "late_max": lambda dims, **kw: LateFusion(dims, "max", **kw),
    "late_learned": lambda dims, **kw: LateFusion(dims, "learned", **kw),
    "gated": GatedFusion,
    "tfn": TensorFusion,
    "lmf": LowRankFusion,
    "attention": CrossModalAttention,
}


def build_strategy(name: str, dims: Mapping[str, int], **kw) -> FusionModel:
    """A fresh model for strategy ``name`` (see :data:`STRATEGIES`) on inputs of sizes ``dims``."""
    if name not in STRATEGIES:
        raise InvalidInputError(f"Unknown fusion strategy {name!r}.", hint=f"Choose from {list(STRATEGIES)}.")
    missing = [m for m in MODALITIES if m not in dims and (name not in UNIMODAL or name == m)]
    if missing and name in UNIMODAL:
        raise InvalidInputError(f"Strategy {name!r} needs {name} features, which were not given.")
    return STRATEGIES[name](dims, **kw)
