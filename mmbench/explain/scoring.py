"""Scores for explanation maps against ground truth and against the model itself.

* :func:`pointing_game` (Zhang et al. 2016): does the map's peak fall on the named object?
* :func:`deletion_auc` / :func:`insertion_auc` (Petsiuk et al. 2018, RISE): remove (or insert)
  the pixels the map ranks most important first and watch the target's score; a faithful map
  makes the score fall fast (low deletion AUC) and rise fast (high insertion AUC).
* :func:`map_correlation`: rank correlation of two maps (the weight-randomisation sanity check,
  Adebayo et al. 2018).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError


def _as_map(heatmap: Any) -> np.ndarray:
    m = np.asarray(heatmap, dtype=np.float32)
    if m.ndim != 2 or m.size == 0:
        raise InvalidInputError(f"A heatmap is a 2-D array, not shape {m.shape}.")
    return m


def peak_location(heatmap: Any) -> tuple[int, int]:
    """``(x, y)`` of the maximum. Ties (bilinear upsampling makes 2x2 plateaus) go to the tied
    pixel with the highest value in a slightly blurred copy (Gaussian, sigma 1 px)."""
    m = _as_map(heatmap)
    top = m.max()
    ys, xs = np.nonzero(m >= top)
    if len(ys) > 1:
        from scipy.ndimage import gaussian_filter

        blurred = gaussian_filter(m, sigma=1.0, mode="nearest")
        best = int(np.argmax(blurred[ys, xs]))
        return int(xs[best]), int(ys[best])
    return int(xs[0]), int(ys[0])


def pointing_game(heatmap: Any, box_or_mask: Any, tolerance: int = 0) -> bool:
    """True when the heatmap's peak lies inside the ground truth.

    ``box_or_mask``: a box ``(x0, y0, x1, y1)`` in pixels (end-exclusive, as
    :class:`~mmbench.data.world.WorldObject.box`) or a boolean mask shaped like the heatmap.
    ``tolerance`` grows the box by that many pixels (the original paper allows 15 px at 224 px;
    mmbench's bar uses 0). A constant map has no peak and scores False.
    """
    m = _as_map(heatmap)
    if float(m.max() - m.min()) <= 1e-12:
        return False
    x, y = peak_location(m)
    arr = np.asarray(box_or_mask)
    if arr.shape == m.shape:
        mask = arr.astype(bool)
        if tolerance > 0:
            from scipy.ndimage import binary_dilation

            mask = binary_dilation(mask, iterations=int(tolerance))
        return bool(mask[y, x])
    if arr.shape != (4,):
        raise InvalidInputError(f"Ground truth is a box (x0, y0, x1, y1) or a mask of shape {m.shape}, "
                                f"not an array of shape {arr.shape}.")
    x0, y0, x1, y1 = (float(v) for v in arr)
    t = float(tolerance)
    return bool(x0 - t <= x < x1 + t and y0 - t <= y < y1 + t)


def box_fraction(box: Any, size: tuple[int, int]) -> float:
    """Fraction of the image ``size`` (H, W) covered by ``box``: the pointing game's chance level
    for a uniformly random peak."""
    h, w = size
    x0, y0, x1, y1 = box
    return max(0, min(x1, w) - max(x0, 0)) * max(0, min(y1, h) - max(y0, 0)) / float(h * w)


def map_correlation(a: Any, b: Any) -> float:
    """Spearman rank correlation of two maps (0 when either is constant)."""
    from scipy.stats import rankdata

    x, y = _as_map(a).ravel(), _as_map(b).ravel()
    if x.shape != y.shape:
        raise InvalidInputError(f"Maps of different sizes: {a.shape} and {b.shape}.")
    if np.ptp(x) <= 1e-12 or np.ptp(y) <= 1e-12:
        return 0.0
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


# --------------------------------------------------------------------------------------------
# Deletion / insertion
# --------------------------------------------------------------------------------------------
def removal_baseline(image: np.ndarray, kind: str = "blur") -> np.ndarray:
    """What "removed" pixels become: ``"blur"`` (Gaussian, sigma = 1/16 of the image's longer
    side: shapes and textures go, average colour stays) or ``"mean"`` (the image's mean colour)."""
    img = np.asarray(image, dtype=np.float32)
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = max(img.shape[:2]) / 16.0
        return gaussian_filter(img, sigma=(sigma, sigma, 0), mode="reflect")
    if kind == "mean":
        return np.broadcast_to(img.reshape(-1, img.shape[-1]).mean(axis=0), img.shape).copy()
    raise InvalidInputError(f"Unknown removal baseline {kind!r}.", hint="Use 'blur' or 'mean'.")


def _cell_order(heatmap: np.ndarray, cell: int, seed: int) -> tuple[np.ndarray, int, int]:
    """Cells of ``cell`` x ``cell`` px ranked by mean heat, most important first (ties: seeded random)."""
    h, w = heatmap.shape
    gh, gw = -(-h // cell), -(-w // cell)
    padded = np.full((gh * cell, gw * cell), np.nan, dtype=np.float32)
    padded[:h, :w] = heatmap
    heat = np.nanmean(padded.reshape(gh, cell, gw, cell), axis=(1, 3)).ravel()
    shuffle = np.random.default_rng(seed).permutation(heat.size)
    order = shuffle[np.argsort(-heat[shuffle], kind="stable")]
    return order, gh, gw


def perturbation_frames(mode: str, image: Any, heatmap: Any, steps: int = 16, baseline: str = "blur",
                        cell: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``steps + 1`` images of a deletion or insertion curve and their removed fractions.

    Deletion: the image with 0, 1/steps, ..., all of its cells replaced by ``baseline``, most
    important cells first; insertion: the baseline with the image's cells put back in the same
    order. Cells are ``cell`` px squares (default: 1/32 of the shorter side), ranked by their mean
    heat (ties in seeded random order). Returns ``(frames (steps+1, H, W, 3) uint8, fractions)``.
    """
    if mode not in ("deletion", "insertion"):
        raise InvalidInputError("mode is 'deletion' or 'insertion'.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"steps must be a positive integer, not {steps!r}.")
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InvalidInputError(f"The image must be (H, W, 3), not {img.shape}.")
    m = _as_map(heatmap)
    if m.shape != img.shape[:2]:
        raise InvalidInputError(f"The heatmap {m.shape} and the image {img.shape[:2]} differ in size.")
    h, w = m.shape
    cell = int(cell or max(1, round(min(h, w) / 32)))
    order, gh, gw = _cell_order(m, cell, seed)
    n_cells = order.size
    rank = np.empty(n_cells, dtype=np.int64)
    rank[order] = np.arange(n_cells)
    rank_px = np.repeat(np.repeat(rank.reshape(gh, gw), cell, 0), cell, 1)[:h, :w]
    removed = removal_baseline(img, baseline)
    original = img.astype(np.float32)
    counts = np.round(np.linspace(0, n_cells, steps + 1)).astype(np.int64)
    frames = np.empty((steps + 1, h, w, 3), dtype=np.uint8)
    for k, c in enumerate(counts):
        gone = (rank_px < c)[..., None]  # the c most important cells
        frame = np.where(gone, removed, original) if mode == "deletion" else np.where(gone, original, removed)
        frames[k] = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    return frames, counts / float(n_cells)


def normalised_curve(mode: str, scores: Any) -> np.ndarray:
    """Scores of :func:`perturbation_frames` rescaled so the intact image scores 1 and the fully
    removed one 0, clipped to [0, 1]; all NaN when the two score the same (the target ignores the image)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    full, empty = (s[0], s[-1]) if mode == "deletion" else (s[-1], s[0])
    span = full - empty
    if not np.isfinite(span) or abs(span) <= 1e-8 * max(1.0, abs(full)):
        return np.full_like(s, np.nan)
    return np.clip((s - empty) / span, 0.0, 1.0)


def perturbation_curve(mode: str, score_fn: Callable[[np.ndarray], Any], image: Any, heatmap: Any, steps: int = 16,
                       baseline: str = "blur", cell: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(fractions, normalised scores)`` of a deletion or insertion curve; the ``steps + 1`` images
    (:func:`perturbation_frames`) are scored in one ``score_fn`` call (:func:`normalised_curve`)."""
    frames, fractions = perturbation_frames(mode, image, heatmap, steps, baseline, cell, seed)
    scores = np.asarray(score_fn(frames), dtype=np.float64).reshape(-1)
    if scores.shape[0] != len(frames):
        raise InvalidInputError(f"score_fn returned {scores.shape[0]} scores for {len(frames)} images.")
    return fractions, normalised_curve(mode, scores)


def curve_auc(fractions: Any, curve: Any) -> float:
    """Trapezoidal area under a normalised curve over the removed fraction (NaN if the curve is)."""
    curve = np.asarray(curve, dtype=np.float64)
    if np.isnan(curve).any():
        return float("nan")
    return float(np.trapezoid(curve, np.asarray(fractions, dtype=np.float64)))


def deletion_auc(score_fn: Callable[[np.ndarray], Any], image: Any, heatmap: Any, steps: int = 16,
                 baseline: str = "blur", cell: int | None = None, seed: int = 0) -> float:
    """Area under the deletion curve, in [0, 1]: lower is better (the score collapses as soon as
    the pixels the map calls important are removed). ``score_fn(images (N, H, W, 3) uint8) ->
    (N,) scores`` is, e.g., :func:`mmbench.explain.target_scorer`. See :func:`perturbation_curve`."""
    return curve_auc(*perturbation_curve("deletion", score_fn, image, heatmap, steps, baseline, cell, seed))


def insertion_auc(score_fn: Callable[[np.ndarray], Any], image: Any, heatmap: Any, steps: int = 16,
                  baseline: str = "blur", cell: int | None = None, seed: int = 0) -> float:
    """Area under the insertion curve, in [0, 1]: higher is better. See :func:`deletion_auc`."""
    return curve_auc(*perturbation_curve("insertion", score_fn, image, heatmap, steps, baseline, cell, seed))
