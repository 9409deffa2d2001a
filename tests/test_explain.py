"""mmbench.explain: one API over pytorch-grad-cam, checked against the library, a from-scratch
Grad-CAM, ground-truth boxes of procedural scenes, randomised weights and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import mmbench
from mmbench.data.world import World
from mmbench.errors import ImageError, InvalidInputError, TextError
from mmbench.explain import (METHODS, Explanation, Method, MethodResult, TokenGrid, available_layers,
                             available_methods, compare, default_layer, explain, explain_batch, get_adapter,
                             register_method, target_scorer)
from mmbench.explain.sanity import randomized_copy
from mmbench.explain.scoring import (box_fraction, deletion_auc, insertion_auc, map_correlation, peak_location,
                                     pointing_game)
from mmbench.explain.scratch import grad_cam
from mmbench.registry import register, unregister
from tiny_models import HF_CLIP_TINY, OPEN_CLIP_TINY, VIT_TINY, tiny_spec

CAM_METHODS = ["gradcam", "gradcam++", "hirescam", "scorecam", "eigencam", "layercam"]


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.fixture(scope="module")
def effnet():
    return mmbench.pipeline("image-classification", model="efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def chelsea():
    return Image.fromarray(data.chelsea())


@pytest.fixture(scope="module")
def scenes():
    """40 held-out 2-3-object scenes, each with one named object (phrase, box)."""
    from mmbench.eval.explain import explain_set

    return explain_set(40)


# ------------------------------------------------------------------ real photo, EfficientNet-Lite0
def test_gradcam_on_chelsea_matches_pytorch_grad_cam_and_is_class_sensitive(effnet, chelsea):
    import cv2
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cat = explain(effnet, chelsea, "Egyptian cat", method="gradcam")
    assert cat.heatmap.shape == (300, 451) and cat.heatmap.dtype == np.float32
    assert cat.image.shape == (300, 451, 3) and cat.image.dtype == np.uint8
    assert 0.0 <= cat.heatmap.min() and cat.heatmap.max() <= 1.0 and cat.heatmap.max() == 1.0
    assert cat.target == "Egyptian cat" and cat.meta["target_index"] == 285 and cat.layer == default_layer(effnet)

    model = effnet.backend.model
    with GradCAM(model=model, target_layers=[dict(model.named_modules())[cat.layer]]) as cam:
        ref = cam(input_tensor=effnet.backend.preprocess_images([chelsea]), targets=[ClassifierOutputTarget(285)])[0]
    ref = cv2.resize(ref, (451, 300))
    assert corr(cat.heatmap, ref) >= 0.99

    espresso = explain(effnet, chelsea, "espresso", method="gradcam")
    assert corr(cat.heatmap, espresso.heatmap) < 0.5  # a different class looks elsewhere
    x, y = cat.peak  # the cat fills the photo; its face is in the middle
    assert 100 < x < 350 and 50 < y < 250


def test_scratch_gradcam_matches_the_library(effnet, chelsea, tiny_pipe, scenes):
    for pipe, image, target in [(effnet, chelsea.resize((224, 224)), "Egyptian cat"),
                                (tiny_pipe, scenes[0][0].to_pil(), scenes[0][2])]:
        adapter = get_adapter(pipe)
        lib = explain(pipe, image, target, method="gradcam", shifts=1)
        ours = grad_cam(adapter.image_model, adapter.layers[lib.layer], adapter.preprocess([image]),
                        adapter.target(target), reshape=adapter.reshape_transform)
        assert ours.shape == (1, *adapter.input_size)
        assert corr(lib.heatmap, ours[0].numpy()) >= 0.99


def test_every_cam_method_on_the_classifier(effnet, chelsea):
    small = chelsea.resize((120, 80))
    assert available_methods(effnet)[:6] == CAM_METHODS
    for exp in compare(effnet, small, "tabby", methods=["gradcam++", "hirescam", "eigencam", "layercam"]):
        assert exp.heatmap.shape == (80, 120) and np.ptp(exp.heatmap) > 0.1
    assert METHODS["eigencam"].class_sensitive is False


# ------------------------------------------------------------------ text-conditioned, tiny CLIP
def test_text_conditioned_maps_point_at_the_named_object(tiny_pipe, scenes):
    images = [s.image for s, _, _ in scenes]
    texts = [t for _, _, t in scenes]
    chance = float(np.mean([box_fraction(s.objects[k].box, s.image.shape[:2]) for s, k, _ in scenes]))
    best = 0.0
    for method in ("gradcam", "gradcam++"):
        exps = explain_batch(tiny_pipe, images, texts, method=method)
        assert exps[0].heatmap.shape == (64, 64) and exps[0].meta["options"]["shifts"] == 2
        hits = [pointing_game(e.heatmap, s.objects[k].box) for e, (s, k, _) in zip(exps, scenes)]
        best = max(best, float(np.mean(hits)))
    assert chance < 0.1
    assert best >= 0.7 and best >= chance + 0.6, (best, chance)


def test_maps_from_randomised_weights_do_not_correlate(tiny_pipe, scenes):
    twin = randomized_copy(tiny_pipe, seed=0)
    assert twin.backend.model is not tiny_pipe.backend.model
    trained_w = tiny_pipe.backend.model.visual.blocks[0].attn.q.weight
    assert not torch.equal(twin.backend.model.visual.blocks[0].attn.q.weight, trained_w)
    assert torch.equal(twin.backend.model.text.tok.weight, tiny_pipe.backend.model.text.tok.weight)
    items = scenes[:10]
    a = explain_batch(tiny_pipe, [s.image for s, _, _ in items], [t for _, _, t in items])
    b = explain_batch(twin, [s.image for s, _, _ in items], [t for _, _, t in items])
    assert float(np.mean([map_correlation(x.heatmap, y.heatmap) for x, y in zip(a, b)])) < 0.5


def test_deletion_and_insertion_reward_the_right_map(tiny_pipe, scenes):
    scene, k, text = scenes[1]
    score = target_scorer(tiny_pipe, text)
    exp = explain(tiny_pipe, scene.image, text)
    inverse = 1.0 - exp.heatmap
    assert deletion_auc(score, scene.image, exp.heatmap) < deletion_auc(score, scene.image, inverse)
    assert insertion_auc(score, scene.image, exp.heatmap) > insertion_auc(score, scene.image, inverse)


def test_layers_and_methods_of_the_tiny_clip(tiny_pipe, scenes):
    layers = available_layers(tiny_pipe)
    assert layers[0] == "visual.patch" and "visual.blocks.5.ln1" in layers
    assert default_layer(tiny_pipe) == default_layer(tiny_pipe, "gradcam") == "visual.blocks.3.ln1"
    assert default_layer(tiny_pipe, "hirescam") == "visual.blocks.4.ln1"  # measured per method
    scene, _, text = scenes[2]
    exp = explain(tiny_pipe, scene.image, text, method="scorecam", layer="visual.blocks.5.ln1", shifts=1)
    assert exp.heatmap.shape == (64, 64) and np.ptp(exp.heatmap) > 0
    raw = explain(tiny_pipe, scene.image, text, baseline=None)
    assert raw.meta["baseline"] is None and raw.meta["target_score"] != exp.meta.get("target_score")


# ------------------------------------------------------------------ bad inputs
def test_bad_inputs_raise_typed_errors(tiny_pipe, effnet, chelsea, scenes):
    image = scenes[0][0].image
    with pytest.raises(TextError):
        explain(tiny_pipe, image, "   ")
    with pytest.raises(TextError) as err:
        explain(tiny_pipe, image, "a fluffy cat")  # words outside the tiny model's vocabulary
    assert "fluffy" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        explain(tiny_pipe, image, "a red circle", layer="visual.blocks.99.ln1")
    assert "visual.blocks.3.ln1" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        explain(tiny_pipe, image, "a red circle", method="magic")
    assert "gradcam" in str(err.value) and "scorecam" in str(err.value)
    with pytest.raises(ImageError) as err:
        explain(tiny_pipe, np.zeros((1, 1, 3), np.uint8), "a red circle")
    assert "at least 2 pixels" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        explain(effnet, chelsea, "egyptain cat")
    assert "Egyptian cat" in str(err.value)
    with pytest.raises(InvalidInputError):
        explain(effnet, chelsea, 5000)
    with pytest.raises(InvalidInputError) as err:
        explain(tiny_pipe, image, "a red circle", smoothness=3)
    assert "shifts" in str(err.value)
    with pytest.raises(InvalidInputError):
        explain_batch(tiny_pipe, [image, image], ["a red circle"] * 3)


# ------------------------------------------------------------------ the Explanation object
def test_explanation_overlay_figure_and_png(tiny_pipe, scenes, tmp_path):
    scene, _, text = scenes[0]
    exp = explain(tiny_pipe, scene.image, text)
    over = exp.overlay(alpha=0.4, cmap="inferno")
    assert over.shape == (64, 64, 3) and over.dtype == np.uint8
    np.testing.assert_array_equal(exp.overlay(alpha=0.0), scene.image)
    with pytest.raises(InvalidInputError):
        exp.overlay(alpha=1.5)
    with pytest.raises(InvalidInputError):
        exp.overlay(cmap="no-such-map")
    from matplotlib.figure import Figure

    fig = exp.figure(alpha=0.5)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    png = exp.to_png(tmp_path / "map.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "map.png").read_bytes() == png
    assert Image.open(tmp_path / "map.png").size == (64, 64)
    assert "gradcam" in repr(exp) and text in repr(exp)


# ------------------------------------------------------------------ hooks, state, registry
def test_cached_cams_leave_the_shared_model_alone(tiny_pipe, scenes):
    scene, _, text = scenes[0]
    explain(tiny_pipe, scene.image, text)
    adapter = get_adapter(tiny_pipe)
    cams = [v for k, v in adapter.cache.items() if k[0] == "cam"]
    assert cams
    tiny_pipe.embed_images([s.image for s, _, _ in scenes[:8]])  # an ordinary forward of the same model
    assert all(not c.activations_and_grads.activations for c in cams)
    assert all(p.requires_grad for p in tiny_pipe.backend.model.parameters())


def test_new_methods_plug_into_the_registry(tiny_pipe, scenes):
    def center(request):
        h, w = request.adapter.input_size
        yy, xx = np.mgrid[0:h, 0:w]
        one = -((yy - h / 2) ** 2 + (xx - w / 2) ** 2).astype(np.float32)
        return MethodResult(np.stack([one] * len(request.images)), scores=[{"a": 1.0}] * len(request.images))

    register_method(Method("test-center", center, "Centre prior", family="test", uses_layer=False))
    try:
        exp = explain(tiny_pipe, scenes[0][0].image, "a red circle", method="test-center")
        assert exp.layer is None and exp.scores == {"a": 1.0} and peak_location(exp.heatmap) in {(31, 31), (32, 32)}
        with pytest.raises(InvalidInputError):
            explain(tiny_pipe, scenes[0][0].image, "a red circle", method="test-center", layer="visual.patch")
    finally:
        METHODS.pop("test-center")


# ------------------------------------------------------------------ scoring
def test_pointing_game_rules():
    m = np.zeros((20, 30), np.float32)
    m[5, 10] = 1.0
    assert pointing_game(m, (8, 3, 12, 7)) and not pointing_game(m, (11, 3, 15, 7))
    assert pointing_game(m, (11, 3, 15, 7), tolerance=1)
    mask = np.zeros_like(m, bool)
    mask[5, 10] = True
    assert pointing_game(m, mask)
    assert not pointing_game(np.ones_like(m), (0, 0, 30, 20))  # a flat map points nowhere
    tie = np.zeros((10, 10), np.float32)
    tie[2, 2] = tie[7, 7] = 1.0
    tie[6:9, 6:9] += 0.5 * (tie[6:9, 6:9] == 0)
    assert peak_location(tie) == (7, 7)  # the tie goes to the peak with the stronger neighbourhood
    assert box_fraction((0, 0, 10, 10), (20, 20)) == 0.25
    assert map_correlation(m, m) == pytest.approx(1.0) and map_correlation(m, np.zeros_like(m)) == 0.0


def test_deletion_insertion_on_a_known_score():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    image[8:16, 8:16] = 255

    def score(batch):  # brightness of the important square
        return np.asarray(batch)[:, 8:16, 8:16].astype(np.float32).mean(axis=(1, 2, 3))

    good = np.zeros((32, 32), np.float32)
    good[8:16, 8:16] = 1.0
    bad = 1.0 - good
    assert deletion_auc(score, image, good, steps=8) < 0.2 < 0.8 < deletion_auc(score, image, bad, steps=8)
    assert insertion_auc(score, image, good, steps=8) > 0.8 > 0.2 > insertion_auc(score, image, bad, steps=8)
    assert np.isnan(deletion_auc(lambda b: np.ones(len(b)), image, good))  # the score ignores the image
    with pytest.raises(InvalidInputError):
        deletion_auc(score, image, good[:10])


# ------------------------------------------------------------------ online adapters, tiny random models
@pytest.mark.parametrize("backend,task,config,layer_suffix,target", [
    ("open_clip", "image-text-matching", OPEN_CLIP_TINY, "ln_1", "a photo of a cat"),
    ("transformers_clip", "image-text-matching", HF_CLIP_TINY, "layer_norm1", "a photo of a cat"),
    ("transformers_image_classification", "image-classification", VIT_TINY, "layernorm_before", 1),
])
def test_online_adapters_reshape_tokens_to_the_patch_grid(backend, task, config, layer_suffix, target):
    spec = register(tiny_spec(f"test-explain-{backend}", task, backend, config, seed=0))
    try:
        pipe = mmbench.pipeline(task, model=spec.name, device="cpu", cache=False)
        layers = available_layers(pipe)
        assert len(layers) == 2 and all(name.endswith(layer_suffix) for name in layers)
        adapter = get_adapter(pipe)
        assert adapter.input_size == (32, 32) and adapter.patch_size == 8
        image = np.random.default_rng(0).integers(0, 255, (48, 70, 3), dtype=np.uint8)
        for method in ("gradcam", "eigencam"):
            for layer in layers:
                exp = explain(pipe, image, target, method=method, layer=layer)
                assert exp.heatmap.shape == (48, 70) and np.ptp(exp.heatmap) > 0.05, (method, layer)
        assert explain(pipe, image, target, shifts=2).heatmap.shape == (48, 70)
    finally:
        unregister(spec.name)


def test_token_grid_handles_both_layouts():
    tokens = torch.randn(2, 1 + 12, 5)  # [CLS] + a 3x4 grid
    grid = TokenGrid((3, 4))(tokens)
    assert grid.shape == (2, 5, 3, 4)
    torch.testing.assert_close(grid[:, :, 1, 2], tokens[:, 1 + 4 + 2])
    torch.testing.assert_close(TokenGrid((3, 4), layout="LND")(tokens.transpose(0, 1)), grid)
    conv = torch.randn(2, 5, 3, 4)
    assert TokenGrid((3, 4))(conv) is conv or torch.equal(TokenGrid((3, 4))(conv), conv)


# ------------------------------------------------------------------ CLI and benchmark contract
def test_eval_explain_cli_prints_one_line_per_method_then_a_summary(capsys):
    from mmbench.cli import main

    assert main(["eval", "explain", "--n", "6", "--methods", "gradcam,eigencam", "--n-sanity", "3",
                 "--steps", "4"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["method"] for x in lines[:2]] == ["gradcam", "eigencam"]
    summary = lines[-1]
    for key in ("pointing_game", "best_method", "deletion_auc", "insertion_auc", "sanity_correlation", "methods"):
        assert key in summary
    assert summary["n"] == 6 and set(summary["methods"]) == {"gradcam", "eigencam"}


def test_bench_explain_reports_a_ratio():
    import runpy
    from pathlib import Path

    module = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "explain.py"), run_name="bench")
    result = module["main"](["--models", "mmbench-tiny-clip", "--repeats", "2", "--warmup", "1"])
    assert result["allclose"] and result["ratio"] > 0
