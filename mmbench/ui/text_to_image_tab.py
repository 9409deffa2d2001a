"""The "Text to image" tab: prompt -> a gallery of images, each captioned with the seed that
reproduces it; a progress bar per denoising step, a Stop button, and per-word cross-attention maps.

Handlers are thin: generation is :class:`mmbench.pipelines.text_to_image.TextToImagePipeline`, the
maps are its :meth:`~mmbench.pipelines.text_to_image.TextToImagePipeline.cross_attention`
explanations. Cancellation: each browser session has its own ``threading.Event`` (keyed by Gradio's
session hash, never shared between users); Stop sets it and the pipeline stops after the current
step, which frees the worker. The last results live in this user's ``gr.State``.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from .. import i18n
from . import common, locale
from .common import LoadEvent, TabParts, user_error, user_errors
from .locale import T

TASK = "text-to-image"
TAB_TITLE = T("text_to_image.title")
#: Small images (the offline model makes 32x32) are shown enlarged, with sharp pixels.
DISPLAY_SIDE = 256

OFFLINE_NOTE = i18n.tr("text_to_image.offline_note")  # English; the status line shows it in the user's language

INTRO = T("text_to_image.intro")

EXAMPLES_WORLD = [
    ["a red circle", "", 7, 10, 3.0],
    ["a photo of a blue square", "", 11, 10, 3.0],
    ["a large yellow triangle", "", 3, 10, 3.0],
    ["a green ring left of a purple cross", "", 5, 10, 3.0],
    ["an orange diamond", "", 42, 10, 5.0],
]
EXAMPLES_PHOTO = [
    ["a watercolour painting of a lighthouse at sunset", "blurry, low quality", 1, 1, 0.0],
    ["a red bicycle leaning against a brick wall, photo", "", 2, 1, 0.0],
]

#: Slider ranges: steps from 1 to the model's maximum, guidance from 0 up, sizes in multiples of 8.
GUIDANCE_MAX = 15.0
GUIDANCE_STEP = 0.5
SIZE_STEP = 8

#: per-session cancel events of running generations (a Stop stops only that user's run)
_CANCELS = common.SessionCancels()


def _status(pipe: Any) -> str:
    notes = [locale.tr("text_to_image.offline_note")] if pipe.spec.tier == "offline" else []
    lo, hi = pipe.sizes
    if lo == hi:  # the size slider is hidden (see model_status): say the size here
        notes.append(locale.tr("text_to_image.one_size", side=lo))
    return common.status_html(pipe, " ".join(notes))


def _display(image: Any) -> Any:
    from PIL import Image

    if max(image.size) >= DISPLAY_SIDE:
        return image
    scale = DISPLAY_SIDE // max(image.size)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def _seed(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()) or value != value:
        return None
    return value


# -- handlers -----------------------------------------------------------------------------------
def model_status(model: str | None) -> tuple[str, Any, Any, Any]:
    """Load the chosen model; its status line and its default steps, guidance and size (slider
    updates that Gradio accepts for every model: a model with one image size hides the size slider)."""
    with user_errors("loading the text-to-image model"):
        pipe = common.load_pipeline(TASK, model)
        lo, hi = pipe.sizes
        guidance = pipe.default_guidance
        return (_status(pipe), common.slider_update(pipe.default_steps, 1, pipe.max_steps),
                common.slider_update(guidance, 0.0, max(GUIDANCE_MAX, guidance), step=GUIDANCE_STEP),
                common.slider_update(pipe.default_size, lo, hi, step=SIZE_STEP))


def generate(model: str | None, prompt: str | None, negative: str | None, seed: Any, steps: Any, guidance: Any,
             size: Any, n_images: Any, request: gr.Request = None,
             progress: gr.Progress = gr.Progress()) -> tuple[list, list, str, str]:
    """Gallery ``[(image, "seed N · prompt")]``, the per-user results state, a summary and the status."""
    with user_errors("generating the images"):
        if prompt is None or not str(prompt).strip():
            raise user_error("The prompt is empty: describe the picture, e.g. 'a red circle'.")
        progress(0.0, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(TASK, model)
        cancel = _CANCELS.new(request)

        def on_step(step: int, total: int) -> None:
            progress((step, total), desc=locale.tr("text_to_image.progress_step", step=step, total=total), unit="steps")

        result = pipe(prompt, negative_prompt=negative or None, seed=_seed(seed), num_inference_steps=steps,
                      guidance_scale=guidance, width=size, height=size, num_images=n_images, callback=on_step,
                      cancel=cancel)
        items = [(_display(im), cap) for im, cap in zip(result.images, result.captions())]
        state = {"prompt": result.prompts[0], "seeds": result.seeds, "steps": result.num_inference_steps,
                 "guidance": result.guidance_scale, "size": result.width, "negative": result.negative_prompt}
        summary = (f"**{html.escape(result.model)}** · " + locale.tr(
            "text_to_image.summary", n=len(result.images), width=result.width, height=result.height,
            steps=result.num_inference_steps, guidance=f"{result.guidance_scale:g}",
            seeds=", ".join(map(str, result.seeds))) + f" · {result.seconds:.2f} s")
        return items, [state], summary, _status(pipe)


def stop(request: gr.Request = None) -> str:
    """Ask this user's running generation to stop after its current step."""
    return _CANCELS.stop(request)


def pick(history: list | None, evt: gr.SelectData) -> Any:
    """Clicking a gallery image puts its seed in the seed box (to reproduce or vary it)."""
    if not history or evt is None or evt.index is None:
        return gr.update()
    seeds = history[0]["seeds"]
    i = evt.index if isinstance(evt.index, int) else evt.index[0]
    return seeds[i] if 0 <= i < len(seeds) else gr.update()


def attention_maps(model: str | None, prompt: str | None, negative: str | None, seed: Any, steps: Any,
                   guidance: Any, size: Any, progress: gr.Progress = gr.Progress()) -> tuple[list, str]:
    """One overlay per prompt word: where the image attended to that word (summed over steps)."""
    with user_errors("computing the cross-attention maps"):
        if prompt is None or not str(prompt).strip():
            raise user_error("The prompt is empty: describe the picture, e.g. 'a red circle left of a blue square'.")
        progress(0.1, desc=locale.tr("text_to_image.progress_attention"))
        pipe = common.load_pipeline(TASK, model)
        s = _seed(seed)
        image, maps = pipe.cross_attention(prompt, seed=0 if s is None else s, num_inference_steps=steps,
                                           guidance_scale=guidance, negative_prompt=negative or None,
                                           width=size, height=size)
        items = [(_display(image), locale.tr("text_to_image.generated_image"))]
        items += [(_display(_to_pil(m.overlay(alpha=0.55))), f"'{m.target}'") for m in maps]
        return items, locale.tr("text_to_image.maps_note", seed=0 if s is None else s, n=len(maps))


def _to_pil(array: Any) -> Any:
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.asarray(array, dtype=np.uint8))


# -- layout -------------------------------------------------------------------------------------
def build_text_to_image_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()

    gr.Markdown(INTRO)
    model, status = common.model_picker(TASK, label=T("text_to_image.text_to_image_model"), elem_id="t2i-model",
                                        status_elem_id="t2i-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            prompt = gr.Textbox(label=T("text_to_image.prompt"), placeholder="a red circle", lines=2, elem_id="t2i-prompt")
            negative = gr.Textbox(label=T("text_to_image.negative_prompt_optional"), placeholder="blurry", elem_id="t2i-negative")
            with gr.Row():
                seed = gr.Number(None, label=T("text_to_image.seed_empty_random"), precision=0, minimum=0, elem_id="t2i-seed")
                n_images = gr.Slider(1, 8, value=4, step=1, label=T("text_to_image.images"), elem_id="t2i-n-images")
            with gr.Row():
                steps = gr.Slider(1, 200, value=10, step=1, label=T("text_to_image.steps"), elem_id="t2i-steps")
                guidance = gr.Slider(0.0, GUIDANCE_MAX, value=3.0, step=GUIDANCE_STEP, label=T("text_to_image.guidance"),
                                     elem_id="t2i-guidance")
            size = gr.Slider(32, 1024, value=32, step=SIZE_STEP, label=T("text_to_image.size_width_height_pixels"),
                             elem_id="t2i-size")
            with gr.Row():
                run = gr.Button(T("text_to_image.generate"), variant="primary", elem_id="t2i-button")
                halt = gr.Button(T("text_to_image.stop"), variant="stop", elem_id="t2i-stop")
            message = common.action_message("t2i-message")
        with gr.Column(scale=2, min_width=360):
            gallery = gr.Gallery(label=T("text_to_image.results_click_one_to"), columns=4, height=420,
                                 object_fit="contain", elem_id="t2i-gallery")
            summary = gr.Markdown(elem_id="t2i-summary")
    with gr.Accordion(T("text_to_image.per_word_cross_attention"), open=False):
        explain = gr.Button(T("text_to_image.show_the_attention_maps"), elem_id="t2i-explain")
        maps = gr.Gallery(label=T("text_to_image.cross_attention_per_word"), columns=6, height=260, object_fit="contain",
                          elem_id="t2i-maps")
        maps_message = common.action_message("t2i-maps-message")
        maps_note = gr.Markdown(elem_id="t2i-maps-note")
    history = gr.State([])  # this user's last results (seeds), never shared

    gr.Examples(EXAMPLES_WORLD, inputs=[prompt, negative, seed, steps, guidance], cache_examples=False,
                label=T("text_to_image.procedural_world_the_offline"), elem_id="t2i-examples-world")
    gr.Examples(EXAMPLES_PHOTO, inputs=[prompt, negative, seed, steps, guidance], cache_examples=False,
                label=T("text_to_image.anything_needs_the_online"), elem_id="t2i-examples-photo")

    common.report_on(status, model.change(model_status, [model], [status, steps, guidance, size],
                                          api_name="t2i_model_status", **heavy), clear=False)
    inputs = [model, prompt, negative, seed, steps, guidance, size, n_images]
    event = run.click(generate, inputs, [gallery, history, summary, status], api_name="text_to_image", **heavy)
    submit = prompt.submit(generate, inputs, [gallery, history, summary, status], api_visibility="private", **heavy)
    common.report_on(message, event, submit)
    halt.click(stop, None, [summary], cancels=[event, submit], queue=False, api_visibility="private")
    gallery.select(pick, [history], [seed], queue=False, api_visibility="private")
    common.report_on(maps_message, explain.click(attention_maps, [model, prompt, negative, seed, steps, guidance, size],
                                                 [maps, maps_note], api_name="t2i_attention", **heavy))

    return TabParts(
        components={"model": model, "status": status, "prompt": prompt, "negative": negative, "seed": seed,
                    "n_images": n_images, "steps": steps, "guidance": guidance, "size": size, "gallery": gallery,
                    "summary": summary, "stop": halt, "maps": maps},
        load_events=[LoadEvent(model_status, [model], [status, steps, guidance, size], **heavy)],
    )
