"""Two-sample drift detectors (chapter 7.5.3), after "Failing Loudly" (Rabanser, Günnemann & Lipton, 2019).

Each detector is fitted once on a *reference* sample (embeddings of data the model is known to work
on) and then tests *windows* of new samples against it: does the window come from the same
distribution? All share one interface::

    det = MMDDetector(seed=0).fit(reference)       # (n, d) array, n >= 2
    result = det.test(window)                       # -> DriftResult(drift, p_value, statistic, method, details)

* :class:`MMDDetector` (``"mmd"``): the unbiased squared maximum mean discrepancy with an RBF kernel
  whose bandwidth is the median pairwise distance of the reference (median heuristic); the p-value
  is a permutation test (the reference and the window pooled and re-split at random).
* :class:`KSDetector` (``"ks"``): PCA fitted on the reference, a two-sample Kolmogorov-Smirnov test
  on each principal component, Bonferroni-corrected: ``p = min(1, k * min_i p_i)``.
* :class:`ClassifierDetector` (``"classifier"``): a classifier two-sample test (Lopez-Paz & Oquab,
  2017): a scikit-learn logistic regression (or small MLP) learns to tell the window from an equal-size
  reference subsample; its held-out accuracy is compared with chance by a one-sided binomial test.
* :class:`BBSDDetector` (``"bbsd"``): black-box shift detection: the softmax outputs of a classifier
  (``predict_proba``; without one the inputs are taken to be softmax outputs), tested per class with
  KS + Bonferroni (``test="ks"``, BBSDs) or as predicted-class counts with a chi-square test
  (``test="chi2"``, BBSDh).

Every test is a pure function of the reference, the window and the detector's ``seed``. Bad inputs
raise :class:`~mmbench.errors.EmbeddingError` (too few samples, another dimension, NaN/inf) and
:func:`make_detector` raises :class:`~mmbench.errors.UnknownMethodError` for an unknown name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import EmbeddingError, InvalidInputError, UnknownMethodError
from ..io.embeddings import validate_embeddings

__all__ = ["ALPHA", "BBSDDetector", "ClassifierDetector", "DETECTORS", "Detector", "DriftResult", "KSDetector",
           "MMDDetector", "detect_drift", "ks_2samp_columns", "make_detector", "median_bandwidth", "mmd2_unbiased",
           "rbf_kernel"]

#: Default significance level of every detector.
ALPHA = 0.05


@dataclass(frozen=True)
class DriftResult:
    """Outcome of one test: ``drift`` is ``p_value < alpha``; ``details`` holds method-specific numbers."""

    drift: bool
    p_value: float
    statistic: float
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Detector:
    """Base of the detectors: input checks, the seed and the alpha; subclasses define ``_fit``/``_test``."""

    method = ""
    #: fewest samples a window may hold
    min_window = 2

    def __init__(self, *, alpha: float = ALPHA, seed: int = 0) -> None:
        if not 0.0 < float(alpha) < 1.0:
            raise InvalidInputError(f"alpha must be between 0 and 1, not {alpha}.", hint="The usual choice is 0.05.")
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.reference_: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.reference_ is not None

    @property
    def dim(self) -> int | None:
        """Dimension of the reference embeddings (None before :meth:`fit`)."""
        return None if self.reference_ is None else int(self.reference_.shape[1])

    def fit(self, reference: Any) -> "Detector":
        """Fit on ``reference`` (``(n, d)``, ``n >= 2``); returns ``self``."""
        ref = validate_embeddings(reference, what="reference", min_samples=2)
        self._fit(ref, np.random.default_rng([self.seed, 1]))
        self.reference_ = ref
        return self

    def test(self, window: Any) -> DriftResult:
        """Test whether ``window`` (``(m, d)``) comes from the reference distribution."""
        if self.reference_ is None:
            raise InvalidInputError(f"The {self.method} detector has not been fitted.",
                                    hint="Call fit(reference) with reference embeddings first.")
        win = validate_embeddings(window, what="window", min_samples=self.min_window, dim=self.dim)
        p, stat, details = self._test(win, np.random.default_rng([self.seed, 2]))
        p = float(min(1.0, max(0.0, p)))
        info = {"alpha": self.alpha, "n_reference": int(len(self.reference_)), "n_window": int(len(win)), **details}
        return DriftResult(bool(p < self.alpha), p, float(stat), self.method, info)

    def _fit(self, ref: np.ndarray, rng: np.random.Generator) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _test(self, win: np.ndarray, rng: np.random.Generator) -> tuple[float, float, dict]:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, seed={self.seed}, fitted={self.fitted})"


# ------------------------------------------------------------------ MMD
def _sq_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T), 0.0)


def rbf_kernel(x: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma * ||x_i - y_j||^2)`` for every pair of rows."""
    return np.exp(-gamma * _sq_distances(x, y))


def median_bandwidth(x: np.ndarray, rng: np.random.Generator | None = None, max_samples: int = 1000) -> float:
    """Median heuristic: the median Euclidean distance between distinct rows of ``x`` (at most
    ``max_samples`` rows, drawn with ``rng``); 1.0 when all rows are equal."""
    if len(x) > max_samples:
        x = x[(rng or np.random.default_rng(0)).choice(len(x), max_samples, replace=False)]
    dist = np.sqrt(_sq_distances(x, x)[np.triu_indices(len(x), 1)])
    dist = dist[dist > 1e-12]
    return float(np.median(dist)) if len(dist) else 1.0


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from the three kernel blocks (diagonals of ``kxx`` and ``kyy`` left out)."""
    n, m = len(kxx), len(kyy)
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


class MMDDetector(Detector):
    """Kernel two-sample test: unbiased MMD^2 with an RBF kernel and a permutation p-value.

    Args:
        bandwidth: RBF width sigma (``k = exp(-||x-y||^2 / (2 sigma^2))``); default: the median
            pairwise distance of the pooled reference and window (at most 500 random rows), a symmetric
            function of the pooled samples, so the permutation test stays exact.
        n_permutations: random re-splits of the pooled samples; ``p = (1 + #{perm >= observed}) / (1 + P)``.
        max_reference: keep at most this many reference samples (a random subset), since the cost of a
            test grows with the square of reference + window size.
    """

    method = "mmd"

    def __init__(self, *, alpha: float = ALPHA, seed: int = 0, n_permutations: int = 200,
                 bandwidth: float | None = None, max_reference: int | None = None) -> None:
        super().__init__(alpha=alpha, seed=seed)
        if int(n_permutations) < 1:
            raise InvalidInputError("n_permutations must be at least 1.", hint="100-1000 is usual.")
        if bandwidth is not None and not float(bandwidth) > 0:
            raise InvalidInputError(f"bandwidth must be positive, not {bandwidth}.",
                                    hint="Leave it unset for the median heuristic.")
        if max_reference is not None and int(max_reference) < 2:
            raise InvalidInputError("max_reference must be at least 2.", hint="Leave it unset to keep every sample.")
        self.n_permutations = int(n_permutations)
        self.bandwidth = bandwidth
        self.max_reference = None if max_reference is None else int(max_reference)

    def _fit(self, ref: np.ndarray, rng: np.random.Generator) -> None:
        if self.max_reference is not None and len(ref) > self.max_reference:
            ref = ref[np.sort(rng.choice(len(ref), self.max_reference, replace=False))]
        self.kernel_reference_ = ref
        self.d2_ref_ = _sq_distances(ref, ref)

    def _test(self, win: np.ndarray, rng: np.random.Generator) -> tuple[float, float, dict]:
        ref = self.kernel_reference_
        n, m = len(ref), len(win)
        d2 = np.empty((n + m, n + m))
        d2[:n, :n] = self.d2_ref_
        d2[:n, n:] = _sq_distances(ref, win)
        d2[n:, :n] = d2[:n, n:].T
        d2[n:, n:] = _sq_distances(win, win)
        if self.bandwidth is not None:
            sigma = float(self.bandwidth)
        else:  # median heuristic on at most 500 pooled rows (a random subset: the split stays exchangeable)
            rows = rng.choice(n + m, min(n + m, 500), replace=False)
            sub = d2[np.ix_(rows, rows)][np.triu_indices(len(rows), 1)]
            sub = sub[sub > 1e-24]
            sigma = float(np.median(np.sqrt(sub))) if len(sub) else 1.0
        k = np.exp(d2 * (-1.0 / (2.0 * sigma ** 2)))
        observed = mmd2_unbiased(k[:n, :n], k[n:, n:], k[:n, n:])
        np.fill_diagonal(k, 0.0)
        k = k.astype(np.float32)  # the permutation sums below need no more precision than this
        total, perms = n + m, self.n_permutations
        # each column of `a` marks the n pooled samples a split calls "reference": column 0 the observed
        # split, then one column per random permutation (all in float32, so they compare like for like)
        a = np.zeros((total, perms + 1), np.float32)
        a[:n, 0] = 1.0
        picks = rng.random((perms, total)).argsort(axis=1)[:, :n]
        a[picks, np.arange(1, perms + 1)[:, None]] = 1.0
        b = 1.0 - a
        ka = k @ a
        kb = k.sum(1)[:, None] - ka
        stats = ((a * ka).sum(0, dtype=np.float64) / (n * (n - 1)) + (b * kb).sum(0, dtype=np.float64) / (m * (m - 1))
                 - 2.0 * (a * kb).sum(0, dtype=np.float64) / (n * m))
        p = (1.0 + np.count_nonzero(stats[1:] >= stats[0])) / (1.0 + perms)
        return p, observed, {"bandwidth": sigma, "n_permutations": self.n_permutations, "n_reference_used": n}


# ------------------------------------------------------------------ KS on principal components
def ks_2samp_columns(ref: np.ndarray, win: np.ndarray, pvalues: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Two-sided two-sample KS test of each column of ``ref`` against the same column of ``win``:
    ``(D, p)`` per column, ``p`` from Smirnov's asymptotic distribution exactly as
    ``scipy.stats.ks_2samp(..., method="asymp")`` computes it (``kstwo.sf(D, round(n m / (n + m)))``),
    vectorised over the columns (``p`` is None when ``pvalues`` is False)."""
    n, m = len(ref), len(win)
    a, b = np.sort(ref, axis=0), np.sort(win, axis=0)
    d = np.empty(ref.shape[1])
    for j in range(ref.shape[1]):
        both = np.concatenate([a[:, j], b[:, j]])
        d[j] = np.abs(np.searchsorted(a[:, j], both, "right") / n - np.searchsorted(b[:, j], both, "right") / m).max()
    return d, (_smirnov_sf(d, n, m) if pvalues else None)


def _smirnov_sf(d: np.ndarray | float, n: int, m: int) -> np.ndarray:
    from scipy.stats import kstwo

    return np.clip(kstwo.sf(d, np.round(n * m / (n + m))), 0.0, 1.0)


def _ks_bonferroni(ref: np.ndarray, win: np.ndarray) -> tuple[float, float, dict]:
    """KS per column, Bonferroni over the columns: ``(min(1, k * min p), largest D, details)``. Every column
    has the same sample sizes, so the smallest p belongs to the largest D: one p-value is computed."""
    stats, _ = ks_2samp_columns(ref, win, pvalues=False)
    best = int(np.argmax(stats))
    k = len(stats)
    p_min = float(_smirnov_sf(stats[best], len(ref), len(win)))
    return min(1.0, k * p_min), float(stats[best]), {
        "n_tests": k, "min_p_uncorrected": p_min, "most_shifted": best,
        "statistics": [round(float(v), 6) for v in stats]}


class KSDetector(Detector):
    """PCA on the reference, a KS test per principal component, Bonferroni correction.

    The PCA must not be fitted on the samples the KS tests use as reference: projections of the very
    samples a PCA was fitted on spread wider along its top components than new samples do (their
    sample variance is what the PCA maximised), which alone would flag drift. So the PCA is fitted on
    ``pca_reference`` (separate samples of the same distribution, e.g. training data) when given, and
    otherwise on a random ``pca_fraction`` of the reference, the KS tests using the rest.

    Args:
        n_components: principal components kept (at most the reference's rank and ``d``).
        pca_reference: samples to fit the PCA on (then the whole reference serves the KS tests).
        pca_fraction: without ``pca_reference``, the share of the reference that fits the PCA (0: all
            of it, the KS tests reusing it — biased towards false alarms unless the reference is much
            larger than ``d``).
    """

    method = "ks"
    min_window = 1

    def __init__(self, *, alpha: float = ALPHA, seed: int = 0, n_components: int = 32,
                 pca_reference: Any = None, pca_fraction: float = 0.5) -> None:
        super().__init__(alpha=alpha, seed=seed)
        if int(n_components) < 1:
            raise InvalidInputError("n_components must be at least 1.", hint="32 is a usual choice.")
        if not 0.0 <= float(pca_fraction) < 1.0:
            raise InvalidInputError(f"pca_fraction must be in [0, 1), not {pca_fraction}.", hint="0.5 is the default.")
        self.n_components = int(n_components)
        self.pca_fraction = float(pca_fraction)
        self.pca_reference = (None if pca_reference is None
                              else validate_embeddings(pca_reference, what="PCA reference", min_samples=2))

    def _fit(self, ref: np.ndarray, rng: np.random.Generator) -> None:
        n_pca = int(round(len(ref) * self.pca_fraction))
        if self.pca_reference is not None:
            if self.pca_reference.shape[1] != ref.shape[1]:
                raise EmbeddingError(f"The PCA reference has dimension {self.pca_reference.shape[1]}, the reference "
                                     f"{ref.shape[1]}.", hint="Embed both with the same model.")
            pca_rows = self.pca_reference
        elif n_pca >= 2 and len(ref) - n_pca >= 2:
            order = rng.permutation(len(ref))
            pca_rows, ref = ref[order[:n_pca]], ref[order[n_pca:]]
        else:
            pca_rows = ref
        self.mean_ = pca_rows.mean(0)
        _, s, vt = np.linalg.svd(pca_rows - self.mean_, full_matrices=False)
        rank = int((s > s[0] * 1e-9).sum()) if s[0] > 0 else 1
        self.components_ = vt[: max(1, min(self.n_components, rank))]
        self.explained_ = float((s[: len(self.components_)] ** 2).sum() / max((s ** 2).sum(), 1e-300))
        self.ref_proj_ = (ref - self.mean_) @ self.components_.T

    def _test(self, win: np.ndarray, rng: np.random.Generator) -> tuple[float, float, dict]:
        p, stat, details = _ks_bonferroni(self.ref_proj_, (win - self.mean_) @ self.components_.T)
        return p, stat, {**details, "explained_variance": round(self.explained_, 4)}


# ------------------------------------------------------------------ classifier two-sample test
class ClassifierDetector(Detector):
    """Classifier two-sample test (Lopez-Paz & Oquab, 2017): can a classifier tell the window from the reference?

    The window (at most ``max_samples`` of it) and an equal-size random reference subsample are
    labelled 1 and 0 and split in two halves (stratified); a standardised logistic regression
    (``model="logistic"``) or a one-hidden-layer MLP (``model="mlp"``) is trained on one half and
    scored on the other. Under no drift each held-out prediction is right with probability 1/2,
    independently given the trained classifier, so the number right is Binomial(n_test, 1/2) and
    ``p = P(Binomial >= correct)``. (Cross-validated accuracy is not binomial — the folds share
    data — and its binomial p-values raise too many false alarms.)
    """

    method = "classifier"
    min_window = 4
    MODELS = ("logistic", "mlp")

    def __init__(self, *, alpha: float = ALPHA, seed: int = 0, model: str = "logistic", test_fraction: float = 0.5,
                 max_samples: int = 1000) -> None:
        super().__init__(alpha=alpha, seed=seed)
        if model not in self.MODELS:
            raise UnknownMethodError(f"Unknown classifier {model!r} for the classifier drift test.",
                                     hint=f"Valid classifiers: {', '.join(self.MODELS)}.")
        if not 0.0 < float(test_fraction) < 1.0:
            raise InvalidInputError(f"test_fraction must be between 0 and 1, not {test_fraction}.",
                                    hint="0.5 is the default.")
        self.model = model
        self.test_fraction = float(test_fraction)
        self.max_samples = int(max_samples)

    def _fit(self, ref: np.ndarray, rng: np.random.Generator) -> None:
        self.mean_ = ref.mean(0)
        self.scale_ = np.where(ref.std(0) > 1e-12, ref.std(0), 1.0)

    def _classifier(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        if self.model == "mlp":
            return MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=300, random_state=self.seed)
        # Newton steps on the (d x d) Hessian: a few iterations where L-BFGS needs hundreds on separable windows
        return LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100)

    def _test(self, win: np.ndarray, rng: np.random.Generator) -> tuple[float, float, dict]:
        import warnings

        from scipy.stats import binom
        from sklearn.exceptions import ConvergenceWarning

        ref = self.reference_
        m = min(len(ref), len(win), self.max_samples)
        x = np.vstack([ref[rng.choice(len(ref), m, replace=False)], win[rng.choice(len(win), m, replace=False)]])
        x = (x - self.mean_) / self.scale_
        n_test = min(m - 1, max(1, int(round(m * self.test_fraction))))  # per class
        test_rows = np.concatenate([rng.permutation(m)[:n_test], m + rng.permutation(m)[:n_test]])
        is_test = np.zeros(2 * m, bool)
        is_test[test_rows] = True
        y = np.repeat([0, 1], m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = self._classifier().fit(x[~is_test], y[~is_test])
        correct = int((clf.predict(x[is_test]) == y[is_test]).sum())
        p = float(binom.sf(correct - 1, 2 * n_test, 0.5))
        return p, correct / (2 * n_test), {"model": self.model, "n_train": int((~is_test).sum()),
                                           "n_test": 2 * n_test, "correct": correct}


# ------------------------------------------------------------------ black-box shift detection
class BBSDDetector(Detector):
    """Black-box shift detection on a classifier's softmax outputs.

    Args:
        predict_proba: maps an ``(n, d)`` array of embeddings to ``(n, K)`` class probabilities. Without
            it the detector's inputs must already be probabilities (rows >= 0 summing to 1).
        test: ``"ks"`` (KS per class probability, Bonferroni over K) or ``"chi2"`` (chi-square on the
            counts of predicted classes, reference vs window).
    """

    method = "bbsd"
    TESTS = ("ks", "chi2")

    def __init__(self, *, alpha: float = ALPHA, seed: int = 0,
                 predict_proba: Callable[[np.ndarray], Any] | None = None, test: str = "ks") -> None:
        super().__init__(alpha=alpha, seed=seed)
        if test not in self.TESTS:
            raise UnknownMethodError(f"Unknown BBSD test {test!r}.", hint=f"Valid tests: {', '.join(self.TESTS)}.")
        self.predict_proba = predict_proba
        self.test_name = test

    def probabilities(self, x: np.ndarray, what: str) -> np.ndarray:
        """The classifier's class probabilities for ``x`` (or ``x`` itself, checked, without a classifier)."""
        probs = validate_embeddings(self.predict_proba(x) if self.predict_proba is not None else x,
                                    what=f"class probabilities of the {what}")
        if len(probs) != len(x):
            raise EmbeddingError(f"predict_proba returned {len(probs)} rows for {len(x)} samples.",
                                 hint="predict_proba must return one row of class probabilities per sample.")
        if (probs < -1e-6).any() or not np.allclose(probs.sum(1), 1.0, atol=1e-3):
            hint = ("Pass softmax outputs, or give the detector predict_proba=your classifier's probability function."
                    if self.predict_proba is None else "predict_proba must return softmax probabilities.")
            raise EmbeddingError(f"The {what} are not class probabilities (rows must be >= 0 and sum to 1).",
                                 hint=hint)
        return probs

    def _fit(self, ref: np.ndarray, rng: np.random.Generator) -> None:
        self.ref_probs_ = self.probabilities(ref, "reference")
        self.n_classes_ = self.ref_probs_.shape[1]

    def _test(self, win: np.ndarray, rng: np.random.Generator) -> tuple[float, float, dict]:
        probs = self.probabilities(win, "window")
        if probs.shape[1] != self.n_classes_:
            raise EmbeddingError(f"The window has {probs.shape[1]} classes, the reference {self.n_classes_}.",
                                 hint="Use the same classifier for the reference and the window.")
        if self.test_name == "ks":
            p, stat, details = _ks_bonferroni(self.ref_probs_, probs)
            return p, stat, {**details, "test": "ks", "n_classes": self.n_classes_}
        from scipy.stats import chi2_contingency

        k = self.n_classes_
        counts = np.stack([np.bincount(self.ref_probs_.argmax(1), minlength=k),
                           np.bincount(probs.argmax(1), minlength=k)])
        counts = counts[:, counts.sum(0) > 0]
        if counts.shape[1] < 2:  # every sample predicted as the same class in both: nothing differs
            return 1.0, 0.0, {"test": "chi2", "n_classes": k, "classes_seen": int(counts.shape[1])}
        res = chi2_contingency(counts, correction=False)
        return float(res.pvalue), float(res.statistic), {"test": "chi2", "n_classes": k,
                                                         "classes_seen": int(counts.shape[1]), "dof": int(res.dof)}


#: Method name -> detector class.
DETECTORS: dict[str, type[Detector]] = {"mmd": MMDDetector, "ks": KSDetector, "classifier": ClassifierDetector,
                                        "bbsd": BBSDDetector}


def make_detector(method: str, **options: Any) -> Detector:
    """A detector by name (``"mmd"``, ``"ks"``, ``"classifier"``, ``"bbsd"``) with its options."""
    cls = DETECTORS.get(str(method).strip().lower()) if isinstance(method, str) else None
    if cls is None:
        raise UnknownMethodError(f"Unknown drift detection method {method!r}.",
                                 hint=f"Valid methods: {', '.join(DETECTORS)}.")
    return cls(**options)


def detect_drift(reference: Any, window: Any, method: str = "mmd", **options: Any) -> DriftResult:
    """One-shot test of ``window`` against ``reference`` with the detector ``method``."""
    return make_detector(method, **options).fit(reference).test(window)
