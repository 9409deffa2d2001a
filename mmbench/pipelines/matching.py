"""Image-text matching (chapter 7.3.2): similarity matrices, zero-shot classification, retrieval.

One pipeline serves every CLIP-like backend (open_clip, transformers CLIP, mmbench's offline tiny
CLIP). The backend only turns images/texts into embeddings; everything users see — validation,
batching, normalisation, prompt templates, retrieval and re-ranking — lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..io import validate_images, validate_text, validate_texts
from .base import Pipeline

#: Prompt templates for zero-shot classification (a small ensemble, as in the CLIP paper).
DEFAULT_TEMPLATES: tuple[str, ...] = ("a photo of a {}.", "a {}.", "there is a {}.")


@dataclass
class MatchingResult:
    """Cosine similarities between N images and M texts, plus per-image softmax over the texts."""

    similarity: np.ndarray  # (N, M) cosine similarity in [-1, 1]
    probs: np.ndarray  # (N, M) softmax(logit_scale * similarity) over texts
    texts: list[str]
    logit_scale: float


@dataclass
class ZeroShotResult:
    """Zero-shot classification of one image: labels sorted by probability."""

    labels: list[str]
    probs: np.ndarray  # aligned with ``labels`` (descending)
    scores: dict[str, float] = field(default_factory=dict)  # label -> prob, in the caller's order

    @property
    def top(self) -> str:
        return self.labels[0]


@dataclass
class Gallery:
    """Images (or their ids) with cached, L2-normalised embeddings, searchable by text."""

    embeddings: np.ndarray  # (N, D) float32
    ids: list[Any]
    index: Any  # mmbench.retrieval.EmbeddingIndex
    images: list[Any] | None = None  # kept (as PIL) only when re-ranking needs pixels

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class SearchHit:
    """One search result. ``score_kind`` says what ``score`` is: ``"cosine"`` (dual encoder) or
    ``"match_logit"`` (the matching head's re-ranking logit)."""

    id: Any
    score: float
    rank: int
    score_kind: str = "cosine"


class ImageTextMatchingPipeline(Pipeline):
    """CLIP-style image-text matching.

    >>> pipe = mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip")  # doctest: +SKIP
    >>> pipe.similarity_matrix([img], ["a red circle", "a blue square"])        # doctest: +SKIP
    """

    task = "image-text-matching"

    def __init__(self, backend: Any, spec: Any, notice: str = "") -> None:
        super().__init__(backend, spec, notice)
        self.batch_size = 64

    # -- embeddings -------------------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        return int(self.backend.embed_dim)

    @property
    def logit_scale(self) -> float:
        return float(self.backend.logit_scale)

    def embed_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        """L2-normalised image embeddings, ``(N, D)`` float32. Accepts paths, bytes, PIL, arrays."""
        pil = validate_images(images)
        return self._embed(pil, self.backend.preprocess_images, self.backend.encode_images, batch_size)

    def embed_texts(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """L2-normalised text embeddings, ``(M, D)`` float32."""
        clean = validate_texts(texts)
        return self._embed(clean, self.backend.tokenize, self.backend.encode_texts, batch_size)

    def _embed(self, items: list, prepare, encode, batch_size: int | None) -> np.ndarray:
        import torch

        bs = batch_size or self.batch_size
        out = []
        with torch.inference_mode():
            for i in range(0, len(items), bs):
                feats = encode(prepare(items[i:i + bs]))
                feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                out.append(feats.float().cpu())
        return torch.cat(out).numpy()

    # -- operations ---------------------------------------------------------------------------
    def __call__(self, images: Sequence[Any], texts: Sequence[str]) -> MatchingResult:
        """Similarity matrix and per-image probabilities over ``texts``."""
        sim = self.similarity_matrix(images, texts)
        return MatchingResult(sim, _softmax(self.logit_scale * sim), [str(t).strip() for t in texts], self.logit_scale)

    def similarity_matrix(self, images: Sequence[Any], texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity ``(N images, M texts)``."""
        return self.embed_images(images) @ self.embed_texts(texts).T

    def zero_shot_classify(self, image: Any, labels: Sequence[str],
                           templates: Sequence[str] | None = DEFAULT_TEMPLATES) -> ZeroShotResult:
        """Classify one image among free-text ``labels`` by prompt-template ensembling.

        Each label's text embedding is the normalised mean over ``templates`` (e.g.
        ``"a photo of a {}."``); pass ``templates=None`` to use the labels verbatim.
        """
        return self.zero_shot_classify_batch([image], labels, templates)[0]

    def zero_shot_classify_batch(self, images: Sequence[Any], labels: Sequence[str],
                                 templates: Sequence[str] | None = DEFAULT_TEMPLATES) -> list[ZeroShotResult]:
        """:meth:`zero_shot_classify` for many images with one set of label embeddings."""
        label_list = validate_texts(labels, what="label")
        if len(set(label_list)) != len(label_list):
            raise InvalidInputError("Zero-shot labels must be distinct.")
        class_emb = self.label_embeddings(label_list, templates)
        img = self.embed_images(images)
        probs = _softmax(self.logit_scale * (img @ class_emb.T))
        results = []
        for p in probs:
            order = np.argsort(-p)
            results.append(ZeroShotResult([label_list[i] for i in order], p[order],
                                          {label_list[i]: float(p[i]) for i in range(len(label_list))}))
        return results

    def label_embeddings(self, labels: Sequence[str], templates: Sequence[str] | None = DEFAULT_TEMPLATES) -> np.ndarray:
        """One normalised embedding per label, averaged over prompt templates."""
        templates = list(templates or ("{}",))
        for t in templates:
            if t.count("{}") != 1:
                raise InvalidInputError(f"Prompt template {t!r} must contain exactly one '{{}}' placeholder for the label.",
                                        hint='For example "a photo of a {}."')
        prompts = [t.replace("{}", label) for label in labels for t in templates]
        emb = self.embed_texts(prompts).reshape(len(labels), len(templates), -1).mean(axis=1)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-12)

    # -- retrieval ----------------------------------------------------------------------------
    def build_gallery(self, images: Sequence[Any], ids: Sequence[Any] | None = None, *,
                      index: str = "auto", keep_images: bool | None = None, progress=None) -> Gallery:
        """Embed a gallery once; the returned :class:`Gallery` answers many text queries.

        ``index``: ``"exact"``, ``"approximate"`` or ``"auto"`` (approximate above 50,000 items).
        ``keep_images`` keeps the decoded images for re-ranking (default: when the backend can
        re-rank). ``progress`` is an optional callable ``progress(fraction)``.
        """
        from ..retrieval import EmbeddingIndex

        if len(images) == 0:
            raise InvalidInputError("The gallery is empty: add at least one image.")
        ids = list(range(len(images))) if ids is None else list(ids)
        if len(ids) != len(images):
            raise InvalidInputError(f"Got {len(images)} images but {len(ids)} ids.")
        pil = validate_images(images)
        chunks = []
        for i in range(0, len(pil), self.batch_size * 4):
            chunks.append(self._embed(pil[i:i + self.batch_size * 4], self.backend.preprocess_images,
                                      self.backend.encode_images, None))
            if progress is not None:
                progress(min(1.0, (i + self.batch_size * 4) / len(pil)))
        emb = np.concatenate(chunks)
        keep = self.can_rerank if keep_images is None else keep_images
        return Gallery(emb, ids, EmbeddingIndex(emb, kind=index), pil if keep else None)

    @property
    def can_rerank(self) -> bool:
        """Whether the backend has an image-text matching head (cross-attention re-ranker)."""
        return callable(getattr(self.backend, "match_logits", None))

    def search(self, gallery: Gallery, query: str, k: int = 5, rerank: bool | None = None) -> list[SearchHit]:
        """Text → image search: the ``k`` best gallery items for ``query``.

        With a backend that has a matching head, the dual encoder's top candidates are re-ranked
        by it (``rerank=None`` means "when available"): candidates the head accepts come first;
        the others keep the dual encoder's order (see :class:`SearchHit.score_kind`).
        """
        query = validate_text(query, what="query")
        if k < 1:
            raise InvalidInputError("k must be at least 1.")
        k = min(k, len(gallery))
        q = self.embed_texts([query])
        rerank = self.can_rerank and gallery.images is not None if rerank is None else rerank
        if rerank and not (self.can_rerank and gallery.images is not None):
            raise InvalidInputError("Re-ranking needs a model with a matching head and a gallery built with keep_images=True.")
        depth = max(k, self.rerank_depth) if rerank else k
        scores, idx = gallery.index.search(q, min(depth, len(gallery)))
        scores, idx = scores[0], idx[0]
        kinds = ["cosine"] * len(idx)
        if rerank:
            # Candidates the matching head accepts (logit > 0) come first, by logit; the rest keep
            # the dual encoder's order. A partial query ("there is a yellow ring") matches no full
            # caption, so the head rejects every candidate and its ordering among them is noise.
            cand = [gallery.images[i] for i in idx]
            logits = self.match_logits(cand, [query] * len(cand), validated=True)
            accepted = [j for j in np.argsort(-logits, kind="stable") if logits[j] > 0]
            rest = [j for j in range(len(idx)) if logits[j] <= 0]
            order = np.array(accepted + rest, dtype=int)
            scores = np.where(logits > 0, logits, scores)[order]
            kinds = ["match_logit" if logits[j] > 0 else "cosine" for j in order]
            idx = idx[order]
        return [SearchHit(gallery.ids[i], float(s), r + 1, kinds[r])
                for r, (i, s) in enumerate(zip(idx[:k], scores[:k]))]

    rerank_depth: int = 16

    def unknown_words(self, texts: Sequence[str]) -> list[str]:
        """Words the model cannot read (closed-vocabulary offline models); [] for open-vocabulary ones."""
        find = getattr(self.backend, "unknown_words", None)
        return find(list(texts)) if callable(find) else []

    def retrieve_texts(self, image: Any, texts: Sequence[str], k: int = 5) -> list[SearchHit]:
        """Image → text retrieval: the ``k`` texts that best describe ``image``."""
        sim = self.similarity_matrix([image], texts)[0]
        order = np.argsort(-sim)[:k]
        return [SearchHit(texts[i], float(sim[i]), r + 1) for r, i in enumerate(order)]

    def matching_features(self, images: Sequence[Any]) -> Any:
        """Image features for the matching head, computed once so that many texts can be scored
        against the same images with :meth:`match_logits` (``features=...``). None without a head."""
        import torch

        if not self.can_rerank or not hasattr(self.backend, "image_tokens"):
            return None
        pil = validate_images(images)
        out = []
        with torch.inference_mode():
            for i in range(0, len(pil), self.batch_size):
                out.append(self.backend.image_tokens(self.backend.preprocess_images(pil[i:i + self.batch_size])))
        return torch.cat(out)

    def match_logits(self, images: Sequence[Any] | None, texts: Sequence[str], validated: bool = False,
                     features: Any = None) -> np.ndarray:
        """Pairwise matching-head logits for aligned ``(image_i, text_i)`` pairs.

        Falls back to scaled cosine similarity when the backend has no matching head.
        """
        import torch

        clean = validate_texts(texts)
        if features is not None:  # precomputed by matching_features(), aligned with texts
            if len(features) != len(clean):
                raise InvalidInputError(f"match_logits pairs features with texts: got {len(features)} and {len(clean)}.")
            out = []
            with torch.inference_mode():
                for i in range(0, len(clean), self.batch_size):
                    ids = self.backend.tokenize(clean[i:i + self.batch_size])
                    out.append(self.backend.match_logits_from_tokens(features[i:i + self.batch_size], ids).float().cpu())
            return torch.cat(out).numpy()
        if images is None or len(images) != len(texts):
            raise InvalidInputError(f"match_logits pairs images with texts: got {0 if images is None else len(images)} "
                                    f"and {len(texts)}.")
        pil = list(images) if validated else validate_images(images)
        if not self.can_rerank:
            img, txt = self.embed_images(pil), self.embed_texts(clean)
            return self.logit_scale * (img * txt).sum(axis=1)
        out = []
        with torch.inference_mode():
            for i in range(0, len(pil), self.batch_size):
                px = self.backend.preprocess_images(pil[i:i + self.batch_size])
                tok = self.backend.tokenize(clean[i:i + self.batch_size])
                out.append(self.backend.match_logits(px, tok).float().cpu())
        return torch.cat(out).numpy()


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
