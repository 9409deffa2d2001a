"""The procedural tri-modal sentiment world: determinism, shapes, the reliability knob, bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.data.sentiment import (AUDIO_SECONDS, IMAGE_SIZE, LABELS, MODALITIES, SAMPLE_RATE,
                                    SentimentWorld)
from mmbench.errors import InvalidInputError


def test_samples_are_a_pure_function_of_seed_and_index():
    a, b = SentimentWorld(3).sample(17), SentimentWorld(3).sample(17)
    assert a.text == b.text and a.label == b.label and a.cues == b.cues
    assert np.array_equal(a.image, b.image) and np.array_equal(a.audio, b.audio)
    # a sample does not depend on what was generated before it
    ds = SentimentWorld(3).dataset(20)
    assert ds.texts[17] == a.text and np.array_equal(ds.images[17], a.image)
    assert SentimentWorld(4).sample(17).text != a.text or SentimentWorld(4).sample(17).label != a.label


def test_shapes_and_labels():
    ds = SentimentWorld(0).dataset(60)
    assert len(ds) == 60 and len(ds.texts) == 60
    assert ds.images.shape == (60, IMAGE_SIZE, IMAGE_SIZE, 3) and ds.images.dtype == np.uint8
    assert ds.audio.shape == (60, int(SAMPLE_RATE * AUDIO_SECONDS)) and ds.audio.dtype == np.float32
    assert set(ds.labels) == {0, 1, 2} and len(LABELS) == 3
    assert all(isinstance(t, str) and t for t in ds.texts)


@pytest.mark.parametrize("reliability", [0.0, 0.5, 0.78, 1.0])
def test_cue_agreement_matches_reliability(reliability):
    ds = SentimentWorld(1, reliability=reliability).dataset(1500)
    for m in MODALITIES:
        assert abs((ds.cues[m] == ds.labels).mean() - reliability) < 0.04, m


def test_modalities_err_independently():
    ds = SentimentWorld(2).dataset(3000)
    wrong = {m: ds.cues[m] != ds.labels for m in MODALITIES}
    p = {m: w.mean() for m, w in wrong.items()}
    both = (wrong["text"] & wrong["image"]).mean()
    assert abs(both - p["text"] * p["image"]) < 0.02


def test_one_modality_can_be_made_to_lie_alone():
    ds = SentimentWorld(0, reliability={"text": 0.0}).dataset(500)
    assert (ds.cues["text"] == ds.labels).mean() == 0.0
    assert (ds.cues["image"] == ds.labels).mean() > 0.7


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), {"text": 2.0}, {"smell": 0.5}, "high"])
def test_bad_reliability_is_rejected(bad):
    with pytest.raises(InvalidInputError):
        SentimentWorld(0, reliability=bad)


def test_bad_noise_and_size_are_rejected():
    with pytest.raises(InvalidInputError):
        SentimentWorld(0, noise={"audio": 3})
    with pytest.raises(InvalidInputError):
        SentimentWorld(0).dataset(0)
