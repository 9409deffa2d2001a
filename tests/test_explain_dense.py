"""Patch-text similarity (a dense CLIP map) and the dense alignment loss that makes it work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.data.world import World
from mmbench.errors import InvalidInputError
from mmbench.eval.explain import explain_set
from mmbench.explain import available_methods, explain, explain_batch, method_info
from mmbench.explain.sanity import randomized_copy
from mmbench.explain.scoring import box_fraction, map_correlation, pointing_game, peak_location
from mmbench.train.tiny_clip import dense_loss, object_batch, patch_coverage


@pytest.fixture(scope="module")
def items():
    return explain_set(60, seed=20_202)  # another held-out world than the eval's


def test_patch_similarity_points_at_the_named_object(tiny_pipe, items):
    assert "patch-similarity" in available_methods(tiny_pipe)
    exps = explain_batch(tiny_pipe, [s.image for s, _, _ in items], [t for *_, t in items], method="patch-similarity")
    assert exps[0].heatmap.shape == (64, 64) and exps[0].meta["baseline"] is None
    assert exps[0].layer is None and method_info("patch-similarity").uses_layer is False
    hits = [pointing_game(e.heatmap, s.objects[k].box) for e, (s, k, _) in zip(exps, items)]
    chance = float(np.mean([box_fraction(s.objects[k].box, s.image.shape[:2]) for s, k, _ in items]))
    assert np.mean(hits) >= 0.9 > chance + 0.7, (np.mean(hits), chance)


def test_patch_similarity_follows_the_text_not_the_image(tiny_pipe):
    """Two objects of one scene, each named in turn: the peak moves to the named one."""
    world = World(seed=30_303, n_objects=2)
    moved = 0
    for i in range(12):
        scene = world.scene(i)
        maps = [e.heatmap for e in explain_batch(tiny_pipe, [scene.image] * 2, [o.phrase() for o in scene.objects],
                                                  method="patch-similarity")]
        peaks = [peak_location(m) for m in maps]
        inside = [pointing_game(m, o.box) for m, o in zip(maps, scene.objects)]
        moved += peaks[0] != peaks[1] and all(inside)
    assert moved >= 10


def test_patch_similarity_fails_the_sanity_check_with_random_weights(tiny_pipe, items):
    twin = randomized_copy(tiny_pipe, seed=0)
    scene, k, text = items[0]
    rnd = [explain(twin, s.image, t, method="patch-similarity").heatmap for s, _, t in items[:15]]
    real = [explain(tiny_pipe, s.image, t, method="patch-similarity").heatmap for s, _, t in items[:15]]
    assert np.mean([map_correlation(a, b) for a, b in zip(real, rnd)]) < 0.3
    hits = [pointing_game(m, s.objects[k].box) for m, (s, k, _) in zip(rnd, items[:15])]
    assert np.mean(hits) < 0.6


def test_shift_averaging_keeps_maps_aligned(tiny_pipe, items):
    scene, k, text = items[1]
    one = explain(tiny_pipe, scene.image, text, method="patch-similarity", shifts=1).heatmap
    four = explain(tiny_pipe, scene.image, text, method="patch-similarity", shifts=4).heatmap
    assert map_correlation(one, four) > 0.7  # same map, smoother: not shifted by the averaging
    assert pointing_game(four, scene.objects[k].box)


def test_patch_similarity_needs_a_text_target():
    from mmbench.explain.dense import run_patch_similarity
    from mmbench.explain.methods import ExplainRequest

    class FakeAdapter:
        kind, extras, patch_size = "image-text", {"dense_features": lambda x: x}, 8

    class ClassLike:
        kind = "class"

    with pytest.raises(InvalidInputError, match="text target"):
        run_patch_similarity(ExplainRequest(adapter=FakeAdapter(), images=[], targets=[ClassLike()], layer=None))


def test_patch_coverage_and_object_batch():
    masks = np.zeros((2, 16, 16), bool)
    masks[0, :8, :8] = True  # exactly the first of four 8x8 patches
    masks[1, 8:, 12:] = True  # half of the last patch
    cov = patch_coverage(masks, 8)
    np.testing.assert_allclose(cov, [[1, 0, 0, 0], [0, 0, 0, 0.5]])

    from mmbench.models.tiny_clip import WordTokenizer

    world = World(seed=5)
    scenes = [world.scene(i, n_objects=n) for i, n in enumerate((1, 3))]
    batch = object_batch(scenes, WordTokenizer(["a", "red", "circle"]), 8, np.random.default_rng(0))
    assert batch["obj_ids"].shape[:2] == (2, 3) and batch["obj_valid"].tolist() == [[1, 0, 0], [1, 1, 1]]
    assert batch["obj_cover"].shape == (2, 3, 64) and float(batch["obj_cover"][0, 1:].sum()) == 0.0
    np.testing.assert_allclose(batch["obj_cover"][1].sum(-1).numpy(), scenes[1].masks.sum((1, 2)) / 64, rtol=1e-5)


def test_the_shipped_model_is_dense_aligned_and_the_loss_can_tell(tiny_pipe):
    """The dense loss is low for the shipped model and high once its image tower is randomised."""
    from mmbench.models.tiny_clip import TinyClip  # noqa: F401  (the backend's model class)

    model = tiny_pipe.backend.model
    world = World(seed=40_404)
    scenes = [world.scene(i) for i in range(32)]
    batch = object_batch(scenes, model.tokenizer, model.config.patch_size, np.random.default_rng(1))
    pixels = model.normalise(torch.from_numpy(np.stack([s.image for s in scenes])))
    scale = model.logit_scale.exp().clamp(max=100)
    with torch.no_grad():
        trained = float(dense_loss(model, model.visual(pixels), batch, scale))
        twin = randomized_copy(tiny_pipe, seed=0).backend.model
        random = float(dense_loss(twin, twin.visual(pixels), batch, scale))
    assert trained < 1.0 and random > 3 * trained, (trained, random)
