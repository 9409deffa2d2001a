"""Speech recognition: WER, Whisper features, word alignment, VAD chunking, the offline Whisper on real
LibriVox recordings, the online (transformers) path with a tiny random Whisper, and bad inputs."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pytest
import soundfile

import mmbench
from mmbench.errors import AudioError, InvalidInputError
from mmbench.speech.corpora import LIBRIVOX_DIR, librivox_recordings
from mmbench.speech.wer import align_words, normalize_transcript, word_error_rate
from tiny_models import TINY_WHISPER

needs_librivox = pytest.mark.skipif(not (LIBRIVOX_DIR / "transcription").is_file(),
                                    reason="Debian package pocketsphinx-testdata is not installed "
                                           "(apt-get install pocketsphinx-testdata)")


@pytest.fixture(scope="module")
def offline_pipe():
    return mmbench.pipeline("speech-recognition", model="whisper-tiny.en-ct2", device="cpu")


@pytest.fixture(scope="module")
def tiny_whisper():
    """A tiny random-weight Whisper (transformers backend); named apart from conftest's tiny CLIP ``tiny_pipe``."""
    return mmbench.pipeline("speech-recognition", model=TINY_WHISPER, device="cpu", fallback=False)


@pytest.fixture(scope="module")
def recordings():
    if not (LIBRIVOX_DIR / "transcription").is_file():
        pytest.skip("Debian package pocketsphinx-testdata is not installed (apt-get install pocketsphinx-testdata)")
    return {r.id[-4:]: r for r in librivox_recordings()}


def _read(path) -> np.ndarray:
    samples, rate = soundfile.read(path, dtype="float32")
    assert rate == 16_000
    return samples


# -- WER ----------------------------------------------------------------------------------------
def test_wer_hand_computed():
    # reference: the cat sat on the mat (6 words)
    # hypothesis: cat sit on the mat today -> "the" deleted, sat/sit substituted, "today" inserted
    result = word_error_rate("the cat sat on the mat", "cat sit on the mat today")
    assert (result.substitutions, result.deletions, result.insertions, result.reference_words) == (1, 1, 1, 6)
    assert result.wer == pytest.approx(3 / 6) and result.hits == 4
    assert [op for op, _, _ in align_words("a b c".split(), "a x c d".split())] == ["=", "S", "=", "I"]
    # pooled over a corpus: (0 + 3) / (2 + 6), not the mean of per-utterance rates
    pooled = word_error_rate(["hello world", "the cat sat on the mat"], ["hello world", "cat sit on the mat today"])
    assert pooled.wer == pytest.approx(3 / 8)
    assert word_error_rate("a b", "").wer == 1.0 and word_error_rate("a", "a b c").wer == 2.0


def test_wer_normalises_case_punctuation_and_spoken_forms():
    assert normalize_transcript("And Mr. Dashwood's COLD-hearted, 'selfish' <s> (utt-1) 你好!") == [
        "and", "mister", "dashwood's", "cold", "hearted", "selfish", "你", "好"]
    assert word_error_rate("<s> and mister john dashwood </s>", "And Mr. John Dashwood.").wer == 0.0
    assert word_error_rate("ill disposed", "ill-disposed").wer == 0.0
    assert word_error_rate("Hello, World", "hello world", normalize=False).wer == 1.0
    with pytest.raises(InvalidInputError):
        word_error_rate("", "anything")
    with pytest.raises(InvalidInputError):
        word_error_rate(["a"], ["a", "b"])


def test_wer_agrees_with_jiwer():
    import jiwer

    rng = np.random.default_rng(0)
    vocab = "a b c d e f".split()
    for _ in range(50):
        ref = " ".join(rng.choice(vocab, rng.integers(1, 12)))
        hyp = " ".join(rng.choice(vocab, rng.integers(0, 12)))
        assert word_error_rate(ref, hyp).wer == pytest.approx(jiwer.wer(ref, hyp) if hyp else 1.0)


# -- features and alignment ----------------------------------------------------------------------
def test_whisper_log_mel_matches_transformers_feature_extractor():
    from transformers import WhisperFeatureExtractor

    from mmbench.speech.features import whisper_log_mel

    rng = np.random.default_rng(1)
    t = np.arange(16_000 * 2) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ref = WhisperFeatureExtractor(feature_size=80)(audio, sampling_rate=16_000, return_tensors="np").input_features[0]
    ours = whisper_log_mel(audio)
    assert ours.shape == ref.shape == (80, 3000)
    assert np.abs(ours - ref).max() < 1e-4


def test_dtw_path_is_the_minimum_cost_monotonic_path():
    from mmbench.speech.alignment import dtw_path

    rng = np.random.default_rng(2)
    cost = rng.random((3, 4))
    rows, cols = dtw_path(cost)
    assert (rows[0], cols[0]) == (0, 0) and (rows[-1], cols[-1]) == (2, 3)
    assert np.all(np.diff(rows) >= 0) and np.all(np.diff(cols) >= 0)
    assert np.all(np.diff(rows) + np.diff(cols) >= 1)

    # brute force: every monotonic path of diagonal/down/right steps from (0, 0) to (2, 3)
    def paths(i, j):
        if (i, j) == (2, 3):
            yield [(i, j)]
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di <= 2 and j + dj <= 3:
                for rest in paths(i + di, j + dj):
                    yield [(i, j)] + rest

    best = min(sum(cost[p] for p in path) for path in paths(0, 0))
    assert sum(cost[r, c] for r, c in zip(rows, cols)) == pytest.approx(best)


def test_split_words_groups_subword_tokens_and_punctuation():
    from mmbench.speech.alignment import split_words

    pieces = {1: " He", 2: " was", 3: " ill", 4: "-", 5: "dis", 6: "posed", 7: "."}
    words = split_words([1, 2, 3, 4, 5, 6, 7], lambda toks: "".join(pieces[t] for t in toks), "en")
    assert [w.text for w in words] == [" He", " was", " ill-disposed."]
    assert [w.first for w in words] == [0, 1, 2] and words[2].tokens == [3, 4, 5, 6, 7]
    chinese = {1: "你", 2: "好", 3: "。"}
    words = split_words([1, 2, 3], lambda toks: "".join(chinese[t] for t in toks), "zh")
    assert [w.text for w in words] == ["你", "好。"]


def test_plan_chunks_packs_regions_within_the_limit():
    from mmbench.speech.vad import Chunk, fixed_chunks, plan_chunks

    regions = [Chunk(0.5, 4.0), Chunk(4.5, 12.0), Chunk(13.0, 29.0), Chunk(35.0, 40.0), Chunk(41.0, 110.0)]
    chunks = plan_chunks(regions, duration=120.0, max_chunk_s=30.0)
    # 0.5-29.0 joins the first three (28.5 s); the 6 s pause starts a new chunk; 69 s of speech is cut in three
    assert chunks == [Chunk(0.5, 29.0), Chunk(35.0, 40.0), Chunk(41.0, 64.0), Chunk(64.0, 87.0), Chunk(87.0, 110.0)]
    assert plan_chunks(regions[:3], duration=120.0, max_chunk_s=20.0) == [Chunk(0.5, 12.0), Chunk(13.0, 29.0)]
    assert fixed_chunks(65.0) == [Chunk(0.0, 30.0), Chunk(30.0, 60.0), Chunk(60.0, 65.0)]


@needs_librivox
def test_silero_vad_finds_the_two_utterances(recordings):
    from mmbench.speech.vad import speech_regions

    first, second = _read(recordings["0880"].path), _read(recordings["0930"].path)
    audio = np.concatenate([first, np.zeros(3 * 16_000, np.float32), second])
    regions = speech_regions(audio)
    assert len(regions) == 2
    gap_start, gap_end = len(first) / 16_000, len(first) / 16_000 + 3.0
    assert regions[0].end <= gap_start + 0.3 and regions[1].start >= gap_end - 0.3


# -- the offline tier on real speech ---------------------------------------------------------------
@needs_librivox
def test_offline_whisper_transcribes_a_librivox_recording(offline_pipe, recordings):
    rec = recordings["0870"]
    result = offline_pipe(rec.path)
    assert word_error_rate(rec.transcript, result.text).wer <= 0.10, result.text
    assert result.language == "en" and result.language_probability is None
    assert result.duration == pytest.approx(7.1, abs=0.01) and 0 < result.rtf < 5
    assert result.segments and all(0 < s.confidence <= 1 for s in result.segments)
    words = result.words
    assert len(words) == pytest.approx(len(rec.transcript.split()), abs=2)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= result.duration for w in words)
    assert all(0 <= w.probability <= 1 for w in words)
    dashwood = next(w for w in words if "Dashwood" in w.text)
    assert 0.8 < dashwood.start < 1.6  # "and mister john dashwood": about 1.1 s in (checked by ear)
    assert result.table()[0]["start"] == result.segments[0].start
    with pytest.raises(InvalidInputError, match="English only"):
        offline_pipe(rec.path, language="zh")


@needs_librivox
def test_voice_activity_chunking_keeps_timestamps_on_the_recording(offline_pipe, recordings, monkeypatch):
    first, second = _read(recordings["0880"].path), _read(recordings["0930"].path)
    audio = np.concatenate([first, np.zeros(4 * 16_000, np.float32), second])
    monkeypatch.setattr(offline_pipe, "chunk_seconds", 6.0)  # so this 10 s clip counts as "long"
    result = offline_pipe((16_000, audio), beam_size=1)
    assert result.vad and len(result.chunks) == 2
    reference = recordings["0880"].transcript + " " + recordings["0930"].transcript
    assert word_error_rate(reference, result.text).wer <= 0.25, result.text
    second_start = (len(first) / 16_000) + 4.0
    assert result.chunks[1][0] >= second_start - 0.5
    might = [w for w in result.words if w.text.strip().lower().startswith("might")]
    assert might and might[0].start > second_start  # "he might even ...": in the second utterance


@needs_librivox
def test_stereo_96k_recording_is_resampled_and_transcribed(offline_pipe, recordings, tmp_path):
    import soxr

    rec = recordings["0930"]
    mono = soxr.resample(_read(rec.path), 16_000, 96_000)
    path = tmp_path / "stereo96k.wav"
    soundfile.write(path, np.stack([mono, 0.5 * mono], axis=1), 96_000, subtype="PCM_24")
    result = offline_pipe(path, beam_size=1)
    assert result.duration == pytest.approx(3.29, abs=0.01)
    assert word_error_rate(rec.transcript, result.text).wer <= 0.15, result.text


def _two_hour_wav_header(path) -> None:
    """A WAV whose header announces 2 hours of 16 kHz int16 audio; the file is sparse (no data written)."""
    rate, frames = 16_000, 2 * 3600 * 16_000
    data_bytes = frames * 2
    header = (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate,
              rate * 2, 2, 16) + b"data" + struct.pack("<I", data_bytes))
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + data_bytes)  # sparse: takes no disk space


def test_bad_audio_gives_typed_errors(offline_pipe, tmp_path, monkeypatch):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16_000, np.float32), 16_000)
    click = (16_000, np.sin(np.arange(16) / 3.0).astype(np.float32))  # 1 ms
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + np.random.default_rng(3).bytes(400))
    for source, fragment in [(silent, "silent"), (click, "too short"), (corrupt, "could not be decoded"),
                             (b"", "empty"), (None, "No audio")]:
        with pytest.raises(AudioError, match=fragment):
            offline_pipe(source)
    long_wav = tmp_path / "two_hours.wav"
    _two_hour_wav_header(long_wav)

    def refuse(*args, **kwargs):
        raise AssertionError("the 2-hour file was decoded although its header should have been enough")

    monkeypatch.setattr(soundfile, "read", refuse)
    monkeypatch.setattr(soundfile.SoundFile, "read", refuse)
    with pytest.raises(AudioError, match="2 h.*limit is 30 min"):
        offline_pipe(long_wav)
    tone = (16_000, np.sin(np.arange(16_000) / 5.0).astype(np.float32))
    for kwargs, fragment in [({"beam_size": 0}, "beam_size"), ({"language": "klingon"}, "English only")]:
        with pytest.raises(InvalidInputError, match=fragment):
            offline_pipe(tone, **kwargs)


def test_offline_mode_falls_back_to_the_offline_whisper(monkeypatch):
    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    pipe = mmbench.pipeline("speech-recognition", device="cpu")
    assert pipe.spec.name == "whisper-tiny.en-ct2" and "whisper-small" in pipe.notice
    assert not pipe.multilingual and pipe.languages == ["en"]


# -- the online path (transformers) with a tiny random Whisper ------------------------------------
def test_tiny_random_whisper_runs_the_same_pipeline_api(tiny_whisper):
    import torch

    backend = tiny_whisper.backend
    assert "random weights" in tiny_whisper.describe() and tiny_whisper.multilingual
    rng = np.random.default_rng(4)
    audio = (0.2 * rng.standard_normal(16_000 * 3)).astype(np.float32)
    result = tiny_whisper((16_000, audio), beam_size=1)
    assert result.language in tiny_whisper.languages and 0 < result.language_probability <= 1
    assert result.model == "test-whisper-random" and result.duration == pytest.approx(3.0)
    for seg in result.segments:
        assert 0 <= seg.start <= seg.end <= 3.0 and 0 < seg.confidence <= 1 and 0 <= seg.no_speech_prob <= 1
        assert all(0 <= w.start <= w.end <= 3.0 and 0 <= w.probability <= 1 for w in seg.words)
        assert "".join(w.text for w in seg.words).strip() == seg.text

    # Language detection agrees with transformers' own WhisperGenerationMixin.detect_language.
    feats = backend.features(audio)
    with torch.inference_mode():
        lang_id = int(backend.model.detect_language(feats)[0])
    assert backend.lang_to_id[result.language] == lang_id

    # The segments carry exactly the text that transformers' generate + decode produce.
    with torch.inference_mode():
        ids = backend.model.generate(feats, language=result.language, task="transcribe", return_timestamps=True,
                                     num_beams=1, do_sample=False, max_new_tokens=24)
    expected = backend.tokenizer.decode([t for t in ids[0].tolist() if t < backend.eot], skip_special_tokens=True)
    assert "".join(expected.split()) == "".join(result.text.split())  # segments are joined with spaces

    forced = tiny_whisper((16_000, audio), beam_size=2, language="Chinese", word_timestamps=False)
    assert forced.language == "zh" and forced.language_probability is None
    assert all(not s.words for s in forced.segments)
    with pytest.raises(InvalidInputError, match="does not know the language"):
        tiny_whisper((16_000, audio), language="xx")


def test_transcript_result_is_consistent():
    from mmbench.speech.transcript import Segment, Transcript, Word

    seg = Segment(1.0, 2.0, "hi there", math.log(0.5), None, (Word(" hi", 1.0, 1.4, 0.9), Word(" there", 1.4, 2.0, 0.8)))
    shifted = seg.shifted(10.0)
    assert (shifted.start, shifted.end, shifted.words[1].start) == (11.0, 12.0, 11.4)
    t = Transcript("hi there", (seg,), "en", None, duration=4.0, processing_s=1.0, model="m")
    assert t.rtf == 0.25 and t.confidence == pytest.approx(0.5) and [w.text for w in t.words] == [" hi", " there"]
    assert t.as_dict()["segments"][0]["confidence"] == pytest.approx(0.5)


def test_audio_views_match_librosa_and_draw_the_words():
    import librosa

    from mmbench.plots.audio import audio_features, audio_views
    from mmbench.speech.transcript import Word

    rng = np.random.default_rng(5)
    t = np.arange(16_000) / 16_000
    audio = (0.4 * np.sin(2 * np.pi * 440.0 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    feats = audio_features(audio, 16_000)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=16_000, n_fft=512, hop_length=160,
                                                             n_mels=80, fmax=8000), ref=np.max, top_db=80.0)
    assert feats.mel_db.shape == ref.shape == (80, 101)
    assert np.abs(feats.mel_db - ref).max() < 0.01
    assert feats.mfcc.shape == (13, 101)
    assert int(np.argmax(feats.chroma.mean(axis=1))) == 9  # 440 Hz is an A
    words = [Word(" hello", 0.1, 0.4, 0.9), Word(" world", 0.5, 0.9, 0.8)]
    fig = audio_views(audio, 16_000, words=words, title="tone")
    mel_ax = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("mel"))
    assert [x.get_text() for x in mel_ax.texts] == ["hello", "world"]
    assert len([ax for ax in fig.axes if ax.get_title(loc="left")]) == 4
    with pytest.raises(InvalidInputError, match="Unknown audio view"):
        audio_views(audio, 16_000, views=["sonogram"])
    with pytest.raises(AudioError):
        audio_views(io.BytesIO(b"not audio"))
