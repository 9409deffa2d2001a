"""The "Speech" tab: record or upload speech, get a timed transcript and the clip's audio views.

Handlers are thin: validation, chunking and recognition are
:class:`mmbench.pipelines.speech.SpeechRecognitionPipeline`; the plots are
:func:`mmbench.plots.audio.audio_views`. Nothing is kept between requests, so concurrent users
never share state. The recording reaches mmbench as a file path, untouched by Gradio, so a
damaged or gigantic file is refused by :func:`mmbench.io.validate_audio` with a clear message.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from .. import i18n
from . import common, locale
from .common import TabParts, user_error, user_errors
from .locale import T

TASK = "speech-recognition"
TAB_TITLE = T("speech.title")

#: Longest recording the tab transcribes (the library accepts up to 30 min; a web request should not).
MAX_TAB_SECONDS = 10 * 60.0
AUTO = "auto"
LANGUAGE_CHOICES = [(locale.text(f"speech.lang_{code}"), code)  # names: the user's language
                    for code in ("detect", "en", "zh", "de", "fr", "es", "ja", "ru")]
LANGUAGE_CHOICES[0] = (LANGUAGE_CHOICES[0][0], AUTO)
VAD_CHOICES = [(locale.text("speech.vad_auto"), AUTO), (locale.text("speech.vad_on"), "on"),
               (locale.text("speech.vad_off"), "off")]
SEGMENT_HEADERS = ["start (s)", "end (s)", "text", "confidence"]
WORD_HEADERS = ["word", "start (s)", "end (s)", "probability"]

OFFLINE_NOTE = i18n.tr("speech.offline_note")  # English; the status line shows it in the user's language

INTRO = T("speech.intro")


# -- helpers ------------------------------------------------------------------------------------
def _status(pipe: Any) -> str:
    return common.status_html(pipe, OFFLINE_NOTE if pipe.spec.tier == "offline" else "")


def _vad_flag(vad: str | None) -> bool | None:
    return {"on": True, "off": False}.get(vad or AUTO)


def _beam(beam_size: Any) -> int:
    return common.number_option(beam_size, 1, 5, convert=int,
                                not_a_number="Beam size must be a whole number from {lo} to {hi}, not {value!r}.",
                                out_of_range="Beam size must be from {lo} to {hi}, not {number}.")


def summary_markdown(result: Any) -> str:
    """One paragraph about a transcript: language, duration, speed, chunks."""
    tr = locale.tr
    language = f"**{result.language}**"
    if result.language_probability is not None:
        language = tr("speech.summary_detected", language=language, p=f"{result.language_probability:.2f}")
    n = len(result.chunks)
    chunking = tr("speech.summary_vad_chunks", n=n) if result.vad else tr("speech.summary_chunks", n=n)
    if not result.vad and locale.lang() == "en":  # English keeps its plural
        chunking = f"{n} chunk{'s' if n != 1 else ''}"
    conf = result.confidence
    parts = [tr("speech.summary_language", language=language),
             tr("speech.summary_speed", duration=f"{result.duration:.1f}", seconds=f"{result.processing_s:.1f}",
                rtf=f"{result.rtf:.2f}"), chunking,
             tr("speech.summary_counts", segments=len(result.segments), words=len(result.words))]
    if conf is not None:
        parts.append(tr("speech.summary_confidence", conf=f"{conf:.2f}"))
    text = " · ".join(parts) + "."
    for note in result.notes:
        text += f"\n\n{html.escape(note)}"
    return text


# -- handlers -----------------------------------------------------------------------------------
def model_status(model: str | None) -> str:
    """Load the chosen model and describe it (tier, device, fallback notice)."""
    with user_errors("loading the speech model"):
        return _status(common.load_pipeline(TASK, model))


def transcribe(model: str | None, audio: str | None, language: str | None, word_timestamps: bool, vad: str | None,
               beam_size: float, progress: gr.Progress = gr.Progress()) -> tuple[str, list, list, Any, str, str]:
    """Transcript, segments table, words table, audio views, summary and model status for one recording."""
    from ..io import validate_audio
    from ..plots.audio import audio_views

    with user_errors("transcribing the recording"):
        if not audio:
            raise user_error("No recording yet: record with the microphone, upload a file, or pick an example below.")
        beams = _beam(beam_size)
        samples, rate = validate_audio(audio, target_sr=16_000, max_seconds=MAX_TAB_SECONDS)
        progress(0.1, desc=locale.tr("common.progress_loading_model"))
        pipe = common.load_pipeline(TASK, model)
        progress(0.3, desc=locale.tr("speech.progress_transcribing"))
        lang = None if language in (None, "", AUTO) else language
        result = pipe((rate, samples), language=lang, word_timestamps=bool(word_timestamps), vad=_vad_flag(vad),
                      beam_size=beams)
        progress(0.85, desc=locale.tr("speech.progress_views"))
        fig = audio_views(samples, rate, words=result.words, title=f"{pipe.spec.name} · {result.language}")
        segments = [[round(s.start, 2), round(s.end, 2), s.text, round(s.confidence, 3)] for s in result.segments]
        words = [[w.text.strip(), round(w.start, 2), round(w.end, 2), round(w.probability, 3)] for w in result.words]
        text = result.text or locale.tr("speech.no_speech")
        return text, segments, words, locale.figure(fig), summary_markdown(result), _status(pipe)


def views_only(audio: str | None) -> Any:
    """The four audio views of the recording, without transcribing it."""
    from ..io import validate_audio
    from ..plots.audio import audio_views

    with user_errors("drawing the audio views"):
        if not audio:
            raise user_error("No recording yet: record with the microphone, upload a file, or pick an example below.")
        samples, rate = validate_audio(audio, target_sr=None, max_seconds=MAX_TAB_SECONDS)
        return locale.figure(audio_views(samples, rate))


# -- layout -------------------------------------------------------------------------------------
def _examples(audio: Any, language: Any) -> None:
    from ..speech.corpora import example_clips

    clips = example_clips()
    if not clips:
        return
    gr.Examples([[str(c.path), "en"] for c in clips], inputs=[audio, language],
                example_labels=[f"{c.transcript[:60]}{'…' if len(c.transcript) > 60 else ''}" for c in clips],
                label=T("speech.examples_librivox_readings_public"),
                cache_examples=False, elem_id="speech-examples")


def build_speech_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()

    gr.Markdown(INTRO)
    model, status = common.model_picker(TASK, label=T("speech.model"), elem_id="speech-model", status_elem_id="speech-status",
                                        info=common.TIER_INFO_STATUS)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            audio = gr.Audio(sources=["microphone", "upload"], type="filepath", format=None, label=T("speech.recording"),
                             elem_id="speech-audio")
            language = gr.Dropdown(LANGUAGE_CHOICES, value=AUTO, label=T("speech.language"), elem_id="speech-language",
                                   info=T("speech.english_only_models_ignore"))
            with gr.Row():
                words_box = gr.Checkbox(True, label=T("speech.word_timestamps"), elem_id="speech-word-timestamps")
                beam = gr.Slider(1, 5, value=5, step=1, label=T("speech.beam_size"), info=T("speech.1_greedy_fastest"),
                                 elem_id="speech-beam")
            vad = gr.Radio(VAD_CHOICES, value=AUTO, label=T("speech.voice_activity_segmentation"), elem_id="speech-vad")
            with gr.Row():
                run = gr.Button(T("speech.transcribe"), variant="primary", elem_id="speech-transcribe")
                views_button = gr.Button(T("speech.audio_views_only"), elem_id="speech-views-button")
                halt = gr.Button(T("speech.stop"), variant="stop", elem_id="speech-stop")
            message = common.action_message("speech-message")
        with gr.Column(scale=2, min_width=360):
            transcript = gr.Textbox(label=T("speech.transcript"), lines=4, max_lines=12, elem_id="speech-transcript")
            summary = gr.Markdown(elem_id="speech-summary")
            segments = common.TranslatedDataframe(headers=SEGMENT_HEADERS, interactive=False, label=T("speech.segments"), wrap=True,
                                    column_widths=["11%", "11%", "62%", "16%"], elem_id="speech-segments")
            with gr.Accordion(T("speech.word_timings"), open=False):
                words = common.TranslatedDataframe(headers=WORD_HEADERS, interactive=False, label=T("speech.words"), elem_id="speech-words")
    views = gr.Plot(label=T("speech.audio_views_waveform_mel"), format="png",
                    elem_id="speech-views")

    _examples(audio, language)

    common.report_on(status, model.change(model_status, [model], [status], api_name="speech_model_status", **heavy),
                     clear=False)
    event = run.click(transcribe, [model, audio, language, words_box, vad, beam],
                      [transcript, segments, words, views, summary, status], api_name="transcribe", **heavy)
    views_event = views_button.click(views_only, [audio], [views], api_name="audio_views", concurrency_id="audio-views",
                                     concurrency_limit=2)
    common.report_on(message, event, views_event)
    halt.click(None, None, None, cancels=[event, views_event], queue=False, api_visibility="private")

    return TabParts(components={"model": model, "status": status, "audio": audio, "language": language,
                                "word_timestamps": words_box, "vad": vad, "beam": beam, "transcript": transcript,
                                "segments": segments, "words": words, "views": views, "summary": summary})
