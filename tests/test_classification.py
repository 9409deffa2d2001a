"""Image classification: the offline EfficientNet-Lite0 on real photos, class lookup by name, and the
online transformers backend exercised with a tiny random-weight ViT (no download)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import mmbench
from mmbench.backends import get_loader
from mmbench.errors import InvalidInputError, ModelUnavailableError
from mmbench.registry import get_spec, register, unregister
from tiny_models import VIT_TINY_LABELLED, tiny_spec

TASK = "image-classification"
CATS = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def effnet():
    return mmbench.pipeline(TASK, model="efficientnet-lite0", device="cpu")


def test_registry_rows_are_ready():
    for name in ("efficientnet-lite0", "vit-base-patch16-224"):
        spec = get_spec(name, task=TASK)
        assert spec.ready and spec.issue is None
    assert "unknown" in get_spec("efficientnet-lite0").licence


def test_efficientnet_recognises_real_photos(effnet):
    top = effnet(data.chelsea(), top_k=5)
    assert top[0].label in CATS and top[0].prob > 0.5
    assert [p.prob for p in top] == sorted((p.prob for p in top), reverse=True)
    coffee = effnet(data.coffee(), top_k=3)
    assert coffee[0].label in {"espresso", "cup", "coffee mug"}
    assert len(effnet.labels) == 1000 and effnet.labels[285] == "Egyptian cat"
    batch = effnet.classify([data.chelsea(), data.coffee()], top_k=1)
    assert [b[0].index for b in batch] == [top[0].index, coffee[0].index]


def test_efficientnet_preprocessing_matches_its_batchnorm_statistics(effnet):
    """(x - 127) / 128, not ImageNet mean/std: the stem BatchNorm's running variance must fit."""
    model = effnet.backend.model
    images = [Image.fromarray(getattr(data, n)()) for n in ("chelsea", "coffee", "astronaut", "rocket")]
    with torch.no_grad():
        stem = model._conv_stem(effnet.backend.preprocess_images(images))
    ratio = (stem.var(dim=(0, 2, 3)) / model._bn0.running_var).median().item()
    assert 0.4 < ratio < 2.0


def test_class_index_by_name_index_and_errors(effnet):
    assert effnet.class_index("Egyptian cat") == effnet.class_index("egyptian CAT") == 285
    assert effnet.class_index(967) == effnet.class_index("967") == effnet.class_index("espresso")
    with pytest.raises(InvalidInputError) as err:
        effnet.class_index("egyptain cat")
    assert "Egyptian cat" in str(err.value)
    with pytest.raises(InvalidInputError):
        effnet.class_index(1000)
    with pytest.raises(InvalidInputError) as err:
        effnet.class_index("cardigan")  # two ImageNet classes share the name
    assert "264" in str(err.value) and "474" in str(err.value)
    with pytest.raises(InvalidInputError):
        effnet.class_index("")
    with pytest.raises(InvalidInputError):
        effnet(data.chelsea(), top_k=0)


def test_loading_prints_nothing_on_stdout(capsys):
    get_loader("efficientnet_lite")(get_spec("efficientnet-lite0"), torch.device("cpu"), torch.float32)
    assert capsys.readouterr().out == ""


def test_default_pipeline_falls_back_to_the_offline_classifier(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    pipe = mmbench.pipeline(TASK, device="cpu", cache=False)
    assert time.perf_counter() - start < 10
    assert pipe.spec.name == "efficientnet-lite0"
    assert "vit-base-patch16-224" in pipe.notice and "efficientnet-lite0" in pipe.notice
    with pytest.raises(ModelUnavailableError) as err:
        mmbench.pipeline(TASK, model="vit-base-patch16-224", device="cpu", fallback=False, cache=False)
    assert "google/vit-base-patch16-224" in str(err.value)


def test_transformers_vit_classifier_from_config():
    spec = register(tiny_spec("test-vit-tiny", TASK, "transformers_image_classification", VIT_TINY_LABELLED, seed=0))
    try:
        pipe = mmbench.pipeline(TASK, model=spec.name, device="cpu", cache=False)
        assert pipe.labels == ["cat", "dog", "cup", "rocket"] and "random" in pipe.backend.note
        preds = pipe(data.chelsea(), top_k=10)
        assert len(preds) == 4 and abs(sum(p.prob for p in preds) - 1) < 1e-5
        assert pipe.class_index("Cup") == 2
        with torch.inference_mode():  # transformers' own recipe
            logits = pipe.backend.model(**pipe.backend.processor(images=[Image.fromarray(data.chelsea())],
                                                                 return_tensors="pt")).logits
        assert preds[0].index == int(logits.argmax())
    finally:
        unregister(spec.name)
