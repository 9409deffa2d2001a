"""Drift detection on controlled shifts of the procedural worlds (``mmbench eval drift``, chapter 7.5.3).

Embeddings: images and captions through the offline tiny CLIP (``pipe.embed_images`` /
``pipe.embed_texts``); sound-world clips as their mean log-mel spectrum (80 bands, the tiny sound
model's framing, :func:`mmbench.audiogen.melspec.sound_to_mel`). Every pool is embedded once per call
(:class:`PoolCache`) and windows are resampled from it.

Pools, all from distinct world seeds: the *reference* (``seed``; the detectors are fitted on it, MMD on a
random 1000 of it since its cost grows with the square of the sample size), a *train* pool
(``seed + 1``; the KS detector's PCA is fitted on it, and the audio BBSD classifier trained on it) and
one *test* pool per condition (``seed + 10 + k``), so no-shift windows never share a sample with the
reference. A large reference matters: with one fixed reference every window is compared with the same
finite sample, so the false-alarm rate *given that reference* scatters around alpha, the more the
smaller the reference is next to the window.

BBSD's classifiers: for images and captions the tiny CLIP's zero-shot head over the 36 shape x colour
classes (softmax of ``logit_scale`` x cosine to the class prompts); for audio a logistic regression of
the sound type (beep/tone/hum/chirp) trained on the train pool.

The headline figures are those of the **alarm rule** the online monitor uses
(:class:`~mmbench.monitor.DriftMonitor`'s defaults, ``alarm_rule`` in the JSON): the primary detector,
``ks``, on windows of 200, a window alarming when its p-value is below
:data:`~mmbench.monitor.online.ALARM_ALPHA` (0.01), ``alarm_patience`` (1) window in a row. A test
calibrated at alpha = 0.05 raises false alarms at 0.05 on average, so a rate measured on a finite
number of windows lands above 0.05 half the time; a monitor that tests window after window needs a
smaller level, and this one keeps its power (the power table at 0.05 shows how much margin there is).

Reported (last JSON line): ``false_alarm_rate`` (the alarm rule on ``n_headline`` no-shift image
windows of 200), ``power_at_200`` (the lower of the noise and palette shifts' alarm rate at window 200,
``n_headline`` windows each), ``detection_delay`` (worst over streams through a ``DriftMonitor`` with
the alarm rule where the noise or palette shift starts at window ``shift_at``), the same figures at
alpha = 0.05 (``*_at_alpha_05``) and for every detector, power at alpha = 0.05 per
modality/shift/detector/window size (``power``; the alarm level's in ``power_at_alarm_alpha``) with the
repetitions used, and alibi-detect's KS and MMD next to mmbench's on headline windows
(``alibi_detect``; ``available: false`` with the reason when it cannot be imported).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..data.shifts import (AUDIO_SHIFTS, IMAGE_SHIFTS, SHIFTS, TEXT_SHIFTS, shifted_captions, shifted_clips,
                           shifted_scenes)
from ..data.sound_world import SOUNDS, SoundWorld
from ..data.world import World
from ..monitor.detectors import ALPHA, BBSDDetector, ClassifierDetector, Detector, KSDetector, MMDDetector
from ..monitor.online import ALARM_ALPHA
from ..monitor.power import alarm_rate, draw_windows, rejection_rates, stream_delay

#: Held-out world seeds of the drift suite (never used to train the tiny models).
DRIFT_SEED = 40_001
WINDOW_SIZES: tuple[int, ...] = (25, 50, 100, 200, 500, 1000)
DETECTOR_NAMES: tuple[str, ...] = ("mmd", "ks", "classifier", "bbsd", "bbsd_chi2")
#: The detector behind the headline figures: KS per principal component with Bonferroni (conservative by
#: construction, cheap, and among the strongest in Rabanser et al.'s study).
PRIMARY = "ks"
HEADLINE_SHIFTS: tuple[str, ...] = ("noise", "palette")


@dataclass(frozen=True)
class DriftPlan:
    """How much to measure. ``reps`` maps window size -> windows drawn per (shift, size)."""

    n_reference: int = 2000
    n_pool: int = 1500
    n_pool_none: int = 2000  # the image no-shift pool (the headline's false alarms); text and audio use n_pool
    n_train: int = 1000
    max_mmd_reference: int = 1000
    window_sizes: tuple[int, ...] = WINDOW_SIZES
    reps: dict[int, int] = field(default_factory=lambda: {25: 50, 50: 50, 100: 50, 200: 50, 500: 20, 1000: 10})
    headline_window: int = 200
    n_headline: int = 200
    stream_window: int = 200
    shift_at: int = 10
    n_after: int = 5
    n_streams: int = 5
    n_permutations: int = 100
    #: principal components of the KS detector: the palette shift lives in low-variance components (33-64 of
    #: the tiny CLIP's 160, 0.2-0.5 % of the top singular value), so 32 miss part of it (measured: power at 200
    #: and p < 0.01 0.93-0.99 with 32 over seeds, 1.0 with 64)
    ks_components: int = 64
    #: the monitor's alarm rule: a window alarms when p < alarm_alpha, alarm_patience windows in a row
    alarm_alpha: float = ALARM_ALPHA
    alarm_patience: int = 1
    #: headline windows per condition (none, noise, palette) run through alibi-detect too (0: skip)
    alibi_windows: int = 10
    shifts: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "image": IMAGE_SHIFTS, "text": TEXT_SHIFTS, "audio": AUDIO_SHIFTS})
    detectors: tuple[str, ...] = DETECTOR_NAMES


#: ``mmbench eval drift --quick``: small pools, windows up to 200, few repetitions.
QUICK = DriftPlan(n_reference=400, n_pool=400, n_pool_none=400, n_train=300, max_mmd_reference=400,
                  window_sizes=(25, 50, 100, 200),
                  reps={25: 20, 50: 20, 100: 20, 200: 20}, n_headline=40, shift_at=4, n_after=3, n_streams=2,
                  stream_window=100, alibi_windows=3)


def audio_features(clips: list[np.ndarray]) -> np.ndarray:
    """Mean log-mel spectrum of each clip: ``(n, 80)``, in [0, 1] (dB relative to the clip's loudest bin)."""
    from ..audiogen.melspec import sound_to_mel

    return np.stack([sound_to_mel(c).mean(axis=1) for c in clips]).astype(np.float32)


class _one_torch_thread:
    """torch on one thread while embedding: the tiny CLIP is small, and one thread is as fast as two and
    several times faster on a busy machine."""

    def __enter__(self):
        import torch

        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.threads)


class PoolCache:
    """Embeddings of every pool, computed once: ``get(modality, shift, role, n)``."""

    def __init__(self, pipe, seed: int, log: Callable[[str], None] | None = None) -> None:
        self.pipe = pipe
        self.seed = int(seed)
        self.log = log or (lambda msg: None)
        self._cache: dict[tuple, np.ndarray] = {}
        #: image pools: the class ("colour shape") of each scene's first object
        self.labels: dict[tuple, list[str]] = {}
        self.seconds = 0.0

    def pool_seed(self, modality: str, shift: str, role: str) -> int:
        if role == "reference":
            return self.seed
        if role == "train":
            return self.seed + 1
        known = {"image": IMAGE_SHIFTS, "text": TEXT_SHIFTS, "audio": AUDIO_SHIFTS}[modality]
        return self.seed + 10 + known.index(shift)

    def get(self, modality: str, shift: str, role: str, n: int) -> np.ndarray:
        key = (modality, shift, role, int(n))
        if key not in self._cache:
            started = time.perf_counter()
            seed = self.pool_seed(modality, shift, role)
            with _one_torch_thread():
                if modality == "image":
                    scenes = shifted_scenes(shift, n, seed)
                    self.labels[key] = [s.labels[0] for s in scenes]
                    emb = np.concatenate([self.pipe.embed_images([s.image for s in scenes[i:i + 500]], batch_size=250)
                                          for i in range(0, n, 500)])
                elif modality == "text":
                    caps = shifted_captions(shift, n, seed)
                    emb = np.concatenate([self.pipe.embed_texts(caps[i:i + 500], batch_size=250)
                                          for i in range(0, n, 500)])
                else:
                    emb = audio_features(shifted_clips(shift, n, seed))
            self._cache[key] = emb
            took = time.perf_counter() - started
            self.seconds += took
            self.log(f"  embedded {n} {modality} samples ({role}, shift {shift}, seed {seed}) in {took:.1f}s")
        return self._cache[key]


def _wilson(rate: float, n: int, z: float = 1.96) -> list[float]:
    """95 % Wilson interval of a rate measured on ``n`` windows (as if they were independent; windows
    resampled from one pool overlap, so the true interval is wider)."""
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(float(centre - half), 4), round(float(centre + half), 4)]


def _zero_shot_accuracy(probs: np.ndarray, labels: list[str]) -> dict[str, float]:
    """The tiny CLIP's zero-shot accuracy on a pool: the class, and its colour alone (the shape shift's
    shapes are no class the model knows, so only its colour can be right)."""
    classes = World().classes()
    pred = [classes[i] for i in probs.argmax(1)]
    return {"class": round(float(np.mean([p == t for p, t in zip(pred, labels)])), 4),
            "colour": round(float(np.mean([p.split()[0] == t.split()[0] for p, t in zip(pred, labels)])), 4)}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classifier_head(pipe, cache: PoolCache, modality: str, plan: DriftPlan) -> Callable[[np.ndarray], np.ndarray]:
    """BBSD's black box for ``modality``: embeddings -> class probabilities."""
    if modality in ("image", "text"):
        classes = World().classes()
        class_emb = pipe.label_embeddings(classes).astype(np.float64)
        scale = float(pipe.logit_scale)
        return lambda x: _softmax(scale * (np.asarray(x) @ class_emb.T))
    from sklearn.linear_model import LogisticRegression

    x = cache.get("audio", "none", "train", plan.n_train)
    world = SoundWorld(seed=cache.pool_seed("audio", "none", "train"))
    y = np.array([SOUNDS.index(p.sound) for p in world.prompts(plan.n_train)])
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, y)
    return lambda v: clf.predict_proba(np.asarray(v))


def make_detectors(names: tuple[str, ...], reference: np.ndarray, head, seed: int, n_permutations: int = 100,
                   pca_reference: np.ndarray | None = None, max_mmd_reference: int | None = None,
                   ks_components: int = 64) -> dict[str, Detector]:
    """The named detectors, fitted on ``reference`` (KS's PCA, ``ks_components`` kept, on ``pca_reference``
    when given)."""
    build = {"mmd": lambda: MMDDetector(seed=seed, n_permutations=n_permutations, max_reference=max_mmd_reference),
             "ks": lambda: KSDetector(seed=seed, pca_reference=pca_reference, n_components=ks_components),
             "classifier": lambda: ClassifierDetector(seed=seed),
             "bbsd": lambda: BBSDDetector(seed=seed, predict_proba=head, test="ks"),
             "bbsd_chi2": lambda: BBSDDetector(seed=seed, predict_proba=head, test="chi2")}
    return {name: build[name]().fit(reference) for name in names}


def evaluate_drift(pipe, *, seed: int = DRIFT_SEED, plan: DriftPlan = DriftPlan(), quick: bool = False,
                   log: Callable[[str], None] | None = None) -> dict:
    """Power, false alarms and detection delay of every detector on the shift suite; the summary dict."""
    started = time.perf_counter()
    plan = QUICK if quick else plan
    say = log or (lambda msg: None)
    cache = PoolCache(pipe, seed, say)
    primary = PRIMARY if PRIMARY in plan.detectors else plan.detectors[0]
    power: dict[str, dict] = {}
    power_alarm: dict[str, dict] = {}
    accuracy: dict[str, dict] = {}
    test_seconds: dict[str, float] = {}
    fitted: dict[str, dict[str, Detector]] = {}
    for modality, shifts in plan.shifts.items():
        if not shifts:
            continue
        say(f"{modality}: reference pool of {plan.n_reference}, detectors {', '.join(plan.detectors)}")
        reference = cache.get(modality, "none", "reference", plan.n_reference)
        train = cache.get(modality, "none", "train", plan.n_train)
        needs_head = any(d.startswith("bbsd") for d in plan.detectors)
        head = classifier_head(pipe, cache, modality, plan) if needs_head else None
        dets = fitted[modality] = make_detectors(plan.detectors, reference, head, seed, plan.n_permutations,
                                                 pca_reference=train, max_mmd_reference=plan.max_mmd_reference,
                                                 ks_components=plan.ks_components)
        for shift in shifts:
            n_pool = plan.n_pool_none if (modality, shift) == ("image", "none") else plan.n_pool
            pool = cache.get(modality, shift, "test", n_pool)
            if modality == "image" and head is not None:
                accuracy[f"image/{shift}"] = _zero_shot_accuracy(head(pool), cache.labels[
                    ("image", shift, "test", len(pool))])
            t0 = time.perf_counter()
            table: dict[str, dict[str, float]] = {name: {} for name in dets}
            at_alarm: dict[str, dict[str, float]] = {name: {} for name in dets}
            for size in plan.window_sizes:
                if size > len(pool):
                    continue
                windows = draw_windows(len(pool), size, plan.reps.get(size, 10), [seed, 3, size])
                for name, row in rejection_rates(dets, pool, windows).items():
                    table[name][str(size)] = round(row["rate"], 4)
                    at_alarm[name][str(size)] = round(alarm_rate(row["p_values"], plan.alarm_alpha), 4)
                    test_seconds[name] = test_seconds.get(name, 0.0) + row["seconds"]
            power[f"{modality}/{shift}"] = table
            power_alarm[f"{modality}/{shift}"] = at_alarm
            line = ", ".join(f"{n} {table[n].get('200', table[n].get(str(max(plan.window_sizes)), float('nan')))}"
                             for n in dets)
            say(f"  {modality}/{shift}: power at 200 -> {line} ({time.perf_counter() - t0:.1f}s)")

    headline = _headline(cache, fitted.get("image"), plan, seed, primary, say)
    rule = {"detector": primary, "alpha": plan.alarm_alpha, "patience": plan.alarm_patience,
            "window_size": plan.headline_window, "ks_components": plan.ks_components,
            "rule": f"alert when {plan.alarm_patience} window(s) of {plan.headline_window} in a row have a {primary} "
                    f"p-value below {plan.alarm_alpha:g} (DriftMonitor(alpha={plan.alarm_alpha:g}, "
                    f"patience={plan.alarm_patience}))"}
    out = {
        "false_alarm_rate": headline["false_alarm"][primary],
        "false_alarm_rate_ci95": _wilson(headline["false_alarm"][primary], plan.n_headline),
        "power_at_200": min(headline["power"][s][primary] for s in HEADLINE_SHIFTS),
        "detection_delay": headline["delay"]["worst"],
        "alarm_rule": rule,
        "false_alarm_rate_at_alpha_05": headline["false_alarm_05"][primary],
        "power_at_200_at_alpha_05": min(headline["power_05"][s][primary] for s in HEADLINE_SHIFTS),
        "primary_detector": primary,
        "alpha": ALPHA,
        "false_alarm_by_detector": headline["false_alarm"],
        "false_alarm_by_detector_at_alpha_05": headline["false_alarm_05"],
        "power_at_200_by_shift": headline["power"],
        "power_at_200_by_shift_at_alpha_05": headline["power_05"],
        "detection_delay_streams": headline["delay"],
        "alibi_detect": _alibi(headline["windows"], fitted.get("image"), plan, seed, say),
        "power": power,
        "power_at_alarm_alpha": power_alarm,
        "zero_shot_accuracy": accuracy,
        "window_sizes": list(plan.window_sizes),
        "repetitions": {str(k): v for k, v in plan.reps.items() if k in plan.window_sizes},
        "headline_windows": plan.n_headline,
        "pools": {"reference": plan.n_reference, "train": plan.n_train, "test": plan.n_pool,
                  "image_test_none": plan.n_pool_none, "mmd_reference": plan.max_mmd_reference},
        "shifts": {f"{m}/{s}": SHIFTS[(m, s)] for m, ss in plan.shifts.items() for s in ss},
        "embedding": {"image": f"{pipe.spec.name} image embeddings (single-object scenes)",
                      "text": f"{pipe.spec.name} text embeddings (captions of 1-3-object scenes)",
                      "audio": "mean log-mel spectrum, 80 bands"},
        "quick": bool(quick), "seed": seed, "model": pipe.spec.name,
        "embed_seconds": round(cache.seconds, 1),
        "power_grid_seconds_by_detector": {k: round(v, 1) for k, v in test_seconds.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    return out


def _headline(cache: PoolCache, dets: dict[str, Detector] | None, plan: DriftPlan, seed: int, primary: str,
              say: Callable[[str], None]) -> dict:
    """False alarms and power at ``plan.headline_window`` over ``plan.n_headline`` image windows under the
    alarm rule (and at alpha = 0.05), and the detection delay of a monitor with the alarm rule on streams
    where the noise or palette shift starts at window ``plan.shift_at``."""
    if dets is None:
        raise ValueError("the headline figures need the image modality in the plan")
    size = plan.headline_window
    rule = f"p < {plan.alarm_alpha:g}" + (f", {plan.alarm_patience} in a row" if plan.alarm_patience > 1 else "")

    def rates(rows: dict) -> tuple[dict, dict]:
        alarms = {n: alarm_rate(r["p_values"], plan.alarm_alpha, plan.alarm_patience) for n, r in rows.items()}
        return {n: round(v, 4) for n, v in alarms.items()}, {n: round(r["rate"], 4) for n, r in rows.items()}

    none = cache.get("image", "none", "test", plan.n_pool_none)
    t0 = time.perf_counter()
    windows = draw_windows(len(none), size, plan.n_headline, [seed, 5])
    kept = {"none": [none[i] for i in windows[:plan.alibi_windows]]}
    false_alarm, false_alarm_05 = rates(rejection_rates(dets, none, windows))
    say(f"false alarms over {plan.n_headline} no-shift windows of {size}: {false_alarm} ({rule}), {false_alarm_05} "
        f"(p < {ALPHA:g}) ({time.perf_counter() - t0:.1f}s)")
    power, power_05 = {}, {}
    for k, shift in enumerate(HEADLINE_SHIFTS):
        pool = cache.get("image", shift, "test", plan.n_pool)
        windows = draw_windows(len(pool), size, plan.n_headline, [seed, 6, k])
        kept[shift] = [pool[i] for i in windows[:plan.alibi_windows]]
        power[shift], power_05[shift] = rates(rejection_rates(dets, pool, windows))
        say(f"power over {plan.n_headline} {shift} windows of {size}: {power[shift]} ({rule}), {power_05[shift]} "
            f"(p < {ALPHA:g})")
    streams = []
    for k, shift in enumerate(HEADLINE_SHIFTS):
        after = cache.get("image", shift, "test", plan.n_pool)
        for s in range(plan.n_streams):
            row = stream_delay(dets[primary], none, after, window_size=plan.stream_window, shift_at=plan.shift_at,
                               n_after=plan.n_after, seed=[seed, 7, k, s], alpha=plan.alarm_alpha,
                               patience=plan.alarm_patience)
            streams.append({"shift": shift, **row})
    # a stream that never alerted within its n_after shifted windows counts as delay n_after (censored)
    delays = [r["delay"] if r["delay"] is not None else plan.n_after for r in streams]
    before = plan.shift_at * len(streams)
    delay = {"worst": max(delays), "mean": round(float(np.mean(delays)), 3), "detector": primary,
             "alpha": plan.alarm_alpha, "patience": plan.alarm_patience,
             "window_size": plan.stream_window, "shift_at": plan.shift_at, "streams": streams,
             "undetected": sum(r["delay"] is None for r in streams),
             "false_alarms_before_shift": sum(r["false_alerts_before"] for r in streams),
             "windows_before_shift": before,
             "false_alarm_rate_before_shift": round(sum(r["false_alerts_before"] for r in streams) / max(1, before), 4)}
    say(f"detection delay ({primary}, {rule}, windows of {plan.stream_window}, shift at window {plan.shift_at}): "
        f"worst {delay['worst']}, mean {delay['mean']}, {delay['false_alarms_before_shift']} false alerts in "
        f"{before} windows before the shift")
    return {"false_alarm": false_alarm, "false_alarm_05": false_alarm_05, "power": power, "power_05": power_05,
            "delay": delay, "windows": kept}


def _alibi(windows: dict[str, list[np.ndarray]], dets: dict[str, Detector] | None, plan: DriftPlan, seed: int,
           say: Callable[[str], None]) -> dict:
    """alibi-detect's KS and MMD beside mmbench's on the first ``plan.alibi_windows`` headline windows."""
    from ..monitor.compare_alibi import alibi_status, compare_with_alibi

    if plan.alibi_windows <= 0 or not dets:
        return {"available": None, "reason": "skipped (alibi_windows = 0)"}
    ks, mmd = dets.get("ks"), dets.get("mmd")
    if not isinstance(ks, KSDetector) and not isinstance(mmd, MMDDetector):
        return {"available": None, "reason": "skipped: neither the ks nor the mmd detector is in the plan"}
    status = alibi_status()
    if not status["available"]:
        say(f"alibi-detect comparison skipped: {status['reason']} {status.get('hint', '')}")
        return status
    t0 = time.perf_counter()
    out = compare_with_alibi(windows, ks=ks if isinstance(ks, KSDetector) else None,
                             mmd=mmd if isinstance(mmd, MMDDetector) else None,
                             alphas=(ALPHA, plan.alarm_alpha), seed=seed)
    for name in ("ks", "mmd"):
        if name in out:
            r = out[name]
            say(f"alibi-detect {out['version']} {name}: decisions agree on {r[f'agree_at_{ALPHA:g}']:.0%} of "
                f"{sum(out['windows'].values())} windows at {ALPHA:g} ({r[f'agree_at_{plan.alarm_alpha:g}']:.0%} at "
                f"{plan.alarm_alpha:g}), max |p diff| {r['max_abs_p_diff']:.3g}; ms per window mmbench "
                f"{r['ms_per_window_mmbench']}, alibi {r['ms_per_window_alibi']}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def plan_summary(plan: DriftPlan) -> dict:
    """The plan as plain JSON (window sizes as strings)."""
    d = asdict(plan)
    d["reps"] = {str(k): v for k, v in plan.reps.items()}
    return d


__all__ = ["DETECTOR_NAMES", "DRIFT_SEED", "DriftPlan", "PRIMARY", "PoolCache", "QUICK", "WINDOW_SIZES",
           "audio_features", "classifier_head", "evaluate_drift", "make_detectors", "plan_summary"]
