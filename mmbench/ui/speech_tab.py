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

from . import common
from .common import TabParts, user_error, user_errors

TASK = "speech-recognition"
TAB_TITLE = "Speech"

#: Longest recording the tab transcribes (the library accepts up to 30 min; a web request should not).
MAX_TAB_SECONDS = 10 * 60.0
AUTO = "auto"
LANGUAGE_CHOICES = [("detect (multilingual models)", AUTO), ("English", "en"), ("Chinese 中文", "zh"),
                    ("German", "de"), ("French", "fr"), ("Spanish", "es"), ("Japanese", "ja"), ("Russian", "ru")]
VAD_CHOICES = [("automatic (recordings over 30 s)", AUTO), ("on", "on"), ("off", "off")]
SEGMENT_HEADERS = ["start (s)", "end (s)", "text", "confidence"]
WORD_HEADERS = ["word", "start (s)", "end (s)", "probability"]

OFFLINE_NOTE = ("The offline model is Whisper tiny.en (39 M parameters, int8): English only, fast on a CPU, "
                "about 4 % word errors on clear read speech. The online whisper-small also transcribes Chinese "
                "and detects the language; it downloads once when this machine can reach the Hugging Face hub.")

INTRO = """\
**Speech recognition** with Whisper: record with the microphone or upload a clip (WAV, FLAC, MP3, OGG…, any sample
rate, mono or stereo), then **Transcribe**. You get the transcript, a table of timed segments with the model's
confidence, word timings, and four views of the sound — waveform, mel spectrogram (with the words drawn where
they are spoken), MFCC and chroma. Long recordings are cut at pauses (Silero voice-activity detection) into
chunks of at most 30 s, Whisper's window.
"""


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
    if result.language_probability is not None:
        language = f"**{result.language}** (detected, p = {result.language_probability:.2f})"
    else:
        language = f"**{result.language}**"
    chunking = (f"{len(result.chunks)} chunks found by voice-activity detection" if result.vad
                else f"{len(result.chunks)} chunk{'s' if len(result.chunks) != 1 else ''}")
    conf = result.confidence
    parts = [f"Language {language}", f"{result.duration:.1f} s of audio transcribed in {result.processing_s:.1f} s "
             f"(real-time factor {result.rtf:.2f})", chunking, f"{len(result.segments)} segments, "
             f"{len(result.words)} timed words"]
    if conf is not None:
        parts.append(f"mean confidence {conf:.2f}")
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
        progress(0.1, desc="Loading the model")
        pipe = common.load_pipeline(TASK, model)
        progress(0.3, desc="Transcribing")
        lang = None if language in (None, "", AUTO) else language
        result = pipe((rate, samples), language=lang, word_timestamps=bool(word_timestamps), vad=_vad_flag(vad),
                      beam_size=beams)
        progress(0.85, desc="Drawing the audio views")
        fig = audio_views(samples, rate, words=result.words, title=f"{pipe.spec.name} · {result.language}")
        segments = [[round(s.start, 2), round(s.end, 2), s.text, round(s.confidence, 3)] for s in result.segments]
        words = [[w.text.strip(), round(w.start, 2), round(w.end, 2), round(w.probability, 3)] for w in result.words]
        text = result.text or "(no speech recognised)"
        return text, segments, words, fig, summary_markdown(result), _status(pipe)


def views_only(audio: str | None) -> Any:
    """The four audio views of the recording, without transcribing it."""
    from ..io import validate_audio
    from ..plots.audio import audio_views

    with user_errors("drawing the audio views"):
        if not audio:
            raise user_error("No recording yet: record with the microphone, upload a file, or pick an example below.")
        samples, rate = validate_audio(audio, target_sr=None, max_seconds=MAX_TAB_SECONDS)
        return audio_views(samples, rate)


# -- layout -------------------------------------------------------------------------------------
def _examples(audio: Any, language: Any) -> None:
    from ..speech.corpora import example_clips

    clips = example_clips()
    if not clips:
        return
    gr.Examples([[str(c.path), "en"] for c in clips], inputs=[audio, language],
                example_labels=[f"{c.transcript[:60]}{'…' if len(c.transcript) > 60 else ''}" for c in clips],
                label="Examples: LibriVox readings (public domain), ALSA voice clips, espeak-ng speech",
                cache_examples=False, elem_id="speech-examples")


def build_speech_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    heavy = common.model_event_options()

    gr.Markdown(INTRO)
    model, status = common.model_picker(TASK, label="Model", elem_id="speech-model", status_elem_id="speech-status",
                                        info=f"{common.TIER_INFO} The status shows which model answered.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            audio = gr.Audio(sources=["microphone", "upload"], type="filepath", format=None, label="Recording",
                             elem_id="speech-audio")
            language = gr.Dropdown(LANGUAGE_CHOICES, value=AUTO, label="Language", elem_id="speech-language",
                                   info="English-only models ignore 'detect' and refuse other languages.")
            with gr.Row():
                words_box = gr.Checkbox(True, label="Word timestamps", elem_id="speech-word-timestamps")
                beam = gr.Slider(1, 5, value=5, step=1, label="Beam size", info="1 = greedy, fastest",
                                 elem_id="speech-beam")
            vad = gr.Radio(VAD_CHOICES, value=AUTO, label="Voice-activity segmentation", elem_id="speech-vad")
            with gr.Row():
                run = gr.Button("Transcribe", variant="primary", elem_id="speech-transcribe")
                views_button = gr.Button("Audio views only", elem_id="speech-views-button")
        with gr.Column(scale=2, min_width=360):
            transcript = gr.Textbox(label="Transcript", lines=4, max_lines=12, elem_id="speech-transcript")
            summary = gr.Markdown(elem_id="speech-summary")
            segments = gr.Dataframe(headers=SEGMENT_HEADERS, interactive=False, label="Segments", wrap=True,
                                    column_widths=["11%", "11%", "62%", "16%"], elem_id="speech-segments")
            with gr.Accordion("Word timings", open=False):
                words = gr.Dataframe(headers=WORD_HEADERS, interactive=False, label="Words", elem_id="speech-words")
    views = gr.Plot(label="Audio views: waveform, mel spectrogram with word timings, MFCC, chroma", format="png",
                    elem_id="speech-views")

    _examples(audio, language)

    model.change(model_status, [model], [status], api_name="speech_model_status", **heavy)
    run.click(transcribe, [model, audio, language, words_box, vad, beam],
              [transcript, segments, words, views, summary, status], api_name="transcribe", **heavy)
    views_button.click(views_only, [audio], [views], api_name="audio_views", concurrency_id="audio-views",
                       concurrency_limit=2)

    return TabParts(components={"model": model, "status": status, "audio": audio, "language": language,
                                "word_timestamps": words_box, "vad": vad, "beam": beam, "transcript": transcript,
                                "segments": segments, "words": words, "views": views, "summary": summary})
