"""Tests for mmbench.metrics: hand-computed cases, sklearn agreement, ties and validation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mmbench.errors import InvalidInputError
from mmbench.metrics import mean_average_precision, recall_at_k, retrieval_report, top1_accuracy

# Query 0: correct (col 0) ranks 1. Query 1: correct (col 1) ranks 3. Query 2: correct (col 2) ranks 2.
SIM = np.array([
    [0.9, 0.1, 0.5, 0.0],
    [0.8, 0.2, 0.3, 0.1],
    [0.1, 0.6, 0.4, 0.2],
])


def test_recall_hand_computed():
    assert recall_at_k(SIM, 1) == pytest.approx(1 / 3)
    assert recall_at_k(SIM, 2) == pytest.approx(2 / 3)
    assert recall_at_k(SIM, 3) == pytest.approx(1.0)
    assert recall_at_k(SIM, 100) == 1.0  # k above N is clipped


def test_map_hand_computed():
    # One relevant item per query: AP = 1 / rank.
    assert mean_average_precision(SIM) == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)


def test_map_multiple_relevant_hand_computed():
    sim = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])
    rel = np.array([[True, False, True, False, True]])
    # Relevant at ranks 1, 3, 5: precisions 1, 2/3, 3/5.
    assert mean_average_precision(sim, rel) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert recall_at_k(sim, 1, rel) == 1.0


def test_integer_gt_and_boolean_gt_agree():
    gt = np.array([3, 0, 1])  # correct items rank 4, 1 and 1
    rel = np.zeros(SIM.shape, dtype=bool)
    rel[np.arange(3), gt] = True
    assert recall_at_k(SIM, 1, gt) == pytest.approx(2 / 3)
    assert recall_at_k(SIM, 3, gt) == pytest.approx(recall_at_k(SIM, 3, rel)) == pytest.approx(2 / 3)
    assert recall_at_k(SIM, 4, gt) == 1.0
    assert mean_average_precision(SIM, gt) == pytest.approx((1 / 4 + 1 + 1) / 3)
    assert mean_average_precision(SIM, rel) == pytest.approx(mean_average_precision(SIM, gt))


def test_boolean_gt_counts_any_relevant_hit():
    sim = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    rel = np.array([[True, False, True], [False, True, True]])
    # Query 0: best relevant (col 2) at rank 2. Query 1: best relevant (col 1) at rank 2.
    assert recall_at_k(sim, 1, rel) == 0.0
    assert recall_at_k(sim, 2, rel) == 1.0


def test_ties_are_pessimistic():
    sim = np.array([[0.5, 0.5, 0.5], [1.0, 1.0, 0.0]])
    # Query 0: correct (col 0) tied with 2 others -> rank 3. Query 1: tied with col 0 -> rank 2.
    assert recall_at_k(sim, 1) == 0.0
    assert recall_at_k(sim, 2) == 0.5
    assert recall_at_k(sim, 3) == 1.0
    assert mean_average_precision(sim) == pytest.approx((1 / 3 + 1 / 2) / 2)
    # A tie between relevant items is still a hit.
    rel = np.array([[True, True, False], [True, True, False]])
    assert recall_at_k(np.array([[0.5, 0.5, 0.5], [1.0, 1.0, 0.0]]), 1, rel) == 0.5
    assert top1_accuracy(np.array([[0.5, 0.5], [0.2, 0.8]]), np.array([0, 1])) == 0.5


def test_identity_similarity_is_perfect():
    sim = np.eye(7)
    report = retrieval_report(sim)
    assert report == {"recall_at_1": 1.0, "recall_at_5": 1.0, "recall_at_10": 1.0, "map": 1.0}
    assert top1_accuracy(sim, np.arange(7)) == 1.0


def test_report_keys_and_values():
    report = retrieval_report(SIM, ks=(1, 2, 5, 10))
    assert set(report) == {"recall_at_1", "recall_at_2", "recall_at_5", "recall_at_10", "map"}
    assert report["recall_at_2"] == pytest.approx(recall_at_k(SIM, 2))
    assert report["map"] == pytest.approx(mean_average_precision(SIM))


def test_recall_monotone_in_k():
    rng = np.random.default_rng(0)
    sim = rng.standard_normal((50, 80))
    values = [recall_at_k(sim, k) for k in range(1, 81)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[-1] == 1.0 and values[0] < 1.0


def test_map_matches_sklearn_on_random_data():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(1)
    sim = rng.standard_normal((40, 60))  # continuous: no ties
    rel = rng.random((40, 60)) < 0.15
    rel[np.arange(40), rng.integers(0, 60, 40)] = True  # at least one relevant per query
    expected = np.mean([average_precision_score(r, s) for r, s in zip(rel, sim)])
    assert np.allclose(mean_average_precision(sim, rel), expected)
    # Diagonal default agrees too.
    square = rng.standard_normal((30, 30))
    expected = np.mean([average_precision_score(np.eye(30, dtype=bool)[i], square[i]) for i in range(30)])
    assert np.allclose(mean_average_precision(square), expected)


def test_top1_accuracy():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    assert top1_accuracy(scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)


def test_more_candidates_than_queries():
    sim = np.array([[0.9, 0.1, 0.8, 0.2], [0.1, 0.5, 0.6, 0.0]])
    assert recall_at_k(sim, 1) == 0.5  # diagonal i <-> i for the first Q columns


@pytest.mark.parametrize("call", [
    lambda: recall_at_k(np.ones(3), 1),  # 1-D
    lambda: recall_at_k(np.zeros((0, 3)), 1),  # empty
    lambda: recall_at_k(np.eye(3), 0),  # k < 1
    lambda: recall_at_k(np.eye(3), 1.5),  # k not an int
    lambda: recall_at_k(np.array([[np.nan, 0.0], [0.0, 1.0]]), 1),  # NaN
    lambda: recall_at_k(np.ones((4, 3)), 1),  # diagonal default needs Q <= N
    lambda: recall_at_k(np.eye(3), 1, np.array([0, 1])),  # wrong gt length
    lambda: recall_at_k(np.eye(3), 1, np.array([0, 1, 3])),  # gt out of range
    lambda: recall_at_k(np.eye(3), 1, np.array([0.0, 1.0, 2.0])),  # float gt
    lambda: recall_at_k(np.eye(3), 1, np.eye(2, dtype=bool)),  # relevance shape
    lambda: mean_average_precision(np.eye(2), np.array([[True, False], [False, False]])),  # no relevant
    lambda: top1_accuracy(np.eye(3), np.array([0, 1])),
    lambda: retrieval_report(np.eye(3), ks=(0,)),
])
def test_bad_input_raises(call):
    with pytest.raises(InvalidInputError):
        call()


def test_import_is_light():
    code = "import sys, mmbench.metrics, mmbench.retrieval; print('torch' in sys.modules, 'faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
