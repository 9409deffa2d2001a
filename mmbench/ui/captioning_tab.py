"""The "Captioning & VQA" tab: caption an image with decoding controls, see each token's
probability and where the decoder looked for each word, and ask questions about the image.

Handlers are thin: captioning is :class:`mmbench.pipelines.captioning.ImageCaptioningPipeline`, the
per-word maps are its :class:`~mmbench.explain.Explanation` objects, answers come from
:class:`mmbench.pipelines.vqa.VisualQuestionAnsweringPipeline`. The last caption's word maps live in
this user's ``gr.State`` (so picking another word or opacity redraws without recomputing), never in
module state.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from .. import i18n
from . import common, locale
from .common import LoadEvent, TabParts, UploadedImage, user_error, user_errors
from .locale import T

TASK = "image-to-text"
VQA_TASK = "visual-question-answering"
TAB_TITLE = T("captioning.title")

GREEDY, BEAM, SAMPLING = "greedy", "beam search", "sampling"
TOKEN_HEADERS = ["#", "token", "probability"]
DEFAULT_ALPHA = 0.5

OFFLINE_NOTE = i18n.tr("captioning.offline_note")  # English; the status line shows it in the user's language

INTRO = T("captioning.intro")


# -- helpers ------------------------------------------------------------------------------------
def _status(pipe: Any) -> str:
    return common.status_html(pipe, OFFLINE_NOTE if pipe.spec.tier == "offline" else "")


def _decoding(strategy: str | None, num_beams: Any, max_new_tokens: Any, temperature: Any, top_p: Any,
              seed: Any) -> dict[str, Any]:
    strategy = strategy or GREEDY
    if strategy not in (GREEDY, BEAM, SAMPLING):
        raise user_error(f"Unknown decoding strategy {strategy!r}: choose greedy, beam search or sampling.")
    out: dict[str, Any] = {"max_new_tokens": max_new_tokens}
    if strategy == BEAM:
        out["num_beams"] = num_beams
    elif strategy == SAMPLING:
        out.update(do_sample=True, temperature=temperature, top_p=top_p,
                   seed=None if seed in (None, "") else seed)
    return out


def _default_word(words: list[str]) -> int:
    """The first shape-like word (a noun in the world's captions), else the first word."""
    from ..data.world import SHAPES

    for i, w in enumerate(words):
        if w in SHAPES:
            return i
    return 0


def _overlay(state: dict | None, index: Any, alpha: Any) -> Any:
    from ..explain.explanation import Explanation

    if not state or not state.get("heatmaps"):
        return None
    try:
        i = int(index)
    except (TypeError, ValueError):
        i = 0
    i = max(0, min(i, len(state["heatmaps"]) - 1))
    exp = Explanation(heatmap=state["heatmaps"][i], image=state["image"], method="cross-attention",
                      target=state["words"][i])
    return exp.overlay(alpha=DEFAULT_ALPHA if alpha is None else alpha)


def summary_markdown(result: Any) -> str:
    d = result.decoding
    how = locale.tr_text(d["strategy"])
    if d["strategy"] == BEAM:
        how += ", " + locale.tr("captioning.summary_beams", n=d["num_beams"])
    if d["strategy"] == SAMPLING:
        how += ", " + locale.tr("captioning.summary_sampling", temperature=f"{d['temperature']:g}", top_p=f"{d['top_p']:g}")
        how += ", " + (locale.tr("captioning.summary_seed", seed=d["seed"]) if d["seed"] is not None
                       else locale.tr("captioning.summary_no_seed"))
    mean = result.mean_probability
    conf = f"{mean:.3f}" if mean == mean else "—"
    tokens = locale.tr("captioning.summary_tokens", n=len(result.tokens), conf=conf)
    return f"**{html.escape(result.model)}** · {how} · {tokens} · {result.seconds * 1000:.0f} ms"


# -- handlers -----------------------------------------------------------------------------------
def model_status(model: str | None) -> str:
    """Load the chosen captioning model and describe it (tier, device, fallback notice)."""
    with user_errors("loading the captioning model"):
        return _status(common.load_pipeline(TASK, model))


def vqa_model_status(model: str | None) -> str:
    """Load the chosen VQA model and describe it."""
    with user_errors("loading the question-answering model"):
        return _status(common.load_pipeline(VQA_TASK, model))


def caption(model: str | None, image: str | None, prompt: str | None, strategy: str | None, num_beams: Any,
            max_new_tokens: Any, temperature: Any, top_p: Any, seed: Any, alpha: Any = DEFAULT_ALPHA,
            progress: gr.Progress = gr.Progress()) -> tuple[str, list, Any, Any, dict, str, str]:
    """Caption, token table, word picker, attention overlay, per-user state, summary and status."""
    import numpy as np

    with user_errors("captioning the image"):
        if not image:
            raise user_error("No image yet: upload one or pick an example below.")
        decoding = _decoding(strategy, num_beams, max_new_tokens, temperature, top_p, seed)
        picture = common.validate_uploads([image])[0]
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(TASK, model)
        progress(0.4, desc=locale.tr("captioning.progress_caption"))
        result = pipe(picture, prompt or None, attention=True, **decoding)
        tokens = [[i + 1, t.token, round(t.probability, 4)] for i, t in enumerate(result.tokens)]
        words = [w.text for w in result.words]
        state = {"image": np.asarray(picture), "words": words,
                 "heatmaps": [m.heatmap for m in (result.word_maps or [])]}
        chosen = _default_word(words) if words else None
        picker = gr.update(choices=[(f"{i + 1}: {w} (p = {result.words[i].probability:.2f})", i)
                                    for i, w in enumerate(words)], value=chosen)
        text = result.caption or "(the model wrote nothing)"
        return (text, tokens, picker, _overlay(state, chosen, alpha), state, summary_markdown(result),
                _status(pipe))


def show_word(index: Any, alpha: Any, state: dict | None) -> Any:
    """The attention overlay of another word of the last caption (no recomputation)."""
    with user_errors("drawing the attention map"):
        return _overlay(state, index, alpha)


def answer(model: str | None, image: str | None, question: str | None,
           progress: gr.Progress = gr.Progress()) -> tuple[str, str, str]:
    """Answer, a line about it, and the VQA model's status."""
    from ..io import validate_text

    with user_errors("answering the question"):
        if not image:
            raise user_error("No image yet: upload one or pick an example below, then ask about it.")
        if question is None or not str(question).strip():
            raise user_error("The question is empty: type a question about the image, e.g. 'what colour is the circle?'.")
        question = validate_text(question, what="question")
        picture = common.validate_uploads([image])[0]
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(VQA_TASK, model)
        progress(0.5, desc=locale.tr("captioning.progress_answer"))
        result = pipe(picture, question)
        p = result.probability
        detail = (f"**{html.escape(result.model)}** · answer probability {p:.3f}" if p == p
                  else f"**{html.escape(result.model)}**")
        return result.answer or "(no answer)", detail, _status(pipe)


# -- layout -------------------------------------------------------------------------------------
def _example_question(caption: str) -> str:
    from ..eval.captioning import named_objects

    objs = named_objects(caption)
    if len(objs) >= 2:
        return f"what shape is the {objs[1][0]} object?"
    return f"what colour is the {objs[0][1]}?" if objs else "how many objects are there?"


def _examples(image: Any, question: Any) -> None:
    from ..examples import example_files

    files = example_files()
    rows = [[path, _example_question(c)] for path, c in files.procedural]
    gr.Examples(rows, inputs=[image, question], label=T("captioning.procedural_world_the_offline"),
                examples_per_page=8, cache_examples=False, elem_id="captioning-examples-procedural")
    gr.Examples([[path, "what is in the picture?"] for path in files.photos.values()], inputs=[image, question],
                label=T("captioning.real_photos_scikit_image"), examples_per_page=4, cache_examples=False,
                elem_id="captioning-examples-photos")


def build_captioning_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()

    gr.Markdown(INTRO)
    model, status = common.model_picker(TASK, label=T("captioning.captioning_model"), elem_id="captioning-model",
                                        status_elem_id="captioning-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            image = UploadedImage(type="filepath", label=T("captioning.image"), height=260, sources=["upload", "clipboard"],
                                  elem_id="captioning-image")
            prompt = gr.Textbox(label=T("captioning.prompt_optional_the_caption"), placeholder="a picture of",
                                elem_id="captioning-prompt")
            strategy = gr.Radio([(locale.text("captioning.greedy"), GREEDY), (locale.text("captioning.beam_search"), BEAM),
                             (locale.text("captioning.sampling"), SAMPLING)], value=GREEDY, label=T("captioning.decoding"), elem_id="captioning-strategy")
            with gr.Row():
                num_beams = gr.Slider(2, 10, value=3, step=1, label=T("captioning.beams_beam_search"), elem_id="captioning-beams")
                max_new = gr.Slider(1, 60, value=30, step=1, label=T("captioning.max_new_tokens"), elem_id="captioning-max-new")
            with gr.Row():
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label=T("captioning.temperature_sampling"),
                                        elem_id="captioning-temperature")
                top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label=T("captioning.top_p_sampling"), elem_id="captioning-top-p")
            seed = gr.Number(0, label=T("captioning.seed_sampling_empty_random"), precision=0, elem_id="captioning-seed")
            run = gr.Button(T("captioning.caption"), variant="primary", elem_id="captioning-button")
            message = common.action_message("captioning-message")
        with gr.Column(scale=2, min_width=360):
            text = gr.Textbox(label=T("captioning.caption"), lines=2, elem_id="captioning-caption")
            summary = gr.Markdown(elem_id="captioning-summary")
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=220):
                    word = gr.Dropdown([], label=T("captioning.word_where_did_the"),
                                       elem_id="captioning-word")
                    alpha = gr.Slider(0.0, 1.0, value=DEFAULT_ALPHA, step=0.05, label=T("captioning.heatmap_opacity"),
                                      elem_id="captioning-alpha")
                    overlay = gr.Image(label=T("captioning.cross_attention_of_the"), type="numpy", interactive=False,
                                       height=260, elem_id="captioning-overlay")
                with gr.Column(scale=1, min_width=220):
                    tokens = common.TranslatedDataframe(headers=TOKEN_HEADERS, interactive=False, label=T("captioning.token_probabilities"),
                                          max_height=360, elem_id="captioning-tokens")
    gr.Markdown(T("captioning.visual_question_answering"))
    vqa_model, vqa_status = common.model_picker(VQA_TASK, label=T("captioning.question_answering_model"), elem_id="vqa-model",
                                                status_elem_id="vqa-status", status_label=T("captioning.vqa_status"),
                                                info=None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            question = gr.Textbox(label=T("captioning.question_about_the_image"), placeholder="what colour is the circle?",
                                  elem_id="vqa-question")
            ask = gr.Button(T("captioning.ask"), variant="primary", elem_id="vqa-button")
            vqa_message = common.action_message("vqa-message")
        with gr.Column(scale=1, min_width=220):
            answer_box = gr.Textbox(label=T("captioning.answer"), elem_id="vqa-answer")
            answer_detail = gr.Markdown(elem_id="vqa-detail")
    maps_state = gr.State(None)  # this user's last caption: image, words, heatmaps

    _examples(image, question)

    common.report_on(status, model.change(model_status, [model], [status], api_name="captioning_model_status",
                                          **heavy), clear=False)
    common.report_on(vqa_status, vqa_model.change(vqa_model_status, [vqa_model], [vqa_status],
                                                  api_name="vqa_model_status", **heavy), clear=False)
    common.report_on(message, run.click(caption, [model, image, prompt, strategy, num_beams, max_new, temperature,
                                                  top_p, seed, alpha],
                                        [text, tokens, word, overlay, maps_state, summary, status], api_name="caption",
                                        **heavy))
    word.change(show_word, [word, alpha, maps_state], [overlay], api_visibility="private", queue=False)
    alpha.release(show_word, [word, alpha, maps_state], [overlay], api_visibility="private", queue=False)
    common.report_on(vqa_message,
                     ask.click(answer, [vqa_model, image, question], [answer_box, answer_detail, vqa_status],
                               api_name="answer", **heavy),
                     question.submit(answer, [vqa_model, image, question], [answer_box, answer_detail, vqa_status],
                                     api_visibility="private", **heavy))

    return TabParts(
        components={"model": model, "status": status, "image": image, "prompt": prompt, "strategy": strategy,
                    "num_beams": num_beams, "max_new_tokens": max_new, "temperature": temperature, "top_p": top_p,
                    "seed": seed, "caption": text, "tokens": tokens, "word": word, "overlay": overlay,
                    "vqa_model": vqa_model, "question": question, "answer": answer_box},
        load_events=[LoadEvent(model_status, [model], [status], **heavy),
                     LoadEvent(vqa_model_status, [vqa_model], [vqa_status], **heavy)],
    )
