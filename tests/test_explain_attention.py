"""Attention explanations: taps vs each library's own attention, rollout and Chefer relevance vs
hand-written references, text-conditioning on held-out scenes, the per-head viewer, the online
ViT towers (tiny random models built from configs) and the cross-attention recorder."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn as nn

import mmbench
from mmbench.errors import InvalidInputError
from mmbench.explain import (AttentionTap, CrossAttentionRecorder, attention_maps, available_methods, explain,
                             explain_batch, get_adapter)
from mmbench.explain.explanation import to_image_coordinates
from mmbench.explain.sanity import randomized_copy
from mmbench.explain.scoring import box_fraction, map_correlation, pointing_game
from mmbench.registry import register, unregister
from tiny_models import HF_CLIP_TINY, OPEN_CLIP_TINY, VIT_TINY, tiny_spec

ATTENTION_METHODS = ["rollout", "chefer", "attention"]


@pytest.fixture(scope="module")
def scenes():
    from mmbench.eval.explain import explain_set

    return explain_set(40)


@pytest.fixture(scope="module")
def tiny_model(tiny_pipe):
    return tiny_pipe.backend.model


def _keep_attention(model, on: bool) -> None:
    for blk in model.visual.blocks:
        blk.attn.keep_attention = on
        if not on:
            blk.attn.attention = None  # the shared model must stay deep-copyable (no graph tensors)


# ------------------------------------------------------------------ taps agree with the libraries
def test_tap_matches_torch_multihead_attention_in_both_layouts():
    torch.manual_seed(0)
    for batch_first in (True, False):
        m = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
        x = torch.randn(2, 5, 16) if batch_first else torch.randn(5, 2, 16)
        mask = torch.zeros(5, 5, dtype=torch.bool).triu(1)
        ref_out, ref_w = m(x, x, x, need_weights=True, average_attn_weights=False, attn_mask=mask)
        with AttentionTap({"attn": m}) as tap:
            out, w = m(x, x, x, need_weights=True, average_attn_weights=False, attn_mask=mask)
        torch.testing.assert_close(out, ref_out)
        torch.testing.assert_close(tap.last("attn"), ref_w)
        assert "forward" not in m.__dict__  # the module's own forward is back


def test_tap_matches_transformers_eager_attentions():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    model = CLIPVisionModel(CLIPVisionConfig(**HF_CLIP_TINY["vision_config"])).eval()
    pixels = torch.randn(2, 3, 32, 32)
    names = {n: m for n, m in model.named_modules() if n.endswith("self_attn")}
    with AttentionTap(names) as tap:
        pooled = model(pixel_values=pixels).pooler_output
    model.set_attn_implementation("eager")
    ref = model(pixel_values=pixels, output_attentions=True)
    torch.testing.assert_close(pooled, ref.pooler_output)
    for i, name in enumerate(names):
        torch.testing.assert_close(tap.last(name), ref.attentions[i])


def test_tap_records_only_its_own_thread(tiny_model):
    attn = tiny_model.visual.blocks[0].attn
    pixels = torch.randn(1, 3, 64, 64)
    other: list = []
    with torch.no_grad(), AttentionTap({"a": attn}) as tap:
        worker = threading.Thread(target=lambda: other.append(tiny_model.encode_image(pixels)))
        worker.start()
        worker.join()
        assert tap.probs["a"] == []  # the other thread's forward was not recorded
        tiny_model.encode_image(pixels)
    assert len(tap.probs["a"]) == 1 and tap.last("a").shape == (1, 5, 65, 65)
    torch.testing.assert_close(other[0], tiny_model.encode_image(pixels))
    with pytest.raises(TypeError):
        AttentionTap({"not attention": nn.Linear(3, 3)})


# ------------------------------------------------------------------ references on the tiny CLIP
def _reference_attention(model, pixels, target=None):
    """Per-block attention via the model's own keep_attention switch (and gradients, for a target)."""
    _keep_attention(model, True)
    try:
        with torch.enable_grad():
            x = pixels.clone().requires_grad_(True)
            emb = torch.nn.functional.normalize(model.image_proj(model.visual(x)[:, 0]), dim=-1)
            probs = [blk.attn.attention for blk in model.visual.blocks]
            grads = torch.autograd.grad(target(emb).sum(), probs) if target is not None else None
    finally:
        _keep_attention(model, False)
    return [p.detach() for p in probs], grads


def test_rollout_matches_a_hand_written_reference(tiny_pipe, tiny_model, scenes):
    scene, _, text = scenes[0]
    adapter = get_adapter(tiny_pipe)
    probs, _ = _reference_attention(tiny_model, adapter.preprocess([scene.to_pil()]))
    joint = np.eye(65)
    for a in probs:  # Abnar & Zuidema: A~ = 0.5 A + 0.5 I, multiplied through the blocks
        joint = (0.5 * a[0].mean(0).numpy() + 0.5 * np.eye(65)) @ joint
    expected = to_image_coordinates(joint[0, 1:].reshape(8, 8).astype(np.float32), (64, 64))
    exp = explain(tiny_pipe, scene.image, text, method="rollout", shifts=1)
    np.testing.assert_allclose(exp.heatmap, expected, atol=1e-4)
    assert exp.layer is None and exp.meta["family"] == "attention"
    other = explain(tiny_pipe, scene.image, scenes[1][2], method="rollout", shifts=1)
    np.testing.assert_array_equal(other.heatmap, exp.heatmap)  # rollout ignores the target


def test_chefer_relevance_matches_a_hand_written_reference(tiny_pipe, tiny_model, scenes):
    scene, _, text = scenes[3]
    adapter = get_adapter(tiny_pipe)
    target = adapter.target(text)
    probs, grads = _reference_attention(tiny_model, adapter.preprocess([scene.to_pil()]), target)
    relevance = torch.eye(65)
    for a, g in zip(probs, grads):  # Chefer et al. 2021, eq. (5)-(6)
        relevance = relevance + (g[0] * a[0]).clamp(min=0).mean(0) @ relevance
    expected = to_image_coordinates(relevance[0, 1:].reshape(8, 8).numpy(), (64, 64))
    exp = explain(tiny_pipe, scene.image, text, method="chefer", shifts=1)
    np.testing.assert_allclose(exp.heatmap, expected, atol=1e-4)
    with torch.no_grad():
        score = float(target(adapter.image_model(adapter.preprocess([scene.to_pil()])))[0])
    assert exp.meta["target_score"] == pytest.approx(score, abs=1e-5)
    assert all(p.requires_grad for p in tiny_model.parameters())


def test_chefer_is_text_conditioned_and_points_at_the_named_object(tiny_pipe, scenes):
    exps = explain_batch(tiny_pipe, [s.image for s, _, _ in scenes], [t for _, _, t in scenes], method="chefer")
    assert exps[0].meta["options"]["shifts"] == 2  # the tiny CLIP's default sub-patch shift averaging
    hits = [pointing_game(e.heatmap, s.objects[k].box) for e, (s, k, _) in zip(exps, scenes)]
    chance = float(np.mean([box_fraction(s.objects[k].box, s.image.shape[:2]) for s, k, _ in scenes]))
    assert np.mean(hits) >= 0.8 and chance < 0.1, (np.mean(hits), chance)
    # the same scene, each of its objects named in turn: the peak follows the text
    scene = next(s for s, _, _ in scenes if len(s.objects) >= 2)
    phrases = [o.phrase() for o in scene.objects]
    per_object = explain_batch(tiny_pipe, [scene.image] * len(phrases), phrases, method="chefer")
    moved = [pointing_game(e.heatmap, o.box) for e, o in zip(per_object, scene.objects)]
    assert sum(moved) >= len(moved) - 1, (phrases, moved)
    assert map_correlation(per_object[0].heatmap, per_object[1].heatmap) < 0.9


def test_chefer_maps_change_when_the_weights_are_randomised(tiny_pipe, scenes):
    twin = randomized_copy(tiny_pipe, seed=0)
    items = scenes[:8]
    a = explain_batch(tiny_pipe, [s.image for s, _, _ in items], [t for _, _, t in items], method="chefer")
    b = explain_batch(twin, [s.image for s, _, _ in items], [t for _, _, t in items], method="chefer")
    assert float(np.mean([map_correlation(x.heatmap, y.heatmap) for x, y in zip(a, b)])) < 0.5


def test_per_head_viewer_and_raw_attention_agree(tiny_pipe, scenes):
    scene = scenes[0][0]
    maps = attention_maps(tiny_pipe, scene.image)
    assert len(maps) == 6 * (5 + 1)  # 6 blocks x (mean + 5 heads)
    assert [m.meta["head"] for m in maps[:6]] == [None, 0, 1, 2, 3, 4]
    assert maps[0].layer == "visual.blocks.0.attn" and maps[-1].layer == "visual.blocks.5.attn"
    last_head = explain(tiny_pipe, scene.image, "a red circle", method="attention", block=5, head=4)
    np.testing.assert_allclose(last_head.heatmap, maps[-1].heatmap, atol=1e-6)
    mean_last = explain(tiny_pipe, scene.image, "a red circle", method="attention")
    np.testing.assert_allclose(mean_last.heatmap, maps[-6].heatmap, atol=1e-6)
    assert np.ptp(maps[-1].heatmap) > 0 and maps[-1].heatmap.shape == (64, 64)
    two = attention_maps(tiny_pipe, scene.image, blocks=[-1], heads=False, query="patches")
    assert len(two) == 1 and two[0].meta["block"] == 5 and two[0].meta["query"] == "patches"


def test_attention_methods_reject_bad_options_and_cnns(tiny_pipe, scenes):
    image = scenes[0][0].image
    assert set(ATTENTION_METHODS) <= set(available_methods(tiny_pipe))
    with pytest.raises(InvalidInputError, match="block"):
        explain(tiny_pipe, image, "a red circle", method="attention", block=6)
    with pytest.raises(InvalidInputError, match="head"):
        explain(tiny_pipe, image, "a red circle", method="attention", head=9)
    with pytest.raises(InvalidInputError, match="head_fusion"):
        explain(tiny_pipe, image, "a red circle", method="rollout", head_fusion="median")
    with pytest.raises(InvalidInputError, match="layer"):
        explain(tiny_pipe, image, "a red circle", method="chefer", layer="visual.blocks.3.ln1")
    with pytest.raises(InvalidInputError, match="query"):
        attention_maps(tiny_pipe, image, query="keys")
    effnet = mmbench.pipeline("image-classification", model="efficientnet-lite0", device="cpu")
    assert not set(ATTENTION_METHODS) & set(available_methods(effnet))
    with pytest.raises(InvalidInputError, match="does not support"):
        explain(effnet, np.zeros((32, 32, 3), np.uint8), "tabby", method="rollout")
    with pytest.raises(InvalidInputError, match="vision transformer"):
        attention_maps(effnet, np.zeros((32, 32, 3), np.uint8))


# ------------------------------------------------------------------ online ViT towers, tiny random models
@pytest.mark.parametrize("backend,task,config,target", [
    ("open_clip", "image-text-matching", OPEN_CLIP_TINY, "a photo of a cat"),
    ("transformers_clip", "image-text-matching", HF_CLIP_TINY, "a photo of a cat"),
    ("transformers_image_classification", "image-classification", VIT_TINY, 1),
])
def test_attention_methods_on_online_vit_towers(backend, task, config, target):
    spec = register(tiny_spec(f"test-attention-{backend}", task, backend, config, seed=0))
    try:
        pipe = mmbench.pipeline(task, model=spec.name, device="cpu", cache=False)
        assert set(ATTENTION_METHODS) <= set(available_methods(pipe))
        image = np.random.default_rng(0).integers(0, 255, (48, 70, 3), dtype=np.uint8)
        for method in ATTENTION_METHODS:
            exp = explain(pipe, image, target, method=method)
            assert exp.heatmap.shape == (48, 70) and np.ptp(exp.heatmap) > 0.05, method
        assert explain(pipe, image, target, method="chefer", shifts=2).heatmap.shape == (48, 70)
        maps = attention_maps(pipe, image)
        assert len(maps) == 2 * 3 and maps[0].heatmap.shape == (48, 70)
        adapter = get_adapter(pipe)
        if backend == "transformers_clip":  # rollout from transformers' own attentions (eager)
            model = pipe.backend.model
            with torch.no_grad():
                pixels = adapter.preprocess([exp_image(image)])
                previous = model.config._attn_implementation
                model.set_attn_implementation("eager")
                try:
                    attentions = model.vision_model(pixel_values=pixels, output_attentions=True).attentions
                finally:
                    model.set_attn_implementation(previous)
            joint = np.eye(17)
            for a in attentions:
                joint = (0.5 * a[0].mean(0).numpy() + 0.5 * np.eye(17)) @ joint
            expected = to_image_coordinates(joint[0, 1:].reshape(4, 4).astype(np.float32), (48, 70))
            np.testing.assert_allclose(explain(pipe, image, target, method="rollout").heatmap, expected, atol=1e-4)
    finally:
        unregister(spec.name)


def exp_image(array):
    from PIL import Image

    return Image.fromarray(array)


# ------------------------------------------------------------------ cross-attention recorder
class TinyCaptionDecoder(nn.Module):
    """A captioner's decoder in miniature: text tokens self- and cross-attend to image tokens."""

    def __init__(self, dim: int = 20, heads: int = 4) -> None:
        super().__init__()
        from mmbench.models.tiny_clip import Block

        self.blocks = nn.ModuleList(Block(dim, heads, cross=True) for _ in range(2))

    def forward(self, text, image_tokens):
        for blk in self.blocks:
            text = blk(text, context=image_tokens)
        return text


def test_recorder_gives_one_map_per_generated_word():
    torch.manual_seed(0)
    decoder = TinyCaptionDecoder().eval()
    image_tokens = torch.randn(1, 1 + 16, 20)  # [CLS] + a 4x4 patch grid
    text = torch.randn(1, 3, 20)
    image = np.zeros((40, 40, 3), np.uint8)
    with torch.no_grad(), CrossAttentionRecorder(decoder, r"blocks\.\d+\.cross_attn") as rec:
        for step in range(1, 4):  # greedy decoding without a cache: every step re-reads the prefix
            decoder(text[:, :step], image_tokens)
    assert rec.names == ["blocks.0.cross_attn", "blocks.1.cross_attn"]
    assert [p.shape for p in rec.records["blocks.1.cross_attn"]] == [(1, 4, s, 17) for s in (1, 2, 3)]
    maps = rec.word_maps(image, ["a", "red", "circle"], grid=(4, 4))
    assert [m.target for m in maps] == ["a", "red", "circle"] and maps[0].heatmap.shape == (40, 40)
    # reference: the blocks' own keep_attention switch
    for blk in decoder.blocks:
        blk.cross_attn.keep_attention = True
    with torch.no_grad():
        decoder(text, image_tokens)  # a fresh decoder: its stored attention can stay
    ref = np.mean([to_image_grid(blk.cross_attn.attention[0, :, 2, 1:].mean(0)) for blk in decoder.blocks], axis=0)
    np.testing.assert_allclose(maps[2].heatmap, to_image_coordinates(ref, (40, 40)), atol=1e-5)
    with pytest.raises(InvalidInputError):
        rec.word_maps(image, ["w"] * 5, grid=(4, 4))  # more words than query positions


def to_image_grid(row):
    import cv2

    return cv2.resize(row.reshape(4, 4).numpy().astype(np.float32), (40, 40), interpolation=cv2.INTER_LINEAR)


def test_recorder_maps_prompt_words_of_a_diffusers_style_unet():
    """Two diffusers cross-attention layers at two resolutions; token k's key matches the latent
    positions of region k, so its map must peak there (DAAM's premise)."""
    from diffusers.models.attention_processor import Attention

    class TinyUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = Attention(query_dim=4, cross_attention_dim=4, heads=1, dim_head=4)
            self.up = Attention(query_dim=4, cross_attention_dim=4, heads=1, dim_head=4)
            for attn in (self.down, self.up):
                for proj in (attn.to_q, attn.to_k):
                    proj.weight.data = torch.eye(4) * 4.0

        def forward(self, latent, prompt):
            small = torch.nn.functional.avg_pool2d(latent, 2)
            self.down(small.flatten(2).transpose(1, 2), encoder_hidden_states=prompt)
            return self.up(latent.flatten(2).transpose(1, 2), encoder_hidden_states=prompt)

    latent = torch.zeros(2, 4, 8, 12)  # classifier-free guidance: [unconditional, conditional]
    latent[:, 1, :4, :6] = 1.0  # region 1: top-left
    latent[:, 2, 4:, 6:] = 1.0  # region 2: bottom-right
    prompt = torch.eye(4)[None].repeat(2, 1, 1)  # [BOS] tok1 tok2 [EOS]: token k is one-hot channel k
    unet = TinyUNet().eval()
    with torch.no_grad(), CrossAttentionRecorder(unet, ["down", "up"]) as rec:
        for _ in range(3):  # three denoising steps
            unet(latent, prompt)
    assert len(rec.records["down"]) == 3 and rec.records["down"][0].shape == (2, 1, 24, 4)
    image = np.zeros((64, 96, 3), np.uint8)
    left, right = rec.prompt_maps(image, ["left", "right"])
    assert left.meta["calls"] == 6 and left.heatmap.shape == (64, 96)
    assert pointing_game(left.heatmap, (0, 0, 48, 32)) and pointing_game(right.heatmap, (48, 32, 96, 64))
    with pytest.raises(InvalidInputError):
        rec.prompt_maps(image, ["x"], positions=[7])


def test_recorder_errors():
    decoder = TinyCaptionDecoder()
    with pytest.raises(InvalidInputError, match="No module"):
        CrossAttentionRecorder(decoder, r"nothing\.here")
    with pytest.raises(InvalidInputError, match="no module"):
        CrossAttentionRecorder(decoder, ["blocks.7.cross_attn"])
    rec = CrossAttentionRecorder(decoder, r".*cross_attn")
    with pytest.raises(InvalidInputError, match="No cross-attention was recorded"):
        rec.prompt_maps(np.zeros((8, 8, 3), np.uint8), ["a"])
