"""The procedural world: determinism, ground-truth consistency, captions and probes."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.data import COLOURS, SHAPES, World, shape_colour_classes, vocabulary
from mmbench.data.world import relation_between


def test_same_seed_and_index_give_identical_scenes():
    a, b = World(seed=3).scene(17), World(seed=3).scene(17)
    assert np.array_equal(a.image, b.image)
    assert a.captions == b.captions and a.objects == b.objects


def test_different_seeds_give_different_scenes():
    a, b = World(seed=1).scenes(20), World(seed=2).scenes(20)
    assert sum(np.array_equal(x.image, y.image) for x, y in zip(a, b)) == 0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_object_count_masks_and_boxes_agree(k):
    for scene in World(seed=5, n_objects=k).scenes(30):
        assert len(scene.objects) == k == scene.masks.shape[0]
        for obj, mask in zip(scene.objects, scene.masks):
            assert mask.sum() > 10, "every object is visible"
            ys, xs = np.nonzero(mask)
            x0, y0, x1, y1 = obj.box
            assert xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0 and ys.max() < y1
        if k > 1:  # objects never overlap
            assert scene.masks.sum(0).max() == 1


def test_mask_pixels_have_the_object_colour():
    world = World(seed=9, n_objects=1, noise=0.0)
    for scene in world.scenes(40):
        obj = scene.objects[0]
        mean = scene.image[scene.masks[0]].astype(float).mean(0)
        assert np.abs(mean - np.array(COLOURS[obj.colour])).max() < 40
        others = [c for c in COLOURS if c != obj.colour]
        dists = {c: np.abs(mean - np.array(COLOURS[c])).sum() for c in [obj.colour, *others]}
        assert min(dists, key=dists.get) == obj.colour


def test_relation_caption_matches_geometry():
    for scene in World(seed=11, n_objects=2).scenes(50):
        i, rel, j = scene.relation
        a, b = scene.objects[i], scene.objects[j]
        assert relation_between(a, b) == rel
        axis_gap = abs(a.cx - b.cx) if rel in ("left of", "right of") else abs(a.cy - b.cy)
        assert axis_gap >= a.radius + b.radius, "relations are unambiguous"
        assert scene.caption == f"{a.phrase()} {rel} {b.phrase()}"


def test_three_object_captions_list_objects_left_to_right():
    for scene in World(seed=12, n_objects=3).scenes(20):
        order = sorted(scene.objects, key=lambda o: o.cx)
        positions = [scene.caption.index(o.phrase()) for o in order]
        assert positions == sorted(positions)


def test_probe_captions_are_false_and_differ():
    for scene in World(seed=13, n_objects=2).scenes(50):
        swap, flip = scene.colour_swapped_caption(), scene.relation_flipped_caption()
        assert flip not in scene.captions
        if swap is not None:
            assert swap not in scene.captions and sorted(swap.split()) == sorted(scene.caption.split())


def test_description_key_identifies_equivalent_phrasings():
    scenes = World(seed=14, n_objects=2).scenes(400)
    by_key = {}
    for s in scenes:
        by_key.setdefault(s.description_key, set()).add(s.caption)
    assert any(len(c) > 1 for c in by_key.values()), "some keys have both phrasings"


def test_vocabulary_covers_all_captions_and_classes():
    vocab = set(vocabulary())
    for scene in World(seed=15).scenes(200):
        for cap in scene.captions:
            words = cap.replace(",", " , ").replace(":", " : ").split()
            assert set(words) <= vocab, cap
    assert len(shape_colour_classes()) == len(SHAPES) * len(COLOURS)


def test_bad_world_arguments_are_refused():
    with pytest.raises(ValueError):
        World(n_objects=4)
    with pytest.raises(ValueError):
        World(image_size=8)
    with pytest.raises(ValueError):
        World(shapes=["hexagon"])
