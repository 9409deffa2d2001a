"""mmbench.compress beyond the tiny CLIP's towers: the other model families (MiniLM, EfficientNet-Lite0, the tiny
video model, fusion-lab models, faster-whisper), pruning with a fine-tune, torchao, the measurement helpers
(interleaved paired timing, the CPU runtime settings) and the errors for what cannot be compressed."""

from __future__ import annotations

import time
import types

import numpy as np
import pytest
import torch

import mmbench
from mmbench.benchmarks.timing import interleaved, paired_speedup, quartiles
from mmbench.compress import compress, cpu_runtime, magnitude_prune, sparsity, structured_prune
from mmbench.data.world import shape_colour_classes
from mmbench.errors import CompressionError, InvalidInputError
from mmbench.eval.matching import zero_shot_set

pytestmark = pytest.mark.usefixtures("one_thread")

SENTENCES = ["The service was truly amazing.", "The film was neither great nor terrible.", "a red circle left of a square"]


# -- measurement helpers ---------------------------------------------------------------------------
def test_paired_rounds_measure_a_known_ratio():
    calls = {"fp32": lambda: time.sleep(0.004), "half": lambda: time.sleep(0.002), "same": lambda: time.sleep(0.004)}
    times = interleaved(calls, rounds=6, warmup=1)
    assert len(times["half"].times_ms) == 6 and len(times["half"].paired_baseline_ms) == 6
    assert len(times["fp32"].times_ms) == 12  # one baseline call per pair
    assert 1.5 < paired_speedup(times["fp32"], times["half"])["median"] < 2.6
    assert 0.7 < paired_speedup(times["fp32"], times["same"])["median"] < 1.4
    assert paired_speedup(times["fp32"], times["fp32"]) == {"median": 1.0, "q1": 1.0, "q3": 1.0}
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)


def test_cpu_runtime_sets_the_same_threads_for_both_runtimes():
    before = torch.get_num_threads()
    try:
        settings = cpu_runtime(1)
        assert torch.get_num_threads() == 1 and settings.threads == 1
        assert settings.allocator in ("reuse", "default") and "thread" in settings.describe()
        with pytest.raises(InvalidInputError):
            cpu_runtime(1, allocator="jemalloc")
    finally:
        torch.set_num_threads(before)


# -- sentence embedding (MiniLM) -------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    return mmbench.pipeline("sentence-embedding", model="all-minilm-l6-v2", device="cpu", fallback=False, cache=False)


def test_minilm_int8_and_onnx(minilm, tmp_path):
    ref = minilm.embed(SENTENCES)
    onnx = compress(minilm, "onnx", folder=tmp_path / "onnx", threads=1)
    assert np.abs(onnx.pipeline.embed(SENTENCES) - ref).max() < 1e-5  # same float32 graph
    int8 = compress(minilm, "int8-dynamic", folder=tmp_path / "int8")
    cos = (int8.pipeline.embed(SENTENCES) * ref).sum(1)
    assert cos.min() > 0.97, cos
    fp32 = compress(minilm, "fp32", folder=tmp_path / "fp32")
    assert int8.size_bytes < 0.7 * fp32.size_bytes  # the 30k-word embedding table stays float32
    assert int8.pipeline.spec.name == "all-minilm-l6-v2+int8-dynamic" and type(int8.pipeline) is type(minilm)
    assert np.allclose(minilm.embed(SENTENCES), ref)  # the original is untouched


# -- image classification (EfficientNet-Lite0) -----------------------------------------------------
@pytest.fixture(scope="module")
def effnet():
    return mmbench.pipeline("image-classification", model="efficientnet-lite0", device="cpu", fallback=False, cache=False)


def test_efficientnet_onnx_and_bfloat16_agree_with_the_original(effnet, tmp_path):
    from mmbench.examples import real_photos

    photos = list(real_photos().values())
    ref = effnet.probabilities(photos)
    onnx = compress(effnet, "onnx", folder=tmp_path / "onnx", threads=1)
    assert np.abs(onnx.pipeline.probabilities(photos) - ref).max() < 1e-4
    bf16 = compress(effnet, "bfloat16", folder=tmp_path / "bf16")
    assert (bf16.pipeline.probabilities(photos).argmax(1) == ref.argmax(1)).all()
    assert bf16.size_bytes < 0.55 * onnx.size_bytes
    int8 = compress(effnet, "onnx-int8", folder=tmp_path / "int8", threads=1)  # MatMul/Gemm only: the classifier
    assert (int8.pipeline.probabilities(photos).argmax(1) == ref.argmax(1)).all()


# -- video (mmbench-tiny-video) --------------------------------------------------------------------
def test_tiny_video_onnx_and_half_keep_the_predictions(tmp_path):
    from mmbench.data.clips import ClipWorld

    pipe = mmbench.pipeline("video-classification", model="mmbench-tiny-video", device="cpu", fallback=False, cache=False)
    frames = np.stack([c.frames for c in ClipWorld(seed=20_011).clips(6)])
    with torch.inference_mode():
        ref = pipe.backend.window_logits(frames)
        onnx = compress(pipe, "onnx", folder=tmp_path / "onnx", threads=1)
        assert torch.allclose(onnx.backend.window_logits(frames), ref, atol=1e-4)
        half = compress(pipe, "bfloat16", folder=tmp_path / "bf16")
        got = half.backend.window_logits(frames)
        assert got.dtype == torch.float32 and (got.mean(1).argmax(-1) == ref.mean(1).argmax(-1)).all()
        wave = np.zeros(16_000, np.float32)  # the audio network stays float32 PyTorch
        assert torch.equal(half.backend.audio_logits(wave, 16_000), pipe.backend.audio_logits(wave, 16_000))
    with pytest.raises(CompressionError, match="convolutions") as err:
        compress(pipe, "int8-dynamic")
    assert "bfloat16" in err.value.hint


# -- fusion-lab models -----------------------------------------------------------------------------
DIMS = {"text": 12, "image": 10, "audio": 6}


def _features(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in DIMS.items()}


def test_fusion_model_int8_and_onnx(tmp_path):
    from mmbench.fusion.training import predict_proba
    from mmbench.models.fusion_strategies import build_strategy

    torch.manual_seed(0)
    model = build_strategy("tfn", DIMS).eval()
    x = _features()
    ref = predict_proba(model, x)
    onnx = compress(model, "onnx", folder=tmp_path / "onnx", threads=1)
    assert onnx.pipeline is None and np.abs(predict_proba(onnx.backend, x) - ref).max() < 1e-5
    int8 = compress(model, "int8-dynamic", folder=tmp_path / "int8")
    assert np.abs(predict_proba(int8.backend, x) - ref).max() < 0.05
    with pytest.raises(InvalidInputError, match="every modality"):
        predict_proba(onnx.backend, {m: v for m, v in x.items() if m != "audio"})
    with pytest.raises(CompressionError, match="cannot run"):  # TFN builds float32 constants inside forward
        compress(model, "float16")


def test_onnx_export_of_an_unexportable_model_names_what_to_do(tmp_path):
    """PyTorch's fused transformer fast path (the attention fusion strategy) has no ONNX translation."""
    from mmbench.models.fusion_strategies import build_strategy

    model = build_strategy("attention", DIMS).eval()
    with pytest.raises(CompressionError, match="cannot be exported to ONNX") as err:
        compress(model, "onnx", folder=tmp_path)
    assert "_transformer_encoder_layer_fwd" in str(err.value) and "int8-dynamic" in err.value.hint
    int8 = compress(model, "int8-dynamic", folder=tmp_path / "int8")  # its transformer layer stays float32
    with torch.inference_mode():
        assert torch.isfinite(int8.backend({m: torch.as_tensor(v) for m, v in _features().items()})).all()


def test_unsupported_family_and_options_are_typed_errors(tiny_pipe):
    fake = types.SimpleNamespace(backend=object(), spec=types.SimpleNamespace(name="x", backend="prosody_cnn",
                                                                              task="audio-classification"))
    with pytest.raises(CompressionError, match="no compression target") as err:
        compress(fake, "int8-dynamic")
    assert "fusion" in err.value.hint
    with pytest.raises(CompressionError, match="do not apply"):
        compress(tiny_pipe, "int8-dynamic", amount=0.5)


# -- pruning (tiny CLIP) ---------------------------------------------------------------------------
def test_magnitude_and_structured_pruning(tiny_pipe):
    model = tiny_pipe.backend.model
    pruned = magnitude_prune(model, 0.6)
    assert abs(sparsity(pruned) - 0.6) < 0.01 and sparsity(model) < 0.01  # the original keeps its weights
    small = structured_prune(model, 0.5)
    assert small.visual.blocks[0].mlp[0].out_features == 320
    assert sum(p.numel() for p in small.parameters()) < 0.75 * sum(p.numel() for p in model.parameters())
    with pytest.raises(CompressionError, match="0.25, 0.5 or 0.75"):
        structured_prune(model, 0.4)


def test_pruned_and_fine_tuned_models_still_classify(tiny_pipe, tmp_path):
    images, labels = zero_shot_set(12, 20_017)
    for method, amount in (("prune-magnitude", 0.5), ("prune-structured", 0.5)):
        cm = compress(tiny_pipe, method, amount=amount, finetune_steps=2, batch_size=8, folder=tmp_path / method)
        info = cm.backend.pruning
        assert info["finetune"]["steps"] == 2 and np.isfinite(info["finetune"]["loss_last"])
        if method == "prune-magnitude":
            assert abs(info["sparsity"] - 0.5) < 0.01  # the fine-tune kept the zeros at zero
            assert not any(n.endswith("weight_orig") for n, _ in cm.backend.model.named_parameters())
        else:
            assert info["params"] < 0.75 * sum(p.numel() for p in tiny_pipe.backend.model.parameters())
        results = cm.pipeline.zero_shot_classify_batch(images, shape_colour_classes())
        assert np.mean([r.top == y for r, y in zip(results, labels)]) >= 10 / 12, method
        assert cm.pipeline.can_rerank  # the pruned matching head still re-ranks


def test_torchao_weight_only_int8(tiny_pipe, tmp_path):
    images, _ = zero_shot_set(6, 20_017)
    cm = compress(tiny_pipe, "torchao-int8", folder=tmp_path)
    assert np.allclose(cm.pipeline.embed_images(images), tiny_pipe.embed_images(images), atol=2e-2)
    assert cm.size_bytes < 0.4 * compress(tiny_pipe, "fp32", folder=tmp_path / "fp32").size_bytes


# -- Whisper through CTranslate2 -------------------------------------------------------------------
def test_whisper_int8_and_float32_through_ctranslate2():
    from mmbench.speech.corpora import librivox_recordings
    from mmbench.speech.wer import word_error_rate

    pipe = mmbench.pipeline("speech-recognition", model="whisper-tiny.en-ct2", device="cpu", fallback=False, cache=False)
    rec = librivox_recordings()[0]
    fp32, int8 = compress(pipe, "fp32", threads=2), compress(pipe, "ct2-int8", threads=2)
    assert fp32.backend.note == "CTranslate2 float32" and int8.backend.note.startswith("CTranslate2 int8")
    assert fp32.pipeline.spec.name == "whisper-tiny.en-ct2+fp32"
    for cm in (fp32, int8):
        assert word_error_rate(rec.transcript, cm.pipeline(rec.path, beam_size=1).text).wer <= 0.15
    with pytest.raises(CompressionError, match="CTranslate2"):
        compress(pipe, "onnx")


# -- the benchmark (mmbench bench compress) ----------------------------------------------------------
@pytest.mark.slow
def test_bench_compress_keys_and_other_tables():
    from mmbench.benchmarks.compress import run

    result = run(methods="fp32,int8-dynamic,onnx", repeats=3, warmup=1, n_zero_shot=40, n_binding=20, threads=1,
                 models="mmbench-tiny-video,whisper-tiny.en-ct2")
    assert result["int8_zero_shot_drop"] <= 0.05 and result["onnx_max_abs_diff"] <= 1e-4
    assert len(result["int8_speedup_iqr"]) == 2 and result["runtime"]["threads"] == 1
    video = result["tables"]["mmbench-tiny-video"]["rows"]
    assert video["onnx"]["metric"] == video["fp32"]["metric"] and "error" in video["int8-dynamic"]
    whisper = result["tables"]["whisper-tiny.en-ct2"]["rows"]
    assert whisper["int8-dynamic"]["weights_in_memory_mb"] < 0.3 * whisper["fp32"]["weights_in_memory_mb"]
    assert whisper["int8-dynamic"]["metric"] <= whisper["fp32"]["metric"] + 0.02
