"""The Explain panel's handlers, called directly (and once through the running app with gradio_client):
real models, real photos and procedural scenes; bad inputs become messages."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from mmbench.data.world import World
from mmbench.examples import example_files, upscale
from mmbench.explain.scoring import map_correlation, pointing_game
from mmbench.ui import explain_panel as panel
from mmbench.ui.common import model_choices

TINY = "mmbench-tiny-clip (offline)"
EFFNET = "efficientnet-lite0 (offline)"


def quiet(*args, **kwargs):
    return None


@pytest.fixture(scope="module")
def photos():
    return example_files().photos


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory):
    """A 2-object scene upscaled 4x (as a user would upload it), its phrases and boxes in display pixels."""
    scene = World(seed=2024, n_objects=(2, 2)).scene(3)
    path = tmp_path_factory.mktemp("explain") / "scene.png"
    upscale(scene.image).save(path)
    return str(path), [(o.phrase(), tuple(4 * v for v in o.box)) for o in scene.objects]


def test_method_choices_mirror_the_library():
    from mmbench.explain.methods import load_methods

    assert [(m.label, m.name) for m in load_methods().values() if not m.name.startswith("test-")] == list(panel.METHOD_CHOICES)
    assert EFFNET in model_choices(panel.CLASSIFICATION)[0] and TINY in model_choices(panel.MATCHING)[0]


def test_class_explanations_side_by_side_on_the_cat_photo(photos, tmp_path):
    gallery, state, download, details, status = panel.explain_image(
        panel.CLASSIFICATION, EFFNET, photos["chelsea"], "Egyptian cat", ["gradcam", "gradcam++"], "default", 0.5,
        progress=quiet)
    assert [d["method"] for d in details] == ["gradcam", "gradcam++"] and details[0]["target_index"] == 285
    assert len(gallery) == 2 and gallery[0][0].shape == (256, 385, 3)  # the upload, shrunk to 256 px
    assert "Grad-CAM" in gallery[0][1] and "Egyptian cat" in gallery[0][1]
    assert open(download, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and Image.open(download).size[0] > 400
    assert "efficientnet-lite0" in status
    # class sensitivity: the map for an unrelated class looks elsewhere
    _, other, _, _, _ = panel.explain_image(panel.CLASSIFICATION, EFFNET, photos["chelsea"], "espresso", ["gradcam"],
                                            "default", 0.5, progress=quiet)
    cat_map = state["explanations"][0].heatmap
    assert map_correlation(cat_map, other["explanations"][0].heatmap) < 0.5
    # the opacity slider redraws without the model: opacity 0 is the photo itself
    redrawn, new_download = panel.restyle(state, 0.0)
    np.testing.assert_array_equal(redrawn[0][0], state["explanations"][0].image)
    assert new_download != download


def test_text_explanations_on_a_scene_point_at_the_named_object(scene_file):
    path, objects = scene_file
    (phrase, box), (other_phrase, other_box) = objects
    gallery, state, _, details, _ = panel.explain_image(panel.MATCHING, TINY, path, phrase, ["chefer", "gradcam"],
                                                        "visual.blocks.4.ln1", 0.4, progress=quiet)
    assert [d["method"] for d in details] == ["chefer", "gradcam"]
    assert details[0]["layer"] is None and details[1]["layer"] == "visual.blocks.4.ln1"
    assert gallery[0][0].shape == (256, 256, 3)
    assert pointing_game(state["explanations"][0].heatmap, box)
    _, state2, _, _, _ = panel.explain_image(panel.MATCHING, TINY, path, other_phrase, ["chefer"], "default", 0.4,
                                             progress=quiet)
    assert pointing_game(state2["explanations"][0].heatmap, other_box)


def test_choices_follow_the_model():
    methods, layers = panel.panel_choices(panel.MATCHING, TINY)
    ids = [v for _, v in methods["choices"]]
    assert {"gradcam", "chefer", "rollout", "attention"} <= set(ids) and methods["value"] == ["gradcam", "chefer"]
    assert [v for _, v in layers["choices"]][:2] == ["default", "visual.patch"]
    methods, _ = panel.panel_choices(panel.CLASSIFICATION, EFFNET)
    assert "rollout" not in [v for _, v in methods["choices"]]


def test_attention_viewer(scene_file):
    path, _ = scene_file
    heads = panel.attention_heads(panel.MATCHING, TINY, path, "-1", 0.5)
    assert [c for _, c in heads] == ["block 5 · mean of heads"] + [f"block 5 · head {h}" for h in range(5)]
    blocks = panel.attention_heads(panel.MATCHING, TINY, path, "all", 0.5)
    assert len(blocks) == 6 and blocks[0][1] == "block 0 · mean of heads"


def test_classify_fills_the_class_picker(photos):
    top, picker, _ = panel.classify(EFFNET, photos["coffee"])
    assert list(top)[0] == "espresso" and picker["value"] == "espresso" and len(picker["choices"]) >= 999


@pytest.mark.parametrize("call,message", [
    (lambda p, s: panel.explain_image(panel.MATCHING, TINY, s, "   ", ["gradcam"], "default", 0.5, progress=quiet),
     "Enter a target text"),
    (lambda p, s: panel.explain_image(panel.MATCHING, TINY, s, "a red circle", [], "default", 0.5, progress=quiet),
     "Choose at least one method"),
    (lambda p, s: panel.explain_image(panel.MATCHING, TINY, s, "a red circle", ["gradcam"], "visual.blocks.99",
                                      0.5, progress=quiet), "Valid layers"),
    (lambda p, s: panel.explain_image(panel.MATCHING, TINY, None, "a red circle", ["gradcam"], "default", 0.5,
                                      progress=quiet), "No image yet"),
    (lambda p, s: panel.explain_image(panel.MATCHING, TINY, s, "a fluffy cat", ["gradcam"], "default", 0.5,
                                      progress=quiet), "fluffy"),
    (lambda p, s: panel.explain_image(panel.CLASSIFICATION, EFFNET, p, "egyptain cat", ["gradcam"], "default", 0.5,
                                      progress=quiet), "Egyptian cat"),
    (lambda p, s: panel.explain_image(panel.CLASSIFICATION, EFFNET, p, "tabby", ["rollout"], "default", 0.5,
                                      progress=quiet), "does not support"),
    (lambda p, s: panel.explain_image(panel.CLASSIFICATION, EFFNET, p, "tabby", ["gradcam"], "default", 2,
                                      progress=quiet), "Opacity"),
    (lambda p, s: panel.attention_heads(panel.CLASSIFICATION, EFFNET, p, "-1", 0.5), "vision transformer"),
    (lambda p, s: panel.attention_heads(panel.MATCHING, TINY, s, "last", 0.5), "Block must be"),
    (lambda p, s: panel.attention_heads(panel.MATCHING, TINY, s, "9", 0.5), "block must be an integer"),
])
def test_bad_inputs_are_messages(call, message, photos, scene_file):
    with pytest.raises(gr.Error, match=message):
        call(photos["chelsea"], scene_file[0])


def test_a_one_pixel_image_is_a_message(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(path)
    with pytest.raises(gr.Error, match="at least 2 pixels"):
        panel.explain_image(panel.MATCHING, TINY, str(path), "a red circle", ["gradcam"], "default", 0.5,
                            progress=quiet)


def test_the_app_serves_both_panels(app_url, photos, scene_file):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    gallery, download, details, _ = client.predict(
        EFFNET, handle_file(photos["chelsea"]), "Egyptian cat", ["gradcam"], "default", 0.5, api_name="/explain")
    assert len(gallery) == 1 and details[0]["target"] == "Egyptian cat" and str(download).endswith(".png")
    path, objects = scene_file
    result = client.predict(TINY, handle_file(path), objects[0][0], ["chefer"], "default", 0.5,
                            api_name="/matching_explain")
    assert result[2][0]["method"] == "chefer"
