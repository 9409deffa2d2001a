"""Tests for mmbench.retrieval.EmbeddingIndex: exactness, ANN recall, growth, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench import retrieval
from mmbench.errors import InvalidInputError
from mmbench.retrieval import EmbeddingIndex


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _random(n: int, d: int, seed: int = 0) -> np.ndarray:
    return _normalise(np.random.default_rng(seed).standard_normal((n, d)))


@pytest.fixture(scope="module")
def clustered():
    """20,000 × 64 clustered gallery and 200 queries that are noisy copies of gallery items."""
    rng = np.random.default_rng(0)
    centres = _normalise(rng.standard_normal((400, 64)))
    labels = rng.integers(0, 400, 20_000)
    gallery = _normalise(centres[labels] + 0.6 * _normalise(rng.standard_normal((20_000, 64))))
    sources = rng.choice(20_000, 200, replace=False)
    queries = _normalise(gallery[sources] + 0.3 * _normalise(rng.standard_normal((200, 64))))
    return gallery, queries


@pytest.fixture(scope="module")
def approximate_index(clustered):
    return EmbeddingIndex(clustered[0], kind="approximate")


def _overlap(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth)]))


def test_exact_matches_numpy_argsort():
    gallery, queries = _random(3000, 32, seed=1), _random(25, 32, seed=2)
    index = EmbeddingIndex(gallery, kind="exact")
    scores, ids = index.search(queries, 10)
    sim = queries @ gallery.T
    expected = np.argsort(-sim, axis=1)[:, :10]
    assert scores.shape == ids.shape == (25, 10)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(sim, expected, axis=1), rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_exact_single_vector_query_and_blocking(monkeypatch):
    gallery = _random(500, 16)
    monkeypatch.setattr(retrieval, "_SCORE_BLOCK", 1000)  # forces 2-query blocks
    index = EmbeddingIndex(gallery, kind="exact")
    queries = _random(7, 16, seed=3)
    batched = index.search(queries, 5)[1]
    one_by_one = np.concatenate([index.search(q, 5)[1] for q in queries])  # (D,) vectors
    np.testing.assert_array_equal(batched, one_by_one)
    np.testing.assert_array_equal(batched, np.argsort(-(queries @ gallery.T), axis=1)[:, :5])


def test_self_query_finds_itself():
    gallery = _random(200, 8)
    _, ids = EmbeddingIndex(gallery).search(gallery, 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(200))


def test_k_larger_than_gallery_is_clipped():
    gallery = _random(4, 8)
    scores, ids = EmbeddingIndex(gallery, kind="exact").search(gallery[:2], 10)
    assert ids.shape == (2, 4)
    assert sorted(ids[0].tolist()) == [0, 1, 2, 3]
    scores, ids = EmbeddingIndex(gallery, kind="approximate").search(gallery[:2], 10)
    assert ids.shape == (2, 4) and (ids >= 0).all()


def test_ties_broken_by_id():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    _, ids = EmbeddingIndex(gallery).search(np.array([1.0, 0.0]), 3)
    np.testing.assert_array_equal(ids[0], [0, 2, 3])


def test_auto_kind_threshold(monkeypatch):
    monkeypatch.setattr(retrieval, "AUTO_APPROXIMATE_FROM", 1000)
    assert EmbeddingIndex(_random(999, 16)).kind == "exact"
    assert EmbeddingIndex(_random(1000, 16)).kind == "approximate"
    assert EmbeddingIndex(_random(1000, 16), kind="exact").kind == "exact"
    grown = EmbeddingIndex(_random(600, 16))
    grown.add(_random(600, 16, seed=1))  # crosses the threshold
    assert grown.kind == "approximate" and len(grown) == 1200


def test_approximate_recall_vs_exact(clustered, approximate_index):
    gallery, queries = clustered
    assert approximate_index.kind == "approximate"
    assert "ivf" in approximate_index.description
    truth = EmbeddingIndex(gallery, kind="exact").search(queries, 10)[1]
    scores, found = approximate_index.search(queries, 10)
    assert _overlap(found, truth) >= 0.95
    # Scores are exact inner products of the returned items, in descending order.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, gallery[found]), atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_hnsw_variant_recall(clustered):
    gallery, queries = clustered
    gallery, queries = gallery[:5000], queries[:50]
    index = EmbeddingIndex(gallery, kind="approximate", algorithm="hnsw", hnsw_m=16)
    truth = EmbeddingIndex(gallery, kind="exact").search(queries, 10)[1]
    assert index.description.startswith("hnsw16")
    assert _overlap(index.search(queries, 10)[1], truth) >= 0.9


def test_add_grows_gallery_exact_and_approximate():
    first, second = _random(300, 16, seed=0), _random(200, 16, seed=1)
    for kind in ("exact", "approximate"):
        index = EmbeddingIndex(first, kind=kind)
        index.add(second)
        assert len(index) == 500
        _, ids = index.search(second[:20], 1)
        np.testing.assert_array_equal(ids[:, 0], np.arange(300, 320))


def test_ivf_retrains_when_grown(monkeypatch):
    index = EmbeddingIndex(_random(2000, 16), kind="approximate")
    nlist = index.nlist
    more = _random(8000, 16, seed=5)
    index.add(more)  # 10,000 > 4 × 2,000: retrained with more cells
    assert len(index) == 10_000 and index.nlist > nlist
    _, ids = index.search(more[:50], 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(2000, 2050))


def test_calibrate_on_shifted_queries(clustered):
    gallery, queries = clustered
    gallery, queries = gallery[:8000], queries[:100]
    # A crude modality gap: every query moved the same way, away from the gallery's own items.
    offset = _random(1, 64, seed=11)
    shifted = _normalise(queries + 0.8 * offset)
    index = EmbeddingIndex(gallery, kind="approximate", nprobe=1)
    reached = index.calibrate(shifted)
    assert reached >= retrieval.TARGET_RECALL and index.nprobe >= 1
    truth = EmbeddingIndex(gallery, kind="exact").search(shifted, 10)[1]
    assert _overlap(index.search(shifted, 10)[1], truth) == pytest.approx(reached)
    index.add(_random(8000, 64, seed=12))  # doubling re-calibrates on the same queries
    truth = EmbeddingIndex(np.concatenate([gallery, _random(8000, 64, seed=12)]), kind="exact").search(shifted, 10)[1]
    assert _overlap(index.search(shifted, 10)[1], truth) >= retrieval.TARGET_RECALL
    assert EmbeddingIndex(gallery[:100], kind="exact").calibrate(shifted) == 1.0
    with pytest.raises(InvalidInputError):
        index.calibrate(shifted, target_recall=1.5)


def test_explicit_nprobe_is_kept():
    index = EmbeddingIndex(_random(4000, 16), kind="approximate", nlist=20, nprobe=3)
    assert (index.nlist, index.nprobe) == (20, 3)


@pytest.mark.parametrize("kind, algorithm", [("exact", "ivf"), ("approximate", "ivf"), ("approximate", "hnsw")])
def test_save_load_round_trip(tmp_path, kind, algorithm):
    gallery, queries = _random(3000, 24), _random(20, 24, seed=9)
    index = EmbeddingIndex(gallery, kind=kind, algorithm=algorithm, hnsw_m=12)
    path = index.save(tmp_path / "cache" / "gallery.index")
    assert path.is_file() and not list(path.parent.glob("*.tmp*"))
    loaded = EmbeddingIndex.load(path)
    assert (loaded.kind, len(loaded), loaded.dim, loaded.description) == (kind, 3000, 24, index.description)
    for a, b in zip(index.search(queries, 7), loaded.search(queries, 7)):
        np.testing.assert_array_equal(a, b)
    loaded.add(_random(10, 24, seed=4))
    assert len(loaded) == 3010


def test_load_errors(tmp_path):
    with pytest.raises(InvalidInputError):
        EmbeddingIndex.load(tmp_path / "missing.index")
    junk = tmp_path / "junk.index"
    junk.write_bytes(b"not an index at all")
    with pytest.raises(InvalidInputError):
        EmbeddingIndex.load(junk)


@pytest.mark.parametrize("embeddings", [
    np.zeros((0, 8), dtype=np.float32),  # empty gallery
    np.zeros(8, dtype=np.float32),  # 1-D
    np.zeros((2, 0), dtype=np.float32),  # zero dimension
    np.array([[1.0, np.nan], [0.0, 1.0]]),  # NaN
    np.array([[1.0, np.inf], [0.0, 1.0]]),  # inf
    np.array([["a", "b"]]),  # not numeric
])
def test_bad_gallery_raises(embeddings):
    with pytest.raises(InvalidInputError):
        EmbeddingIndex(embeddings)


def test_bad_arguments_raise():
    gallery = _random(50, 8)
    index = EmbeddingIndex(gallery)
    with pytest.raises(InvalidInputError):
        index.search(gallery[:1], 0)
    with pytest.raises(InvalidInputError):
        index.search(gallery[:1], -3)
    with pytest.raises(InvalidInputError):
        index.search(np.zeros((1, 9), dtype=np.float32), 1)  # wrong dimension
    with pytest.raises(InvalidInputError):
        index.search(np.full((1, 8), np.nan, dtype=np.float32), 1)
    with pytest.raises(InvalidInputError):
        index.add(np.zeros((2, 9), dtype=np.float32))
    with pytest.raises(InvalidInputError):
        EmbeddingIndex(gallery, kind="fast")
    with pytest.raises(InvalidInputError):
        EmbeddingIndex(gallery, kind="approximate", nprobe=0)
    assert len(index) == 50  # failed add left the index unchanged
