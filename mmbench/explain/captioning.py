"""Per-word cross-attention maps of captioners, through the explain API: :func:`explain_caption`.

A captioning pipeline (:mod:`mmbench.pipelines.captioning`) records its decoder's cross-attention
in one teacher-forced pass over the caption it wrote — with :class:`~mmbench.models.attention.CrossAttentionTap`
for mmbench's own decoder, or from the probabilities transformers returns (``output_attentions``)
for BLIP, whose attention modules the recorder cannot tap. Both become the same
``{module: [probs (1, heads, Lq, Lk)]}`` record, turned into maps by the recorder's own
:meth:`~.cross_attention.CrossAttentionRecorder.word_maps` (heads averaged, layers averaged, the
last ``gh * gw`` keys are the patch grid). A word made of several tokens (BERT word pieces) gets the
mean of its tokens' maps.

``mmbench.explain.explain(caption_pipe, image, "circle")`` returns the map of that word.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError
from .cross_attention import CrossAttentionRecorder
from .explanation import to_image_coordinates


class RecordedCrossAttention(CrossAttentionRecorder):
    """A :class:`CrossAttentionRecorder` filled with probabilities that were recorded elsewhere
    (``{module name: [tensor (batch, heads, Lq, Lk), one per call]}``), e.g. a transformers
    model's ``cross_attentions`` output."""

    def __init__(self, records: Mapping[str, Sequence[Any]]) -> None:  # no model to tap
        self._records = {str(k): list(v) for k, v in records.items()}

    @property
    def names(self) -> list[str]:
        return list(self._records)

    @property
    def records(self) -> dict[str, list[Any]]:
        return self._records

    def __enter__(self) -> "RecordedCrossAttention":
        raise TypeError("RecordedCrossAttention holds finished records; it cannot record")


def caption_word_maps(image: Any, records: Mapping[str, Sequence[Any]], grid: tuple[int, int], tokens: Sequence[Any],
                      words: Sequence[Any], model: str = "") -> list[Any]:
    """One :class:`~.explanation.Explanation` per caption word.

    ``records``: the cross-attention of one pass whose last ``len(tokens)`` query rows are the
    positions that wrote each token; ``tokens``: the generated tokens (objects with ``.token``
    and ``.probability``, or strings); ``words``: objects with ``.text``, ``.token_indices`` and
    ``.probability``.
    """
    if not records:
        raise InvalidInputError("No cross-attention was recorded for this caption.")
    names = [getattr(t, "token", t) for t in tokens]
    per_token = RecordedCrossAttention(records).word_maps(image, names, grid)
    out = []
    for w in words:
        parts = [per_token[j] for j in w.token_indices]
        exp = parts[0]
        if len(parts) > 1:
            heat = to_image_coordinates(np.mean([p.heatmap for p in parts], axis=0), exp.heatmap.shape)
            exp = type(exp)(heatmap=heat, image=exp.image, method=exp.method, target=w.text, layer=None,
                            meta=dict(exp.meta))
        exp.target = w.text
        exp.meta.update({"model": model, "word_probability": float(w.probability),
                         "token_indices": list(w.token_indices), "grid": tuple(grid)})
        out.append(exp)
    return out


def explain_caption(pipe: Any, image: Any, prompt: str | None = None, **decoding: Any) -> Any:
    """Caption ``image`` with ``pipe`` (an ``image-to-text`` pipeline) and return the
    :class:`~mmbench.pipelines.captioning.CaptionResult` with one map per word (``result.word_maps``)."""
    if getattr(pipe, "task", None) != "image-to-text":
        raise InvalidInputError("explain_caption needs an image-to-text pipeline: mmbench.pipeline('image-to-text').")
    return pipe(image, prompt, attention=True, **decoding)


def explain_word(pipe: Any, image: Any, target: Any, prompt: str | None = None, **decoding: Any) -> Any:
    """The map of one word of the caption ``pipe`` writes for ``image``: ``target`` is the word
    (its first occurrence) or its index."""
    if isinstance(target, str) and not target.strip():
        raise InvalidInputError("Name the caption word to explain (or its index).")
    return explain_caption(pipe, image, prompt, **decoding).word_map(target)
