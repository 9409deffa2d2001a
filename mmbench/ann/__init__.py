"""``mmbench.ann``: vector search over collections too large for memory — a folder on disk holding
float32 rows (a memory-mapped ``.npy``) and, for large collections, a memory-mapped faiss IVF-PQ
index whose candidates are re-ranked exactly (:class:`DiskIndex`).

:class:`mmbench.retrieval.EmbeddingIndex` is the in-memory index for galleries that fit in RAM.
"""

from .index import AUTO_IVFPQ_FROM, DiskIndex
from .ivfpq import default_m, default_nlist
from .store import exact_topk, write_vectors

__all__ = ["AUTO_IVFPQ_FROM", "DiskIndex", "default_m", "default_nlist", "exact_topk", "write_vectors"]
