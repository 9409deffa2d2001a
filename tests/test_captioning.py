"""Captioning and VQA (issue 4): the shipped offline captioner on fresh held-out scenes, the online
BLIP path with tiny random models built from configs (nothing downloaded) checked against raw
transformers calls, decoding controls, per-word cross-attention maps, metrics and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mmbench
from mmbench.data.questions import balanced_questions, question_vocabulary, scene_questions
from mmbench.data.world import SHAPES, World
from mmbench.errors import ImageError, InvalidInputError, TextError
from mmbench.eval.captioning import attribute_match, corpus_bleu, named_objects, relation_correct, word_pointing
from tiny_models import BERT_SPECIAL_TOKENS, BLIP_TINY, GIT_TINY, tiny_spec, write_vocab

FRESH_SEED = 20_417  # a held-out world seed (training uses < 10 000), not the CLI's default set


@pytest.fixture(scope="module")
def captioner():
    return mmbench.pipeline("image-to-text", model="mmbench-tiny-captioner", device="cpu")


@pytest.fixture(scope="module")
def tiny_vqa():
    return mmbench.pipeline("visual-question-answering", model="mmbench-tiny-vqa", device="cpu")


@pytest.fixture(scope="module")
def fresh_scenes():
    return World(seed=FRESH_SEED).scenes(50)


# ----------------------------------------------------------------------------- metrics
def test_bleu4_matches_a_hand_computed_corpus():
    hyps = ["the cat sat on the mat", "a red circle left of a blue square"]
    refs = [["the cat is on the mat"], ["a red circle left of a blue square"]]
    # clipped n-gram matches / candidates, pooled: 13/14, 10/12, 7/10, 5/8; equal lengths -> no penalty
    expected = (13 / 14 * 10 / 12 * 7 / 10 * 5 / 8) ** 0.25
    assert corpus_bleu(hyps, refs) == pytest.approx(expected, abs=1e-12)
    # one word short of the only reference: precisions 1, brevity penalty exp(1 - 8/7)
    assert corpus_bleu(["a red circle left of a blue"], [["a red circle left of a blue square"]]) == \
        pytest.approx(math.exp(1 - 8 / 7), abs=1e-12)
    # the closest reference length counts, and n-gram counts are clipped by the references
    assert corpus_bleu(["a red circle left of a blue square"], [["a red circle", "a red circle left of a blue square"]]) == 1.0
    assert corpus_bleu(["the the the the the"], [["the cat is here"]]) == 0.0


def test_attribute_match_and_relation_parsing():
    scene = World(seed=FRESH_SEED).scene(3, n_objects=2)
    i, rel, j = scene.relation
    a, b = scene.objects[i], scene.objects[j]
    assert attribute_match(scene.caption, scene) and attribute_match(scene.captions[2], scene)  # sizes skipped
    assert relation_correct(scene.caption, scene) and relation_correct(scene.captions[1], scene)
    assert relation_correct(scene.relation_flipped_caption(), scene) is False
    assert not attribute_match(f"{a.phrase()}", scene)  # an object missing
    assert not attribute_match(f"{scene.caption} and {a.phrase()}", scene)  # one named twice
    if scene.colour_swapped_caption():
        assert not attribute_match(scene.colour_swapped_caption(), scene)
    assert named_objects("from left to right: a small red circle, a blue ring and a square") == [
        ("red", "circle"), ("blue", "ring"), (None, "square")]


def test_questions_are_true_of_their_scene():
    world = World(seed=FRESH_SEED)
    for scene in world.scenes(40):
        qas = scene_questions(scene, np.random.default_rng(0))
        assert {q.kind for q in qas} >= {"count", "exists"}
        for qa in qas:
            assert set(qa.answer.split()) <= set(question_vocabulary())
            if qa.kind == "count":
                assert qa.answer == ["zero", "one", "two", "three"][len(scene.objects)]
            if qa.kind == "exists":
                colour, shape = qa.question.removesuffix("?").split()[-2:]
                assert (qa.answer == "yes") == any(o.colour == colour and o.shape == shape for o in scene.objects)
    pairs = balanced_questions(world.scenes(60), per_kind=20)
    kinds = [qa.kind for _, qa in pairs]
    assert all(kinds.count(k) == 20 for k in set(kinds)) and len(set(kinds)) == 5


# ----------------------------------------------------------------------------- offline captioner
def test_offline_captioner_names_every_object_on_fresh_scenes(captioner, fresh_scenes):
    results = captioner.caption_batch([s.image for s in fresh_scenes])
    match = np.mean([attribute_match(r.caption, s) for r, s in zip(results, fresh_scenes)])
    assert match >= 0.75, [(r.caption, s.caption) for r, s in zip(results, fresh_scenes)][:10]
    bleu = corpus_bleu([r.caption for r in results], [s.captions for s in fresh_scenes])
    assert bleu >= 0.5
    r = results[0]
    assert r.words and all(0.0 < t.probability <= 1.0 for t in r.tokens)
    assert r.decoding["strategy"] == "greedy" and r.model == "mmbench-tiny-captioner"


def test_token_probabilities_are_the_models_softmax(captioner, fresh_scenes):
    scene = fresh_scenes[1]
    result = captioner(scene.image, attention=False)
    backend = captioner.backend
    feats = backend.encode([scene.to_pil()])
    prefix = backend.prefix("")
    ids = [t.id for t in result.tokens]
    with torch.no_grad():
        logits = backend.model(feats, torch.tensor([prefix + ids]))[0]
    ref = logits.softmax(-1)[len(prefix) - 1 + np.arange(len(ids)), ids].numpy()
    np.testing.assert_allclose([t.probability for t in result.tokens], ref, rtol=1e-4)
    # greedy: each token was the most probable one (special tokens excluded)
    assert all(int(logits[len(prefix) - 1 + k, 5:].argmax()) + 5 == i for k, i in enumerate(ids))


def test_decoding_controls(captioner, fresh_scenes):
    image = fresh_scenes[2].image
    greedy = captioner(image, attention=False)
    # top-p close to 0 keeps only the most probable token: sampling becomes greedy
    assert captioner(image, do_sample=True, top_p=0.01, seed=3, attention=False).caption == greedy.caption
    # a seed makes sampling repeatable; a hot temperature makes different seeds disagree
    hot = [captioner(image, do_sample=True, temperature=3.0, seed=s, attention=False).caption for s in range(6)]
    assert captioner(image, do_sample=True, temperature=3.0, seed=0, attention=False).caption == hot[0]
    assert len(set(hot)) >= 3
    short = captioner(image, max_new_tokens=2, attention=False).tokens
    assert [t.id for t in short] == [t.id for t in greedy.tokens[:2]]
    # beam search: the best finished hypothesis by length-normalised log-probability
    def score(result):
        return sum(math.log(t.probability) for t in result.tokens)
    beams = [captioner(s.image, num_beams=4, attention=False) for s in fresh_scenes[:8]]
    greedies = [captioner(s.image, attention=False) for s in fresh_scenes[:8]]
    assert all(score(b) >= score(g) - 1e-4 or len(b.tokens) != len(g.tokens) for b, g in zip(beams, greedies))
    assert np.mean([attribute_match(b.caption, s) for b, s in zip(beams, fresh_scenes)]) >= 0.6
    # a prompt is continued
    obj = fresh_scenes[0].objects[0]
    prompted = captioner(fresh_scenes[0].image, f"a {obj.colour}", attention=False)
    assert prompted.caption.startswith(f"a {obj.colour}") and prompted.prompt == f"a {obj.colour}"


def test_word_maps_peak_on_the_named_object(captioner, fresh_scenes):
    hits = []
    for scene in fresh_scenes[:25]:
        result = captioner(scene.image)
        assert len(result.word_maps) == len(result.words)
        m = result.word_maps[0]
        assert m.heatmap.shape == scene.image.shape[:2] and m.method == "cross-attention"
        assert m.target == result.words[0].text and 0 <= m.heatmap.min() and m.heatmap.max() <= 1
        hits += word_pointing(result, scene)
    chance = np.mean([mask.mean() for s in fresh_scenes[:25] for mask in s.masks])
    assert len(hits) >= 30 and np.mean(hits) >= 0.6 > 4 * chance


def test_explain_api_returns_the_map_of_a_caption_word(captioner, fresh_scenes):
    from mmbench.explain import explain, explain_caption

    scene = fresh_scenes[4]
    result = explain_caption(captioner, scene.image)
    shape = next(w.text for w in result.words if w.text in SHAPES)
    exp = explain(captioner, scene.image, shape)
    assert exp.target == shape and exp.method == "cross-attention"
    np.testing.assert_allclose(exp.heatmap, result.word_map(shape).heatmap)
    with pytest.raises(InvalidInputError, match="not in the caption"):
        explain(captioner, scene.image, "elephant")


# ----------------------------------------------------------------------------- offline VQA
def test_offline_vqa_answers_held_out_questions(tiny_vqa):
    scenes = World(seed=FRESH_SEED + 1).scenes(60)
    pairs = balanced_questions(scenes, seed=1, per_kind=12)
    answers = tiny_vqa.answer_batch([scenes[i].image for i, _ in pairs], [qa.question for _, qa in pairs])
    acc = np.mean([a.answer == qa.answer for a, (_, qa) in zip(answers, pairs)])
    assert acc >= 0.75, [(qa.question, a.answer, qa.answer) for a, (_, qa) in zip(answers, pairs)][:10]
    one = tiny_vqa(scenes[0].image, "How many objects are there?")
    assert one.answer == ["zero", "one", "two", "three"][len(scenes[0].objects)] and 0 < one.probability <= 1


def test_bad_inputs_are_typed_errors(captioner, tiny_vqa, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image" * 20)
    image = World(seed=FRESH_SEED).scene(0).image
    with pytest.raises(ImageError):
        captioner(str(corrupt))
    with pytest.raises(TextError, match="empty"):
        tiny_vqa(image, "   ")
    with pytest.raises(InvalidInputError, match="'elephant'"):
        tiny_vqa(image, "is there an elephant?")
    with pytest.raises(InvalidInputError, match="'zebra'"):
        captioner(image, "a zebra")
    for bad in ({"num_beams": 0}, {"temperature": 0}, {"top_p": 1.5}, {"max_new_tokens": 10_000},
                {"do_sample": True, "num_beams": 3}, {"seed": "abc"}):
        with pytest.raises(InvalidInputError):
            captioner(image, **bad)
    with pytest.raises(InvalidInputError, match="one question per image"):
        tiny_vqa.answer_batch([image, image], ["how many objects are there?"])


def test_missing_weights_name_the_training_command(tmp_path):
    from dataclasses import replace

    from mmbench.errors import ModelUnavailableError
    from mmbench.registry import get_spec

    spec = get_spec("mmbench-tiny-vqa")
    spec = replace(spec, options={**spec.options, "weights": str(tmp_path)})
    with pytest.raises(ModelUnavailableError, match="mmbench train tiny-captioner"):
        mmbench.pipeline("visual-question-answering", model=spec, device="cpu", cache=False)


# ----------------------------------------------------------------------------- online path (random BLIP)
@pytest.fixture(scope="module")
def blip_vocab(tmp_path_factory):
    words = sorted(set(question_vocabulary()) - {",", ":", "?"} | {"picture", "cat"})
    return str(write_vocab(tmp_path_factory.mktemp("blip"), BERT_SPECIAL_TOKENS + [",", ":", "?", "##s"] + words))


def _blip(task, backend, vocab, seed=0):
    spec = tiny_spec(f"tiny-random-{backend}", task, backend, BLIP_TINY, vocab_file=vocab, seed=seed)
    return mmbench.pipeline(task, model=spec, device="cpu", cache=False)


def test_online_blip_captioning_matches_raw_transformers(blip_vocab):
    pipe = _blip("image-to-text", "transformers_blip", blip_vocab)
    assert "random weights" in pipe.describe() and pipe.tier == "online"
    model, processor = pipe.backend.model, pipe.backend.processor
    image = World(seed=FRESH_SEED).scene(7).to_pil()
    inputs = processor(images=image, return_tensors="pt")
    for kwargs in ({}, {"num_beams": 3}):
        with torch.no_grad():
            raw = model.generate(pixel_values=inputs["pixel_values"], max_new_tokens=8, **kwargs)[0].tolist()
        result = pipe(image, max_new_tokens=8, **kwargs)
        ids = [t.id for t in result.tokens]
        assert raw[0] == model.config.text_config.bos_token_id and raw[1:1 + len(ids)] == ids
        assert result.caption == processor.decode(raw, skip_special_tokens=True).strip()
    # token probabilities = softmax of the model's own logits on the chosen tokens
    with torch.no_grad():
        logits = model(pixel_values=inputs["pixel_values"], input_ids=torch.tensor([raw[:len(ids)]])).logits[0]
    ref = logits.softmax(-1)[np.arange(len(ids)), ids].numpy()
    np.testing.assert_allclose([t.probability for t in result.tokens], ref, rtol=1e-4)
    # one cross-attention map per word, in the image's own pixel grid
    assert len(result.word_maps) == len(result.words) and result.word_maps[0].heatmap.shape == (64, 64)
    assert sum(len(w.token_indices) for w in result.words) == len(result.tokens)
    # sampling: a seed repeats, the beam/greedy difference is the model's
    a = pipe(image, max_new_tokens=8, do_sample=True, seed=5, attention=False).caption
    assert pipe(image, max_new_tokens=8, do_sample=True, seed=5, attention=False).caption == a


def test_online_blip_word_maps_are_the_decoders_cross_attention(blip_vocab):
    pipe = _blip("image-to-text", "transformers_blip", blip_vocab, seed=1)
    image = World(seed=FRESH_SEED).scene(8).image
    result = pipe(image, max_new_tokens=5)
    model, processor = pipe.backend.model, pipe.backend.processor
    px = processor(images=[image], return_tensors="pt")["pixel_values"]
    ids = [model.config.text_config.bos_token_id] + [t.id for t in result.tokens][:-1]
    with torch.no_grad():
        out = model.text_decoder(input_ids=torch.tensor([ids]), encoder_hidden_states=model.vision_model(px)[0],
                                 output_attentions=True, return_dict=True)
    import cv2

    def norm(m):
        return (m - m.min()) / (m.max() - m.min())

    # reference: heads and layers averaged, the 4x4 patch grid (after [CLS]) resized to the image
    rows = torch.stack([a[0, :, :, 1:].mean(0) for a in out.cross_attentions]).mean(0).numpy()  # (L, 16)
    token_maps = [norm(cv2.resize(r.reshape(4, 4).astype(np.float32), (64, 64), interpolation=cv2.INTER_LINEAR))
                  for r in rows[-len(result.tokens):]]
    for word, exp in zip(result.words, result.word_maps):
        ref = token_maps[word.token_indices[0]] if len(word.token_indices) == 1 else \
            norm(np.mean([token_maps[j] for j in word.token_indices], axis=0))
        np.testing.assert_allclose(exp.heatmap, ref, atol=1e-5)
        assert exp.target == word.text


def test_word_pieces_become_words(blip_vocab):
    pipe = _blip("image-to-text", "transformers_blip", blip_vocab)
    tok = pipe.backend.tokenizer
    ids = tok.convert_tokens_to_ids(["red", "circle", "##s", "left"])
    assert pipe.backend.words(ids) == [("red", [0]), ("circles", [1, 2]), ("left", [3])]


def test_online_blip_vqa_matches_raw_transformers(blip_vocab):
    pipe = _blip("visual-question-answering", "transformers_blip_vqa", blip_vocab)
    model, processor = pipe.backend.model, pipe.backend.processor
    image = World(seed=FRESH_SEED).scene(9).to_pil()
    question = "what colour is the circle?"
    inputs = processor(images=image, text=question, return_tensors="pt")
    with torch.no_grad():
        raw = model.generate(**inputs, max_new_tokens=5)[0].tolist()
    result = pipe(image, question, max_new_tokens=5)
    ids = [t.id for t in result.tokens]
    assert raw[1:1 + len(ids)] == ids and result.answer == processor.decode(raw, skip_special_tokens=True).strip()
    with pytest.raises(TextError):
        pipe(image, "")


def test_offline_fallback_is_visible(monkeypatch):
    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    pipe = mmbench.pipeline("image-to-text", device="cpu")
    assert pipe.spec.name == "mmbench-tiny-captioner" and "blip-image-captioning-base" in pipe.notice
    vqa = mmbench.pipeline("visual-question-answering", device="cpu")
    assert vqa.spec.name == "mmbench-tiny-vqa" and "blip-vqa-base" in vqa.notice


def test_online_git_captioning_matches_raw_transformers(blip_vocab):
    """The second family: GIT reads the image tokens as a self-attention prefix (no cross-attention)."""
    spec = tiny_spec("tiny-random-git", "image-to-text", "transformers_git", GIT_TINY, vocab_file=blip_vocab, seed=0)
    pipe = mmbench.pipeline("image-to-text", model=spec, device="cpu", cache=False)
    model, processor = pipe.backend.model, pipe.backend.processor
    image = World(seed=FRESH_SEED).scene(11).to_pil()
    px = processor(images=image, return_tensors="pt").pixel_values
    for kwargs in ({}, {"num_beams": 3}):
        with torch.no_grad():
            raw = model.generate(pixel_values=px, max_new_tokens=6, **kwargs)[0].tolist()
        result = pipe(image, max_new_tokens=6, **kwargs)
        ids = [t.id for t in result.tokens]
        assert raw[1:1 + len(ids)] == ids and result.caption == processor.decode(raw, skip_special_tokens=True).strip()
    # maps: each layer's text rows over the 4x4 patch keys ([CLS] image token and text keys dropped)
    with torch.no_grad():
        out = model(pixel_values=px, input_ids=torch.tensor([raw[:len(ids)]]), output_attentions=True)
    rows = torch.stack([a[0, :, 17:, 1:17].mean(0) for a in out.attentions]).mean(0).numpy()  # (text, 16)
    import cv2

    def norm(m):
        return (m - m.min()) / (m.max() - m.min())

    token_maps = [norm(cv2.resize(r.reshape(4, 4).astype(np.float32), (64, 64), interpolation=cv2.INTER_LINEAR))
                  for r in rows]
    assert result.words and len(result.word_maps) == len(result.words)
    for word, exp in zip(result.words, result.word_maps):
        ref = norm(np.mean([token_maps[j] for j in word.token_indices], axis=0))
        np.testing.assert_allclose(exp.heatmap, ref, atol=1e-5)
    probs = out.logits[0, 17 + np.arange(len(ids))].softmax(-1)[np.arange(len(ids)), ids].numpy()
    np.testing.assert_allclose([t.probability for t in result.tokens], probs, rtol=1e-4)
    # CLIP preprocessing crops the centre square: the maps cover that square of a wide image
    wide = np.concatenate([np.asarray(image)] * 2, axis=1)  # 64 x 128
    assert pipe(wide, max_new_tokens=3).word_maps[0].heatmap.shape == (64, 64)
