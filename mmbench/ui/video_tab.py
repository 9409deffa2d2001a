"""The "Video" tab: upload a clip or make a procedural one, see the top actions, a frame strip with
per-frame scores, which frames mattered (temporal occlusion) and the audio-visual fusion panel.

Handlers are thin: sampling, validation and scoring are
:class:`mmbench.pipelines.video.VideoClassificationPipeline`, the explanation is
:func:`mmbench.explain.explain`, the fusion is :mod:`mmbench.models.audio_visual`, the plots are
:mod:`mmbench.plots.video`. The only per-user data — the fused scores behind the a/b sliders — lives
in a ``gr.State``, so moving a slider re-fuses without running a model and users never share state.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from .. import i18n
from . import common, locale
from .common import TabParts, user_error, user_errors
from .locale import T

TASK = "video-classification"
TAB_TITLE = T("video.title")
TINY_MODEL = "mmbench-tiny-video"

#: Motions and degradations offered by the procedural example maker (mirrors mmbench.data.clips;
#: kept as data here so building the app imports neither numpy-heavy code nor torch).
MOTION_CHOICES: tuple[str, ...] = ("moving left", "moving right", "moving up", "moving down", "growing", "shrinking",
                                   "rotating", "blinking", "bouncing")
RANDOM = "random"
AMBIGUITY_CHOICES: tuple[tuple[str, str], ...] = (
    ("none: picture and sound both clear", "none"), ("video: object behind an occluder", "occluded"),
    ("video: low contrast, noisy camera", "low_contrast"), ("video: most frames dropped", "dropout"),
    ("sound: drowned in noise", "noise"), ("sound: muted", "silent"))
VIDEO_AMBIGUITIES = ("occluded", "low_contrast", "dropout")
DEFAULT_LABELS = "a shape moving to the right\na shape bouncing\na shape rotating\nplaying guitar\nriding a bike"
MAX_TOP_K = 10
MAX_CLIP_LEN = 64
MAX_STRIDE = 64
MAX_OCCLUSION_WINDOW = 9
EXAMPLE_SCALE = 4  # procedural clips are 64x64: shown 256x256
MAX_WEIGHT = 10.0  # largest fusion weight on the sliders (the fitted ones are about 2.7 and 3.4)

TINY_MODEL_NOTE = i18n.tr("video.tiny_note")  # English; the status line shows it in the user's language

INTRO = T("video.intro")
FUSION_HELP = T("video.fusion_help")


# -- helpers ---------------------------------------------------------------------------------------
def _tiny_note(pipe: Any) -> str:
    return TINY_MODEL_NOTE if pipe.spec.name == TINY_MODEL else ""


def _status(pipe: Any) -> str:
    return common.status_html(pipe, _tiny_note(pipe))


def default_fusion_weights() -> tuple[float, float]:
    """The shipped model's fitted ``(a, b)``, read from its config.json (nothing loaded; (1, 1) if missing)."""
    from ..registry import get_spec

    try:
        config = json.loads((get_spec(TINY_MODEL).assets_path / "config.json").read_text())
        return float(config["fusion"]["a"]), float(config["fusion"]["b"])
    except (OSError, KeyError, TypeError, ValueError):
        return 1.0, 1.0


def _int_option(value: Any, name: str, lo: int, hi: int, zero_means: str | None = None) -> int | None:
    """A whole-number option from a UI field; 0 -> None (the model's default) when ``zero_means`` is set."""
    try:
        number = float(value if value is not None else 0)
    except (TypeError, ValueError):
        raise user_error(f"{name} must be a whole number, not {value!r}.") from None
    if number != int(number):
        raise user_error(f"{name} must be a whole number, not {number:g}.")
    number = int(number)
    if zero_means is not None and number == 0:
        return None
    if not lo <= number <= hi:
        extra = f" (0 = {zero_means})" if zero_means else ""
        raise user_error(f"{name} must be from {lo} to {hi}{extra}, not {number}.")
    return number


def _window_options(clip_len: Any, stride: Any) -> dict[str, int | None]:
    """The clip-length and stride fields as the ``clip_len`` / ``stride`` keywords of the pipeline and ``explain``."""
    return {"clip_len": _int_option(clip_len, "Clip length", 2, MAX_CLIP_LEN, zero_means="the model's"),
            "stride": _int_option(stride, "Stride", 1, MAX_STRIDE, zero_means="automatic")}


def _labels(pipe: Any, text: str | None) -> list[str] | None:
    from ..io import split_lines

    if not pipe.zero_shot:
        return None
    labels = split_lines(text)
    if len(labels) < 2:
        raise user_error(f"{pipe.spec.name} is zero-shot: write at least two labels, one per line, in 'Labels'.")
    return labels


def _need_video(video: str | None) -> str:
    if not video:
        raise user_error("No video yet: upload one, or make a procedural clip with 'Make clip'.")
    return video


def _weight(value: Any, name: str) -> float:
    return common.number_option(value, 0.0, MAX_WEIGHT,
                                not_a_number=f"The weight {name} must be a number from 0 to {{hi:g}}, not {{value!r}}.",
                                out_of_range=f"The weight {name} must be from 0 to {{hi:g}}, not {{number:g}}.")


# -- handlers --------------------------------------------------------------------------------------
def model_status(model: str | None) -> str:
    """Load the chosen model and describe it (tier, device, fallback notice)."""
    with user_errors("loading the video model"):
        return _status(common.load_pipeline(TASK, model))


def make_example(motion: str | None, ambiguity: str | None, seed: float | None) -> tuple[str, str]:
    """Render a procedural clip (with its sound) to MP4; returns its path and what it shows."""
    from ..data.clips import SOUNDS, ClipWorld
    from ..io import write_video

    with user_errors("making the procedural clip"):
        seed_value = _int_option(seed, "Seed", 0, 1_000_000)
        motion = motion or RANDOM
        if motion != RANDOM and motion not in MOTION_CHOICES:
            raise user_error(f"Unknown motion {motion!r}: choose from {', '.join(MOTION_CHOICES)}.")
        kind = ambiguity or "none"
        if kind not in {k for _, k in AMBIGUITY_CHOICES}:
            raise user_error(f"Unknown ambiguity {kind!r}.")
        clip = ClipWorld(seed=seed_value).clip(
            0, None if motion == RANDOM else motion,
            video_ambiguity=kind if kind in VIDEO_AMBIGUITIES else None,
            audio_ambiguity=kind if kind in ("noise", "silent") else None)
        folder = Path(tempfile.gettempdir()) / "mmbench-video-examples"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{clip.motion.replace(' ', '-')}_{kind}_{seed_value}.mp4"
        path = folder / name
        if not path.is_file():  # write under a private name, then rename: concurrent users never see half a file
            part = folder / f".{name}.{os.getpid()}.{id(clip)}.part.mp4"
            write_video(part, clip.frames, clip.fps, clip.audio, clip.sample_rate, scale=EXAMPLE_SCALE)
            os.replace(part, path)
        degraded = "" if kind == "none" else f" — **{locale.tr(f'video.ambiguity_{kind}')}**"
        text = locale.tr("video.clip_text", caption=html.escape(clip.caption), degraded=degraded,
                         frames=clip.n_frames, fps=f"{clip.fps:g}", duration=f"{clip.duration:g}",
                         sound=locale.tr_text(SOUNDS[clip.motion]))
        return str(path), text


def classify(model: str | None, video: str | None, labels: str | None, top_k: float, clip_len: float,
             stride: float, progress: gr.Progress = gr.Progress()) -> tuple[dict, Any, dict, str]:
    """Top-k actions, the frame strip with per-frame scores, the per-window table and the model status."""
    from ..plots.video import frame_scores_figure

    with user_errors("classifying the video"):
        path = _need_video(video)
        k = _int_option(top_k, "Top-k", 1, MAX_TOP_K)
        windows = _window_options(clip_len, stride)
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(TASK, model)
        progress(0.3, desc=locale.tr("video.progress_sampling"))
        result = pipe(path, top_k=k, labels=_labels(pipe, labels), **windows)
        fig = frame_scores_figure(result, top_k=min(3, k), title=f"Per-frame scores · {pipe.spec.name}")
        scores = {p.label: round(p.prob, 4) for p in result.predictions}
        return scores, locale.figure(fig), result.as_dict(), _status(pipe)


def explain_frames(model: str | None, video: str | None, labels: str | None, target: str | None,
                   window: float, clip_len: float, stride: float,
                   progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:
    """Temporal occlusion: the importance of every sampled frame for the target (default: the top action)."""
    from ..explain import explain

    with user_errors("finding the frames that mattered"):
        path = _need_video(video)
        w = _int_option(window, "Occlusion window", 1, MAX_OCCLUSION_WINDOW)
        windows = _window_options(clip_len, stride)
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(TASK, model)
        progress(0.3, desc=locale.tr("video.progress_hiding"))
        exp = explain(pipe, path, (target or "").strip() or None, window=w, labels=_labels(pipe, labels), **windows)
        top = ", ".join(f"{float(exp.times[i]):.2f} s ({exp.importance[i]:+.2f})" for i in exp.top_frames(3))
        text = locale.tr("video.frames_text", target=html.escape(exp.target), p=f"{exp.base_score:.2f}", top=top,
                         passes=exp.meta["forward_passes"], seconds=f"{exp.meta['seconds']:.1f}")
        return locale.figure(exp.figure()), text


def _fusion_outputs(state: dict, a: float, b: float) -> tuple[Any, str]:
    import numpy as np

    from ..models.audio_visual import clip_probabilities, fuse
    from ..pipelines.video import AudioVisualResult
    from ..plots.video import audio_visual_figure

    sv, sa = np.asarray(state["video"]), np.asarray(state["audio"])
    fused = fuse(sv, sa, a, b)
    result = AudioVisualResult(state["labels"], np.asarray(state["times"]), sv, sa, fused, clip_probabilities(sv),
                               clip_probabilities(sa), clip_probabilities(fused), a, b)
    lines = []
    for which, name in (("video", locale.tr("video.video_only")), ("audio", locale.tr("video.audio_only")),
                        ("fused", locale.tr("video.fused", a=f"{a:.2f}", b=f"{b:.2f}"))):
        best = result.top(which, 1)[0]
        lines.append(f"**{name}:** {html.escape(best.label)} ({best.prob:.2f})")
    return locale.figure(audio_visual_figure(result)), " · ".join(lines)


def fuse_audio_video(video: str | None, a: float, b: float,
                     progress: gr.Progress = gr.Progress()) -> tuple[Any, str, dict]:
    """Run the tiny model's video and audio networks on the clip and fuse them; keeps the scores for the sliders."""
    with user_errors("fusing picture and sound"):
        path = _need_video(video)
        a, b = _weight(a, "a"), _weight(b, "b")
        progress(0.2, desc=locale.tr("video.progress_tiny"))
        pipe = common.load_pipeline(TASK, TINY_MODEL)
        progress(0.5, desc=locale.tr("video.progress_scoring"))
        result = pipe.audio_visual(path, a=a, b=b)
        state = {"labels": result.labels, "times": result.times.tolist(), "video": result.video_scores.tolist(),
                 "audio": result.audio_scores.tolist()}
        fig, text = _fusion_outputs(state, a, b)
        return fig, text, state


def refuse(state: dict | None, a: float, b: float) -> tuple[Any, str]:
    """Re-fuse the kept scores with new weights (no model runs)."""
    with user_errors("fusing picture and sound"):
        if not state:
            raise user_error("Press 'Fuse picture and sound' first.")
        return _fusion_outputs(state, _weight(a, "a"), _weight(b, "b"))


# -- layout ------------------------------------------------------------------------------------------
def build_video_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()
    default_a, default_b = default_fusion_weights()

    gr.Markdown(INTRO)
    model, status = common.model_picker(TASK, label=T("video.model"), elem_id="video-model", status_elem_id="video-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            video = gr.Video(sources=["upload"], label=T("video.video"), format=None, elem_id="video-input")
            with gr.Accordion(T("video.make_a_procedural_clip"), open=True):
                with gr.Row():
                    motion = gr.Dropdown([(locale.text(f"video.motion_{m.replace(' ', '_')}"), m) for m in (RANDOM, *MOTION_CHOICES)],
                                         value="bouncing", label=T("video.motion"),
                                         elem_id="video-example-motion")
                    ambiguity = gr.Dropdown([(locale.text(f"video.ambiguity_{k}"), k) for _, k in AMBIGUITY_CHOICES], value="none", label=T("video.make_ambiguous"),
                                            elem_id="video-example-ambiguity")
                    seed = gr.Number(1, precision=0, minimum=0, label=T("video.seed"), elem_id="video-example-seed")
                make = gr.Button(T("video.make_clip"), elem_id="video-make-example")
                make_message = common.action_message("video-make-message")
                example_info = gr.Markdown(elem_id="video-example-info")
                gr.Examples([["bouncing", "none", 1], ["growing", "occluded", 2], ["rotating", "noise", 3],
                             ["moving left", "silent", 4]], inputs=[motion, ambiguity, seed], cache_examples=False,
                            label=T("video.examples"), elem_id="video-examples")
            labels = gr.Textbox(DEFAULT_LABELS, lines=4, label=T("video.labels_zero_shot_models"),
                                info=T("video.used_by_x_clip"),
                                elem_id="video-labels")
            with gr.Row():
                top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label=T("video.top_k"), elem_id="video-top-k")
                clip_len = gr.Number(0, precision=0, minimum=0, label=T("video.clip_length_frames_0"),
                                     elem_id="video-clip-len")
                stride = gr.Number(0, precision=0, minimum=0, label=T("video.stride_0_automatic"), elem_id="video-stride")
            with gr.Row():
                run = gr.Button(T("video.classify"), variant="primary", elem_id="video-classify")
                halt = gr.Button(T("video.stop"), variant="stop", elem_id="video-stop")
            message = common.action_message("video-message")
        with gr.Column(scale=2, min_width=380):
            top = gr.Label(label=T("video.top_actions"), num_top_classes=MAX_TOP_K, elem_id="video-top")
            strip = gr.Plot(label=T("video.frames_and_per_frame"), format="png", elem_id="video-frame-strip")
            with gr.Accordion(T("video.windows_json"), open=False):
                windows = gr.JSON(label=T("video.per_window_scores"), elem_id="video-windows")
    with gr.Accordion(T("video.which_frames_mattered_temporal"), open=True):
        with gr.Row():
            target = gr.Textbox("", label=T("video.target_empty_top_action"), elem_id="video-explain-target", scale=2)
            window = gr.Slider(1, MAX_OCCLUSION_WINDOW, value=1, step=1, label=T("video.frames_hidden_at_once"),
                               elem_id="video-explain-window", scale=1)
            explain_button = gr.Button(T("video.which_frames_mattered"), elem_id="video-explain", scale=1)
        explain_message = common.action_message("video-explain-message")
        importance = gr.Plot(label=T("video.temporal_importance"), format="png", elem_id="video-importance")
        importance_info = gr.Markdown(elem_id="video-importance-info")
    with gr.Accordion(T("video.audio_visual_fusion_s"), open=True):
        gr.Markdown(FUSION_HELP)
        with gr.Row():
            a = gr.Slider(0.0, MAX_WEIGHT, value=round(min(default_a, MAX_WEIGHT), 2), step=0.01, label=T("video.a_video_weight"),
                          elem_id="video-a")
            b = gr.Slider(0.0, MAX_WEIGHT, value=round(min(default_b, MAX_WEIGHT), 2), step=0.01, label=T("video.b_audio_weight"),
                          elem_id="video-b")
            fuse_button = gr.Button(T("video.fuse_picture_and_sound"), elem_id="video-fuse")
        fuse_message = common.action_message("video-fuse-message")
        fusion_plot = gr.Plot(label=T("video.video_only_audio_only"), format="png", elem_id="video-fusion")
        fusion_info = gr.Markdown(elem_id="video-fusion-info")
    fusion_state = gr.State(None)  # this user's S_v(t), S_a(t): the sliders re-fuse them without a model

    common.report_on(status, model.change(model_status, [model], [status], api_name="video_model_status", **heavy),
                     clear=False)
    common.report_on(make_message, make.click(make_example, [motion, ambiguity, seed], [video, example_info],
                                              api_name="make_video_example", concurrency_id="video-example",
                                              concurrency_limit=2))
    classify_event = run.click(classify, [model, video, labels, top_k, clip_len, stride],
                               [top, strip, windows, status], api_name="classify_video", **heavy)
    common.report_on(message, classify_event)
    explain_event = explain_button.click(explain_frames, [model, video, labels, target, window, clip_len, stride],
                                         [importance, importance_info], api_name="explain_video", **heavy)
    common.report_on(explain_message, explain_event)
    # one Stop for the two long actions (classify a long upload; hide one frame at a time)
    halt.click(None, None, None, cancels=[classify_event, explain_event], queue=False, api_visibility="private")
    common.report_on(fuse_message, fuse_button.click(fuse_audio_video, [video, a, b],
                                                     [fusion_plot, fusion_info, fusion_state],
                                                     api_name="fuse_audio_video", **heavy))
    for slider in (a, b):
        slider.release(refuse, [fusion_state, a, b], [fusion_plot, fusion_info], api_visibility="private")

    return TabParts(components={"model": model, "status": status, "video": video, "motion": motion,
                                "ambiguity": ambiguity, "seed": seed, "labels": labels, "top_k": top_k,
                                "clip_len": clip_len, "stride": stride, "top": top, "strip": strip,
                                "windows": windows, "importance": importance, "a": a, "b": b,
                                "fusion": fusion_plot, "fusion_info": fusion_info, "stop": halt})
