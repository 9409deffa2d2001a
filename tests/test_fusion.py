"""The fusion lab: features, every strategy, the comparison's bars on small settings, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.data.sentiment import MODALITIES
from mmbench.errors import InvalidInputError
from mmbench.fusion import STRATEGIES, UNIMODAL, build_strategy
from mmbench.fusion.data import FusionSetting, check_features, seed_data
from mmbench.fusion.lab import compare
from mmbench.fusion.training import TrainConfig, predict_proba, train_strategy
from mmbench.metrics import classification_metrics

SMALL = FusionSetting(n_train=600, n_val=200, n_test=300)


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one torch thread (conftest)


@pytest.fixture(scope="module")
def small_data():
    return seed_data(0, SMALL)


def test_features_are_finite_float32_and_fitted_on_train(small_data):
    xtr, ytr = small_data["train"]
    xte, _ = small_data["test"]
    for m in MODALITIES:
        assert xtr[m].dtype == np.float32 and np.isfinite(xtr[m]).all()
        assert xte[m].shape[1] == xtr[m].shape[1] and xte[m].shape[0] == 300
        assert np.abs(xtr[m].mean(axis=0)).max() < 1e-3  # standardised on train


def test_every_strategy_trains_and_beats_chance(small_data):
    xte, yte = small_data["test"]
    config = TrainConfig(max_epochs=120)
    for name in STRATEGIES:
        model = train_strategy(name, small_data["train"], small_data["val"], config=config)
        f1 = classification_metrics(yte, predict_proba(model, xte))["macro_f1"]
        assert f1 > 0.5, (name, f1)  # chance is 1/3


def test_missing_modality_is_handled_by_every_strategy(small_data):
    xte, _ = small_data["test"]
    dims = {m: x.shape[1] for m, x in xte.items()}
    rest = {m: torch.as_tensor(x) for m, x in xte.items() if m != "image"}
    for name in STRATEGIES:
        out = build_strategy(name, dims).eval()(rest)
        assert out.shape == (300, 3) and torch.isfinite(out).all(), name


def test_best_fusion_beats_best_unimodal_on_the_default_setting():
    report = compare(["text", "image", "audio", "late_average", "concat", "gated"], seeds=(0,),
                     setting=FusionSetting(n_train=1000, n_val=300, n_test=500), with_robustness=False)
    s = report.summary()
    assert s["best_unimodal_macro_f1"] <= 0.76  # each modality alone is weak by design
    assert s["gain_over_best_unimodal"] >= 0.08, s


def test_reliable_modality_alone_is_strong():
    setting = FusionSetting.make(reliability={"audio": 1.0, "image": 1.0}, n_train=800, n_val=200, n_test=300)
    report = compare(["image", "audio"], seeds=(0,), setting=setting)
    f1 = report.summary()["macro_f1_mean"]
    assert f1["image"] > 0.88 and f1["audio"] > 0.85, f1


def test_gate_weights_sum_to_one_and_favour_the_reliable_modality():
    setting = FusionSetting.make(reliability={"text": 1 / 3, "image": 0.95, "audio": 1 / 3},
                                 n_train=600, n_val=200, n_test=300)
    data = seed_data(0, setting)
    model = train_strategy("gated", data["train"], data["val"], config=TrainConfig(max_epochs=150))
    w = model.gate_weights({m: torch.as_tensor(x) for m, x in data["test"][0].items()})
    total = sum(w.values())
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)
    assert w["image"].mean() > max(w["text"].mean(), w["audio"].mean()) + 0.1, {m: v.mean() for m, v in w.items()}


def test_report_has_tables_and_robustness():
    report = compare(["audio", "concat", "gated"], seeds=(0, 1), setting=SMALL,
                     config=TrainConfig(max_epochs=60))
    s = report.summary()
    assert set(s["macro_f1_mean"]) == {"audio", "concat", "gated"}
    assert set(s["missing_modality_drop"]) == {"concat", "gated"}
    assert set(s["robustness"]["gated"]) >= {"full", "missing_text", "noised_audio"}
    assert abs(sum(s["gate_weights_mean"].values()) - 1) < 1e-4
    assert "gated" in report.format_table() and s["wall_seconds"] > 0


# -- bad inputs -------------------------------------------------------------------------------------
def _toy(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return {"text": rng.normal(size=(n, 4)).astype(np.float32), "image": rng.normal(size=(n, 3)).astype(np.float32)}, \
        np.arange(n) % 3


def test_mismatched_lengths_are_rejected():
    x, y = _toy()
    x["image"] = x["image"][:-2]
    with pytest.raises(InvalidInputError, match="different numbers of samples"):
        check_features(x, y)


def test_nan_features_are_rejected():
    x, y = _toy()
    x["text"][3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        train_strategy("concat", (x, y), _toy(seed=1))


def test_absent_class_is_rejected():
    x, y = _toy()
    y = np.where(y == 1, 0, y)
    with pytest.raises(InvalidInputError, match="neutral"):
        train_strategy("concat", (x, y), _toy(seed=1))


def test_unknown_strategy_is_rejected():
    with pytest.raises(InvalidInputError, match="Unknown fusion strategy"):
        build_strategy("telepathy", {"text": 4})
    with pytest.raises(InvalidInputError, match="Unknown fusion strategy"):
        compare(["telepathy"], seeds=(0,))


def test_label_count_mismatch_is_rejected():
    x, y = _toy()
    with pytest.raises(InvalidInputError):
        check_features(x, y[:-1])


def test_unimodal_list_is_the_three_modalities():
    assert UNIMODAL == MODALITIES and len(STRATEGIES) >= 10
