"""Word attributions (mmbench.explain.text) and time-frequency occlusion (mmbench.explain.audio), checked
against known properties: a model where only one word / one spectrogram region matters, the
completeness of integrated gradients, and deletion on the real prosody CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mmbench.errors import InvalidInputError, TextError
from mmbench.explain import (SpectrogramModel, TextModel, WordAttribution, explain_spectrogram, explain_words)
from mmbench.explain.text import split_words
from tiny_models import BERT_SPECIAL_TOKENS, write_vocab

WORDS = BERT_SPECIAL_TOKENS + ["the", "film", "was", "great", "boring", "really", "."]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import BertTokenizer

    tok = BertTokenizer(str(write_vocab(tmp_path_factory.mktemp("tok"), WORDS)))
    assert tok.is_fast
    return tok


class OneWordModel(nn.Module):
    """Class 1's logit is 3 tanh(#'great' * 0.7); every other word moves only embedding dimensions
    the output ignores, so only 'great' can matter."""

    def __init__(self, great_id: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embeddings = nn.Embedding(len(WORDS), 3)
        with torch.no_grad():
            self.embeddings.weight[:, 0] = 0.0
            self.embeddings.weight[great_id, 0] = 0.7
            self.embeddings.weight[0] = 0.0  # [PAD]

    def forward(self, input_ids, attention_mask=None, **_):
        e = self.embeddings(input_ids)
        if attention_mask is not None:
            e = e * attention_mask.unsqueeze(-1)
        s = e.sum(dim=1)[:, 0]
        return torch.stack([torch.zeros_like(s), 3 * torch.tanh(s)], dim=1)


@pytest.fixture(scope="module")
def one_word(tokenizer):
    net = OneWordModel(WORDS.index("great")).eval()

    def predict(texts):
        with torch.no_grad():
            return net(**tokenizer(texts, return_tensors="pt", padding=True))

    return TextModel(predict=predict, labels=["other", "good"], tokenizer=tokenizer, embeddings=net.embeddings,
                     forward=net)


def test_split_words_keeps_punctuation_apart():
    text = "It wasn't bad, really."
    assert [text[a:b] for a, b in split_words(text)] == ["It", "wasn't", "bad", ",", "really", "."]


@pytest.mark.parametrize("method", ["occlusion", "integrated_gradients"])
def test_only_the_word_that_matters_gets_credit(one_word, method):
    att = explain_words(one_word, "the film was really great .", target="good", method=method)
    assert isinstance(att, WordAttribution) and att.words == ["the", "film", "was", "really", "great", "."]
    great = att.words.index("great")
    assert att.scores[great] > 1.5
    others = np.delete(att.scores, great)
    np.testing.assert_allclose(others, 0.0, atol=1e-4)
    assert att.top(1) == [("great", pytest.approx(att.scores[great]))]
    assert "great" in att.html() and "rgba(34,160,80" in att.html()


def test_integrated_gradients_is_complete(one_word):
    att = explain_words(one_word, "great film , great", target=1, method="integrated_gradients", n_steps=64)
    # completeness: the word scores add up to f(text) - f(all-[PAD] baseline)
    assert att.scores.sum() == pytest.approx(att.score - att.meta["baseline_score"], abs=2e-2)
    assert att.meta["delta"] < 2e-2
    # the two 'great's share the credit equally
    g = [i for i, w in enumerate(att.words) if w == "great"]
    assert att.scores[g[0]] == pytest.approx(att.scores[g[1]], rel=1e-4)


def test_occlusion_works_on_any_callable_and_defaults_to_the_predicted_class():
    def bag_of_words(texts):  # positive iff 'good' appears, negative iff 'bad' appears
        return np.array([[t.split().count("bad"), t.split().count("good")] for t in texts], float)

    att = explain_words(bag_of_words, "good good bad film")
    assert att.target_index == 1  # predicted class: 2 'good' vs 1 'bad'
    assert att.scores.tolist() == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(InvalidInputError, match="differentiable"):
        explain_words(bag_of_words, "good film", method="integrated_gradients")


def test_real_minilm_integrated_gradients_is_complete():
    import mmbench

    pipe = mmbench.pipeline("sentence-embedding", device="cpu")
    torch.manual_seed(0)
    head = nn.Linear(pipe.embed_dim, 2)
    backend = pipe.backend

    def forward(**batch):
        return head(backend.encode_tokens(**batch))

    tm = TextModel(predict=lambda texts: forward(**backend.tokenize(texts)).detach(), labels=["a", "b"],
                   tokenizer=backend.tokenizer, embeddings=backend.input_embeddings(), forward=forward)
    att = explain_words(tm, "The film was not bad at all.", target="b", method="integrated_gradients", n_steps=32)
    total = att.scores.sum() + att.meta["special_tokens_attribution"]
    assert total == pytest.approx(att.score - att.meta["baseline_score"], abs=max(0.02, 3 * att.meta["delta"]))
    assert len(att.scores) == 8 and np.abs(att.scores).max() > 0


def test_text_attribution_bad_inputs(one_word):
    with pytest.raises(InvalidInputError, match="Unknown text attribution method"):
        explain_words(one_word, "great", method="lime")
    with pytest.raises(InvalidInputError, match="Unknown target class"):
        explain_words(one_word, "great", target="excellent")
    with pytest.raises(TextError):
        explain_words(one_word, "   ")
    with pytest.raises(InvalidInputError, match="out of range"):
        explain_words(one_word, "great", target=5)


# -- time-frequency occlusion ------------------------------------------------------------------------------------
def test_occlusion_map_peaks_on_the_region_the_model_reads():
    spec = torch.rand(1, 1, 32, 48) + 1.0
    region = (slice(10, 18), slice(30, 40))

    def logits(s):
        return torch.stack([torch.zeros(s.shape[0]), s[:, 0, region[0], region[1]].mean(dim=(1, 2))], dim=1)

    model = SpectrogramModel(spectrogram=lambda w: spec, logits=logits, labels=["no", "yes"])
    att = explain_spectrogram(model, np.zeros(100, np.float32), target="yes", patch=(4, 4), output="logit", fill=0.0)
    assert att.heatmap.shape == (32, 48) and att.spectrogram.shape == (32, 48)
    outside = np.ones((32, 48), bool)
    outside[8:20, 28:42] = False  # the region plus the patch overlap
    assert np.abs(att.heatmap[outside]).max() < 1e-6
    r, c = np.unravel_index(att.heatmap.argmax(), att.heatmap.shape)
    assert 10 <= r < 18 and 30 <= c < 40
    assert att.band_profile().argmax() in range(10, 18) and att.time_profile().argmax() in range(30, 40)


def test_prosody_cnn_occlusion_deletes_better_than_random():
    import mmbench
    from mmbench.data.sentiment import SentimentWorld

    pipe = mmbench.pipeline("audio-classification", device="cpu")
    data = SentimentWorld(41, reliability={"audio": 1.0}, noise={"audio": 0.2}).dataset(6)
    rng = np.random.default_rng(0)
    wins = 0
    for clip, label in zip(data.audio, data.labels):
        att = explain_spectrogram(pipe, clip, target=int(label), patch=(8, 8))
        spec = torch.as_tensor(att.spectrogram)[None, None]
        k = int(0.2 * spec.numel())
        top = np.argsort(att.heatmap.ravel())[::-1][:k]
        rand = rng.choice(spec.numel(), k, replace=False)
        probs = []
        for cells in (top, rand):
            s = spec.clone().reshape(-1)
            s[torch.as_tensor(cells.copy())] = float(spec.min())
            with torch.no_grad():
                probs.append(pipe.backend.logits_spectrogram(s.reshape(spec.shape)).softmax(-1)[0, label].item())
        wins += probs[0] < probs[1]
    assert wins >= 5, wins
    fig = att.figure()
    assert len(fig.axes) == 3


def test_spectrogram_attribution_bad_inputs():
    import mmbench

    pipe = mmbench.pipeline("audio-classification", device="cpu")
    clip = np.sin(np.linspace(0, 200, 4000)).astype(np.float32)
    with pytest.raises(InvalidInputError, match="Unknown target class"):
        explain_spectrogram(pipe, clip, target="furious")
    with pytest.raises(InvalidInputError, match="positive"):
        explain_spectrogram(pipe, clip, patch=(0, 4))
    with pytest.raises(InvalidInputError, match="Cannot explain"):
        explain_spectrogram(object(), clip)
