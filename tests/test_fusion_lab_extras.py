"""The fusion lab beyond the headline comparison: real data through compare(data=...), ROC/PR curves and
calibration, the modality ablation, the multi-task loss, modality dropout, the error gallery and the
single-example view."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from mmbench.data.datasets import lab_splits
from mmbench.data.mosi import load_mosi
from mmbench.data.mvsa import load_mvsa
from mmbench.errors import InvalidInputError
from mmbench.fusion.inspect import error_cases, explain_sample
from mmbench.fusion.data import FusionSetting
from mmbench.fusion.lab import compare
from mmbench.fusion.training import TrainConfig, modality_dropout_loss, multitask_loss, train_strategy
from mmbench.metrics import classification_curves, classification_metrics

TINY = FusionSetting(n_train=300, n_val=100, n_test=150)
FAST = TrainConfig(max_epochs=60)


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one torch thread (conftest)


@pytest.fixture(scope="module")
def report():
    return compare(["text", "audio", "concat", "gated", "late_average"], seeds=(0,), setting=TINY, config=FAST)


# -- real data -------------------------------------------------------------------------------------------------
def _mosi_part(n, rng, informative="vision"):
    """An MMSA-style split whose `informative` modality carries the class (one-hot + noise), the rest noise."""
    scores = rng.choice([-2.0, 0.0, 2.0], size=n)
    y = (np.round(np.clip(scores, -1, 1)) + 1).astype(int)
    part = {m: rng.normal(size=(n, 4, d)).astype(np.float32) for m, d in {"text": 6, "vision": 5, "audio": 4}.items()}
    part[informative][:, :, :3] += 2.5 * np.eye(3)[y][:, None, :]
    part["regression_labels"] = scores.astype(np.float32)
    return part


@pytest.fixture(scope="module")
def mosi_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("mosi") / "aligned_50.pkl"
    with open(path, "wb") as f:
        pickle.dump({"train": _mosi_part(150, rng), "valid": _mosi_part(60, rng), "test": _mosi_part(90, rng)}, f)
    return path


def test_compare_on_mosi_datasets_uses_the_labs_modality_names(mosi_path):
    splits = [load_mosi(mosi_path, split=s) for s in ("train", "valid", "test")]
    rep = compare(["image", "text", "concat", "gated"], seeds=(0,), data=splits, config=FAST)
    assert rep.modalities == ["text", "image", "audio"] and rep.source.endswith("aligned_50.pkl")
    assert rep.representations == {"text": "given", "image": "given", "audio": "given"}
    f1 = rep.summary()["macro_f1_mean"]
    assert f1["image"] > 0.9 and f1["text"] < 0.6, f1  # MOSI's 'vision' is the lab's 'image'
    assert f1["gated"] > 0.85 and rep.gate_weights["image"] > 0.5, rep.gate_weights
    # the lab_splits dict form gives the same features
    same = compare(["image"], seeds=(0,), data=lab_splits(*splits), config=FAST)
    assert same.summary()["macro_f1_mean"]["image"] == pytest.approx(f1["image"])


def test_compare_on_one_mvsa_folder_extracts_features_and_splits_per_seed(tmp_path):
    root = tmp_path / "MVSA_Single"
    (root / "data").mkdir(parents=True)
    words = {"negative": "awful terrible", "neutral": "okay average", "positive": "great lovely"}
    colours = {"negative": (30, 30, 200), "neutral": (128, 128, 128), "positive": (230, 120, 20)}
    rng = np.random.default_rng(1)
    lines = ["ID\ttext,image"]
    for i in range(60):
        lab = ("negative", "neutral", "positive")[i % 3]
        lines.append(f"{i}\t{lab},{lab}")
        noise = rng.integers(-20, 20, (16, 16, 3))
        Image.fromarray(np.clip(np.array(colours[lab]) + noise, 0, 255).astype(np.uint8)).save(root / "data" / f"{i}.jpg")
        (root / "data" / f"{i}.txt").write_text(f"the photo {i} is {words[lab]} #tag{i % 7}")
    (root / "labelResultAll.txt").write_text("\n".join(lines) + "\n")
    ds = load_mvsa(root)
    rep = compare(seeds=(0,), data=ds, config=TrainConfig(max_epochs=30), with_robustness=False)
    assert "audio" not in rep.strategies and {"text", "image", "gated"} <= set(rep.strategies)  # what the data allows
    assert rep.representations == {"text": "tfidf", "image": "hog"}
    assert len(rep.labels[0]) == 12  # 20 % of each class
    assert rep.summary()["macro_f1_mean"]["text"] > 0.9
    other_seed = compare(["text"], seeds=(1,), data=ds, config=TrainConfig(max_epochs=5))
    assert other_seed.test_data[0].ids != rep.test_data[0].ids  # each seed is its own split
    cases = error_cases(rep, strategy="image", k=3)
    assert all(str(c.image).endswith(".jpg") and c.text.startswith("the photo") for c in cases)
    with pytest.raises(InvalidInputError, match="needs audio features"):
        compare(["audio"], seeds=(0,), data=ds)


def test_data_and_setting_together_is_an_error(mosi_path):
    with pytest.raises(InvalidInputError, match="either setting"):
        compare(["concat"], seeds=(0,), setting=TINY, data=load_mosi(mosi_path))
    with pytest.raises(InvalidInputError, match="cannot use data of type"):
        compare(["concat"], seeds=(0,), data="aligned_50.pkl")


# -- metrics ---------------------------------------------------------------------------------------------------
def test_curves_agree_with_sklearn_and_the_calibration_error(report):
    from sklearn.metrics import roc_auc_score

    labels, proba = report.labels[0], report.probas["gated"][0]
    c = report.curves("gated")
    for k, name in enumerate(report.label_names):
        assert c["roc"][name]["auc"] == pytest.approx(roc_auc_score(labels == k, proba[:, k]))
        assert c["roc"][name]["fpr"][0] == 0 and c["roc"][name]["tpr"][-1] == 1
        assert 0 < c["pr"][name]["ap"] <= 1 and c["pr"][name]["recall"][0] == 1
    cal = c["calibration"]
    assert sum(cal["count"]) == len(labels)
    assert cal["ece"] == pytest.approx(classification_metrics(labels, proba)["ece"])
    perfect = classification_curves(np.array([0, 1, 2, 1]), np.eye(3)[[0, 1, 2, 1]])
    assert all(v["auc"] == 1.0 for v in perfect["roc"].values()) and perfect["calibration"]["ece"] == 0.0


def test_ablation_retrains_without_each_modality():
    # image uninformative (reliability 1/3): dropping it costs nothing; the audio carries signal
    setting = FusionSetting.make(reliability={"image": 1 / 3, "audio": 0.95}, n_train=300, n_val=100, n_test=200)
    rep = compare(["concat"], seeds=(0,), setting=setting, config=FAST, ablation=True)
    row = rep.ablation_table()["concat"]
    assert set(row) == {"all", "without_text", "without_image", "without_audio", "missing_text", "missing_image",
                        "missing_audio"}
    assert row["without_image"] > row["all"] - 0.04, row
    assert row["without_audio"] < row["all"] - 0.1, row
    assert "modality ablation" in rep.format_table() and "ablation" in rep.summary()


# -- training options ---------------------------------------------------------------------------------------------
def test_multitask_loss_is_the_weighted_sum():
    import torch.nn.functional as F

    from mmbench.fusion.training import auxiliary_heads, modality_logits
    from mmbench.models.fusion_strategies import build_strategy

    torch.manual_seed(0)
    x = {m: torch.randn(20, 4) for m in ("text", "image", "audio")}
    y = torch.arange(20) % 3
    cfg = TrainConfig.make(multitask=True, fused_weight=0.7, modality_weights={"text": 2.0, "image": 0.0})
    model = build_strategy("gated", {m: 4 for m in x}, dropout=0.0)
    heads = auxiliary_heads(model, cfg, 3)
    loss = multitask_loss(model, heads, x, y, cfg)
    logits = model(x)
    per = modality_logits(model, heads)
    expected = 0.7 * F.cross_entropy(logits, y) + (2.0 * F.cross_entropy(per["text"], y) + 0.0
                                                   + 0.5 * F.cross_entropy(per["audio"], y)) / 3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert auxiliary_heads(build_strategy("concat", {m: 4 for m in x}), cfg, 3) is None  # no encoders: no heads
    gen = torch.Generator().manual_seed(0)
    assert modality_dropout_loss(model, heads, x, y, TrainConfig(multitask=True), gen).item() == pytest.approx(
        multitask_loss(model, heads, x, y, TrainConfig(multitask=True)).item())


def test_multitask_training_gives_per_modality_logits_and_dropout_trains():
    from mmbench.fusion.data import seed_data

    data = seed_data(0, TINY)
    model = train_strategy("attention", data["train"], data["val"], config=TrainConfig(max_epochs=40, multitask=True,
                                                                                      modality_dropout=0.5))
    assert model.aux_heads is not None and set(model.aux_heads) == {"text", "image", "audio"}
    f1 = classification_metrics(data["test"][1], torch.softmax(model({m: torch.as_tensor(v) for m, v in
                                                                      data["test"][0].items()}), 1).detach().numpy())
    assert f1["macro_f1"] > 0.6
    with pytest.raises(InvalidInputError, match="modality_dropout"):
        train_strategy("gated", data["train"], data["val"], config=TrainConfig(modality_dropout=1.0))


# -- error gallery and single-example view ---------------------------------------------------------------------
def test_error_cases_are_the_most_confident_mistakes(report):
    cases = error_cases(report, strategy="gated", k=5)
    assert len(cases) == 5
    conf = [c.confidence["gated"] for c in cases]
    assert conf == sorted(conf, reverse=True)
    for c in cases:
        assert c.predictions["gated"] != c.label and "gated" in c.wrong_by
        assert set(c.predictions) == set(report.strategies)
        assert isinstance(c.text, str) and c.image.shape == (32, 32, 3) and c.audio.shape == (4000,)
        assert set(c.cues) == {"text", "image", "audio"}
    with pytest.raises(InvalidInputError, match="Seed 9"):
        error_cases(report, seed=9)


def test_single_example_view(report):
    e = explain_sample(report, 3, "gated")
    assert sum(e.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(e.gate_weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(e.leave_one_out) == {"text", "image", "audio"}
    assert e.modality_logits is None and any("multitask" in n for n in e.notes)
    assert e.words is not None and e.words.target == e.predicted
    scores = dict(zip(e.words.words, e.words.scores))
    assert abs(scores["."]) < 1e-5  # TF-IDF ignores punctuation: removing it cannot matter
    late = explain_sample(report, 3, "late_average", word_method=None)
    assert set(late.modality_logits) == {"text", "image", "audio"} and late.words is None and late.gate_weights is None
    with pytest.raises(InvalidInputError, match="from 0 to 149"):
        explain_sample(report, 150, "gated")
    with pytest.raises(InvalidInputError, match="keeps no trained 'fc'"):
        explain_sample(report, 0, "fc")


@pytest.mark.slow  # MiniLM features of 270 texts + 32 integration steps: ~25 s on 2 cores
def test_integrated_gradients_through_minilm_and_the_fusion_model():
    setting = FusionSetting.make(representations={"text": "minilm"}, n_train=150, n_val=60, n_test=60)
    rep = compare(["gated"], seeds=(0,), setting=setting, config=TrainConfig(max_epochs=30), with_robustness=False)
    e = explain_sample(rep, 0, "gated", word_method="integrated_gradients")
    w = e.words
    assert w.method == "integrated_gradients"
    total = w.scores.sum() + w.meta["special_tokens_attribution"]
    assert total == pytest.approx(w.score - w.meta["baseline_score"], abs=max(0.03, 3 * w.meta["delta"]))


def test_figures_of_the_report(report):
    from mmbench.plots import fusion as plots

    assert len(plots.roc_pr_figure(report).axes) == 2
    assert len(plots.calibration_figure(report, ["gated", "text"]).axes) == 1
    with pytest.raises(InvalidInputError, match="no ablation"):
        plots.ablation_figure(report)
    case = error_cases(report, k=1)[0]
    assert len(plots.error_case_figure(case).axes) == 3
    assert len(plots.contributions_figure(explain_sample(report, 0, "gated", word_method=None)).axes) == 3
    with pytest.raises(InvalidInputError, match="No predictions"):
        plots.roc_pr_figure(report, ["tfn"])
