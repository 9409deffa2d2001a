"""mmbench's detectors next to alibi-detect's on the same windows (``mmbench eval drift``, 7.5.3).

alibi-detect is what many users know for drift detection. :func:`compare_with_alibi` runs its
``KSDrift`` and ``MMDDrift`` (PyTorch backend) beside :class:`~.detectors.KSDetector` and
:class:`~.detectors.MMDDetector` on the very same reference and windows and reports, per method, how
often the two decisions agree (at the detector's alpha and at the monitor's alarm level), how far
the p-values are apart and the time per window of each.

Like for like: alibi's ``KSDrift`` gets the KS detector's reference *after* its PCA and each window
projected by the same PCA (``preprocess_fn``), with Bonferroni correction, so both run the same test
(per-component two-sample KS, ``min_i p_i < alpha / k``). ``MMDDrift`` gets the MMD detector's
kernel reference (at most ``max_reference`` rows); the two differ in the RBF bandwidth (alibi: the
median heuristic on the reference at fit time; mmbench: on the pooled reference and window) and
in their random permutations, so their p-values agree in decision, not to the digit.

alibi-detect is optional and not in mmbench's extras: its latest release (0.13.0) pins
``numpy<2``, ``pandas<3``, ``Pillow<11``, ``scikit-image<0.25``, ``transformers<5`` and
``numba<0.60``, so ``pip install alibi-detect`` downgrades eight packages mmbench's environment uses
(numpy 2 -> 1.26, transformers 5 -> 4.57, ...). Without it :func:`compare_with_alibi` returns
``{"available": False, "reason": ...}``. Its code runs fine on numpy 2 and torch 2.x, so it can be
compared anyway from a side directory (:data:`INSTALL_HINT`).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from .detectors import ALPHA, KSDetector, MMDDetector

__all__ = ["INSTALL_HINT", "NOT_INSTALLED", "alibi_status", "compare_with_alibi"]

#: The reason given when alibi-detect cannot be imported.
NOT_INSTALLED = ("alibi-detect not installed: it is not a dependency of mmbench because its latest release (0.13.0) "
                 "pins numpy<2, pandas<3, Pillow<11, scikit-image<0.25, transformers<5 and numba<0.60, so pip would "
                 "downgrade numpy, transformers, pandas, Pillow, scikit-image, numba, llvmlite and huggingface_hub "
                 "in mmbench's environment.")
#: How to compare anyway without touching the environment.
INSTALL_HINT = ("To compare anyway, install it beside the environment: pip install --no-deps --target DIR "
                "alibi-detect==0.13.0 catalogue==2.0.10 dill==0.3.9 toml==0.10.2, then run with PYTHONPATH=DIR.")


def alibi_status() -> dict[str, Any]:
    """``{"available": bool, "version" | "reason": str}``: whether alibi-detect imports here (its detectors
    and PyTorch backend). Cheap when it is not installed; importing it takes about 10 s."""
    import importlib.util

    if importlib.util.find_spec("alibi_detect") is None:
        return {"available": False, "reason": NOT_INSTALLED, "hint": INSTALL_HINT}
    try:
        import alibi_detect
        from alibi_detect.cd import KSDrift, MMDDrift

        del KSDrift, MMDDrift  # imported to check they load
        from alibi_detect.utils.frameworks import has_pytorch
    except Exception as error:  # installed but broken (e.g. a dependency too new): say so, do not fail the eval
        return {"available": False, "reason": f"alibi-detect is installed but does not import: "
                                              f"{type(error).__name__}: {error}", "hint": INSTALL_HINT}
    if not has_pytorch:
        return {"available": False, "reason": "alibi-detect imports but sees no PyTorch backend", "hint": INSTALL_HINT}
    return {"available": True, "version": str(getattr(alibi_detect, "__version__", "?"))}


class _one_thread:
    """torch on one thread while timing (both libraries alike; steadier on a busy machine)."""

    def __enter__(self):
        import torch

        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.threads)


def _agreement(ours: Sequence[float], theirs: Sequence[float], alphas: Sequence[float]) -> dict[str, Any]:
    a, b = np.asarray(ours, float), np.asarray(theirs, float)
    out: dict[str, Any] = {}
    for alpha in alphas:
        mine, other = a < alpha, b < alpha
        out[f"agree_at_{alpha:g}"] = round(float(np.mean(mine == other)), 4)
        out[f"rate_mmbench_at_{alpha:g}"] = round(float(mine.mean()), 4)
        out[f"rate_alibi_at_{alpha:g}"] = round(float(other.mean()), 4)
    out["max_abs_p_diff"] = round(float(np.max(np.abs(a - b))), 6)
    if len(a) > 2 and np.std(a) > 0 and np.std(b) > 0:
        from scipy.stats import spearmanr

        out["p_spearman"] = round(float(spearmanr(a, b).statistic), 4)
    return out


def compare_with_alibi(windows: Mapping[str, Sequence[np.ndarray]], *, ks: KSDetector | None = None,
                       mmd: MMDDetector | None = None, alphas: Sequence[float] = (ALPHA, 0.01),
                       seed: int = 0) -> dict[str, Any]:
    """Run mmbench's fitted ``ks`` / ``mmd`` detectors and alibi-detect's ``KSDrift`` / ``MMDDrift``
    (PyTorch backend, same reference, same permutations count) on every window of ``windows``
    (condition name -> list of ``(m, d)`` arrays). Returns ``{"available": False, "reason": ...}`` when
    alibi-detect cannot be imported, else per method: decision agreement and rejection rates at each of
    ``alphas`` (over all windows and per condition), the largest p-value difference, their rank
    correlation, and the seconds per window of each library (fit excluded)."""
    status = alibi_status()
    if not status["available"]:
        return status
    import torch
    from alibi_detect.cd import KSDrift, MMDDrift

    out: dict[str, Any] = {**status, "windows": {k: len(v) for k, v in windows.items()}, "alphas": list(alphas)}
    with _one_thread():
        if ks is not None and ks.fitted:
            mean, comps = ks.mean_, ks.components_
            theirs = KSDrift(ks.ref_proj_.astype(np.float64), p_val=ks.alpha, correction="bonferroni",
                             x_ref_preprocessed=True,
                             preprocess_fn=lambda x: (np.asarray(x, np.float64) - mean) @ comps.T)

            def alibi_ks(x: np.ndarray) -> float:
                p = np.asarray(theirs.predict(x, return_p_val=True)["data"]["p_val"], float)
                return float(min(1.0, len(p) * p.min()))  # Bonferroni p, as KSDetector reports it

            out["ks"] = _run_pair(windows, ks.test, alibi_ks, alphas)
            out["ks"]["alibi"] = "KSDrift(correction='bonferroni') on the same PCA projection"
        if mmd is not None and mmd.fitted:
            torch.manual_seed(seed)
            ref = mmd.kernel_reference_.astype(np.float32)
            theirs_mmd = MMDDrift(ref, backend="pytorch", p_val=mmd.alpha, n_permutations=mmd.n_permutations,
                                  device="cpu")

            def alibi_mmd(x: np.ndarray) -> float:
                return float(theirs_mmd.predict(x.astype(np.float32), return_p_val=True)["data"]["p_val"])

            out["mmd"] = _run_pair(windows, mmd.test, alibi_mmd, alphas)
            out["mmd"]["alibi"] = (f"MMDDrift(backend='pytorch', n_permutations={mmd.n_permutations}) on the same "
                                   f"{len(ref)} reference rows")
    return out


def _run_pair(windows: Mapping[str, Sequence[np.ndarray]], ours, theirs, alphas: Sequence[float]) -> dict[str, Any]:
    p_ours: dict[str, list[float]] = {}
    p_theirs: dict[str, list[float]] = {}
    t_ours = t_theirs = 0.0
    n = 0
    for name, wins in windows.items():
        p_ours[name], p_theirs[name] = [], []
        for w in wins:
            t0 = time.perf_counter()
            p_ours[name].append(ours(w).p_value)
            t1 = time.perf_counter()
            p_theirs[name].append(theirs(w))
            t_theirs += time.perf_counter() - t1
            t_ours += t1 - t0
            n += 1
    every_ours = [p for v in p_ours.values() for p in v]
    every_theirs = [p for v in p_theirs.values() for p in v]
    return {**_agreement(every_ours, every_theirs, alphas),
            "by_condition": {k: _agreement(p_ours[k], p_theirs[k], alphas) for k in p_ours if p_ours[k]},
            "ms_per_window_mmbench": round(1000 * t_ours / max(n, 1), 2),
            "ms_per_window_alibi": round(1000 * t_theirs / max(n, 1), 2)}
