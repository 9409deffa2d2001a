"""Looking inside a fusion comparison: the error-case gallery and the single-example view.

* :func:`error_cases` — test samples a strategy got wrong (most confident mistakes first), each with
  its three modalities, the true label, what each modality's cue said (procedural data) and every
  strategy's prediction.
* :func:`explain_sample` — one test sample through one trained model: the class probabilities, each
  modality's contribution (the gate weights ``a_i`` of ``gated``; per-modality logits where the
  model has per-modality heads — late fusion, or any model trained with ``multitask=True``; and for
  every strategy the change of the predicted class's probability when the modality is removed) and
  word attributions for the text through :func:`mmbench.explain.explain_words`.

Both read a :class:`~mmbench.fusion.report.FusionReport`; nothing is retrained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..models.fusion_strategies import UNIMODAL
from .training import modality_logits, tensors


@dataclass
class ErrorCase:
    """One misclassified test sample, with everything needed to see why."""

    index: int  # position in the test split of ``seed``
    seed: int
    label: str
    strategy: str  # the strategy whose mistake selected this sample
    predictions: dict[str, str]  # every strategy's predicted class
    confidence: dict[str, float]  # every strategy's probability of its own prediction
    text: str | None = None
    image: Any = None  # (H, W, 3) uint8 array or an image path
    audio: np.ndarray | None = None
    cues: dict[str, str] | None = None  # procedural data: the class each modality's cue showed
    sample_id: str | None = None

    @property
    def wrong_by(self) -> list[str]:
        return [s for s, p in self.predictions.items() if p != self.label]


def _test_item(dataset: Any, i: int, label_names) -> dict:
    out: dict[str, Any] = {"text": None, "image": None, "audio": None, "cues": None, "sample_id": None}
    if dataset is None:
        return out
    texts = getattr(dataset, "texts", None)
    images = getattr(dataset, "images", None)
    audio = getattr(dataset, "audio", None)
    out["text"] = texts[i] if texts is not None else None
    out["image"] = images[i] if images is not None else None
    out["audio"] = audio[i] if audio is not None else None
    cues = getattr(dataset, "cues", None)
    if cues:
        out["cues"] = {m: label_names[int(c[i])] for m, c in cues.items()}
    ids = getattr(dataset, "ids", None)
    out["sample_id"] = ids[i] if ids is not None else None
    return out


def error_cases(report: Any, strategy: str | None = None, k: int = 8, seed: int | None = None) -> list[ErrorCase]:
    """Up to ``k`` test samples ``strategy`` (default: the best fusion strategy) misclassified for
    ``seed`` (default: the report's first), the most confident mistakes first."""
    strategy = strategy or report.best("fusion") or report.best("all")
    if strategy not in report.probas:
        raise InvalidInputError(f"No predictions of strategy {strategy!r} in this report.",
                                hint=f"It has {list(report.probas)}.")
    seed = report.seeds[0] if seed is None else int(seed)
    if seed not in report.seeds:
        raise InvalidInputError(f"Seed {seed} is not in this report (seeds {report.seeds}).")
    s = report.seeds.index(seed)
    labels = report.labels[s]
    names = report.label_names
    proba = report.probas[strategy][s]
    pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-proba[wrong, pred[wrong]], kind="stable")][:max(0, int(k))]
    cases = []
    for i in order:
        item = _test_item(report.test_data[s], int(i), names)
        cases.append(ErrorCase(
            index=int(i), seed=seed, label=names[int(labels[i])], strategy=strategy,
            predictions={st: names[int(report.probas[st][s][i].argmax())] for st in report.strategies},
            confidence={st: float(report.probas[st][s][i].max()) for st in report.strategies}, **item))
    return cases


# -- the single-example view ----------------------------------------------------------------------------------
@dataclass
class SampleExplanation:
    """How one model decided on one test sample (the report's first seed)."""

    index: int
    strategy: str
    label: str
    predicted: str
    probabilities: dict[str, float]
    gate_weights: dict[str, float] | None  # gated fusion: a_i of this sample
    modality_logits: dict[str, dict[str, float]] | None  # per-modality heads: {modality: {class: logit}}
    leave_one_out: dict[str, float]  # predicted-class probability change when the modality is removed
    words: Any = None  # a mmbench.explain.WordAttribution of the text, or None
    text: str | None = None
    image: Any = None
    audio: np.ndarray | None = None
    cues: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)


def text_model(report: Any, strategy: str, index: int):
    """The report's trained ``strategy`` as a :class:`mmbench.explain.TextModel` on the text of test
    sample ``index``: the other modalities' features of that sample are held fixed, the text varies.
    Differentiable (integrated gradients) when the text representation is a sentence-embedding model."""
    import torch

    from ..explain.text import TextModel
    from .representations import parse

    data, model = _example(report, strategy)
    fx = data.extractor
    if fx is None or "text" not in fx.representations:
        raise InvalidInputError("This report has no raw text to attribute (precomputed features only).")
    rep, _ = parse("text", fx.representations["text"])
    if rep.kind == "given":
        raise InvalidInputError("The text features came with the data; there is no raw text to attribute.")
    if "text" not in model.modalities:
        raise InvalidInputError(f"Strategy {strategy!r} does not read the text.")
    x_te = data.test[0]
    fixed = {m: x[index:index + 1] for m, x in x_te.items() if m != "text"}

    def logits_from_text_features(z):
        n = z.shape[0]
        inputs = {m: t.expand(n, -1) for m, t in tensors(fixed).items()}
        inputs["text"] = z
        return model(inputs)

    def predict(texts):
        with torch.no_grad():
            return logits_from_text_features(torch.as_tensor(fx.transform_values("text", texts))).numpy()

    tm = TextModel(predict=predict, labels=list(report.label_names))
    if rep.task == "sentence-embedding":
        from ..loading import pipeline

        backend = pipeline(rep.task, model=parse("text", fx.representations["text"])[1] or rep.model, device="cpu").backend
        mean, std = (torch.as_tensor(v) for v in fx.standardisation("text"))

        def forward(**batch):
            return logits_from_text_features((backend.encode_tokens(**batch) - mean) / std)

        tm = TextModel(predict=predict, labels=list(report.label_names), tokenizer=backend.tokenizer,
                       embeddings=backend.input_embeddings(), forward=forward)
    return tm


def _example(report: Any, strategy: str):
    if report.example_data is None or strategy not in report.models:
        raise InvalidInputError(f"The report keeps no trained {strategy!r} model.",
                                hint=f"Run compare(..., keep_models=True) with {strategy!r} among the strategies; "
                                     f"this report has models for {list(report.models)}.")
    return report.example_data, report.models[strategy]


def explain_sample(report: Any, index: int, strategy: str | None = None, word_method: str | None = "occlusion"
                   ) -> SampleExplanation:
    """Explain test sample ``index`` (first seed) under ``strategy`` (default: the best fusion one).

    ``word_method``: ``"occlusion"`` (any text representation), ``"integrated_gradients"`` (deep
    sentence-embedding text only) or None for no word attributions."""
    import torch

    strategy = strategy or report.best("fusion") or report.best("all")
    data, model = _example(report, strategy)
    x_te, y_te = data.test
    n = len(y_te)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= int(index) < n:
        raise InvalidInputError(f"The sample index must be a whole number from 0 to {n - 1}, got {index!r}.")
    index = int(index)
    names = list(report.label_names)
    x = {m: v[index:index + 1] for m, v in x_te.items()}
    notes: list[str] = []
    model.eval()
    with torch.no_grad():
        logits = model(tensors(x))
        proba = torch.softmax(logits, dim=1)[0].numpy()
        per_mod = modality_logits(model, getattr(model, "aux_heads", None))
        per_mod = {m: dict(zip(names, v[0].tolist())) for m, v in per_mod.items()} or None
        gates = None
        if hasattr(model, "last_weights") and model.last_weights is not None:
            gates = {m: float(model.last_weights[0, k]) for k, m in enumerate(model.last_modalities)}
        pred = int(proba.argmax())
        loo = {}
        for m in model.modalities:
            if m in x and len(model.modalities) > 1:
                rest = {k: v for k, v in x.items() if k != m}
                loo[m] = float(torch.softmax(model(tensors(rest)), dim=1)[0, pred]) - float(proba[pred])
    if per_mod is None and strategy not in UNIMODAL:
        notes.append(f"'{strategy}' has no per-modality heads; train with TrainConfig(multitask=True) to get "
                     "per-modality logits (late fusion always has them).")
    item = _test_item(data.test_dataset, index, names)
    words = None
    if word_method and item["text"] and "text" in model.modalities:
        from ..explain.text import explain_words

        try:
            words = explain_words(text_model(report, strategy, index), item["text"], target=pred, method=word_method)
        except InvalidInputError as err:
            notes.append(f"No word attributions: {err}")
    return SampleExplanation(index, strategy, names[int(y_te[index])], names[pred],
                             dict(zip(names, map(float, proba))), gates, per_mod, loo, words,
                             item["text"], item["image"], item["audio"], item["cues"], notes)
