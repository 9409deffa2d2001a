"""Text-to-image: the online diffusers path on a tiny random Stable Diffusion built from configs (nothing
downloaded), the shipped offline tiny diffusion model (prompt accuracy, seeds, progress, cancel,
cross-attention), bad inputs, the app handlers and the training step."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import mmbench
from mmbench.errors import InvalidInputError, TextError
from mmbench.registry import ModelSpec
from tiny_models import TINY_SD

pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one torch thread (conftest)


@pytest.fixture(scope="module")
def sd_pipe():
    return mmbench.pipeline("text-to-image", TINY_SD, device="cpu")


@pytest.fixture(scope="module")
def tiny():
    return mmbench.pipeline("text-to-image", "mmbench-tiny-diffusion", device="cpu")


# -- online path (diffusers) ---------------------------------------------------------------------
def test_online_pipeline_matches_the_raw_diffusers_call(sd_pipe):
    import torch

    calls = []
    result = sd_pipe("a red circle", seed=11, num_images=2, callback=lambda s, n: calls.append((s, n)))
    assert result.seeds == [11, 12] and [im.size for im in result.images] == [(32, 32)] * 2
    assert calls == [(1, 3), (2, 3), (3, 3)]  # once per denoising step
    gens = [torch.Generator("cpu").manual_seed(s) for s in (11, 12)]
    raw = sd_pipe.backend.pipe(prompt=["a red circle"] * 2, num_inference_steps=3, guidance_scale=2.0, width=32,
                               height=32, generator=gens).images
    for ours, ref in zip(result.images, raw):
        assert np.array_equal(np.asarray(ours), np.asarray(ref))
    # the same call reproduces the images exactly; the seed alone reproduces one, whatever the batch it was
    # made in, up to float rounding (batched matmuls may sum in another order)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
        sd_pipe("a red circle", seed=11, num_images=2).images, result.images))
    again = np.asarray(sd_pipe("a red circle", seed=12).images[0]).astype(int)
    assert np.abs(again - np.asarray(result.images[1])).max() <= 2
    assert not np.array_equal(np.asarray(result.images[0]), np.asarray(result.images[1]))


def test_online_negative_prompt_and_size_reach_diffusers(sd_pipe):
    a = sd_pipe("a red circle", seed=1, width=48, height=16)
    b = sd_pipe("a red circle", seed=1, width=48, height=16, negative_prompt="blue")
    assert a.images[0].size == (48, 16)
    assert not np.array_equal(np.asarray(a.images[0]), np.asarray(b.images[0]))


def test_online_cross_attention_per_bpe_token(sd_pipe):
    image, maps = sd_pipe.cross_attention("a red circle", seed=2)
    assert [m.target for m in maps] == ["a", "red", "circle"]
    assert all(m.heatmap.shape == (32, 32) and np.isfinite(m.heatmap).all() for m in maps)


def test_default_text_to_image_falls_back_to_the_offline_model(monkeypatch):
    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    pipe = mmbench.pipeline("text-to-image", device="cpu")
    assert pipe.spec.name == "mmbench-tiny-diffusion" and "sd-turbo" in pipe.notice


# -- offline model -------------------------------------------------------------------------------
def test_offline_prompt_accuracy_on_held_out_prompts(tiny):
    """16 held-out prompts judged by the tiny CLIP, 10 DDIM steps (the full eval uses 200 prompts; bar 0.70)."""
    from mmbench.eval.text_to_image import PromptJudge, eval_prompts

    rows = eval_prompts(16, seed=4242)
    result = tiny([r["prompt"] for r in rows], seed=[r["seed"] for r in rows], num_inference_steps=10)
    scored = PromptJudge("cpu").score(result.images, rows)
    accuracy = np.mean([r["correct"] for r in scored])
    colour = np.mean([r["colour_ok"] for r in scored])
    assert colour >= 0.8, scored
    assert accuracy >= 0.5, scored


def test_offline_seed_reproducibility_progress_and_cancel(tiny):
    calls = []
    a = tiny("a blue square", seed=5, num_inference_steps=6, callback=lambda s, n: calls.append(s))
    b = tiny("a blue square", seed=5, num_inference_steps=6)
    c = tiny("a blue square", seed=6, num_inference_steps=6)
    assert calls == [1, 2, 3, 4, 5, 6]
    assert np.array_equal(np.asarray(a.images[0]), np.asarray(b.images[0]))
    assert not np.array_equal(np.asarray(a.images[0]), np.asarray(c.images[0]))
    assert a.images[0].size == (32, 32)

    from mmbench.pipelines.text_to_image import GenerationCancelled

    stop, seen = threading.Event(), []

    def on_step(step, total):
        seen.append(step)
        if step == 2:
            stop.set()

    with pytest.raises(GenerationCancelled, match="after 2 of 6"):
        tiny("a blue square", seed=5, num_inference_steps=6, callback=on_step, cancel=stop)
    assert seen == [1, 2]


def test_offline_cross_attention_follows_the_colour_words(tiny):
    """In a two-object prompt, the map of each colour word is brighter on pixels of that colour."""
    from mmbench.data.world import COLOURS

    image, maps = tiny.cross_attention("a red circle left of a blue square", seed=3)
    assert [m.target for m in maps] == ["a", "red", "circle", "left", "of", "a", "blue", "square"]
    pixels = np.asarray(image).astype(float)

    def near(colour):
        return np.linalg.norm(pixels - np.array(COLOURS[colour]), axis=-1) < 70

    red, blue = near("red"), near("blue")
    assert red.sum() >= 4 and blue.sum() >= 4, "the sample should contain both colours"
    m_red, m_blue = maps[1].heatmap, maps[6].heatmap
    assert m_red[red].mean() > m_red[blue].mean()
    assert m_blue[blue].mean() > m_blue[red].mean()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"prompt": ""}, TextError, "empty"),
    ({"prompt": "a red circle " * 400}, TextError, "limit is 500"),
    ({"num_inference_steps": 0}, InvalidInputError, "out of range"),
    ({"num_inference_steps": 10_000}, InvalidInputError, "out of range"),
    ({"width": 33, "height": 32}, InvalidInputError, "multiple of 8"),
    ({"width": 4096, "height": 4096}, InvalidInputError, "out of range"),
    ({"guidance_scale": -1}, InvalidInputError, "guidance_scale"),
    ({"seed": -3}, InvalidInputError, "seed"),
    ({"num_images": 100}, InvalidInputError, "num_images"),
    ({"prompt": "zebra giraffe"}, TextError, "knows none of the words"),
])
def test_bad_inputs_raise_typed_errors(tiny, kwargs, error, message):
    kwargs = {"prompt": "a red circle", **kwargs}
    with pytest.raises(error, match=message):
        tiny(kwargs.pop("prompt"), **kwargs)


# -- app handlers --------------------------------------------------------------------------------
def test_ui_handlers_generate_and_report_bad_input_as_messages():
    import gradio as gr

    from mmbench.ui import text_to_image_tab as tab

    label = "mmbench-tiny-diffusion (offline)"
    items, history, summary, status = tab.generate(label, "a green ring", "", 9, 4, 3.0, 32, 2, None,
                                                   progress=lambda *a, **k: None)
    assert [cap for _, cap in items] == ["seed 9 · a green ring", "seed 10 · a green ring"]
    assert items[0][0].size == (256, 256) and history[0]["seeds"] == [9, 10]
    assert "mmbench-tiny-diffusion" in status and "seeds 9, 10" in summary
    for args, message in [(("", ""), "prompt is empty"), (("a red circle", ""), "multiple of 8")]:
        size = 30 if message == "multiple of 8" else 32
        with pytest.raises(gr.Error, match=message):
            tab.generate(label, *args, 1, 4, 3.0, size, 1, None, progress=lambda *a, **k: None)
    assert tab.stop(None) == "Stopped."


def _apply_update(component, update):
    """What Gradio does with a component update an event returns (``Blocks.postprocess_data``): rebuild
    the component from its arguments and the update (a slider with minimum >= maximum fails here and
    the whole event fails), then take the value back as the next event's input (out of range fails)."""
    kwargs = {**component.constructor_args, **update}
    value = kwargs.pop("value")
    kwargs.pop("__type__")
    kwargs["render"] = False
    new = type(component)(**kwargs)
    assert new.preprocess(new.postprocess(value)) == value
    return new


def test_model_status_updates_are_valid_gradio_updates_for_every_model(tiny, monkeypatch):
    """Issue 14: the tiny model makes one size (32 px) and its status event set the size slider to
    min == max, which Gradio refuses. Every model's updates, in any order, must be accepted."""
    from unittest import mock

    import gradio as gr

    from mmbench.backends.diffusers_t2i import DiffusersT2IBackend
    from mmbench.pipelines.text_to_image import TextToImagePipeline
    from mmbench.registry import list_models
    from mmbench.ui import common
    from mmbench.ui import text_to_image_tab as tab

    pipes = {}
    for spec in list_models("text-to-image", ready_only=True):
        if spec.backend == "diffusers":  # the online rows, as their registry options configure them
            pipes[spec.label] = TextToImagePipeline(DiffusersT2IBackend(spec, mock.Mock(), "cpu", None), spec)
        else:
            pipes[spec.label] = tiny if spec.name == tiny.spec.name else mmbench.pipeline(
                "text-to-image", spec.name, device="cpu")
    assert {"sd-turbo (online)", "mmbench-tiny-diffusion (offline)"} <= set(pipes)
    monkeypatch.setattr(common, "load_pipeline", lambda task, model: pipes[model])

    with gr.Blocks():
        parts = tab.build_text_to_image_tab()
    sliders = [parts.components[k] for k in ("steps", "guidance", "size")]
    order = list(pipes) + list(reversed(pipes)) + list(pipes)  # every model after every other one
    for label in order:
        pipe = pipes[label]
        status, *updates = tab.model_status(label)
        sliders = [_apply_update(s, u) for s, u in zip(sliders, updates)]
        steps, guidance, size = sliders
        assert pipe.spec.name in status
        lo, hi = pipe.sizes
        assert size.visible is (lo < hi)
        if lo == hi:  # the slider is hidden: the status says the one size, and the slider holds it
            assert f"{lo}×{lo} images only" in status and updates[2]["value"] == lo
        else:
            assert (size.minimum, size.maximum, updates[2]["value"]) == (lo, hi, pipe.default_size)
        assert steps.visible and steps.maximum == pipe.max_steps and updates[0]["value"] == pipe.default_steps
        assert guidance.visible and updates[1]["value"] == pipe.default_guidance


def test_slider_update_keeps_every_range_valid():
    from mmbench.ui.common import slider_update

    assert slider_update(5, 1, 8) == {"__type__": "update", "value": 5, "minimum": 1, "maximum": 8, "visible": True}
    assert slider_update(20, 1, 8)["value"] == 8 and slider_update(-1, 0.0, 15.0)["value"] == 0.0  # clamped
    assert slider_update(512, 32, 32, step=8) == {"__type__": "update", "value": 32, "minimum": 32, "maximum": 40,
                                                  "visible": False}
    with pytest.raises(ValueError):
        slider_update(1, 2, 1)


# -- training ------------------------------------------------------------------------------------
def test_a_few_training_steps_lower_the_loss(tmp_path):
    """The training step is the DDPM objective: a few steps on a fixed batch reduce the noise-prediction error."""
    import torch

    from mmbench.train.tiny_diffusion import TrainConfig, training_scenes

    images, captions = training_scenes(TrainConfig(n_scenes=40, p_two_objects=0.25))
    assert images.shape == (40, 32, 32, 3) and len(captions) == 40
    assert sum(len(c) == 5 for c in captions) == 10  # the two-object scenes carry 5 caption variants
    pipe = mmbench.pipeline("text-to-image", ModelSpec(
        name="tiny-diffusion-test", task="text-to-image", tier="offline", backend="tiny_diffusion", source="config",
        options={"config": {"block_out_channels": [32, 32, 32], "norm_num_groups": 8}, "seed": 0}), device="cpu")
    model = pipe.backend.model
    from mmbench.models.tiny_diffusion import images_to_tensor

    x0 = images_to_tensor(images[:8])
    ctx, mask = model.text_encoder.encode([c[0] for c in captions[:8]])
    sched = model.train_scheduler()
    g = torch.Generator().manual_seed(0)
    noise, t = torch.randn(x0.shape, generator=g), torch.randint(0, 1000, (8,), generator=g)
    xt = sched.add_noise(x0, noise, t)
    opt = torch.optim.Adam(model.unet.parameters(), lr=2e-3)
    model.unet.train()
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.mse_loss(model.unet(xt, t, encoder_hidden_states=ctx, encoder_attention_mask=mask).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
