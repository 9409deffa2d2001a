"""The "Image–text matching" tab: similarity matrix, zero-shot classification and text → image search.

Handlers are thin: they turn component values into library calls on the pipeline that
:func:`mmbench.pipeline` returns, and library results into plots (:mod:`mmbench.plots.matching`) and JSON.
Per-user data (the embeddings of an uploaded gallery) lives in ``gr.State``; the only shared
data is the built-in procedural gallery's embeddings, which are the same for every user.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import gradio as gr

from .. import i18n
from . import common, locale
from .common import LoadEvent, TabParts, UploadedImage, user_error, user_errors
from .explain_panel import MATCHING_HELP, build_explain_panel, matching_examples
from .locale import T

TASK = "image-text-matching"
TAB_TITLE = T("matching.title")

#: Built-in search gallery size, and the limits of what one request may ask for.
BUILTIN_GALLERY_SIZE = 200
MAX_SIMILARITY_IMAGES = 50
MAX_SIMILARITY_TEXTS = 50
MAX_GALLERY_UPLOADS = 200
MAX_K = 20
DEFAULT_TEMPLATE = "a photo of a {}."

BUILTIN, UPLOADED = "built-in", "uploaded"
PHOTO_INDEX = "photo-index"  # the folder index named by MMBENCH_INDEX (mmbench.photos)

TINY_MODEL_NOTE = i18n.tr("matching.tiny_note")  # English; the status line shows it in the user's language

INTRO = T("matching.intro")


# -- helpers ------------------------------------------------------------------------------------
def _tier_note(pipe: Any) -> str:
    return TINY_MODEL_NOTE if pipe.spec.tier == "offline" else ""


def _status(pipe: Any) -> str:
    return common.status_html(pipe, _tier_note(pipe))


def _warn_unknown_words(pipe: Any, texts: list[str]) -> None:
    """A toast listing words the model cannot read (the tiny CLIP maps them to [UNK])."""
    unknown = pipe.unknown_words(texts)
    if unknown:
        shown = ", ".join(repr(w) for w in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        gr.Warning(locale.tr("matching.unknown_words", model=pipe.spec.name, words=shown))


def _lines(text: str | None, what: str, limit: int | None = None) -> list[str]:
    from ..io import split_lines, validate_texts

    items = validate_texts(split_lines(text), what=what)
    if limit is not None and len(items) > limit:
        raise user_error(f"Too many {what}s: {len(items)}; this tab shows at most {limit}.")
    return items


@lru_cache(maxsize=1)
def _builtin_gallery_data() -> tuple[list[Any], list[str]]:
    from ..examples import procedural_gallery

    return procedural_gallery(BUILTIN_GALLERY_SIZE)


class _SharedGalleries:
    """Embeddings of the built-in gallery per model (identical for all users), at most 3 models."""

    def __init__(self, max_items: int = 3) -> None:
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.max_items = max_items

    def get(self, pipe: Any, progress: Any) -> Any:
        key = (pipe.spec.name, pipe.spec.source, str(pipe.device))
        with self._lock:  # one build per model even when several users search at once
            if key not in self._items:
                images, _ = _builtin_gallery_data()
                self._items[key] = pipe.build_gallery(images, progress=progress)
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
            self._items.move_to_end(key)
            return self._items[key]


_BUILTIN_GALLERIES = _SharedGalleries()


def _matching_pipeline(model: str | None) -> Any:
    """The pipeline of the similarity and zero-shot handlers: a running ``mmbench serve`` when
    ``MMBENCH_SERVICE_URL`` is set (the app is then a thin client), else the model in this process."""
    from ..serve.client import RemoteMatchingPipeline, ServiceClient, service_url

    url = service_url()
    return common.load_pipeline(TASK, model) if url is None else RemoteMatchingPipeline(ServiceClient(url), model)


def _photo_index_choice() -> list[tuple[str, str]]:
    """The "photo index" search source, offered when ``MMBENCH_INDEX`` names one."""
    from ..photos.service import configured_index_path

    path = configured_index_path()
    return [(f"Photo index ({path})", PHOTO_INDEX)] if path else []


def _progress_fn(progress: Any, desc: str):
    return lambda fraction: progress(fraction, desc=desc)


# -- handlers -----------------------------------------------------------------------------------
def model_status(model: str | None) -> str:
    """Load the chosen model and describe it (tier, device, fallback notice)."""
    with user_errors("loading the model"):
        return _status(_matching_pipeline(model))


def similarity(model: str | None, image: str | None, gallery: list | None, texts: str | None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, dict, str]:
    """Heatmap and table of cosine similarities: every image (single + gallery) against every text."""
    from ..plots.matching import similarity_heatmap

    with user_errors("computing the similarity matrix"):
        text_list = _lines(texts, "text", MAX_SIMILARITY_TEXTS)
        paths = ([image] if image else []) + common.gallery_paths(gallery)
        if not paths:
            raise user_error("No images yet: upload one under 'Image' (or several under 'Image gallery'), "
                           "or pick an example below.")
        if len(paths) > MAX_SIMILARITY_IMAGES:
            raise user_error(f"Too many images: {len(paths)}; the similarity matrix shows at most "
                           f"{MAX_SIMILARITY_IMAGES}. Use 'Text → image search' for larger galleries.")
        images = common.validate_uploads(paths)
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = _matching_pipeline(model)
        progress(0.5, desc=locale.tr("matching.progress_embedding"))
        result = pipe(images, text_list)
        _warn_unknown_words(pipe, result.texts)
        names = [common.display_name(p, i) for i, p in enumerate(paths)]
        fig = similarity_heatmap(result.similarity, result.texts, names,
                                 title=locale.tr("matching.plot_similarity", model=pipe.spec.name))
        best = result.similarity.argmax(axis=1)
        table = {
            "model": pipe.spec.name,
            "images": names,
            "texts": result.texts,
            "similarity": [[round(float(v), 4) for v in row] for row in result.similarity],
            "probabilities": [[round(float(v), 4) for v in row] for row in result.probs],
            "best_text": [result.texts[j] for j in best],
        }
        return locale.figure(fig), table, _status(pipe)


def zero_shot(model: str | None, image: str | None, labels: str | None, template: str | None,
              progress: gr.Progress = gr.Progress()) -> tuple[Any, dict, str]:
    """Zero-shot classification of the single image among the labels (one per line)."""
    from ..plots.matching import zero_shot_bars

    with user_errors("classifying the image"):
        label_list = _lines(labels, "label")
        templates = [t.strip() for t in (template or "").splitlines() if t.strip()] or None
        if not image:
            raise user_error("No image to classify: upload one under 'Image' or pick an example below.")
        picture = common.validate_uploads([image])[0]
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = _matching_pipeline(model)
        progress(0.5, desc=locale.tr("matching.progress_classifying"))
        result = pipe.zero_shot_classify(picture, label_list, templates)
        _warn_unknown_words(pipe, [t.format(label) for label in label_list for t in (templates or ["{}"])])
        fig = zero_shot_bars(result, top_k=10, title=locale.tr("matching.plot_zero_shot", model=pipe.spec.name))
        scores = {label: round(float(p), 4) for label, p in zip(result.labels, result.probs)}
        return locale.figure(fig), scores, _status(pipe)


def search(model: str | None, query: str | None, source: str, k: float, gallery: list | None,
           state: dict | None, progress: gr.Progress = gr.Progress()) -> tuple[list, list, dict | None, str]:
    """Text → image search over the built-in procedural gallery or the user's uploaded gallery."""
    from ..examples import upscale
    from ..io import validate_text

    with user_errors("searching the gallery"):
        query = validate_text(query, what="query")
        k = max(1, min(int(k or 1), MAX_K))
        if source == PHOTO_INDEX:  # searched with the model the index was built with
            from ..photos.service import search_configured_thumbnails

            found, index = search_configured_thumbnails(query, k)
            items = [(image, f"#{h['rank']} · {locale.tr('matching.score')} {h['score']:.2f} · {common.display_name(h['path'])}")
                     for image, h in found]
            return items, [h for _, h in found], state, _status(index.pipeline)
        progress(0.05, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(TASK, model)
        if source == UPLOADED:
            paths = common.gallery_paths(gallery)
            if not paths:
                raise user_error("The uploaded gallery is empty: add images under 'Image gallery', "
                               "or search the built-in procedural gallery.")
            if len(paths) > MAX_GALLERY_UPLOADS:
                raise user_error(f"Too many images: {len(paths)}; the limit is {MAX_GALLERY_UPLOADS}.")
            key = (pipe.spec.name, pipe.spec.source, str(pipe.device), tuple(paths))
            if not state or state.get("key") != key:  # embed once per gallery and model, per user
                images = common.validate_uploads(paths, what="Gallery image")  # shrunk: kept in the state
                built = pipe.build_gallery(images, ids=list(range(len(paths))),
                                           progress=_progress_fn(progress, locale.tr("matching.progress_gallery")))
                state = {"key": key, "gallery": built}
            hits = pipe.search(state["gallery"], query, k)
            items = [(paths[h.id], f"#{h.rank} · {locale.tr('matching.score')} {h.score:.2f} · {common.display_name(paths[h.id])}")
                     for h in hits]
            table = [{"rank": h.rank, "image": common.display_name(paths[h.id]), "score": round(h.score, 4)}
                     for h in hits]
        else:
            built = _BUILTIN_GALLERIES.get(pipe, _progress_fn(progress, locale.tr("matching.progress_builtin")))
            images, captions = _builtin_gallery_data()
            hits = pipe.search(built, query, k)
            items = [(upscale(images[h.id], 192), f"#{h.rank} · {locale.tr('matching.score')} {h.score:.2f} · "
                      f"{locale.tr('matching.scene')} {h.id}: {captions[h.id]}")
                     for h in hits]
            table = [{"rank": h.rank, "scene": h.id, "caption": captions[h.id], "score": round(h.score, 4)}
                     for h in hits]
        _warn_unknown_words(pipe, [query])
        return items, table, state, _status(pipe)


def example_gallery() -> tuple[list, str]:
    """Fill the gallery with the procedural example images and the texts box with their captions."""
    from ..examples import example_files

    with user_errors("loading the example images"):
        files = example_files()
        return ([(p, c) for p, c in files.procedural], "\n".join(c for _, c in files.procedural))


def world_labels() -> str:
    """The 36 "colour shape" classes of the procedural world, one per line."""
    from ..data.world import shape_colour_classes

    return "\n".join(shape_colour_classes())


# -- layout -------------------------------------------------------------------------------------
def _examples(image: Any, texts: Any, labels: Any) -> None:
    from ..data.world import shape_colour_classes
    from ..examples import REAL_PHOTO_TEXTS, example_files

    files = example_files()
    captions = [c for _, c in files.procedural]
    all_classes = "\n".join(shape_colour_classes())
    rows = []
    for i, (path, caption) in enumerate(files.procedural):
        # The true caption among two others, in a fixed but varying position.
        others = [captions[(i + 1) % len(captions)], captions[(i + 3) % len(captions)]]
        candidates = others[: i % 3] + [caption] + others[i % 3:]
        rows.append([path, "\n".join(candidates), all_classes])
    gr.Examples(rows, inputs=[image, texts, labels], label=T("matching.examples_procedural"),
                examples_per_page=8, cache_examples=False, visible_columns=[0, 1],
                elem_id="matching-examples-procedural")
    photo_texts = "\n".join(REAL_PHOTO_TEXTS.values())
    photo_labels = "cat\ncup of coffee\nastronaut\nrocket"
    gr.Examples([[path, photo_texts, photo_labels] for path in files.photos.values()],
                inputs=[image, texts, labels],
                label=T("matching.examples_photos"),
                examples_per_page=4, cache_examples=False, elem_id="matching-examples-photos")


def build_matching_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()

    gr.Markdown(INTRO)
    model, status = common.model_picker(TASK, label=T("common.model_label"), elem_id="matching-model",
                                        status_elem_id="matching-status", info=common.TIER_INFO_STATUS)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            image = UploadedImage(type="filepath", label=T("matching.image"), height=260, sources=["upload", "clipboard"],
                                  elem_id="matching-image")
        with gr.Column(scale=2, min_width=320):
            gallery = gr.Gallery(label=T("matching.gallery"), interactive=True, type="filepath", columns=6,
                                 height=260, file_types=["image"], elem_id="matching-gallery")
            load_examples = gr.Button(T("matching.load_examples"), size="sm",
                                      elem_id="matching-load-examples")

    with gr.Tabs():
        with gr.Tab(T("matching.tab_similarity"), id="similarity"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=260):
                    gr.Markdown(T("matching.similarity_help"))
                    texts = gr.Textbox(label=T("matching.texts"), lines=6, max_lines=20,
                                       placeholder="a red circle\na blue square left of a green ring",
                                       elem_id="matching-texts")
                    sim_button = gr.Button(T("matching.similarity_button"), variant="primary", elem_id="matching-similarity-button")
                    sim_message = common.action_message("matching-similarity-message")
                    with gr.Accordion(T("matching.table_json"), open=False):
                        sim_table = gr.JSON(label=T("matching.similarity_table"), elem_id="matching-similarity-table")
                with gr.Column(scale=2, min_width=360):
                    heatmap = gr.Plot(label=T("matching.heatmap"), format="png", elem_id="matching-heatmap")
        with gr.Tab(T("matching.tab_zero_shot"), id="zero-shot"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=260):
                    gr.Markdown(T("matching.zero_shot_help"))
                    labels = gr.Textbox(world_labels(), label=T("matching.labels"), lines=6, max_lines=8,
                                        placeholder="red circle\nblue square\ngreen ring", elem_id="matching-labels")
                    fill_labels = gr.Button(T("matching.fill_labels"), size="sm")
                    template = gr.Textbox(DEFAULT_TEMPLATE, label=T("matching.template"),
                                          lines=1, max_lines=4, elem_id="matching-template")
                    zs_button = gr.Button(T("matching.zero_shot_button"), variant="primary", elem_id="matching-zero-shot-button")
                    zs_message = common.action_message("matching-zero-shot-message")
                with gr.Column(scale=2, min_width=360):
                    bars = gr.Plot(label=T("matching.zero_shot_plot"), format="png", elem_id="matching-bars")
                    with gr.Accordion(T("matching.scores_json"), open=False):
                        scores = gr.JSON(label=T("matching.scores"), elem_id="matching-scores")
        with gr.Tab(T("matching.tab_search"), id="search"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=260):
                    query = gr.Textbox(label=T("matching.query"), placeholder="a purple ring above an orange diamond",
                                       elem_id="matching-query")
                    source = gr.Radio([(T("matching.source_builtin"), BUILTIN),
                                       (T("matching.source_uploaded"), UPLOADED)] + _photo_index_choice(),
                                      value=BUILTIN, label=T("matching.search_in"),
                                      elem_id="matching-source")
                    k = gr.Slider(1, MAX_K, value=8, step=1, label=T("matching.k"), elem_id="matching-k")
                    search_button = gr.Button(T("matching.search_button"), variant="primary", elem_id="matching-search-button")
                    search_message = common.action_message("matching-search-message")
                    gr.Markdown(T("matching.score_help"))
                    with gr.Accordion(T("matching.hits_json"), open=False):
                        hits = gr.JSON(label=T("matching.hits"), elem_id="matching-hits")
                with gr.Column(scale=2, min_width=360):
                    results = gr.Gallery(label=T("matching.results"), columns=4, height=420, format="png",
                                         interactive=False, elem_id="matching-results")
        with gr.Tab(T("matching.tab_explain"), id="explain"):
            explain = build_explain_panel(TASK, model, image, prefix="matching_explain", help_text=MATCHING_HELP,
                                          examples=matching_examples())
    gallery_state = gr.State(None)  # this user's embedded upload gallery: {"key": ..., "gallery": Gallery}

    _examples(image, texts, labels)

    common.report_on(status, model.change(model_status, [model], [status], api_name="model_status", **heavy),
                     clear=False)
    common.report_on(sim_message, sim_button.click(similarity, [model, image, gallery, texts],
                                                   [heatmap, sim_table, status], api_name="similarity", **heavy))
    common.report_on(zs_message, zs_button.click(zero_shot, [model, image, labels, template], [bars, scores, status],
                                                 api_name="zero_shot", **heavy))
    common.report_on(search_message,
                     search_button.click(search, [model, query, source, k, gallery, gallery_state],
                                         [results, hits, gallery_state, status], api_name="search", **heavy),
                     query.submit(search, [model, query, source, k, gallery, gallery_state],
                                  [results, hits, gallery_state, status], api_visibility="private", **heavy))
    load_examples.click(example_gallery, None, [gallery, texts], api_name="example_gallery", queue=False)
    fill_labels.click(world_labels, None, [labels], api_visibility="private", queue=False)

    return TabParts(
        components={"model": model, "status": status, "image": image, "gallery": gallery, "texts": texts,
                    "labels": labels, "template": template, "heatmap": heatmap, "bars": bars, "results": results,
                    "explain_gallery": explain.components["gallery"]},
        load_events=[LoadEvent(model_status, [model], [status], **heavy), *explain.load_events],
    )
