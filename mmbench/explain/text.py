"""Word-level attributions for text classifiers: which words pushed the score of a class up or down.

>>> att = explain_words(model, "The film was not bad at all.", target="positive", method="occlusion")  # doctest: +SKIP
>>> att.top(3)                                                                                     # doctest: +SKIP
[('bad', 0.41), ('not', 0.22), ('all', 0.05)]

Two methods, one result type (:class:`WordAttribution`, one signed score per word):

* ``"occlusion"`` — model-agnostic: score(text) - score(text without word i). Works for any
  ``texts -> scores`` callable (a TF-IDF pipeline as well as a transformer).
* ``"integrated_gradients"`` — captum's ``LayerIntegratedGradients`` on the model's input-embedding
  layer, from a baseline where every word token is ``[PAD]`` (``[CLS]``/``[SEP]`` kept) to the text,
  summed over the embedding dimension and over the word pieces of each word. By completeness the
  word scores add up to score(text) - score(baseline) (``meta["delta"]`` is captum's error on that).

A model is a :class:`TextModel` (``predict`` for occlusion; ``tokenizer`` + ``embeddings`` +
``forward`` for gradients) or just a callable ``texts -> (N, C)`` scores.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..data.labels import target_class
from ..errors import InvalidInputError
from ..io import validate_text

__all__ = ["TEXT_METHODS", "TextModel", "WordAttribution", "explain_words", "split_words"]

TEXT_METHODS: tuple[str, ...] = ("occlusion", "integrated_gradients")
_WORD = re.compile(r"[\w'’-]+|[^\w\s]")


def split_words(text: str) -> list[tuple[int, int]]:
    """Character spans of the words (runs of letters, digits, apostrophes, hyphens) and of each
    punctuation mark: ``"not bad."`` -> ``[(0, 3), (4, 7), (7, 8)]``."""
    return [m.span() for m in _WORD.finditer(text)]


@dataclass
class TextModel:
    """A text classifier as the attribution methods see it.

    Attributes:
        predict: ``texts -> (N, C)`` scores (logits or probabilities) — what occlusion perturbs.
        labels: class names, index-aligned with the scores (optional).
        tokenizer: a Hugging Face *fast* tokenizer (offsets are needed to map word pieces to words).
        embeddings: the input-embedding ``nn.Module`` whose output integrated gradients attributes.
        forward: ``forward(**tokenizer_output) -> (N, C)`` scores as a differentiable torch tensor.
    """

    predict: Callable[[list[str]], Any]
    labels: Sequence[str] | None = None
    tokenizer: Any = None
    embeddings: Any = None
    forward: Callable[..., Any] | None = None

    @property
    def differentiable(self) -> bool:
        return self.tokenizer is not None and self.embeddings is not None and self.forward is not None


@dataclass
class WordAttribution:
    """Per-word contributions to one class score for one text.

    Attributes:
        text: the validated text; ``spans``: ``(start, end)`` of each word in it; ``words``: the words.
        scores: ``(n_words,)`` float, signed: > 0 supports ``target``, < 0 argues against it.
        method: ``"occlusion"`` or ``"integrated_gradients"``; target: the class name (or index as text);
        target_index: its index; score: the model's score of ``target`` on the full text.
        meta: method details (baseline score, completeness delta, timing...).
    """

    text: str
    spans: list[tuple[int, int]]
    scores: np.ndarray
    method: str
    target: str
    target_index: int
    score: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def words(self) -> list[str]:
        return [self.text[a:b] for a, b in self.spans]

    def normalized(self) -> np.ndarray:
        """Scores divided by the largest magnitude (in [-1, 1]; zeros stay zeros)."""
        peak = float(np.abs(self.scores).max()) if self.scores.size else 0.0
        return self.scores / peak if peak > 0 else np.zeros_like(self.scores)

    def top(self, k: int = 5, sign: str = "positive") -> list[tuple[str, float]]:
        """The ``k`` words with the largest (``"positive"``), most negative (``"negative"``) or
        largest absolute (``"abs"``) scores."""
        key = {"positive": -self.scores, "negative": self.scores, "abs": -np.abs(self.scores)}.get(sign)
        if key is None:
            raise InvalidInputError(f"sign must be 'positive', 'negative' or 'abs', not {sign!r}.")
        order = np.argsort(key, kind="stable")[:k]
        return [(self.words[i], float(self.scores[i])) for i in order]

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "words": self.words, "scores": [float(s) for s in self.scores],
                "method": self.method, "target": self.target, "score": self.score}

    def html(self) -> str:
        """The text with each word on a background whose colour says its sign (green supports the
        target, red argues against it) and whose strength says its magnitude; hover shows the score."""
        norm = self.normalized()
        out, pos = [], 0
        for (a, b), v, s in zip(self.spans, norm, self.scores):
            out.append(html.escape(self.text[pos:a]))
            rgb = "34,160,80" if v >= 0 else "214,60,60"
            out.append(f'<span title="{s:+.4f}" style="background: rgba({rgb},{abs(v) * 0.85:.2f}); '
                       f'border-radius: 3px; padding: 0 2px">{html.escape(self.text[a:b])}</span>')
            pos = b
        out.append(html.escape(self.text[pos:]))
        return (f'<div class="mmbench-word-attribution" style="line-height: 1.9">{"".join(out)}</div>'
                f'<div style="font-size: 0.8em; opacity: 0.7">{self.method} · target: {html.escape(self.target)}'
                f' · green supports it, red argues against it</div>')

    def figure(self, title: str | None = None) -> Any:
        """Horizontal bars, one per word in reading order (a matplotlib ``Figure``; no pyplot state)."""
        from matplotlib.figure import Figure

        n = len(self.spans)
        fig = Figure(figsize=(5.5, 0.28 * n + 1.0), layout="constrained")
        ax = fig.subplots()
        colours = ["#22a050" if s >= 0 else "#d63c3c" for s in self.scores]
        ax.barh(range(n), self.scores, color=colours)
        ax.set_yticks(range(n), self.words, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlabel(f"contribution to '{self.target}'", fontsize=8)
        ax.set_title(title or f"{self.method}", fontsize=9)
        return fig

    def __repr__(self) -> str:
        return (f"WordAttribution(method={self.method!r}, target={self.target!r}, words={len(self.spans)}, "
                f"top={self.top(3)})")


# -- the entry point -----------------------------------------------------------------------------------------
def _as_model(model: Any) -> TextModel:
    if isinstance(model, TextModel):
        return model
    if callable(model):
        return TextModel(predict=model)
    raise InvalidInputError(f"A text model is a TextModel or a callable texts -> scores, not {type(model).__name__}.")


def _scores(model: TextModel, texts: list[str]) -> np.ndarray:
    out = model.predict(texts)
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    out = np.asarray(out, dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != len(texts):
        raise InvalidInputError(f"The model's predict must return (N, classes) scores for N texts; got shape "
                                f"{out.shape} for {len(texts)} texts.")
    return out


def explain_words(model: Any, text: str, target: Any = None, method: str = "occlusion", *,
                  n_steps: int = 32, internal_batch_size: int | None = None) -> WordAttribution:
    """Attribute ``model``'s score for ``target`` on ``text`` to its words.

    Args:
        model: a :class:`TextModel` or a callable ``texts -> (N, C)`` scores.
        text: the text (validated: cleaned, non-empty, at most 1,000 characters).
        target: class index or name (names need ``model.labels``); None = the predicted class.
        method: ``"occlusion"`` (any model) or ``"integrated_gradients"`` (needs a differentiable
            :class:`TextModel`).
        n_steps: integration steps for integrated gradients.

    Raises:
        InvalidInputError (unknown method or target, a model that cannot do the method), TextError.
    """
    started = time.perf_counter()
    if method not in TEXT_METHODS:
        raise InvalidInputError(f"Unknown text attribution method {method!r}.", hint=f"Use one of {list(TEXT_METHODS)}.")
    tm = _as_model(model)
    text = validate_text(text)
    spans = split_words(text)
    if not spans:
        raise InvalidInputError("The text has no words to attribute.", hint="Type at least one word.")
    full = _scores(tm, [text])
    idx, name = target_class(tm.labels, target, full[0])
    if method == "occlusion":
        scores, meta = _occlusion(tm, text, spans, idx, full[0, idx])
    else:
        if not tm.differentiable:
            raise InvalidInputError("Integrated gradients needs a differentiable text model (a TextModel with "
                                    "tokenizer, embeddings and forward); this one only predicts.",
                                    hint="Use method='occlusion', which works with any model.")
        scores, meta = _integrated_gradients(tm, text, spans, idx, n_steps, internal_batch_size)
    meta["seconds"] = time.perf_counter() - started
    return WordAttribution(text, spans, np.asarray(scores, dtype=np.float64), method, name, idx,
                           float(full[0, idx]), meta)


def _without(text: str, span: tuple[int, int]) -> str:
    a, b = span
    return " ".join((text[:a] + " " + text[b:]).split())


def _occlusion(model: TextModel, text: str, spans, idx: int, full: float) -> tuple[np.ndarray, dict]:
    variants = [_without(text, s) for s in spans]
    # a text whose only word is removed becomes empty: score it as the model's empty input would be
    # scored if it accepts "", else count it as no evidence (0).
    scored = [v for v in variants if v]
    by_variant = dict(zip(scored, _scores(model, scored)[:, idx])) if scored else {}
    occluded = np.array([by_variant.get(v, full) for v in variants])
    return full - occluded, {"occluded_scores": occluded.tolist(), "baseline": "word removed"}


def _integrated_gradients(model: TextModel, text: str, spans, idx: int, n_steps: int,
                          internal_batch_size: int | None) -> tuple[np.ndarray, dict]:
    import torch
    from captum.attr import LayerIntegratedGradients

    tok = model.tokenizer
    if not getattr(tok, "is_fast", False):
        raise InvalidInputError("Integrated gradients needs a fast tokenizer (character offsets of word pieces).")
    batch = tok([text], return_tensors="pt", return_offsets_mapping=True, truncation=True)
    offsets = batch.pop("offset_mapping")[0].tolist()
    ids = batch["input_ids"]
    special = torch.tensor(tok.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True), dtype=torch.bool)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    baseline = torch.where(special[None], ids, torch.full_like(ids, pad))
    extra = {k: v for k, v in batch.items() if k != "input_ids"}
    device = next(model.embeddings.parameters()).device
    ids, baseline = ids.to(device), baseline.to(device)
    extra = {k: v.to(device) for k, v in extra.items()}

    def forward(input_ids, *args):
        n = input_ids.shape[0]
        kw = {k: v.expand(n, *v.shape[1:]) for k, v in extra.items()}
        return model.forward(input_ids=input_ids, **kw)

    lig = LayerIntegratedGradients(forward, model.embeddings)
    attr, delta = lig.attribute(ids, baselines=baseline, target=idx, n_steps=n_steps, return_convergence_delta=True,
                                internal_batch_size=internal_batch_size)
    per_token = attr.sum(dim=-1)[0].detach().cpu().numpy().astype(np.float64)
    scores = np.zeros(len(spans))
    for t, (a, b) in enumerate(offsets):
        if special[t] or a == b:
            continue
        for w, (wa, wb) in enumerate(spans):
            if a < wb and b > wa:  # the word piece overlaps the word
                scores[w] += per_token[t]
                break
    with torch.no_grad():
        base_score = float(forward(baseline)[0, idx])
    return scores, {"baseline": "[PAD] for every word piece", "baseline_score": base_score,
                    "delta": float(delta.abs().max()), "n_steps": n_steps,
                    "special_tokens_attribution": float(per_token[special.numpy()].sum())}
