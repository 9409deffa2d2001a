"""The "Captioning & VQA" tab: its handlers on procedural examples and on bad input, and the CLI eval."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest

from mmbench.data.world import World
from mmbench.eval.captioning import attribute_match
from mmbench.examples import upscale
from mmbench.ui import captioning_tab

CAPTIONER = "mmbench-tiny-captioner (offline)"
VQA = "mmbench-tiny-vqa (offline)"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("captioning-media")
    scene = World(seed=20_511).scene(4, n_objects=2)
    path = folder / "scene.png"
    upscale(scene.image).save(path)  # what a user uploads: 256x256
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 50)
    return {"scene": scene, "path": str(path), "corrupt": str(corrupt)}


def _caption(path, strategy="greedy", **kw):
    args = {"prompt": "", "num_beams": 3, "max_new_tokens": 30, "temperature": 1.0, "top_p": 0.9, "seed": 0}
    args.update(kw)
    return captioning_tab.caption(CAPTIONER, path, args["prompt"], strategy, args["num_beams"], args["max_new_tokens"],
                                  args["temperature"], args["top_p"], args["seed"])


def test_caption_handler_shows_caption_tokens_and_word_maps(files):
    text, tokens, picker, overlay, state, summary, status = _caption(files["path"])
    scene = files["scene"]
    assert attribute_match(text, scene), (text, scene.caption)
    assert [row[1] for row in tokens] == state["words"] and all(0 < row[2] <= 1 for row in tokens)
    assert picker["value"] == captioning_tab._default_word(state["words"]) and len(picker["choices"]) == len(tokens)
    assert overlay.shape == (256, 256, 3) and overlay.dtype == np.uint8
    assert "greedy" in summary and "mmbench-tiny-captioner" in status and "offline tier" in status
    # another word: redrawn from this user's state, no model call
    other = captioning_tab.show_word(0, 0.8, state)
    assert other.shape == overlay.shape and not np.array_equal(other, overlay)
    # sampling with a seed is repeatable through the handler too
    a = _caption(files["path"], "sampling", temperature=1.5, seed=7)[0]
    assert _caption(files["path"], "sampling", temperature=1.5, seed=7)[0] == a
    assert "beams" in _caption(files["path"], "beam search")[5]


def test_answer_handler(files):
    answer, detail, status = captioning_tab.answer(VQA, files["path"], "how many objects are there?")
    assert answer == "two" and "probability" in detail and "mmbench-tiny-vqa" in status


@pytest.mark.parametrize("call, message", [
    (lambda f: _caption(None), "No image yet"),
    (lambda f: _caption(f["corrupt"]), "damaged"),
    (lambda f: _caption(f["path"], num_beams=0, strategy="beam search"), "num_beams"),
    (lambda f: _caption(f["path"], prompt="a zebra"), "zebra"),
    (lambda f: captioning_tab.answer(VQA, f["path"], "   "), "question is empty"),
    (lambda f: captioning_tab.answer(VQA, None, "how many objects are there?"), "No image yet"),
    (lambda f: captioning_tab.answer(VQA, f["path"], "what is the dog eating?"), "'dog'"),
])
def test_bad_inputs_get_a_message_not_a_crash(files, call, message):
    with pytest.raises(gr.Error, match=message) as caught:
        call(files)
    assert "Something went wrong" not in caught.value.message  # a typed mmbench error, not an accident


def test_show_word_without_a_caption_is_empty():
    assert captioning_tab.show_word(0, 0.5, None) is None


def test_eval_captioning_cli_reports_plain_keys(capsys):
    from mmbench.cli import main

    assert main(["eval", "captioning", "--n-images", "40", "--n-questions", "50", "--n-attention", "8",
                 "--seed", "20600"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [g["group"] for g in lines[:-1]] == ["captioning", "attention", "vqa"]
    summary = lines[-1]
    assert summary["model"] == "mmbench-tiny-captioner" and summary["seed"] == 20600
    assert summary["attribute_match"] >= 0.7 and 0.4 <= summary["bleu4"] <= 1 and summary["vqa_accuracy"] >= 0.5
