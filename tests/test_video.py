"""Video action recognition and audio-visual fusion (issue 6): procedural clips, video input with
PyAV, the shipped tiny video + audio model, the online VideoMAE / X-CLIP paths with tiny random
models built from configs (no download), temporal occlusion, the fusion S(t) = a S_v(t) + b S_a(t),
the Video tab's handlers and `mmbench eval video`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import mmbench
from mmbench.data.clips import MOTIONS, ClipWorld
from mmbench.errors import InvalidInputError, ModelUnavailableError, VideoError
from mmbench.registry import register, unregister
from mmbench.io import load_video, read_audio, sample_windows, validate_video, write_video
from tiny_models import VIDEOMAE_TINY, XCLIP_TINY, tiny_spec

TASK = "video-classification"
TINY = "mmbench-tiny-video"


@pytest.fixture(scope="module")
def tiny():
    return mmbench.pipeline(TASK, model=TINY, device="cpu")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """MP4s of procedural clips (with and without sound) and malformed videos."""
    folder = tmp_path_factory.mktemp("videos")
    clip = ClipWorld(seed=4242).clip(0, "bouncing")
    out = {"clip": clip}
    out["mp4"] = str(write_video(folder / "bouncing.mp4", clip.frames, clip.fps, clip.audio, clip.sample_rate, scale=2))
    out["silent_film"] = str(write_video(folder / "no_audio.mp4", clip.frames, clip.fps))
    out["one_frame"] = str(write_video(folder / "one.mp4", clip.frames[:1], clip.fps))
    data = (folder / "bouncing.mp4").read_bytes()
    (folder / "corrupt.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end: cut off
    out["corrupt"] = str(folder / "corrupt.mp4")
    (folder / "garbage.mp4").write_bytes(b"this is not a video\n" * 50)
    out["garbage"] = str(folder / "garbage.mp4")
    (folder / "unknown_codec.mp4").write_bytes(data.replace(b"avc1", b"zzzz"))  # a codec FFmpeg has no decoder for
    out["unknown_codec"] = str(folder / "unknown_codec.mp4")
    import soundfile

    soundfile.write(folder / "speech.wav", clip.audio, clip.sample_rate)
    out["wav"] = str(folder / "speech.wav")
    out["long"] = str(write_video(folder / "long.mp4", np.zeros((601, 16, 16, 3), np.uint8), 1))  # 10 min 1 s
    (folder / "empty.mp4").write_bytes(b"")
    out["empty"] = str(folder / "empty.mp4")
    return out


# -- procedural clips --------------------------------------------------------------------------------
def test_clips_are_deterministic_and_seeded():
    a, b = ClipWorld(seed=3).clip(5), ClipWorld(seed=3).clip(5)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio) and a.motion == b.motion
    c = ClipWorld(seed=4).clip(5)
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.shape == (16, 64, 64, 3) and a.frames.dtype == np.uint8
    assert a.audio.shape == (32000,) and a.audio.dtype == np.float32 and np.abs(a.audio).max() <= 1


def _object_mask(clip):
    """Pixels of the object's colour (saturated; the backgrounds are greyish), per frame."""
    from mmbench.data.world import COLOURS

    colour = np.array(COLOURS[clip.colour], np.float32)
    return np.linalg.norm(clip.frames.astype(np.float32) - colour, axis=-1) < 60


def test_motions_move_the_object_as_named():
    world = ClipWorld(seed=11, noise=0, p_distractor=0)
    for motion, axis, sign in (("moving right", 1, 1), ("moving left", 1, -1), ("moving down", 0, 1),
                               ("moving up", 0, -1)):
        mask = _object_mask(world.clip(0, motion))
        centres = [np.argwhere(m)[:, axis].mean() for m in mask if m.any()]
        assert sign * (centres[-1] - centres[0]) > 10, motion
    sizes = {m: _object_mask(world.clip(1, m)).sum(axis=(1, 2)) for m in ("growing", "shrinking")}
    assert sizes["growing"][-1] > 2 * sizes["growing"][0] and sizes["shrinking"][0] > 2 * sizes["shrinking"][-1]
    blink = world.clip(2, "blinking")
    assert blink.visible.any() and not blink.visible.all()


def _band_energy(audio, sr, t0, t1):
    seg = audio[int(t0 * sr):int(t1 * sr)]
    return float(np.mean(seg.astype(np.float64) ** 2)) if len(seg) else 0.0


def test_the_sound_carries_the_motion():
    world = ClipWorld(seed=12)
    bounce = world.clip(0, "bouncing")
    assert bounce.events
    sr = bounce.sample_rate
    for e in bounce.events:  # a beep on every bounce, quiet between them
        t = e / bounce.fps
        assert _band_energy(bounce.audio, sr, t, t + 0.05) > 20 * _band_energy(bounce.audio, sr, t + 0.09, t + 0.12)

    def dominant(audio, t0):
        seg = audio[int(t0 * sr):int(t0 * sr) + 2048] * np.hanning(2048)
        return np.argmax(np.abs(np.fft.rfft(seg))) * sr / 2048

    grow, shrink = world.clip(1, "growing"), world.clip(1, "shrinking")
    assert dominant(grow.audio, 1.8) > 2 * dominant(grow.audio, 0.0)     # rising tone while growing
    assert dominant(shrink.audio, 0.0) > 2 * dominant(shrink.audio, 1.8)  # falling while shrinking
    noisy = world.clip(3, "growing", audio_ambiguity="noise")
    clean = world.clip(3, "growing", audio_ambiguity=None)
    assert abs(np.corrcoef(noisy.audio, clean.audio)[0, 1]) < 0.5  # the tone is drowned (noise 6-12 dB louder)


def test_ambiguity_controls():
    world = ClipWorld(seed=13, p_video_ambiguous=0.5, p_audio_ambiguous=0.5)
    clips = world.clips(60)
    assert not any(c.video_ambiguity and c.audio_ambiguity for c in clips)  # never both
    assert sum(c.video_ambiguity is not None for c in clips) > 15 and sum(c.audio_ambiguity is not None for c in clips) > 15
    hidden = ClipWorld(seed=14, p_distractor=0).clip(0, "moving right", hidden_frames=range(4, 12))
    assert not hidden.visible[4:12].any() and hidden.visible[:4].all()
    with pytest.raises(ValueError):
        ClipWorld(seed=0).clip(0, "dancing")


# -- video input -----------------------------------------------------------------------------------
def test_mp4_round_trip_keeps_frames_and_sound_in_sync(files):
    clip = files["clip"]
    info = validate_video(files["mp4"])
    assert (info.width, info.height, info.n_frames, info.has_audio) == (128, 128, 16, True)
    assert info.fps == pytest.approx(8.0)
    video = load_video(files["mp4"], clip_len=16, with_audio=True, short_side=None)
    big = np.repeat(np.repeat(clip.frames, 2, axis=1), 2, axis=2).astype(np.float32)
    assert np.abs(video.frames.astype(np.float32) - big).mean() < 6  # H.264 at CRF 18
    audio = video.audio[: len(clip.audio)]
    assert np.corrcoef(audio, clip.audio[: len(audio)])[0, 1] > 0.99  # AAC priming removed: no lag
    assert not validate_video(files["silent_film"]).has_audio and read_audio(files["silent_film"]) is None


def test_sampling_windows():
    idx, windows = sample_windows(16, clip_len=8, stride=1)
    assert windows == [(0, 8), (8, 16), (16, 24)] and idx[8:16].tolist() == list(range(4, 12))
    idx, windows = sample_windows(10, clip_len=16, stride=1)  # short video: the last frame repeats
    assert len(windows) == 1 and idx.tolist() == list(range(10)) + [9] * 6
    idx, windows = sample_windows(10_000, clip_len=16, stride=4, max_windows=5)  # spread over the video
    assert len(windows) == 5 and idx[0] == 0 and idx[-1] == 9999 and np.all(np.diff(idx[:16]) == 4)
    with pytest.raises(InvalidInputError):
        sample_windows(100, clip_len=0)


@pytest.mark.timeout(120)
def test_long_videos_are_sampled_by_seeking(tmp_path):
    n = 1800  # 60 s at 30 fps, a keyframe every 250 frames; each frame's number is written in its pixels
    frames = np.zeros((n, 32, 32, 3), np.uint8)
    frames[..., 0] = (np.arange(n) % 256)[:, None, None]
    frames[..., 1] = (np.arange(n) // 256 * 30)[:, None, None]
    path = write_video(tmp_path / "counter.mp4", frames, 30, options={"g": "250", "sc_threshold": "0"})
    for windows in (2, 5):  # the last window starts 239 frames after a keyframe: one seek, then decode forward
        video = load_video(path, clip_len=16, stride=4, max_windows=windows)
        decoded = video.frames[:, 16, 16, 0].astype(int) + np.round(video.frames[:, 16, 16, 1] / 30).astype(int) * 256
        assert np.abs(decoded - video.indices).max() <= 4 and video.indices.max() == n - 1
        assert len(video.windows) == windows


@pytest.mark.parametrize("kind, message", [
    ("corrupt", "could not be opened"), ("garbage", "could not be opened"), ("one_frame", "only 1 frame"),
    ("unknown_codec", "codec FFmpeg cannot decode"), ("wav", "no video stream"), ("long", "the limit is 10:00"),
    ("empty", "empty (0 bytes)")])
def test_bad_videos_are_typed_errors(files, kind, message):
    with pytest.raises(VideoError) as err:
        validate_video(files[kind])
    assert message in str(err.value)


def test_huge_frames_are_refused_from_the_header(files, monkeypatch):
    import mmbench.io.video as vio

    monkeypatch.setattr(vio, "MAX_VIDEO_PIXELS", 100 * 100)  # the 128x128 test file plays an 8K video
    with pytest.raises(VideoError, match="pixels per frame"):
        load_video(files["mp4"])
    with pytest.raises(VideoError, match="needs its frame rate"):
        load_video(np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="only 1 frame"):
        load_video(np.zeros((1, 8, 8, 3), np.uint8), fps=8)


# -- the shipped offline model ---------------------------------------------------------------------
def test_mel_filterbank_matches_librosa():
    import librosa

    from mmbench.models.tiny_video import mel_filterbank

    ours = mel_filterbank(16000, 512, 40, 50.0, 6000.0)
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=50.0, fmax=6000.0)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_tiny_video_model_recognises_fresh_clips(tiny):
    from mmbench.eval.video import clip_scores

    clips = ClipWorld(seed=31_337).balanced(90)  # a fresh held-out seed, 10 clips per motion
    sv, sa = clip_scores(tiny, clips)
    y = np.array([c.label for c in clips])
    video_acc = float((sv.mean(1).argmax(-1) == y).mean())
    assert video_acc >= 0.85, video_acc
    # sound alone cannot tell the four directions apart (same whoosh), but knows the other five motions
    audio_pred = sa.mean(1).argmax(-1)
    others = y >= 4
    assert float((audio_pred[others] == y[others]).mean()) >= 0.8
    assert tiny.labels == list(MOTIONS) and tiny.spec.tier == "offline"


def test_pipeline_equals_the_models_own_computation(tiny, files):
    import torch

    clip = files["clip"]
    result = tiny(clip, top_k=3)
    model = tiny.backend.model
    with torch.inference_mode():
        ref = model.video(model.video.preprocess(clip.frames)).mean(1).softmax(-1)[0].numpy()
    np.testing.assert_allclose(result.probs, ref, atol=1e-5)
    assert [p.index for p in result.predictions] == np.argsort(-ref)[:3].tolist()
    assert result.top.label == "bouncing" and result.frame_probs.shape == (16, 9)
    from_file = tiny(files["mp4"], top_k=1)  # the same clip through H.264 and PyAV
    assert from_file.top.label == result.top.label and np.abs(from_file.probs - result.probs).max() < 0.1
    with open(files["mp4"], "rb") as fh:  # a file object is read once, then checked and decoded
        assert np.allclose(tiny(fh).probs, from_file.probs, atol=1e-6)


def test_default_falls_back_to_the_tiny_model_offline(monkeypatch):
    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    pipe = mmbench.pipeline(TASK, device="cpu", cache=False)
    assert pipe.spec.name == TINY and "videomae-base-kinetics" in pipe.notice
    with pytest.raises(ModelUnavailableError) as err:
        mmbench.pipeline(TASK, model="xclip-base-patch32", device="cpu", fallback=False, cache=False)
    assert "microsoft/xclip-base-patch32" in str(err.value)


# -- online paths with tiny random models ------------------------------------------------------------
def _online(name, backend, config):
    return register(tiny_spec(name, TASK, backend, config, seed=0))


def test_videomae_from_config_through_the_pipeline(files):
    import torch

    spec = _online("test-videomae-tiny", "transformers_videomae", VIDEOMAE_TINY)
    try:
        pipe = mmbench.pipeline(TASK, model=spec.name, device="cpu", cache=False)
        assert pipe.labels == ["juggling", "swimming", "bouncing"] and "random" in pipe.backend.note
        result = pipe(files["mp4"], top_k=3)
        assert pipe.clip_len == 4 and all(e - s == 4 for s, e in result.video.windows)
        # transformers' own recipe on the same sampled windows, averaged over windows
        windows = [list(result.video.window_frames(i)) for i in range(len(result.video.windows))]
        with torch.inference_mode():
            inputs = pipe.backend.processor(windows, return_tensors="pt")
            ref = pipe.backend.model(**inputs).logits.softmax(-1).mean(0).numpy()
        np.testing.assert_allclose(result.probs, ref, atol=1e-5)
        assert abs(sum(p.prob for p in result.predictions) - 1) < 1e-5
    finally:
        unregister(spec.name)


def test_xclip_zero_shot_from_config_through_the_pipeline(files):
    import torch

    spec = _online("test-xclip-tiny", "transformers_xclip", XCLIP_TINY)
    labels = ["a ball bouncing", "a square rotating", "someone cooking"]
    try:
        pipe = mmbench.pipeline(TASK, model=spec.name, device="cpu", cache=False)
        assert pipe.zero_shot and pipe.labels is None
        result = pipe(files["clip"], labels=labels, top_k=3)
        assert result.labels == labels
        window = list(result.video.window_frames(0))
        with torch.inference_mode():
            inputs = pipe.backend.processor(text=labels, videos=[window], return_tensors="pt", padding=True)
            ref = pipe.backend.model(**inputs).logits_per_video.softmax(-1)[0].numpy()
        np.testing.assert_allclose(result.window_probs[0], ref, atol=1e-5)
        with pytest.raises(InvalidInputError, match="zero-shot"):
            pipe(files["clip"])
    finally:
        unregister(spec.name)


# -- which frames mattered ----------------------------------------------------------------------------
def test_temporal_importance_peaks_on_the_informative_frames(tiny):
    from mmbench.explain import TemporalExplanation, explain

    informative = range(5, 11)
    clip = ClipWorld(seed=77, p_distractor=0).clip(0, "moving right",
                                                   hidden_frames=[i for i in range(16) if i not in informative])
    exp = explain(tiny, clip, "moving right")
    assert isinstance(exp, TemporalExplanation) and exp.importance.shape == (16,)
    inside = np.isin(np.arange(16), list(informative))
    assert exp.peak in informative
    assert exp.importance[inside].mean() > 3 * max(exp.importance[~inside].mean(), 1e-3)
    png = exp.to_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidInputError):
        explain(tiny, clip, "moving right", method="gradcam")


# -- audio-visual fusion ------------------------------------------------------------------------------
def test_fit_weights_minimises_the_log_loss():
    from mmbench.models.audio_visual import fit_weights, fuse

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    informative = np.eye(4)[y][:, None, :] * 2.0 + rng.normal(0, 1.0, (300, 6, 4))
    noise = rng.normal(0, 1.0, (300, 6, 4))
    a, b = fit_weights(informative, noise, y)
    assert a > 0.5 and b < 0.25 * a  # a modality that says nothing gets (almost) no weight

    def nll(a_, b_):
        z = fuse(informative, noise, a_, b_).mean(1)
        z = z - z.max(1, keepdims=True)
        return -(z[np.arange(300), y] - np.log(np.exp(z).sum(1))).mean()

    grid = min(nll(x, v) for x in np.linspace(0, 4, 41) for v in np.linspace(0, 2, 21))
    assert nll(a, b) <= grid + 1e-6


def test_fusion_beats_the_better_single_modality_on_ambiguous_clips(tiny):
    from mmbench.eval.video import clip_scores
    from mmbench.models.audio_visual import evaluate_fusion

    clips = ClipWorld(seed=31_338, p_video_ambiguous=0.5, p_audio_ambiguous=0.5).balanced(108)
    sv, sa = clip_scores(tiny, clips)
    y = np.array([c.label for c in clips])
    a, b = tiny.backend.fusion_weights
    report = evaluate_fusion(sv, sa, y, a, b)
    assert report["fusion_gain"] > 0.05, report
    video_bad = np.array([c.video_ambiguity is not None for c in clips])
    for mask in (video_bad, ~video_bad):  # both where the picture and where the sound is ambiguous
        part = evaluate_fusion(sv, sa, y, a, b, mask)
        assert part["fusion_accuracy"] >= max(part["video_accuracy"], part["audio_accuracy"]), part


def test_audio_visual_needs_a_sound_track(tiny, files):
    result = tiny.audio_visual(files["mp4"])
    assert result.fused_scores.shape == result.video_scores.shape == (16, 9)
    np.testing.assert_allclose(result.fused_scores, result.a * result.video_scores + result.b * result.audio_scores,
                               rtol=1e-6)
    with pytest.raises(VideoError, match="no audio track"):
        tiny.audio_visual(files["silent_film"])


# -- the Video tab and the CLI ---------------------------------------------------------------------------
def test_video_tab_handlers_return_messages_not_tracebacks(files, monkeypatch):
    import gradio as gr

    from mmbench.ui import video_tab

    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    model = f"{TINY} (offline)"
    path, info = video_tab.make_example("growing", "noise", 3)
    assert path.endswith(".mp4") and "growing" in info and "noise" in info
    top, fig, windows, status = video_tab.classify(model, path, "", 3, 0, 0)
    assert len(top) == 3 and windows["model"] == TINY and TINY in status
    plot, text, state = video_tab.fuse_audio_video(path, 1.0, 1.0)
    assert "Fused" in text and len(state["video"]) == 16
    import re

    _, text2 = video_tab.refuse(state, 0.0, 1.0)  # a = 0: the fused answer is the sound's answer
    answers = dict(re.findall(r"\*\*(Video only|Audio only|Fused)[^*]*:\*\* (.+?) \(", text2))
    assert answers["Fused"] == answers["Audio only"], text2
    for call, message in (
            (lambda: video_tab.classify(model, None, "", 3, 0, 0), "No video yet"),
            (lambda: video_tab.classify(model, files["corrupt"], "", 3, 0, 0), "could not be opened"),
            (lambda: video_tab.classify(model, files["one_frame"], "", 3, 0, 0), "only 1 frame"),
            (lambda: video_tab.classify(model, path, "", 99, 0, 0), "Top-k must be from 1 to 10"),
            (lambda: video_tab.fuse_audio_video(files["silent_film"], 1, 1), "no audio track"),
            (lambda: video_tab.refuse(None, 1, 1), "first"),
            (lambda: video_tab.refuse(state, -1, 1), "must be from 0 to 10"),
            (lambda: video_tab.explain_frames(model, path, "", "dancing", 1, 0, 0), "not a class")):
        with pytest.raises(gr.Error) as err:
            call()
        assert message in str(err.value), str(err.value)


def test_eval_video_prints_json_lines_with_plain_keys():
    proc = subprocess.run([sys.executable, "-m", "mmbench.cli", "eval", "video", "--n-clips", "45",
                           "--n-ambiguous", "45"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(x) for x in proc.stdout.strip().splitlines()]
    summary = lines[-1]
    for key in ("accuracy", "audio_accuracy", "fusion_accuracy", "fusion_gain"):
        assert -1.0 <= summary[key] <= 1.0, key
    assert set(summary["fusion_weights"]) == {"a", "b"} and summary["accuracy"] >= 0.8
    assert {row["modality"] for row in lines[:-1] if row.get("set") == "standard"} == {"video", "audio", "fused"}


def test_video_endpoints_through_the_served_app(app_url, files):
    """The named endpoints, called as a user would with gradio_client (example file served back, bad file refused)."""
    import gradio_client

    client = gradio_client.Client(app_url, verbose=False)
    model = f"{TINY} (offline)"
    path, info = client.predict("moving left", "none", 2, api_name="/make_video_example")
    assert path.endswith(".mp4") and "moving left" in info
    top, _plot, windows, _status = client.predict(model, gradio_client.handle_file(path), "", 3, 0, 0,
                                                  api_name="/classify_video")
    assert top["label"] == "moving left" and windows["model"] == TINY
    _plot, text = client.predict(gradio_client.handle_file(path), 2.7, 3.4, api_name="/fuse_audio_video")  # the State stays on the server
    assert "Fused" in text
    with pytest.raises(Exception, match="could not be opened"):
        client.predict(model, gradio_client.handle_file(files["garbage"]), "", 3, 0, 0, api_name="/classify_video")
