"""Drift detection (mmbench.monitor, mmbench.data.shifts, mmbench.eval.drift): detectors against known
statistical properties, the online monitor, typed errors, the shift generators and a small eval on the
tiny CLIP."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import ks_2samp

from mmbench.errors import EmbeddingError, InvalidInputError, MMBenchError, UnknownMethodError
from mmbench.monitor import (BBSDDetector, ClassifierDetector, DriftMonitor, KSDetector, MMDDetector, detect_drift,
                             make_detector)

pytestmark = pytest.mark.usefixtures("one_thread")


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(1, keepdims=True)


#: three Gaussian classes in 6 dimensions; the Bayes posterior is BBSD's black box
MEANS = np.array([[2.0, 0, 0, 0, 0, 0], [0, 2.0, 0, 0, 0, 0], [0, 0, 2.0, 0, 0, 0]])


def posterior(x):
    return _softmax(np.asarray(x) @ MEANS.T - 0.5 * (MEANS ** 2).sum(1))


def mixture(rng, n, weights=(1 / 3, 1 / 3, 1 / 3)):
    y = rng.choice(3, n, p=weights)
    return MEANS[y] + rng.normal(size=(n, 6))


DETECTORS = {
    "mmd": lambda seed: MMDDetector(seed=seed, n_permutations=50),
    "ks": lambda seed: KSDetector(seed=seed, n_components=8),
    "classifier": lambda seed: ClassifierDetector(seed=seed),
    "bbsd": lambda seed: BBSDDetector(seed=seed, predict_proba=posterior),
    "bbsd_chi2": lambda seed: BBSDDetector(seed=seed, predict_proba=posterior, test="chi2"),
}


# ------------------------------------------------------------------ statistical properties
@pytest.mark.parametrize("name", list(DETECTORS))
def test_identical_distributions_raise_about_alpha_false_alarms(name):
    pvals = []
    for seed in range(120):
        rng = np.random.default_rng(seed)
        det = DETECTORS[name](seed).fit(mixture(rng, 150))
        pvals.append(det.test(mixture(rng, 40)).p_value)
    pvals = np.array(pvals)
    rate = float((pvals < 0.05).mean())
    assert rate <= 0.11, (name, rate)  # alpha = 0.05; 120 draws: 0.11 is ~3 standard errors above
    if name in ("mmd", "classifier"):  # exact tests: p-values roughly uniform
        assert 0.3 <= float((pvals < 0.5).mean()) <= 0.7, name
        assert rate >= 0.01, (name, rate)


def test_ks_on_a_pca_fitted_to_the_same_reference_would_raise_false_alarms():
    """Why KSDetector fits its PCA on half the reference: reusing the samples inflates their spread
    along the top components, and the test (checked above) would catch it."""
    rates = {}
    for fraction in (0.5, 0.0):
        flags = []
        for seed in range(60):
            rng = np.random.default_rng(seed)
            det = KSDetector(seed=seed, n_components=8, pca_fraction=fraction).fit(rng.normal(size=(200, 100)))
            flags.append(det.test(rng.normal(size=(100, 100))).drift)
        rates[fraction] = float(np.mean(flags))
    assert rates[0.5] <= 0.11
    assert rates[0.0] >= 0.3, rates


@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_mean_shift_is_detected(name):
    rng = np.random.default_rng(1)
    det = DETECTORS[name](0).fit(mixture(rng, 300))
    shifted = mixture(rng, 200) + np.array([1.0, -1.0, 1.0, 0.5, 0.5, 0.5])
    result = det.test(shifted)
    assert result.drift and result.p_value < 0.05, result
    assert result.method == name.split("_")[0]


@pytest.mark.parametrize("name", ["classifier", "bbsd", "bbsd_chi2"])
def test_label_shift_is_detected(name):
    """Class proportions change (1/3 each -> 0.8/0.1/0.1), the look of each class does not."""
    rng = np.random.default_rng(2)
    det = DETECTORS[name](0).fit(mixture(rng, 600))
    assert det.test(mixture(rng, 300, (0.8, 0.1, 0.1))).drift
    assert not det.test(mixture(rng, 300)).drift


def test_mmd_statistic_matches_the_direct_formula():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.4, size=(5, 3))
    sigma = 1.3

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * sigma ** 2))

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    result = MMDDetector(bandwidth=sigma).fit(x).test(y)
    assert result.statistic == pytest.approx(xx + yy - 2 * xy, rel=1e-9)
    # default bandwidth: the median pairwise distance of the pooled samples (all of them below 500 rows)
    auto = MMDDetector().fit(x).test(y)
    assert auto.details["bandwidth"] == pytest.approx(np.median(pdist(np.vstack([x, y]))), rel=1e-6)
    # the permutation p-value: (1 + #{null >= observed}) / (1 + P), so never below 1 / (1 + P)
    assert 1 / 201 <= result.p_value <= 1


def test_bonferroni_ks_p_value_is_d_times_the_smallest():
    rng = np.random.default_rng(4)
    ref, win = rng.normal(size=(200, 10)), rng.normal(size=(60, 10)) + np.linspace(0, 0.6, 10)
    det = KSDetector(n_components=5).fit(ref)
    result = det.test(win)
    proj = (win - det.mean_) @ det.components_.T
    scipy_result = ks_2samp(det.ref_proj_, proj, axis=0, method="asymp")
    pvals = scipy_result.pvalue
    assert len(pvals) == 5 == result.details["n_tests"]
    assert result.p_value == pytest.approx(min(1.0, 5 * pvals.min()), rel=1e-9)
    assert result.details["statistics"] == pytest.approx(list(scipy_result.statistic), abs=1e-6)
    assert result.p_value < 0.05 and result.details["most_shifted"] == int(np.argmin(pvals))
    # no shift: often min(1, d * min p) saturates at 1
    same = KSDetector(n_components=5).fit(ref).test(rng.normal(size=(60, 10)))
    assert same.p_value == pytest.approx(min(1.0, 5 * same.details["min_p_uncorrected"]))


def test_ks_pca_on_separate_data_and_mmd_reference_cap():
    rng = np.random.default_rng(12)
    ref, train = rng.normal(size=(300, 6)), rng.normal(size=(100, 6))
    ks = KSDetector(n_components=3, pca_reference=train).fit(ref)
    assert ks.ref_proj_.shape == (300, 3)  # the whole reference serves the KS tests
    assert np.allclose(ks.mean_, train.mean(0))
    assert KSDetector(n_components=3).fit(ref).ref_proj_.shape == (150, 3)  # else half of it
    mmd = MMDDetector(max_reference=120, n_permutations=20).fit(ref)
    result = mmd.test(rng.normal(size=(30, 6)))
    assert result.details["n_reference_used"] == 120 and result.details["n_reference"] == 300


def test_tests_are_deterministic_with_a_seed():
    rng = np.random.default_rng(5)
    ref, win = rng.normal(size=(120, 4)), rng.normal(0.15, size=(50, 4))
    for name in ("mmd", "classifier", "ks"):
        a = make_detector(name, seed=11).fit(ref)
        assert a.test(win) == a.test(win) == make_detector(name, seed=11).fit(ref).test(win)
    assert detect_drift(ref, win, "mmd", seed=1).p_value == detect_drift(ref, win, "mmd", seed=1).p_value


# ------------------------------------------------------------------ typed errors
@pytest.mark.parametrize("call, error, words", [
    (lambda: MMDDetector().fit(np.zeros((1, 4))), EmbeddingError, "at least 2"),
    (lambda: KSDetector().fit([]), EmbeddingError, "at least 2"),
    (lambda: KSDetector().fit(np.ones((10, 4))).test(np.ones((5, 3))), EmbeddingError, "dimension 3"),
    (lambda: MMDDetector().fit(np.full((5, 2), np.nan)), EmbeddingError, "NaN"),
    (lambda: ClassifierDetector().fit(np.eye(6)).test(np.array([[np.inf] * 6] * 6)), EmbeddingError, "infinite"),
    (lambda: make_detector("wasserstein"), UnknownMethodError, "mmd, ks, classifier, bbsd"),
    (lambda: ClassifierDetector(model="forest"), UnknownMethodError, "logistic"),
    (lambda: BBSDDetector(test="fisher"), UnknownMethodError, "chi2"),
    (lambda: KSDetector().test(np.zeros((5, 2))), InvalidInputError, "fit(reference)"),
    (lambda: BBSDDetector().fit(np.random.default_rng(0).normal(size=(5, 3))), EmbeddingError, "predict_proba"),
    (lambda: MMDDetector().fit(np.eye(4)).test(np.ones((1, 4))), EmbeddingError, "at least 2"),
    (lambda: MMDDetector().fit(np.ones((3, 2, 2))), EmbeddingError, "reshape"),
    (lambda: KSDetector(pca_reference=np.ones((5, 3))).fit(np.ones((10, 4))), EmbeddingError, "dimension 3"),
    (lambda: KSDetector(pca_reference=np.ones((1, 3))), EmbeddingError, "at least 2"),
    # the three bad inputs of the issue, with the hint's advice in the message
    (lambda: KSDetector().fit(np.ones((1, 8))), EmbeddingError, "Collect at least 2 samples"),
    (lambda: MMDDetector().fit(np.eye(6)).test(np.ones((4, 5))), EmbeddingError, "Embed the window with the same"),
    (lambda: KSDetector().fit(np.eye(6)).test(np.full((4, 6), np.nan)), EmbeddingError, "Drop or re-embed"),
    (lambda: DriftMonitor(KSDetector().fit(np.eye(6)), 10, alpha=0.0), InvalidInputError, "alarm level"),
    (lambda: DriftMonitor(KSDetector().fit(np.eye(6)), 10, alpha="often"), InvalidInputError, "alarm level"),
    (lambda: DriftMonitor(KSDetector().fit(np.eye(6)), 10, name=" "), InvalidInputError, "name"),
])
def test_bad_inputs_raise_typed_errors_that_say_what_to_do(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, MMBenchError) and info.value.hint
    assert words in str(info.value)


# ------------------------------------------------------------------ online monitor
class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_online_monitor_reports_the_window_where_drift_started():
    rng = np.random.default_rng(6)
    clock = FakeClock()
    monitor = DriftMonitor(KSDetector(n_components=4).fit(rng.normal(size=(400, 4))), window_size=100, clock=clock)
    stream = np.vstack([rng.normal(size=(600, 4)), rng.normal(size=(300, 4)) + 1.5])
    for start in range(0, len(stream), 37):  # batches that straddle window boundaries
        monitor.update(stream[start:start + 37])
    history = monitor.history
    assert [r.window for r in history] == list(range(9)) and [r.start for r in history] == list(range(0, 900, 100))
    assert [r.drift for r in history] == [False] * 6 + [True] * 3
    assert monitor.alert
    assert monitor.drift_started.window == 6 and monitor.drift_started.sample == 600
    assert monitor.drift_started.time == history[6].time
    state = monitor.state()
    assert state["alert"] and state["drift_started_window"] == 6 and state["windows_drifted"] == 3
    monitor.update(rng.normal(size=(100, 4)))  # back to normal: the alert clears
    assert not monitor.alert and monitor.drift_started is None
    monitor.reset()
    assert monitor.samples_seen == 0 and monitor.history == []


def test_online_monitor_patience_and_one_sample_updates():
    rng = np.random.default_rng(7)
    monitor = DriftMonitor(KSDetector(n_components=3).fit(rng.normal(size=(300, 3))), window_size=50, patience=2)
    for row in np.vstack([rng.normal(size=(100, 3)), rng.normal(size=(50, 3)) + 2]):
        monitor.update(row)  # one vector at a time
    assert monitor.history[-1].drift and not monitor.alert  # one drifting window is not enough
    monitor.update(rng.normal(size=(50, 3)) + 2)
    assert monitor.alert and monitor.drift_started.window == 2


class FixedPValues(KSDetector):
    """A detector whose windows get the p-values of a script, in order (to test the alarm rule alone)."""

    def __init__(self, p_values):
        super().__init__()
        self.p_values = list(p_values)

    def _test(self, win, rng):
        return self.p_values.pop(0), 0.0, {}


def test_the_monitor_alarms_at_its_own_level_not_the_detectors():
    from mmbench.monitor.online import ALARM_ALPHA

    p = [0.5, 0.03, 0.2, 0.004, 0.3, 0.009, 0.008, 0.6]
    monitor = DriftMonitor(FixedPValues(p).fit(np.eye(4)), window_size=2)
    assert monitor.alpha == ALARM_ALPHA == 0.01 and monitor.detector.alpha == 0.05
    monitor.update(np.zeros((16, 4)))
    history = monitor.history
    assert [r.result.drift for r in history] == [q < 0.05 for q in p]  # the detector's own test
    assert [r.drift for r in history] == [q < 0.01 for q in p]  # the monitor's alarm rule
    assert [r.alert for r in history] == [False, False, False, True, False, True, True, False]
    assert monitor.first_alert_window() == 3 and monitor.first_alert_window(after=4) == 5
    assert not monitor.alert and monitor.state()["alpha"] == 0.01 and monitor.state()["last_p_value"] == 0.6

    patient = DriftMonitor(FixedPValues(p).fit(np.eye(4)), window_size=2, alpha=0.05, patience=2)
    patient.update(np.zeros((16, 4)))
    assert [r.alert for r in patient.history] == [False] * 6 + [True, False]  # windows 5 and 6 drift in a row
    assert patient.first_alert_window() == 6
    patient = DriftMonitor(FixedPValues(p[:7]).fit(np.eye(4)), window_size=2, alpha=0.05, patience=2)
    patient.update(np.zeros((14, 4)))
    assert patient.alert and patient.drift_started.window == 5 and patient.drift_started.sample == 10


def test_alarm_rate_counts_windows_after_which_the_rule_alerts():
    from mmbench.monitor.power import alarm_rate

    p = [0.5, 0.03, 0.2, 0.004, 0.3, 0.009, 0.008, 0.6]
    assert alarm_rate(p, 0.01) == 3 / 8
    assert alarm_rate(p, 0.05) == 4 / 8
    assert alarm_rate(p, 0.05, patience=2) == 1 / 8  # only window 6 follows a drifting window 5
    assert alarm_rate(p, 0.01, patience=3) == 0.0
    # independent windows, patience 2 at alpha 0.05: about alpha^2 = 0.0025
    rng = np.random.default_rng(0)
    assert alarm_rate(rng.random(200_000), 0.05, patience=2) == pytest.approx(0.0025, abs=0.0006)


def test_stream_delay_uses_the_alarm_rule():
    from mmbench.monitor.power import stream_delay

    rng = np.random.default_rng(13)
    det = KSDetector(n_components=4).fit(rng.normal(size=(1000, 4)))
    before, after = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4)) + 0.6
    row = stream_delay(det, before, after, window_size=100, shift_at=5, n_after=4, seed=0)
    assert row["delay"] == 0 and row["first_alert"] == 5 and row["p_values_after"][0] < 0.01
    late = stream_delay(det, before, after, window_size=100, shift_at=5, n_after=4, seed=0, patience=2)
    assert late["delay"] == 1 and late["drift_started_window"] == 5  # alerts after the second window


def test_online_monitor_is_thread_safe():
    rng = np.random.default_rng(8)
    seen = []
    monitor = DriftMonitor(MMDDetector(n_permutations=20).fit(rng.normal(size=(60, 3))), window_size=40,
                           stride=20, on_window=seen.append)
    data = rng.normal(size=(8, 250, 3))

    def feed(chunk):
        for start in range(0, len(chunk), 7):
            monitor.update(chunk[start:start + 7])

    threads = [threading.Thread(target=feed, args=(data[i],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert monitor.samples_seen == 2000
    windows = [r.window for r in monitor.history]
    assert windows == list(range(len(windows))) and len(windows) == (2000 - 40) // 20 + 1
    assert [r.end for r in monitor.history] == list(range(40, 2001, 20)) and len(seen) == len(windows)


def test_online_monitor_rejects_bad_setup_and_samples():
    rng = np.random.default_rng(9)
    with pytest.raises(InvalidInputError, match="fitted"):
        DriftMonitor(KSDetector(), window_size=10)
    monitor = DriftMonitor(KSDetector().fit(rng.normal(size=(20, 3))), window_size=10)
    with pytest.raises(EmbeddingError, match="dimension 4"):
        monitor.update(np.zeros((2, 4)))
    with pytest.raises(EmbeddingError, match="NaN"):
        monitor.update([np.nan, 0, 0])
    assert monitor.samples_seen == 0


# ------------------------------------------------------------------ shift generators
def test_image_shifts_change_only_what_they_say():
    from mmbench.data import SHAPES, World
    from mmbench.data.shifts import IMAGE_SHIFTS, LABEL_SHIFT_SHAPE, UNSEEN_SHAPES, shifted_scenes

    n = 60
    base = World(seed=3, n_objects=1).scenes(n)
    sets = {s: shifted_scenes(s, n, seed=3) for s in IMAGE_SHIFTS}
    assert all(len(v) == n for v in sets.values())
    assert all(np.array_equal(a.image, b.image) for a, b in zip(base, sets["none"]))
    for a, b in zip(base, sets["background"]):  # objects untouched, background redrawn
        obj = a.masks.any(0)
        assert np.array_equal(a.image[obj], b.image[obj]) and not np.array_equal(a.image[~obj], b.image[~obj])
    for a, b in zip(base, sets["palette"]):  # background untouched, objects recoloured
        obj = a.masks.any(0)
        assert np.array_equal(a.image[~obj], b.image[~obj]) and not np.array_equal(a.image[obj], b.image[obj])

    def roughness(scenes):  # mean absolute difference of horizontal neighbours
        return np.mean([np.abs(np.diff(s.image.astype(float), axis=1)).mean() for s in scenes])

    assert roughness(sets["noise"]) > 1.8 * roughness(base)
    assert {s.objects[0].shape for s in sets["shape"]} <= set(UNSEEN_SHAPES)
    assert all(s.caption.split()[-1] in UNSEEN_SHAPES for s in sets["shape"])
    circles = np.mean([s.objects[0].shape == LABEL_SHIFT_SHAPE for s in shifted_scenes("label", 300, seed=4)])
    assert 0.45 <= circles <= 0.7 and LABEL_SHIFT_SHAPE in SHAPES


def test_text_and_audio_shifts(tiny_pipe):
    from mmbench.data.shifts import NOISE_FLOOR, shifted_captions, shifted_clips
    from mmbench.data.sound_world import SoundWorld

    plain, new = shifted_captions("none", 40, seed=5), shifted_captions("vocabulary", 40, seed=5)
    assert not tiny_pipe.unknown_words(plain)
    assert all(tiny_pipe.unknown_words([c]) for c in new)  # every shifted caption has an unseen word
    clips = shifted_clips("none", 3, seed=6)
    assert all(np.array_equal(c, SoundWorld(seed=6).clip(i).samples) for i, c in enumerate(clips))
    loud = shifted_clips("noise_floor", 3, seed=6)
    residual = np.std(loud[0] - clips[0])
    assert residual == pytest.approx(NOISE_FLOOR - 0.001, rel=0.1)  # the same noise draw, louder
    with pytest.raises(ValueError, match="unknown image shift"):
        from mmbench.data.shifts import shifted_scenes

        shifted_scenes("fog", 2, seed=0)


# ------------------------------------------------------------------ the eval, small
def test_small_drift_eval_on_the_tiny_clip_detects_palette_but_not_no_shift(tiny_pipe):
    from mmbench.eval.drift import DriftPlan, evaluate_drift

    plan = DriftPlan(n_reference=300, n_pool=300, n_pool_none=300, n_train=200, max_mmd_reference=200,
                     window_sizes=(50, 200), reps={50: 10, 200: 10},
                     headline_window=200, n_headline=20, stream_window=100, shift_at=3, n_after=2, n_streams=1,
                     shifts={"image": ("none", "palette")}, detectors=("ks", "mmd", "bbsd"), alibi_windows=3)
    lines = []
    out = evaluate_drift(tiny_pipe, seed=123, plan=plan, log=lines.append)
    assert out["power"]["image/palette"]["ks"]["200"] >= 0.8
    assert out["power"]["image/none"]["ks"]["200"] <= 0.2
    assert out["false_alarm_rate"] <= 0.15 and out["power_at_200"] >= 0.8
    assert out["detection_delay"] <= 2 and out["primary_detector"] == "ks"
    # the headline is the monitor's alarm rule; the same windows at alpha = 0.05 beside it
    assert out["alarm_rule"]["alpha"] == 0.01 and out["alarm_rule"]["patience"] == 1
    assert "below 0.01" in out["alarm_rule"]["rule"]
    assert out["false_alarm_rate"] <= out["false_alarm_rate_at_alpha_05"]
    assert out["power_at_200"] <= out["power_at_200_at_alpha_05"]
    assert out["detection_delay_streams"]["alpha"] == 0.01
    for shift, row in out["power"]["image/palette"].items():  # rates at 0.01 never exceed those at 0.05
        assert all(out["power_at_alarm_alpha"]["image/palette"][shift][k] <= v for k, v in row.items())
    alibi = out["alibi_detect"]
    if alibi["available"]:  # the same KS test: every decision agrees
        assert alibi["ks"]["agree_at_0.05"] == 1.0 and alibi["ks"]["max_abs_p_diff"] < 1e-6
    else:
        assert "alibi-detect not installed" in alibi["reason"] and "numpy<2" in alibi["reason"]
        assert any("alibi-detect comparison skipped" in line for line in lines)
    assert out["zero_shot_accuracy"]["image/none"]["class"] >= 0.9
    assert set(out["false_alarm_by_detector"]) == {"ks", "mmd", "bbsd"}
    assert any("embedded 300 image samples" in line for line in lines)
    # each pool embedded once: reference, train (KS's PCA), none, palette and (for the headline) noise
    assert sum("embedded" in line for line in lines) == 5


def test_alibi_detect_comparison_runs_the_same_ks_test_or_says_why_not(monkeypatch):
    import importlib.util

    from mmbench.monitor.compare_alibi import alibi_status, compare_with_alibi

    rng = np.random.default_rng(21)
    ks = KSDetector(n_components=4, pca_reference=rng.normal(size=(300, 6))).fit(rng.normal(size=(600, 6)))
    windows = {"none": [rng.normal(size=(80, 6)) for _ in range(4)],
               "shift": [rng.normal(size=(80, 6)) + 0.3 for _ in range(4)]}
    out = compare_with_alibi(windows, ks=ks)
    if alibi_status()["available"]:  # KSDrift on the same projection, Bonferroni: the very same test
        assert out["ks"]["agree_at_0.05"] == out["ks"]["agree_at_0.01"] == 1.0
        assert out["ks"]["max_abs_p_diff"] < 1e-9 and out["ks"]["by_condition"]["shift"]["rate_alibi_at_0.05"] > 0
        assert out["ks"]["ms_per_window_alibi"] > 0 and out["ks"]["ms_per_window_mmbench"] > 0
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "alibi_detect" else real_find_spec(name, *a))
    missing = compare_with_alibi(windows, ks=ks)
    assert missing["available"] is False and missing["reason"].startswith("alibi-detect not installed")
    assert "numpy<2" in missing["reason"] and "transformers<5" in missing["reason"]
    assert "--no-deps" in missing["hint"] and "PYTHONPATH" in missing["hint"]


def test_cli_has_the_drift_eval():
    import argparse

    from mmbench.cli.eval import EVALS

    task = EVALS["drift"]
    parser = argparse.ArgumentParser()
    task.add_arguments(parser)
    args = parser.parse_args(["--quick", "--seed", "7"])
    assert args.quick and args.seed == 7 and "false_alarm_rate" in task.prints


def test_the_shape_shift_renderer_draws_backgrounds_like_the_world():
    """render_scene copies World's renderer (the world cannot draw new shapes): with the world's own shapes
    its images must match the world's pixel statistics, or the shape shift would also be a background shift."""
    from mmbench.data import World
    from mmbench.data.shifts import render_scene

    scenes = World(seed=8, n_objects=1).scenes(300)
    copies = [render_scene(s.objects, np.random.default_rng([8, i]))[0] for i, s in enumerate(scenes)]

    def stats(images):
        arr = np.stack(images).astype(float)
        return arr.mean(), arr.std(), np.abs(np.diff(arr, axis=2)).mean(), (arr.std(axis=(1, 2)).mean())

    world, copy = stats([s.image for s in scenes]), stats(copies)
    assert np.allclose(world, copy, rtol=0.05), (world, copy)
    same_masks = [np.array_equal(render_scene(s.objects, np.random.default_rng(0))[1], s.masks) for s in scenes[:20]]
    assert all(same_masks)
