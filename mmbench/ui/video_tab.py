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

from . import common
from .common import TabParts, user_error, user_errors

TASK = "video-classification"
TAB_TITLE = "Video"
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

TINY_MODEL_NOTE = ("The offline tiny video model only knows mmbench's procedural clips: one shape moving left, "
                   "right, up or down, growing, shrinking, rotating, blinking or bouncing. Make a procedural clip "
                   "below. Real videos need the online VideoMAE (Kinetics-400) or X-CLIP, which download once.")

INTRO = """\
**Video action recognition.** A video model does not watch every frame: it samples a **clip** of a few frames
(*clip length*) taken every *stride*-th frame, scores each clip (**window**), and averages the windows. Upload a
video (MP4, WebM, MOV…, up to 10 minutes) or make a procedural clip, then **Classify**. **Which frames
mattered?** hides one frame at a time and shows how much the top action's probability drops. The
**audio-visual fusion** panel combines the tiny model's picture and sound scores as in the chapter:
`S(t) = a·S_v(t) + b·S_a(t)`.
"""

FUSION_HELP = """\
The offline tiny model has two networks: one watches the frames, one listens to the sound (a beep on every
bounce, a rising tone while growing, a falling one while shrinking, a tone that blinks with the object, a warble
while rotating, the same whoosh for every direction). Each gives a score per frame, `S_v(t)` and `S_a(t)`;
the fused score is `S(t) = a·S_v(t) + b·S_a(t)` and the clip's answer is the label with the highest mean
`S(t)`. The default `a, b` were **fitted on validation clips**; move the sliders to weight the picture or the
sound yourself. Try a clip whose video is ambiguous (occluded) or whose sound is (noise): fusion should follow
the modality that still carries the label.
"""


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
        degraded = "" if kind == "none" else f" — **{dict((k, v) for v, k in AMBIGUITY_CHOICES)[kind]}**"
        text = (f"Procedural clip: **{html.escape(clip.caption)}**{degraded}. {clip.n_frames} frames at "
                f"{clip.fps:g} fps ({clip.duration:g} s). Its sound: {SOUNDS[clip.motion]}.")
        return str(path), text


def classify(model: str | None, video: str | None, labels: str | None, top_k: float, clip_len: float,
             stride: float, progress: gr.Progress = gr.Progress()) -> tuple[dict, Any, dict, str]:
    """Top-k actions, the frame strip with per-frame scores, the per-window table and the model status."""
    from ..plots.video import frame_scores_figure

    with user_errors("classifying the video"):
        path = _need_video(video)
        k = _int_option(top_k, "Top-k", 1, MAX_TOP_K)
        windows = _window_options(clip_len, stride)
        progress(0.1, desc="Loading the model")
        pipe = common.load_pipeline(TASK, model)
        progress(0.3, desc="Sampling frames and scoring")
        result = pipe(path, top_k=k, labels=_labels(pipe, labels), **windows)
        fig = frame_scores_figure(result, top_k=min(3, k), title=f"Per-frame scores · {pipe.spec.name}")
        scores = {p.label: round(p.prob, 4) for p in result.predictions}
        return scores, fig, result.as_dict(), _status(pipe)


def explain_frames(model: str | None, video: str | None, labels: str | None, target: str | None,
                   window: float, clip_len: float, stride: float,
                   progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:
    """Temporal occlusion: the importance of every sampled frame for the target (default: the top action)."""
    from ..explain import explain

    with user_errors("finding the frames that mattered"):
        path = _need_video(video)
        w = _int_option(window, "Occlusion window", 1, MAX_OCCLUSION_WINDOW)
        windows = _window_options(clip_len, stride)
        progress(0.1, desc="Loading the model")
        pipe = common.load_pipeline(TASK, model)
        progress(0.3, desc="Hiding one frame at a time")
        exp = explain(pipe, path, (target or "").strip() or None, window=w, labels=_labels(pipe, labels), **windows)
        top = ", ".join(f"{float(exp.times[i]):.2f} s ({exp.importance[i]:+.2f})" for i in exp.top_frames(3))
        text = (f"Target **{html.escape(exp.target)}** (probability {exp.base_score:.2f}). Hiding these frames hurt "
                f"it most: {top}. {exp.meta['forward_passes']} forward passes, {exp.meta['seconds']:.1f} s.")
        return exp.figure(), text


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
    for which, name in (("video", "Video only"), ("audio", "Audio only"), ("fused", f"Fused (a = {a:.2f}, b = {b:.2f})")):
        best = result.top(which, 1)[0]
        lines.append(f"**{name}:** {html.escape(best.label)} ({best.prob:.2f})")
    return audio_visual_figure(result), " · ".join(lines)


def fuse_audio_video(video: str | None, a: float, b: float,
                     progress: gr.Progress = gr.Progress()) -> tuple[Any, str, dict]:
    """Run the tiny model's video and audio networks on the clip and fuse them; keeps the scores for the sliders."""
    with user_errors("fusing picture and sound"):
        path = _need_video(video)
        a, b = _weight(a, "a"), _weight(b, "b")
        progress(0.2, desc="Loading the tiny video model")
        pipe = common.load_pipeline(TASK, TINY_MODEL)
        progress(0.5, desc="Scoring the frames and the sound")
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
    model, status = common.model_picker(TASK, label="Model", elem_id="video-model", status_elem_id="video-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            video = gr.Video(sources=["upload"], label="Video", format=None, elem_id="video-input")
            with gr.Accordion("Make a procedural clip", open=True):
                with gr.Row():
                    motion = gr.Dropdown([RANDOM, *MOTION_CHOICES], value="bouncing", label="Motion",
                                         elem_id="video-example-motion")
                    ambiguity = gr.Dropdown(list(AMBIGUITY_CHOICES), value="none", label="Make ambiguous",
                                            elem_id="video-example-ambiguity")
                    seed = gr.Number(1, precision=0, minimum=0, label="Seed", elem_id="video-example-seed")
                make = gr.Button("Make clip", elem_id="video-make-example")
                example_info = gr.Markdown(elem_id="video-example-info")
            labels = gr.Textbox(DEFAULT_LABELS, lines=4, label="Labels (zero-shot models: one per line)",
                                info="Used by X-CLIP; closed-set models (VideoMAE, the tiny model) use their own labels.",
                                elem_id="video-labels")
            with gr.Row():
                top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Top-k", elem_id="video-top-k")
                clip_len = gr.Number(0, precision=0, minimum=0, label="Clip length (frames, 0 = model's)",
                                     elem_id="video-clip-len")
                stride = gr.Number(0, precision=0, minimum=0, label="Stride (0 = automatic)", elem_id="video-stride")
            run = gr.Button("Classify", variant="primary", elem_id="video-classify")
        with gr.Column(scale=2, min_width=380):
            top = gr.Label(label="Top actions", num_top_classes=MAX_TOP_K, elem_id="video-top")
            strip = gr.Plot(label="Frames and per-frame scores", format="png", elem_id="video-frame-strip")
            with gr.Accordion("Windows (JSON)", open=False):
                windows = gr.JSON(label="Per-window scores", elem_id="video-windows")
    with gr.Accordion("Which frames mattered? (temporal occlusion)", open=True):
        with gr.Row():
            target = gr.Textbox("", label="Target (empty = top action)", elem_id="video-explain-target", scale=2)
            window = gr.Slider(1, MAX_OCCLUSION_WINDOW, value=1, step=1, label="Frames hidden at once",
                               elem_id="video-explain-window", scale=1)
            explain_button = gr.Button("Which frames mattered?", elem_id="video-explain", scale=1)
        importance = gr.Plot(label="Temporal importance", format="png", elem_id="video-importance")
        importance_info = gr.Markdown(elem_id="video-importance-info")
    with gr.Accordion("Audio-visual fusion  S(t) = a·S_v(t) + b·S_a(t)  (tiny model, procedural clips)", open=True):
        gr.Markdown(FUSION_HELP)
        with gr.Row():
            a = gr.Slider(0.0, MAX_WEIGHT, value=round(min(default_a, MAX_WEIGHT), 2), step=0.01, label="a (video weight)",
                          elem_id="video-a")
            b = gr.Slider(0.0, MAX_WEIGHT, value=round(min(default_b, MAX_WEIGHT), 2), step=0.01, label="b (audio weight)",
                          elem_id="video-b")
            fuse_button = gr.Button("Fuse picture and sound", elem_id="video-fuse")
        fusion_plot = gr.Plot(label="Video-only, audio-only and fused scores", format="png", elem_id="video-fusion")
        fusion_info = gr.Markdown(elem_id="video-fusion-info")
    fusion_state = gr.State(None)  # this user's S_v(t), S_a(t): the sliders re-fuse them without a model

    model.change(model_status, [model], [status], api_name="video_model_status", **heavy)
    make.click(make_example, [motion, ambiguity, seed], [video, example_info], api_name="make_video_example",
               concurrency_id="video-example", concurrency_limit=2)
    run.click(classify, [model, video, labels, top_k, clip_len, stride], [top, strip, windows, status],
              api_name="classify_video", **heavy)
    explain_button.click(explain_frames, [model, video, labels, target, window, clip_len, stride],
                         [importance, importance_info], api_name="explain_video", **heavy)
    fuse_button.click(fuse_audio_video, [video, a, b], [fusion_plot, fusion_info, fusion_state],
                      api_name="fuse_audio_video", **heavy)
    for slider in (a, b):
        slider.release(refuse, [fusion_state, a, b], [fusion_plot, fusion_info], api_visibility="private")

    return TabParts(components={"model": model, "status": status, "video": video, "motion": motion,
                                "ambiguity": ambiguity, "seed": seed, "labels": labels, "top_k": top_k,
                                "clip_len": clip_len, "stride": stride, "top": top, "strip": strip,
                                "windows": windows, "importance": importance, "a": a, "b": b,
                                "fusion": fusion_plot, "fusion_info": fusion_info})
