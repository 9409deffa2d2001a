"""The "Audio generation" tab: speech, music or sounds from text, with the waveform and mel spectrogram.

Three modes share one form: **speech** (``text-to-speech``: MMS-TTS online, espeak-ng offline),
**music** (``text-to-audio`` models of kind music: MusicGen online, the rule-based composer
offline) and **sound** (``mmbench-tiny-sound``, trained on the procedural sound world). Handlers
are thin: generation and validation are :mod:`mmbench.pipelines.audio_generation`, the plots
:func:`mmbench.plots.audio.audio_views`, the check of a sound against its prompt
:mod:`mmbench.audiogen.analysis`. Nothing is kept between requests; a Stop button cancels a run.
"""

from __future__ import annotations

import html
import tempfile
from typing import Any

import gradio as gr
import numpy as np

from . import common, locale
from .common import TabParts, user_error, user_errors
from .locale import T

TAB_TITLE = T("audio.title")
MODES = ("speech", "music", "sound")
MODE_CHOICES = [("Speech (text-to-speech)", "speech"), ("Music (text-to-music)", "music"),
                ("Sound (procedural sound world)", "sound")]
TASKS = {"speech": "text-to-speech", "music": "text-to-audio", "sound": "text-to-audio"}
#: espeak-ng voices offered in the dropdown (any voice of `espeak-ng --voices` works through the API).
VOICES = [("American English", "en-us"), ("British English", "en-gb"), ("Scottish English", "en-gb-scotland"),
          ("Caribbean English", "en-029"), ("Mandarin 中文", "cmn"), ("Cantonese 粵語", "yue"), ("German", "de"),
          ("French", "fr-fr"), ("Spanish", "es"), ("Japanese", "ja")]
VARIANTS = [("standard", ""), ("female 1", "f1"), ("female 3", "f3"), ("male 3", "m3"), ("male 7", "m7"),
            ("whisper", "whisper"), ("croak", "croak")]
MAX_TAB_MUSIC_SECONDS = 30.0

PLACEHOLDERS = {"speech": "Type what should be said, e.g. Multimodal models can see, listen and speak.",
                "music": "Describe the music: mood, genre, tempo, key, instrument — e.g. a calm slow piano piece in a "
                         "minor key",
                "sound": "Describe the sound with the sound world's words: three short high beeps, a low tone rising, "
                         "two long low hums, a fast falling chirp"}
EXAMPLES = [
    ["speech", "Multimodal models can see, listen and speak."],
    ["speech", "The quick brown fox jumps over the lazy dog, twice."],
    ["music", "a calm slow piano piece in a minor key"],
    ["music", "fast happy dance"],
    ["music", "a sad violin waltz in G minor"],
    ["music", "jazz trio at 140 bpm"],
    ["music", "a spooky ambient drone"],
    ["sound", "three short high beeps"],
    ["sound", "a low tone rising"],
    ["sound", "two long low hums"],
    ["sound", "a fast falling chirp"],
    ["sound", "four brief high chirps going up"],
]
NOTES = {
    "espeak-ng": "espeak-ng is a formant synthesizer (rules, not a neural network): robotic but clear, 100+ languages. "
                 "The online mms-tts-eng (neural VITS) downloads once when this machine can reach the Hugging Face hub.",
    "mmbench-composer": "The composer is rule-based: it reads mood, genre, tempo, key and instrument words and writes "
                        "MIDI, rendered with FluidSynth and the General MIDI soundfont. It is not a learned model.",
    "mmbench-tiny-sound": "A 0.45 M-parameter conditional VAE trained by mmbench on its procedural sound world: it "
                          "knows only beeps, tones, hums and chirps (1-4, short or long, low or high, rising, falling "
                          "or steady). The analysis below checks the count and the pitch direction it produced.",
}

INTRO = T("audio.intro")


#: per-session cancel events of running generations (a Stop stops only that user's run)
_CANCELS = common.SessionCancels()


# -- helpers ------------------------------------------------------------------------------------
def _check_mode(mode: str | None) -> str:
    if mode not in MODES:
        raise user_error(f"Unknown mode {mode!r}; choose speech, music or sound.")
    return str(mode)


def mode_models(mode: str) -> tuple[list[str], str | None]:
    """Dropdown choices (registry labels) and the default for a mode; reads the registry only."""
    from ..registry import default_spec, list_models

    task = TASKS[mode]
    specs = [s for s in list_models(task, ready_only=True)
             if mode == "speech" or s.options.get("kind", "music") == mode]
    labels = [s.label for s in specs]
    default = default_spec(task, "online") or default_spec(task, "offline")
    if default is None or default.label not in labels:
        offline = [s for s in specs if s.tier == "offline"]
        online = [s for s in specs if s.tier == "online"]
        default = (online or offline or [None])[0]
    return labels, default.label if default is not None else None


def _load(mode: str, model: str | None) -> Any:
    pipe = common.load_pipeline(TASKS[mode], model)
    if mode != "speech" and pipe.kind != mode:
        raise user_error(f"{pipe.spec.name} makes {pipe.kind}, not {mode}; choose a {mode} model.")
    return pipe


def _status(pipe: Any) -> str:
    return common.status_html(pipe, NOTES.get(pipe.spec.name, ""))


def _seed(seed: Any) -> int | None:
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    try:
        value = float(seed)
    except (TypeError, ValueError):
        raise user_error(f"The seed must be a whole number (or empty for a random one), not {seed!r}.") from None
    if not np.isfinite(value) or not value.is_integer() or value < 0:
        raise user_error(f"The seed must be a whole number from 0 up (or empty for a random one), not {seed}.")
    return int(value)


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def _midi_file(data: bytes | None) -> str | None:
    if not data:
        return None
    with tempfile.NamedTemporaryFile(prefix="mmbench-composer-", suffix=".mid", delete=False) as fh:
        fh.write(data)
        return fh.name


def _sound_check(result: Any) -> str:
    """What the prompt asked for vs what the librosa analysis hears in the generated sound."""
    from ..audiogen.analysis import analyse_sound
    from ..data.sound_world import parse_sound_prompt

    asked = parse_sound_prompt(result.prompt)
    found = analyse_sound(result.waveform, result.sample_rate, onsets=False)
    want_direction = asked["direction"] or "steady"
    lines = [locale.tr("audio.heard", summary=html.escape(found.summary()))]
    if asked["count"] is not None:
        ok = found.count == asked["count"] and found.direction == want_direction
        key = "audio.asked" if asked["count"] != 1 else "audio.asked_one"
        lines.append(locale.tr(key, count=asked["count"], direction=want_direction,
                               verdict=locale.tr("audio.recovered" if ok else "audio.not_recovered")))
    return "\n\n".join(lines)


def summary_markdown(mode: str, result: Any) -> str:
    """Seed, duration, speed, notes, and the composer's plan or the sound analysis."""
    seed = locale.tr("audio.seed_line", seed=result.seed) if result.seed is not None else ""
    parts = [seed + locale.tr("audio.made", duration=f"{result.duration:.2f}", rate=result.sample_rate,
                              seconds=f"{result.processing_s:.2f}", model=result.model)]
    plan = result.details.get("plan")
    if plan is not None:
        reasons = "; ".join(f"{k}: {html.escape(v)}" for k, v in plan.reasons.items())
        parts.append(locale.tr("audio.plan", plan=html.escape(plan.describe()), reasons=reasons))
        parts.append(locale.tr("audio.rendered", renderer=html.escape(result.details.get("renderer", ""))))
    if mode == "sound":
        parts.append(_sound_check(result))
    for note in result.notes:
        parts.append(html.escape(note))
    return "\n\n".join(parts)


# -- handlers -----------------------------------------------------------------------------------
def mode_changed(mode: str) -> tuple[Any, ...]:
    """Model choices, visible controls and placeholder for a mode (nothing is loaded)."""
    mode = mode if mode in MODES else "speech"
    choices, value = mode_models(mode)
    speech = mode == "speech"
    return (gr.update(choices=choices, value=value), common.pending_status_html(value),
            gr.update(placeholder=locale.tr(f"audio.placeholder_{mode}"),
                      label=locale.tr("audio.text" if speech else "audio.prompt")),
            gr.update(visible=speech), gr.update(visible=not speech), gr.update(visible=mode == "music"),
            gr.update(value=1.0 if mode == "sound" else 3.0))


def answering_choices(status: str | None, model: str | None, mode: str | None) -> Any:
    """The mode's model choices, the picked one shown as the model that answers after a fallback."""
    return common.relabel_choices(mode_models(mode if mode in MODES else "speech")[0], status, model)


def model_status(mode: str, model: str | None) -> str:
    """Load the chosen model and describe it (tier, device, fallback notice)."""
    with user_errors("loading the audio model"):
        return _status(_load(_check_mode(mode), model))


def generate(mode: str, model: str | None, prompt: str | None, voice: str | None, variant: str | None, speed: float,
             pitch: float, duration: float, guidance: float, seed: Any, request: gr.Request = None,
             progress: gr.Progress = gr.Progress()) -> tuple[Any, Any, str, str | None, str]:
    """Audio ``(rate, int16 samples)``, the waveform + mel figure, a summary, the MIDI file (music from the
    composer) and the model status for one prompt. Stop (:func:`stop`) ends a music or sound generation
    at its next step, which frees the worker."""
    with user_errors("generating audio"):
        mode = _check_mode(mode)
        if not prompt or not str(prompt).strip():
            raise user_error("Type a text or a prompt first, or click an example below.")
        seed_value = _seed(seed)
        progress(0.05, desc=locale.tr("common.progress_loading_model"))
        pipe = _load(mode, model)
        progress(0.2, desc=locale.tr("audio.progress_generating"))
        if mode == "speech":
            full_voice = None
            if "voice" in pipe.controls:
                full_voice = (voice or "en-us") + (f"+{variant}" if variant else "")
            result = pipe(prompt, voice=full_voice, speed=float(speed),
                          pitch=int(pitch) if "pitch" in pipe.controls else None, seed=seed_value)
        else:
            low, high = pipe.duration_range
            length = None if high - low < 1e-6 else float(duration)
            if length is not None and length > MAX_TAB_MUSIC_SECONDS:
                raise user_error(f"The app makes at most {MAX_TAB_MUSIC_SECONDS:g} s of music per request.")
            guide = None if pipe.default_guidance is None else float(guidance)

            def report(done: int, total: int) -> None:
                progress(0.2 + 0.7 * done / max(total, 1), desc=locale.tr("audio.progress_generating_n", done=done, total=total))

            result = pipe(prompt, duration=length, seed=seed_value, guidance_scale=guide, progress_callback=report,
                          cancel=_CANCELS.new(request))
        progress(0.92, desc=locale.tr("audio.progress_drawing"))
        fig = locale.figure(pipe.views(result))
        return ((result.sample_rate, _to_int16(result.waveform)), fig, summary_markdown(mode, result),
                _midi_file(result.details.get("midi")), _status(pipe))


def stop(request: gr.Request = None) -> str:
    """Ask this user's running generation to stop at its next step."""
    return _CANCELS.stop(request)


# -- layout -------------------------------------------------------------------------------------
def build_audio_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()
    choices, default = mode_models("speech")

    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        mode = gr.Radio([(locale.text(f"audio.mode_{m}"), m) for _, m in MODE_CHOICES], value="speech", label=T("audio.mode"), elem_id="audio-mode", scale=1,
                        info=T("audio.sound_clips_are_always"))
        # choices change with the mode, so values outside the first mode's list must be accepted (the
        # handler checks them against the registry)
        model = gr.Dropdown(choices, value=default, label=T("audio.model"), scale=1, elem_id="audio-model",
                            allow_custom_value=True, info=common.TIER_INFO)
    status = gr.HTML(common.pending_status_html(default), elem_id="audio-status", padding=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            prompt = gr.Textbox(label=T("audio.text"), lines=3, max_lines=8, placeholder=T("audio.placeholder_speech"),
                                elem_id="audio-prompt")
            with gr.Group(visible=True) as speech_controls:
                with gr.Row():
                    voice = gr.Dropdown([(locale.text(f"audio.voice_{v}"), v) for _, v in VOICES], value="en-us", label=T("audio.voice_espeak_ng"), elem_id="audio-voice")
                    variant = gr.Dropdown([(locale.text(f"audio.variant_{v}"), v) for _, v in VARIANTS], value="", label=T("audio.variant"), elem_id="audio-variant")
                with gr.Row():
                    speed = gr.Slider(0.5, 2.5, value=1.0, step=0.05, label=T("audio.speed"), elem_id="audio-speed")
                    pitch = gr.Slider(0, 99, value=50, step=1, label=T("audio.pitch_espeak_ng"), elem_id="audio-pitch")
            with gr.Group(visible=False) as music_controls:
                with gr.Row():
                    duration = gr.Slider(1, MAX_TAB_MUSIC_SECONDS, value=8, step=1, label=T("audio.duration_s"),
                                         elem_id="audio-duration")
                    guidance = gr.Slider(0, 10, value=3, step=0.5, label=T("audio.guidance_scale"),
                                         info=T("audio.musicgen_3_is_usual"),
                                         elem_id="audio-guidance")
            seed = gr.Number(None, label=T("audio.seed_empty_random"), precision=0, elem_id="audio-seed")
            with gr.Row():
                run = gr.Button(T("audio.generate"), variant="primary", elem_id="audio-generate")
                halt = gr.Button(T("audio.stop"), variant="stop", elem_id="audio-stop")
            message = common.action_message("audio-message")
        with gr.Column(scale=2, min_width=360):
            player = gr.Audio(label=T("audio.result"), type="numpy", interactive=False, elem_id="audio-player")
            summary = gr.Markdown(elem_id="audio-summary")
            midi = gr.File(label=T("audio.midi_composer"), elem_id="audio-midi")
    views = gr.Plot(label=T("audio.waveform_and_mel_spectrogram"), format="png", elem_id="audio-views")

    gr.Examples(EXAMPLES, inputs=[mode, prompt], label=T("audio.examples_click_then_generate"), cache_examples=False,
                elem_id="audio-examples")

    common.report_on(status, mode.change(mode_changed, [mode], [model, status, prompt, speech_controls,
                                                                music_controls, duration, guidance],
                                         api_name="audio_mode", show_progress="hidden"), clear=False)
    status.change(answering_choices, [status, model, mode], [model], queue=False, show_progress="hidden",
                  api_visibility="private")  # after a fallback the picker names the model that answers
    common.report_on(status, model.input(model_status, [mode, model], [status], api_name="audio_model_status",
                                         **heavy), clear=False)
    event = run.click(generate, [mode, model, prompt, voice, variant, speed, pitch, duration, guidance, seed],
                      [player, views, summary, midi, status], api_name="generate_audio", **heavy)
    common.report_on(message, event)
    halt.click(stop, None, [summary], cancels=[event], queue=False, api_visibility="private")

    return TabParts(components={"mode": mode, "model": model, "status": status, "prompt": prompt, "voice": voice,
                                "variant": variant, "speed": speed, "pitch": pitch, "duration": duration,
                                "guidance": guidance, "seed": seed, "player": player, "summary": summary,
                                "midi": midi, "views": views, "run": run, "stop": halt})
