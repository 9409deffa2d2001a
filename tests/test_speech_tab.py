"""The Speech tab: its handlers on the shipped example clips and on bad input, and its API endpoints."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import soundfile

from mmbench.speech.corpora import example_clips
from mmbench.speech.wer import word_error_rate
from mmbench.ui import speech_tab

OFFLINE = "whisper-tiny.en-ct2 (offline)"


@pytest.fixture(scope="module")
def clips():
    found = {c.path.name: c for c in example_clips()}
    assert len(found) >= 5, "assets/audio/clips.tsv lists the example clips"
    return found


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-audio")
    silent = folder / "silent.wav"
    soundfile.write(silent, np.zeros(16_000, np.float32), 16_000)
    corrupt = folder / "corrupt.mp3"
    corrupt.write_bytes(b"ID3" + np.random.default_rng(0).bytes(2000))
    click = folder / "click.wav"
    soundfile.write(click, np.ones(16, np.float32) * 0.5, 16_000)  # 1 ms
    return {"silent": str(silent), "corrupt": str(corrupt), "click": str(click)}


def test_transcribe_handler_on_a_librivox_example(clips):
    clip = clips["librivox-austen-0870.flac"]
    text, segments, words, fig, summary, status = speech_tab.transcribe(OFFLINE, str(clip.path), "auto", True,
                                                                        "auto", 1)
    assert word_error_rate(clip.transcript, text).wer <= 0.10, text
    assert segments and all(len(row) == 4 and 0 <= row[3] <= 1 for row in segments)
    assert [row[0] for row in segments] == sorted(row[0] for row in segments)
    assert len(words) >= 18 and words[0][0].lower() == "and"
    assert "Language **en**" in summary and "real-time factor" in summary
    assert "whisper-tiny.en-ct2" in status and "offline tier" in status
    mel = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("mel"))
    labels = [t.get_text() for t in mel.texts]  # word labels that fit without overlapping
    assert 0.8 * len(words) <= len(labels) <= len(words) and set(labels) <= {row[0] for row in words}


def test_48khz_alsa_clip_is_resampled_and_transcribed(clips):
    clip = clips["alsa-front-center.flac"]
    assert soundfile.info(clip.path).samplerate == 48_000
    text, *_ = speech_tab.transcribe(OFFLINE, str(clip.path), "en", False, "off", 1)
    assert word_error_rate(clip.transcript, text).wer <= 0.5, text


@pytest.mark.parametrize("kind, message", [
    ("silent", "silent"), ("corrupt", "could not be decoded"), ("click", "too short"), (None, "No recording yet"),
])
def test_bad_recordings_get_a_message_not_a_crash(bad_files, kind, message):
    with pytest.raises(gr.Error, match=message) as caught:
        speech_tab.transcribe(OFFLINE, bad_files.get(kind), "auto", True, "auto", 1)
    assert "Something went wrong" not in caught.value.message  # a typed mmbench error, not an accident
    with pytest.raises(gr.Error, match=message):
        speech_tab.views_only(bad_files.get(kind))


def test_wrong_language_and_settings_get_messages(clips):
    path = str(clips["librivox-austen-0880.flac"].path)
    with pytest.raises(gr.Error, match="English only"):
        speech_tab.transcribe(OFFLINE, path, "zh", True, "auto", 1)
    with pytest.raises(gr.Error, match="Beam size"):
        speech_tab.transcribe(OFFLINE, path, "auto", True, "auto", 9)


def test_views_only_draws_the_four_views(clips):
    fig = speech_tab.views_only(str(clips["espeak-ng-sentence.flac"].path))
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert [t.split(" ")[0] for t in titles] == ["waveform", "mel", "MFCC", "chroma"]


def test_speech_endpoints_through_the_app(app_url, clips, bad_files):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    clip = clips["librivox-austen-0880.flac"]
    with pytest.raises(Exception, match="could not be decoded"):
        client.predict(OFFLINE, handle_file(bad_files["corrupt"]), "auto", True, "auto", 1, api_name="/transcribe")
    # the app keeps serving after the bad request
    text, segments, *_ = client.predict(OFFLINE, handle_file(str(clip.path)), "auto", False, "auto", 1,
                                        api_name="/transcribe")
    assert word_error_rate(clip.transcript, text).wer <= 0.3, text
    assert segments["data"] and segments["headers"] == speech_tab.SEGMENT_HEADERS
