"""The shipped offline tiny CLIP behaves as its model card says, on held-out procedural data.

Sets here are small (for speed) and use seeds never used in training; the full-size numbers
come from `mmbench eval matching`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.data import World, shape_colour_classes
from mmbench.eval.matching import binding_set, gallery_set, zero_shot_set
from mmbench.models.tiny_clip import UNK, TinyClip, WordTokenizer


def test_zero_shot_picks_the_right_label(tiny_pipe):
    images, labels = zero_shot_set(72, seed=20_001)
    results = tiny_pipe.zero_shot_classify_batch(images, shape_colour_classes())
    acc = np.mean([r.top == y for r, y in zip(results, labels)])
    assert acc >= 0.9
    for r in results:
        assert np.isclose(sum(r.scores.values()), 1.0, atol=1e-5)
        assert np.all(np.diff(r.probs) <= 1e-9), "labels sorted by probability"


def test_similarity_prefers_each_images_own_caption(tiny_pipe):
    images, captions = gallery_set(40, seed=20_002)
    sim = tiny_pipe.similarity_matrix(images, captions)
    assert sim.shape == (40, 40)
    assert np.all(sim <= 1 + 1e-5) and np.all(sim >= -1 - 1e-5)
    assert np.mean(sim.argmax(1) == np.arange(40)) >= 0.85


def test_matching_head_binds_colours_and_relations(tiny_pipe):
    images, true, swap, flip = binding_set(60, seed=20_003)
    m_true = tiny_pipe.match_logits(images, true)
    assert np.mean(m_true > tiny_pipe.match_logits(images, swap)) >= 0.85
    assert np.mean(m_true > tiny_pipe.match_logits(images, flip)) >= 0.85


def test_cached_features_give_the_same_match_logits(tiny_pipe):
    images, true, _, _ = binding_set(8, seed=20_004)
    direct = tiny_pipe.match_logits(images, true)
    cached = tiny_pipe.match_logits(None, true, features=tiny_pipe.matching_features(images))
    np.testing.assert_allclose(direct, cached, rtol=1e-4, atol=1e-4)


def test_search_finds_the_described_image_with_and_without_rerank(tiny_pipe):
    images, captions = gallery_set(60, seed=20_005)
    gallery = tiny_pipe.build_gallery(images)
    for rerank in (False, True):
        hits = [tiny_pipe.search(gallery, captions[i], k=3, rerank=rerank)[0].id == i for i in range(0, 60, 3)]
        assert np.mean(hits) >= 0.85
    assert [h.rank for h in tiny_pipe.search(gallery, captions[0], k=3)] == [1, 2, 3]


def test_a_randomly_initialised_model_is_near_chance():
    """Guards the tests above: they pass because of training, not because the task is trivial."""
    import mmbench
    from mmbench.registry import ModelSpec

    torch.manual_seed(0)
    spec = ModelSpec(name="random-tiny-clip", task="image-text-matching", tier="offline", backend="tiny_clip",
                     source="config", options={"config": {}})
    pipe = mmbench.pipeline("image-text-matching", model=spec, device="cpu", cache=False)
    images, labels = zero_shot_set(72, seed=20_001)
    acc = np.mean([r.top == y for r, y in zip(pipe.zero_shot_classify_batch(images, shape_colour_classes()), labels)])
    assert acc < 0.2


def test_safetensors_round_trip_preserves_outputs(tmp_path, tiny_pipe):
    model = tiny_pipe.backend.model
    model.save(tmp_path, dtype=torch.float32)
    again = TinyClip.load(tmp_path)
    px = model.preprocess([World(seed=1).scene(0).to_pil()])
    ids = model.tokenizer(["a red circle"])
    with torch.no_grad():
        assert torch.allclose(model(px, ids), again(px, ids), atol=1e-5)
    assert (tmp_path / "model.safetensors").stat().st_size > 1_000_000


def test_tokenizer_handles_templates_and_unknown_words():
    tok = WordTokenizer(["a", "red", "circle", "photo", "of"], context_length=8)
    ids = tok(["a photo of a red circle.", "a purple elephant"])
    assert ids.shape == (2, 8)
    assert tok.unknown_words("a purple elephant") == ["purple", "elephant"]
    assert (ids[1] == UNK).sum() == 2
    long = tok(["a " * 50])  # truncated, still ends with EOS
    assert long.shape == (1, 8)


def test_tiny_model_warns_about_words_it_cannot_know(tiny_pipe):
    assert tiny_pipe.backend.unknown_words(["a photo of a cat", "a red circle"]) == ["cat"]
