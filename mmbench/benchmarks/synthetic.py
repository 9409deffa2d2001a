"""Synthetic embeddings for the retrieval benchmarks: a clustered gallery like real image
embeddings (topics → fine clusters of very unequal sizes) and queries that are noisy copies of
gallery items, generated in chunks so that a million rows can be written to a memory map."""

from __future__ import annotations


def make_clustered_gallery(n_items: int, dim: int, n_queries: int, seed: int = 0):
    """L2-normalised gallery with two-level cluster structure (topics → fine clusters with
    Zipf-like sizes, varying spread) and queries that are noisy copies of gallery items
    (a stand-in for text embeddings of the items' captions). Returns ``(gallery, queries, sources)``.

    How: 64 random unit "topic" directions; ``n_items / 25`` cluster centres, each its topic plus
    0.8 × a random unit vector, normalised; cluster sizes ∝ 1 / rank^0.7 (a few huge clusters, a
    long tail); an item is its centre plus ``s`` × a random unit vector (``s`` uniform in 0.5-1.0),
    normalised; a query is a random item plus 0.5 × a random unit vector, normalised."""
    import numpy as np

    rng, model = cluster_model(n_items, dim, seed)
    gallery = np.empty((n_items, dim), dtype=np.float32)
    fill_clustered(rng, model, gallery)
    sources, queries = noisy_queries(rng, gallery, n_queries)
    return gallery, queries, sources


def cluster_model(n_items: int, dim: int, seed: int):
    """The random generator and ``(centres, labels, spread)`` of :func:`make_clustered_gallery`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_topics, n_clusters = 64, max(1, n_items // 25)
    topics = _normalise(rng.standard_normal((n_topics, dim), dtype=np.float32))
    parent = rng.integers(0, n_topics, n_clusters)
    centres = _normalise(topics[parent] + 0.8 * _normalise(rng.standard_normal((n_clusters, dim), dtype=np.float32)))
    weights = 1.0 / np.arange(1, n_clusters + 1) ** 0.7
    labels = rng.choice(n_clusters, size=n_items, p=weights / weights.sum())
    spread = rng.uniform(0.5, 1.0, (n_items, 1)).astype(np.float32)
    return rng, (centres, labels, spread)


def fill_clustered(rng, model, out, chunk: int = 20_000, progress=None) -> None:
    """Write the items of ``model`` into ``out`` (an array or a memory map) ``chunk`` rows at a
    time, so temporary memory stays bounded; ``progress(done, total)`` after each chunk."""
    import numpy as np

    centres, labels, spread = model
    n_items, dim = out.shape
    for start in range(0, n_items, chunk):
        stop = min(start + chunk, n_items)
        noise = _normalise(rng.standard_normal((stop - start, dim), dtype=np.float32))
        out[start:stop] = _normalise(centres[labels[start:stop]] + spread[start:stop] * noise)
        if progress is not None:
            progress(stop, n_items)


def noisy_queries(rng, gallery, n_queries: int):
    """``(sources, queries)``: ``n_queries`` random items of ``gallery`` (distinct when there are
    enough), each plus 0.5 × a random unit vector, normalised (``rng`` continues the gallery's)."""
    import numpy as np

    n_items, dim = gallery.shape
    sources = rng.choice(n_items, size=n_queries, replace=n_queries > n_items)
    queries = _normalise(gallery[sources] + 0.5 * _normalise(rng.standard_normal((n_queries, dim), dtype=np.float32)))
    return sources, queries


def _normalise(x):
    """Rows scaled to unit length, float32."""
    import numpy as np

    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
