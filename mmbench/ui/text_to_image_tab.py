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

from . import common
from .common import LoadEvent, TabParts, user_error, user_errors

TASK = "text-to-image"
TAB_TITLE = "Text to image"
#: Small images (the offline model makes 32x32) are shown enlarged, with sharp pixels.
DISPLAY_SIDE = 256

OFFLINE_NOTE = (
    "The offline model was trained by mmbench on its procedural world only: 32×32 pictures of circles, squares, "
    "triangles, diamonds, crosses and rings in red, green, blue, yellow, purple and orange ('a red circle', "
    "'a small blue ring', 'a green square left of an orange cross'). Photos need an online model (SD-Turbo), which "
    "downloads once when this machine can reach the Hugging Face hub."
)

INTRO = """\
**Text to image** with a diffusion model: start from pure noise and remove a little of it at every step, each
step steered by the prompt through *cross-attention* (every image position attends to the prompt's words).
**Guidance** pushes the image away from what the model would draw with no prompt (or with the *negative prompt*)
and towards the prompt. The **seed** fixes the starting noise: the same prompt, seed, steps, guidance and size give
the same image, so each result below is labelled with its seed. Leave the seed empty for random ones.
"""

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
    notes = [OFFLINE_NOTE] if pipe.spec.tier == "offline" else []
    lo, hi = pipe.sizes
    if lo == hi:  # the size slider is hidden (see model_status): say the size here
        notes.append(f"It makes {lo}×{lo} images only (the size it was trained at).")
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
        progress(0.0, desc="Loading the model")
        pipe = common.load_pipeline(TASK, model)
        cancel = _CANCELS.new(request)

        def on_step(step: int, total: int) -> None:
            progress((step, total), desc=f"Denoising step {step}/{total}", unit="steps")

        result = pipe(prompt, negative_prompt=negative or None, seed=_seed(seed), num_inference_steps=steps,
                      guidance_scale=guidance, width=size, height=size, num_images=n_images, callback=on_step,
                      cancel=cancel)
        items = [(_display(im), cap) for im, cap in zip(result.images, result.captions())]
        state = {"prompt": result.prompts[0], "seeds": result.seeds, "steps": result.num_inference_steps,
                 "guidance": result.guidance_scale, "size": result.width, "negative": result.negative_prompt}
        summary = (f"**{html.escape(result.model)}** · {len(result.images)} image(s) {result.width}×{result.height} · "
                   f"{result.num_inference_steps} steps · guidance {result.guidance_scale:g} · seeds "
                   f"{', '.join(map(str, result.seeds))} · {result.seconds:.2f} s")
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
        progress(0.1, desc="Generating with attention recording")
        pipe = common.load_pipeline(TASK, model)
        s = _seed(seed)
        image, maps = pipe.cross_attention(prompt, seed=0 if s is None else s, num_inference_steps=steps,
                                           guidance_scale=guidance, negative_prompt=negative or None,
                                           width=size, height=size)
        items = [(_display(image), "generated image")]
        items += [(_display(_to_pil(m.overlay(alpha=0.55))), f"'{m.target}'") for m in maps]
        return items, f"Seed {0 if s is None else s}: {len(maps)} word(s); brighter = more attention to the word."


def _to_pil(array: Any) -> Any:
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.asarray(array, dtype=np.uint8))


# -- layout -------------------------------------------------------------------------------------
def build_text_to_image_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()

    gr.Markdown(INTRO)
    model, status = common.model_picker(TASK, label="Text-to-image model", elem_id="t2i-model",
                                        status_elem_id="t2i-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            prompt = gr.Textbox(label="Prompt", placeholder="a red circle", lines=2, elem_id="t2i-prompt")
            negative = gr.Textbox(label="Negative prompt (optional)", placeholder="blurry", elem_id="t2i-negative")
            with gr.Row():
                seed = gr.Number(None, label="Seed (empty = random)", precision=0, minimum=0, elem_id="t2i-seed")
                n_images = gr.Slider(1, 8, value=4, step=1, label="Images", elem_id="t2i-n-images")
            with gr.Row():
                steps = gr.Slider(1, 200, value=10, step=1, label="Steps", elem_id="t2i-steps")
                guidance = gr.Slider(0.0, GUIDANCE_MAX, value=3.0, step=GUIDANCE_STEP, label="Guidance",
                                     elem_id="t2i-guidance")
            size = gr.Slider(32, 1024, value=32, step=SIZE_STEP, label="Size (width = height, pixels)",
                             elem_id="t2i-size")
            with gr.Row():
                run = gr.Button("Generate", variant="primary", elem_id="t2i-button")
                halt = gr.Button("Stop", variant="stop", elem_id="t2i-stop")
        with gr.Column(scale=2, min_width=360):
            gallery = gr.Gallery(label="Results (click one to reuse its seed)", columns=4, height=420,
                                 object_fit="contain", elem_id="t2i-gallery")
            summary = gr.Markdown(elem_id="t2i-summary")
    with gr.Accordion("Per-word cross-attention (which pixels each word shaped)", open=False):
        explain = gr.Button("Show the attention maps for the prompt and seed above", elem_id="t2i-explain")
        maps = gr.Gallery(label="Cross-attention per word", columns=6, height=260, object_fit="contain",
                          elem_id="t2i-maps")
        maps_note = gr.Markdown(elem_id="t2i-maps-note")
    history = gr.State([])  # this user's last results (seeds), never shared

    gr.Examples(EXAMPLES_WORLD, inputs=[prompt, negative, seed, steps, guidance], cache_examples=False,
                label="Procedural world — the offline model knows these", elem_id="t2i-examples-world")
    gr.Examples(EXAMPLES_PHOTO, inputs=[prompt, negative, seed, steps, guidance], cache_examples=False,
                label="Anything — needs the online SD-Turbo", elem_id="t2i-examples-photo")

    model.change(model_status, [model], [status, steps, guidance, size], api_name="t2i_model_status", **heavy)
    inputs = [model, prompt, negative, seed, steps, guidance, size, n_images]
    event = run.click(generate, inputs, [gallery, history, summary, status], api_name="text_to_image", **heavy)
    submit = prompt.submit(generate, inputs, [gallery, history, summary, status], api_visibility="private", **heavy)
    halt.click(stop, None, [summary], cancels=[event, submit], queue=False, api_visibility="private")
    gallery.select(pick, [history], [seed], queue=False, api_visibility="private")
    explain.click(attention_maps, [model, prompt, negative, seed, steps, guidance, size], [maps, maps_note],
                  api_name="t2i_attention", **heavy)

    return TabParts(
        components={"model": model, "status": status, "prompt": prompt, "negative": negative, "seed": seed,
                    "n_images": n_images, "steps": steps, "guidance": guidance, "size": size, "gallery": gallery,
                    "summary": summary, "stop": halt, "maps": maps},
        load_events=[LoadEvent(model_status, [model], [status, steps, guidance, size], **heavy)],
    )
