"""The "Explain" panel: where does the model look for *this* text or *this* class?

A panel, not a tab: :func:`build_explain_panel` lays it out inside any tab that has a model
dropdown and an image input (the matching tab, the "Explain" classification tab, later tabs), and
wires it to the handlers below, which only call :mod:`mmbench.explain`. Pick methods (several are
shown side by side), a layer (for the CAM methods), a target text or class, then change the
overlay opacity without recomputing (the maps are kept per user in a ``gr.State``), download the
comparison as PNG, and, for vision transformers, view the attention of every block and head.

:func:`build_explain_tab` is the image-classification tab around the panel (EfficientNet-Lite0
offline, a ViT online), with top-5 predictions, a class picker and the real scikit-image photos.
"""

from __future__ import annotations

import functools
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from . import common, locale
from .common import LoadEvent, TabParts, UploadedImage, user_error, user_errors
from .locale import T

MATCHING = "image-text-matching"
CLASSIFICATION = "image-classification"
TAB_TITLE = T("explain.title")

#: Every method of ``mmbench.explain`` as (label, id), in the registry's order (mirrors
#: ``mmbench.explain.METHODS``; kept as data so building the app does not import torch). The
#: choices are narrowed to the active model's methods once it has loaded.
METHOD_CHOICES: tuple[tuple[str, str], ...] = (
    ("Grad-CAM", "gradcam"), ("Grad-CAM++", "gradcam++"), ("HiResCAM", "hirescam"), ("Score-CAM", "scorecam"),
    ("Eigen-CAM", "eigencam"), ("LayerCAM", "layercam"), ("Attention rollout", "rollout"),
    ("Attention relevance (Chefer)", "chefer"), ("Raw attention", "attention"),
    ("Patch–text similarity", "patch-similarity"),
)
DEFAULT_METHODS: dict[str, list[str]] = {MATCHING: ["gradcam", "chefer"], CLASSIFICATION: ["gradcam", "gradcam++"]}
#: At most this many methods per request (Score-CAM alone runs one forward pass per channel).
MAX_METHODS = 6
DEFAULT_LAYER = "default"
DEFAULT_ALPHA = 0.5
#: Blocks x heads shown at most by the attention viewer in one request.
MAX_ATTENTION_MAPS = 64

#: The photos of skimage.data with a class to explain (EfficientNet-Lite0 recognises the first two).
PHOTO_CLASSES: dict[str, str] = {"chelsea": "Egyptian cat", "coffee": "espresso", "rocket": "missile",
                                 "astronaut": "space shuttle"}
#: Class picker choices before a model has loaded (the full list of the model's classes follows).
STARTER_CLASSES: tuple[str, ...] = ("Egyptian cat", "tabby", "tiger cat", "espresso", "cup", "coffee mug", "missile",
                                    "space shuttle", "drilling platform", "football helmet")

MATCHING_HELP = T("explain.matching_help")
CLASSIFICATION_HELP = T("explain.classification_help")


def method_label(method: str, label: str) -> str:
    """A method's name in the user's language (a browser-translated key while the app is built)."""
    key = f"explain.method_{method}"
    return locale.text(key) if locale.i18n.has(key) else label


@dataclass
class ExplainPanel:
    """What :func:`build_explain_panel` hands back: its components and the events a tab should run on load."""

    components: dict[str, Any] = field(default_factory=dict)
    load_events: list[LoadEvent] = field(default_factory=list)


# -- helpers ------------------------------------------------------------------------------------
def _bind(fn: Any, task: str, name: str) -> Any:
    """``fn`` with its task argument bound, named ``name`` (Gradio names unnamed endpoints after the function)."""
    bound = functools.partial(fn, task)
    bound.__name__ = name  # type: ignore[attr-defined]
    return bound


def _method_ids(methods: Any) -> list[str]:
    names = [m for m in (methods or []) if isinstance(m, str) and m.strip()]
    if not names:
        raise user_error("Choose at least one method.")
    if len(names) > MAX_METHODS:
        raise user_error(f"Too many methods: {len(names)}; compare at most {MAX_METHODS} at once.")
    return names


def _layer(layer: Any) -> str | None:
    return None if layer in (None, "", DEFAULT_LAYER) else str(layer)


def _target(task: str, target: Any) -> Any:
    from ..io import validate_text

    what = "target text" if task == MATCHING else "class"
    if target is None or (isinstance(target, str) and not target.strip()):
        raise user_error(f"Enter a {what} to explain." if task == MATCHING else "Pick a class to explain.")
    return validate_text(str(target), what=what)


def _image(image: Any) -> Any:
    if not image:
        raise user_error("No image yet: upload one under 'Image' or pick an example.")
    return common.validate_uploads([image])[0]


def _alpha(alpha: Any) -> float:
    return common.number_option(alpha, 0.0, 1.0,
                                not_a_number="Opacity must be a number between 0 and 1, not {value!r}.",
                                out_of_range="Opacity must be between 0 and 1, not {number:g}.")


def _gallery(explanations: list, alpha: float) -> list[tuple[Any, str]]:
    from ..plots.explain import caption

    items: list[tuple[Any, str]] = []
    for e in explanations:
        text = caption(e).replace("\n", " · ")
        if "target_score" in e.meta:
            text += f" · score {e.meta['target_score']:.3f}"
        items.append((e.overlay(alpha), text))
    return items


def _download(explanations: list, alpha: float, title: str) -> str:
    """The side-by-side comparison as a PNG file (a fresh name per request: users never share files)."""
    from ..plots.explain import comparison_figure
    from ..plots.figures import figure_png

    folder = Path(tempfile.gettempdir()) / "mmbench-explain"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"explanation-{uuid.uuid4().hex[:12]}.png"
    path.write_bytes(figure_png(locale.figure(comparison_figure(explanations, alpha=alpha, title=title))))
    return str(path)


def _details(explanations: list) -> list[dict[str, Any]]:
    out = []
    for e in explanations:
        x, y = e.peak
        row = {"method": e.method, "label": e.meta.get("method_label", e.method), "layer": e.layer,
               "target": e.target, "peak_xy": [x, y], "seconds": round(float(e.meta.get("seconds", 0.0)), 3)}
        for key in ("target_score", "target_index", "baseline", "block", "head"):
            if key in e.meta:
                row[key] = e.meta[key]
        out.append(row)
    return out


# -- handlers (each one only calls mmbench.explain) --------------------------------------------
def panel_choices(task: str, model: str | None) -> tuple[Any, Any]:
    """The active model's methods and layers (dropdown updates)."""
    from ..explain import METHODS, available_layers, available_methods

    with user_errors("listing the explanation methods"):
        pipe = common.load_pipeline(task, model)
        ids = available_methods(pipe)
        methods = [(method_label(m, METHODS[m].label), m) for m in ids]
        wanted = [m for m in DEFAULT_METHODS[task] if m in ids] or ids[:1]
        layers = [(locale.tr("explain.layer_default_named", layer=_default_layer(pipe)), DEFAULT_LAYER)] + [(n, n) for n in available_layers(pipe)]
        return gr.update(choices=methods, value=wanted), gr.update(choices=layers, value=DEFAULT_LAYER)


def _default_layer(pipe: Any) -> str:
    from ..explain import default_layer

    return default_layer(pipe)


def explain_image(task: str, model: str | None, image: str | None, target: Any, methods: list[str] | None,
                  layer: str | None, alpha: float, progress: gr.Progress = gr.Progress()) -> tuple:
    """Explain the image for the target with each chosen method: overlays side by side, the maps
    (kept for the opacity slider), a PNG of the comparison and a JSON summary."""
    from ..explain import compare

    with user_errors("explaining the image"):
        names = _method_ids(methods)
        alpha = _alpha(alpha)
        picture = _image(image)
        target = _target(task, target)
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(task, model)
        progress(0.3, desc=locale.tr("explain.progress_explaining", n=len(names)))
        explanations = compare(pipe, picture, target, methods=names, layer=_layer(layer))
        title = f"{pipe.spec.name} · “{explanations[0].target}”"
        state = {"explanations": explanations, "title": title}
        return (_gallery(explanations, alpha), state, _download(explanations, alpha, title), _details(explanations),
                common.status_html(pipe))


def restyle(state: dict | None, alpha: float) -> tuple[Any, Any]:
    """Redraw the overlays at another opacity (no model call)."""
    with user_errors("redrawing the overlays"):
        alpha = _alpha(alpha)
        if not state or not state.get("explanations"):
            return gr.skip(), gr.skip()
        exps = state["explanations"]
        return _gallery(exps, alpha), _download(exps, alpha, state.get("title", ""))


def attention_heads(task: str, model: str | None, image: str | None, block: Any, alpha: float) -> list:
    """The attention viewer: the read-out token's attention in one block, per head (block -1: the
    last), or the head average of every block (block "all")."""
    from ..explain import attention_maps

    with user_errors("reading the attention maps"):
        alpha = _alpha(alpha)
        picture = _image(image)
        pipe = common.load_pipeline(task, model)
        if isinstance(block, str) and block.strip().lower() == "all":
            maps = attention_maps(pipe, picture, heads=False)
        else:
            try:
                index = int(str(block).strip())
            except ValueError:
                raise user_error(f"Block must be a whole number (negative counts from the end) or 'all', "
                                 f"not {block!r}.") from None
            maps = attention_maps(pipe, picture, blocks=[index], heads=True)
        return _gallery(maps[:MAX_ATTENTION_MAPS], alpha)


def classify(model: str | None, image: str | None) -> tuple[dict[str, float], Any, str]:
    """Top-5 classes of the image; the class picker gets every class, the top class selected."""
    with user_errors("classifying the image"):
        if not image:
            return {}, gr.skip(), gr.skip()
        picture = _image(image)
        pipe = common.load_pipeline(CLASSIFICATION, model)
        top = pipe(picture, top_k=5)
        picker = gr.update(choices=sorted(set(pipe.labels), key=str.lower), value=top[0].label)
        return {p.label: round(p.prob, 4) for p in top}, picker, common.status_html(pipe)


def classifier_status(model: str | None) -> tuple[str, Any]:
    """Load the classifier and describe it; the class picker gets its classes."""
    with user_errors("loading the model"):
        pipe = common.load_pipeline(CLASSIFICATION, model)
        return common.status_html(pipe), gr.update(choices=sorted(set(pipe.labels), key=str.lower))


# -- layout -------------------------------------------------------------------------------------
def build_explain_panel(task: str, model: Any, image: Any, target: Any = None, *, prefix: str = "explain",
                        help_text: str | None = None, examples: list[list[str]] | None = None,
                        status: Any = None) -> ExplainPanel:
    """Lay out the panel inside the current Blocks context and wire it.

    Args:
        task: the pipeline task of ``model`` (``"image-text-matching"``, ``"image-classification"``...).
        model: the tab's model dropdown (its value is passed to :func:`mmbench.pipeline`).
        image: the tab's image input (``type="filepath"``).
        target: a component holding the target (a class picker...); None adds a target textbox.
        prefix: elem_id / api_name prefix, unique per tab (``"matching_explain"``).
        help_text: Markdown shown above the panel.
        examples: ``[image path, target]`` rows for a ``gr.Examples`` under the panel.
        status: the tab's model-status HTML, refreshed after each explanation (None: none).
    """
    heavy = common.model_event_options()
    eid = prefix.replace("_", "-")
    if help_text:
        gr.Markdown(help_text)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            if target is None:
                target = gr.Textbox(label=T("explain.target_text"), placeholder="a red circle", elem_id=f"{eid}-target")
            methods = gr.CheckboxGroup([(method_label(m, label), m) for label, m in METHOD_CHOICES], value=DEFAULT_METHODS.get(task, ["gradcam"]),
                                       label=T("explain.methods_several_side_by"), elem_id=f"{eid}-methods")
            layer = gr.Dropdown([(locale.text("explain.layer_default"), DEFAULT_LAYER)], value=DEFAULT_LAYER, label=T("explain.layer_cam_methods"),
                                info=T("explain.which_layer_of_the"),
                                elem_id=f"{eid}-layer")
            run = gr.Button(T("explain.explain"), variant="primary", elem_id=f"{eid}-button")
            message = common.action_message(f"{eid}-message")
            alpha = gr.Slider(0.0, 1.0, value=DEFAULT_ALPHA, step=0.05, label=T("explain.heatmap_opacity"),
                              elem_id=f"{eid}-alpha")
            download = gr.DownloadButton(T("explain.download_png"), value=None, size="sm", elem_id=f"{eid}-download")
        with gr.Column(scale=2, min_width=360):
            gallery = gr.Gallery(label=T("explain.explanations"), columns=3, height=380, format="png", interactive=False,
                                 object_fit="contain", elem_id=f"{eid}-gallery")
            with gr.Accordion(T("explain.details_json"), open=False):
                details = gr.JSON(label=T("explain.details"), elem_id=f"{eid}-details")
    with gr.Accordion(T("explain.attention_per_block_and"), open=False):
        with gr.Row(equal_height=False):
            block = gr.Textbox("-1", label=T("explain.block"), info=T("explain.1_the_last_block"), scale=1, elem_id=f"{eid}-block")
            heads_button = gr.Button(T("explain.show_attention"), scale=1, elem_id=f"{eid}-heads-button")
        heads_message = common.action_message(f"{eid}-heads-message")
        heads = gr.Gallery(label=T("explain.attention_of_the_read"), columns=6, height=300, format="png",
                           interactive=False, object_fit="contain", elem_id=f"{eid}-heads")
    if examples:
        gr.Examples(examples, inputs=[image, target], label=T("explain.examples"), cache_examples=False,
                    elem_id=f"{eid}-examples")
    if status is None:
        status = gr.HTML(visible=False)
    state = gr.State(None)

    common.report_on(message, run.click(_bind(explain_image, task, prefix), [model, image, target, methods, layer,
                                                                            alpha],
                                        [gallery, state, download, details, status], api_name=prefix, **heavy))
    alpha.release(restyle, [state, alpha], [gallery, download], api_name=f"{prefix}_restyle", queue=False)
    heads_event = heads_button.click(_bind(attention_heads, task, f"{prefix}_attention"), [model, image, block, alpha],
                                     [heads], api_name=f"{prefix}_attention", **heavy)
    common.report_on(heads_message, heads_event)
    choices = _bind(panel_choices, task, f"{prefix}_choices")
    model.change(choices, [model], [methods, layer], api_visibility="private",
                 **heavy)
    return ExplainPanel(
        components={"target": target, "methods": methods, "layer": layer, "button": run, "message": message,
                    "alpha": alpha,
                    "download": download, "gallery": gallery, "details": details, "block": block, "heads": heads,
                    "state": state},
        load_events=[LoadEvent(choices, [model], [methods, layer], **heavy)],
    )


def _photo_examples() -> list[list[str]]:
    from ..examples import example_files

    photos = example_files().photos
    return [[photos[name], cls] for name, cls in PHOTO_CLASSES.items() if name in photos]


def build_explain_tab() -> TabParts:
    """The image-classification tab: a photo, its top-5 classes and the Explain panel with a class picker."""
    heavy = common.model_event_options()
    gr.Markdown(CLASSIFICATION_HELP)
    model, status = common.model_picker(CLASSIFICATION, label=T("explain.classifier"), elem_id="explain-model",
                                        status_elem_id="explain-status",
                                        info=T("explain.efficientnet_lite0_ships_with"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            image = UploadedImage(type="filepath", label=T("explain.image"), height=260, sources=["upload", "clipboard"],
                                  elem_id="explain-image")
        with gr.Column(scale=1, min_width=260):
            predictions = gr.Label(num_top_classes=5, label=T("explain.top_5_classes"), elem_id="explain-predictions")
            target = gr.Dropdown(list(STARTER_CLASSES), value=STARTER_CLASSES[0], label=T("explain.class_to_explain"),
                                 allow_custom_value=True, filterable=True, elem_id="explain-class",
                                 info=T("explain.type_to_search_the"))
    panel = build_explain_panel(CLASSIFICATION, model, image, target, prefix="explain", status=status)
    gr.Examples(_photo_examples(), inputs=[image, target], label=T("explain.real_photos_scikit_image"), cache_examples=False,
                elem_id="explain-examples")

    common.report_on(status, model.change(classifier_status, [model], [status, target], api_visibility="private",
                                          **heavy), clear=False)
    common.report_on(panel.components["message"],
                     image.change(classify, [model, image], [predictions, target, status], api_name="explain_classify",
                                  **heavy))
    return TabParts(
        components={"model": model, "status": status, "image": image, "predictions": predictions, "target": target,
                    **{f"panel_{k}": v for k, v in panel.components.items()}},
        load_events=[LoadEvent(classifier_status, [model], [status, target], **heavy), *panel.load_events],
    )


def matching_examples(n: int = 6) -> list[list[str]]:
    """Procedural 2-3-object scenes (upscaled PNGs, cached) with the phrase of one of their objects."""
    from ..data.world import World
    from ..examples import EXAMPLE_SEED, default_cache_dir, upscale
    from ..io import atomic_write

    folder = default_cache_dir() / "explain-v1"
    folder.mkdir(parents=True, exist_ok=True)
    world = World(seed=EXAMPLE_SEED + 1, n_objects=(2, 3))
    rows = []
    for i in range(n):
        scene = world.scene(i)
        path = folder / f"scene-{i:02d}.png"
        if not (path.exists() and path.stat().st_size > 0):
            picture = upscale(scene.image)
            atomic_write(path, lambda fh, p=picture: p.save(fh, format="PNG"))
        rows.append([str(path), scene.objects[i % len(scene.objects)].phrase()])
    return rows
