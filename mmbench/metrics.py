"""Retrieval and classification metrics: recall@k, mean average precision, top-1 accuracy, and the
classifier scores of the fusion lab (accuracy, macro P/R/F1, confusion matrix, ROC/PR curves, calibration).

Retrieval inputs are score matrices (rows = queries, columns = candidates). Ties are broken against
the query: among equal scores, the irrelevant candidates rank first, so a tie is never a win.
Classifier inputs are ``(N,)`` integer labels and ``(N, C)`` class probabilities. sklearn is
imported inside the functions that need it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import InvalidInputError


def recall_at_k(similarity: np.ndarray, k: int, gt: np.ndarray | None = None) -> float:
    """Fraction of queries with a relevant candidate among their ``k`` best-scored candidates.

    ``similarity``: ``(Q, N)`` scores. ``gt``: ``None`` (query ``i`` matches candidate ``i``),
    a ``(Q,)`` int array (the relevant column of each query), or a ``(Q, N)`` boolean relevance
    matrix (a hit is any relevant candidate in the top ``k``). Each query's rank is pessimistic:
    ``1 + #{better-scored candidates} + #{irrelevant candidates with the same score}``.
    ``k`` above ``N`` counts as ``N``.
    """
    sim = _as_scores(similarity)
    if not _is_int(k) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}.")
    ranks = _first_relevant_rank(sim, _as_relevance(gt, sim.shape))
    return float(np.mean(ranks <= k))


def mean_average_precision(similarity: np.ndarray, relevance: np.ndarray | None = None) -> float:
    """Mean over queries of average precision: ``AP = (1/R) Σ_{relevant r} precision@rank(r)``.

    ``relevance``: ``(Q, N)`` boolean (or a ``(Q,)`` int array of one relevant column per query);
    ``None`` means query ``i`` matches candidate ``i``. Ties rank irrelevant candidates first.
    Without ties this equals ``sklearn.metrics.average_precision_score`` per query.
    """
    sim = _as_scores(similarity)
    rel = _as_relevance(relevance, sim.shape)
    # Sort each row by descending score, irrelevant (False) before relevant among equal scores.
    order = np.lexsort((rel, -sim), axis=1)
    hits = np.take_along_axis(rel, order, axis=1)
    precision = np.cumsum(hits, axis=1) / np.arange(1, sim.shape[1] + 1)
    ap = (precision * hits).sum(axis=1) / hits.sum(axis=1)
    return float(ap.mean())


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose label has the strictly highest score (a tie for first is a miss).

    ``scores``: ``(N, C)`` class scores (logits or probabilities); ``labels``: ``(N,)`` ints in
    ``[0, C)``.
    """
    sim = _as_scores(scores, what="scores")
    ranks = _first_relevant_rank(sim, _as_relevance(labels, sim.shape, what="labels"))
    return float(np.mean(ranks == 1))


def retrieval_report(similarity: np.ndarray, ks: Sequence[int] = (1, 5, 10),
                     gt: np.ndarray | None = None) -> dict[str, float]:
    """``{"recall_at_1": ..., "recall_at_5": ..., "recall_at_10": ..., "map": ...}``.

    ``gt`` takes the same forms as in :func:`recall_at_k` (default: the diagonal).
    """
    sim = _as_scores(similarity)
    rel = _as_relevance(gt, sim.shape)
    ks = list(ks)
    for k in ks:
        if not _is_int(k) or k < 1:
            raise InvalidInputError(f"Every k must be a positive integer, got {k!r}.")
    ranks = _first_relevant_rank(sim, rel)
    report = {f"recall_at_{k}": float(np.mean(ranks <= k)) for k in ks}
    report["map"] = mean_average_precision(sim, rel)
    return report



# -- classifiers -------------------------------------------------------------------------------------
def classification_metrics(labels: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy, macro precision/recall/F1, confusion matrix, one-vs-rest ROC-AUC and PR-AUC, and
    the expected calibration error (10 confidence bins)."""
    from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix,
                                 precision_recall_fscore_support, roc_auc_score)

    labels = np.asarray(labels)
    pred = proba.argmax(axis=1)
    classes = list(range(proba.shape[1]))
    p, r, f1, _ = precision_recall_fscore_support(labels, pred, labels=classes, average="macro", zero_division=0)
    onehot = np.eye(proba.shape[1])[labels]
    present = onehot.sum(axis=0) > 0
    try:
        roc = float(roc_auc_score(onehot[:, present], proba[:, present], average="macro"))
    except ValueError:
        roc = float("nan")
    pr = float(average_precision_score(onehot[:, present], proba[:, present], average="macro"))
    conf = proba.max(axis=1)
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(abs((pred[bins == b] == labels[bins == b]).mean() - conf[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    return {"accuracy": float(accuracy_score(labels, pred)), "macro_precision": float(p), "macro_recall": float(r),
            "macro_f1": float(f1), "roc_auc_ovr": roc, "pr_auc_ovr": pr, "ece": float(ece),
            "confusion_matrix": confusion_matrix(labels, pred, labels=classes).tolist()}


def calibration_bins(labels: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> dict:
    """Reliability diagram data: per confidence bin (top-class probability), the mean confidence,
    the accuracy and the number of samples; ``ece`` = sum_b (n_b / N) |acc_b - conf_b|."""
    labels = np.asarray(labels)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=correct.astype(float), minlength=n_bins) / count
    ece = float(np.nansum(np.abs(accuracy - mean_conf) * count) / max(1, len(labels)))
    return {"edges": np.linspace(0, 1, n_bins + 1).tolist(), "confidence": mean_conf.tolist(),
            "accuracy": accuracy.tolist(), "count": count.tolist(), "ece": ece}


def classification_curves(labels: np.ndarray, proba: np.ndarray, label_names: Sequence[str] | None = None) -> dict:
    """One-vs-rest ROC and precision-recall curves per class, and the reliability diagram.

    ``{"roc": {class: {"fpr", "tpr", "auc"}}, "pr": {class: {"recall", "precision", "ap"}},
    "calibration": calibration_bins(...)}``; a class absent from ``labels`` has no curve. Classes are
    named by ``label_names`` (default: ``"0"``, ``"1"``, ...)."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    labels = np.asarray(labels)
    if label_names is None:
        label_names = tuple(str(c) for c in range(proba.shape[1]))
    out: dict = {"roc": {}, "pr": {}}
    for c, name in enumerate(label_names[:proba.shape[1]]):
        positive = labels == c
        if not positive.any() or positive.all():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, c])
        precision, recall, _ = precision_recall_curve(positive, proba[:, c])
        out["roc"][name] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(auc(fpr, tpr))}
        out["pr"][name] = {"recall": recall.tolist(), "precision": precision.tolist(),
                           "ap": float(average_precision_score(positive, proba[:, c])), "prevalence": float(positive.mean())}
    out["calibration"] = calibration_bins(labels, proba)
    return out

# -- helpers -----------------------------------------------------------------------------------------
def _first_relevant_rank(sim: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """1-based pessimistic rank of each row's best relevant candidate."""
    best = np.where(rel, sim, -np.inf).max(axis=1, keepdims=True)
    better = (sim > best).sum(axis=1)
    tied_irrelevant = ((sim == best) & ~rel).sum(axis=1)
    return better + tied_irrelevant + 1


def _as_scores(values: Any, what: str = "similarity") -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"The {what} matrix must be numeric ({err}).") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInputError(f"The {what} matrix must be 2-D and non-empty "
                                f"(rows = queries, columns = candidates), got shape {array.shape}.")
    if np.isnan(array).any():
        raise InvalidInputError(f"The {what} matrix contains NaN.")
    return array


def _as_relevance(gt: Any, shape: tuple[int, int], what: str = "gt") -> np.ndarray:
    """``(Q, N)`` boolean relevance from None (diagonal), a ``(Q,)`` int array or a bool matrix."""
    n_queries, n_candidates = shape
    if gt is None:
        if n_queries > n_candidates:
            raise InvalidInputError(f"Default ground truth pairs query i with candidate i, but there are "
                                    f"{n_queries} queries and only {n_candidates} candidates.",
                                    hint="Pass gt explicitly.")
        return np.eye(n_queries, n_candidates, dtype=bool)
    array = np.asarray(gt)
    if array.dtype == bool:
        if array.shape != shape:
            raise InvalidInputError(f"A boolean {what} matrix must have shape {shape}, got {array.shape}.")
        if not array.any(axis=1).all():
            empty = int(np.flatnonzero(~array.any(axis=1))[0])
            raise InvalidInputError(f"Query {empty} has no relevant candidate in {what}.",
                                    hint="Drop such queries: their recall and AP are undefined.")
        return array
    if array.shape != (n_queries,) or not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(f"{what} must be None, {n_queries} integer column indices, or a "
                                f"boolean {shape} matrix; got dtype {array.dtype}, shape {array.shape}.")
    if array.min() < 0 or array.max() >= n_candidates:
        raise InvalidInputError(f"{what} indices must lie in [0, {n_candidates}).")
    relevance = np.zeros(shape, dtype=bool)
    relevance[np.arange(n_queries), array] = True
    return relevance


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
