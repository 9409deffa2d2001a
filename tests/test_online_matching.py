"""The online CLIP backends (open_clip, transformers) behind ``mmbench.pipeline``, with no download.

Tiny random-weight models are built from config dicts; "real" checkpoints are written by the
tests into a temporary Hugging Face cache, so the cache/safetensors/offline logic runs for real.
Each similarity matrix is checked against the library's own recipe.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

import mmbench
from mmbench.backends import _hub, get_loader
from mmbench.errors import ModelUnavailableError, UnknownModelError
from mmbench.registry import ModelSpec, get_spec
from tiny_models import HF_CLIP_TINY, OPEN_CLIP_TINY, tiny_spec

TASK = "image-text-matching"

TEXTS = ["a red circle", "a blue square on the left", "two green triangles"]
CPU, FP32 = torch.device("cpu"), torch.float32


def _images(n: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(48, 40), (32, 32), (70, 50), (20, 64)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes[:n]]


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """Point huggingface_hub (and so transformers) at an empty cache folder."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _fake_hub_snapshot(cache, repo_id: str):
    """The folder layout huggingface_hub uses for a downloaded repo; returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    return snapshot


def _tiny(name: str, backend: str, config: dict, **options) -> ModelSpec:
    return tiny_spec(name, TASK, backend, config, source=f"test:{name}", **options)


# ------------------------------------------------------------------ open_clip
def test_open_clip_tiny_matches_open_clip(registered):
    spec = registered(_tiny("test-openclip-tiny", "open_clip", OPEN_CLIP_TINY))
    pipe = mmbench.pipeline(TASK, model=spec.name, device="cpu", cache=False)
    b = pipe.backend
    assert pipe.notice == "" and b.note == "random weights (test model, not pretrained)"
    assert b.embed_dim == pipe.embed_dim == 32
    assert b.logit_scale == pytest.approx(float(b.model.logit_scale.detach().exp()))
    assert b.torch_modules() == [b.model] and not b.model.training

    images = _images()
    sim = pipe.similarity_matrix(images, TEXTS)
    with torch.inference_mode():  # open_clip's own recipe, with its own preprocess and tokenizer
        img = b.model.encode_image(torch.stack([b.preprocess(im) for im in images]))
        txt = b.model.encode_text(b.tokenizer(TEXTS))
        img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
    assert sim.shape == (3, 3) and sim.dtype == np.float32
    np.testing.assert_allclose(sim, (img @ txt.T).numpy(), atol=1e-5)

    result = pipe(images, TEXTS)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)
    zs = pipe.zero_shot_classify(images[0], ["cat", "dog", "bird"])
    assert float(zs.probs.sum()) == pytest.approx(1.0, abs=1e-5) and set(zs.labels) == {"cat", "dog", "bird"}


def test_open_clip_seed_is_reproducible_and_leaves_global_rng_alone():
    load = get_loader("open_clip")
    state = torch.random.get_rng_state()
    a = load(_tiny("a", "open_clip", OPEN_CLIP_TINY, seed=1), CPU, FP32).model.state_dict()
    b = load(_tiny("b", "open_clip", OPEN_CLIP_TINY, seed=1), CPU, FP32).model.state_dict()
    c = load(_tiny("c", "open_clip", OPEN_CLIP_TINY, seed=2), CPU, FP32).model.state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    key = "visual.conv1.weight"
    assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])


def test_open_clip_tag_loads_from_hf_cache_offline_preferring_safetensors(tmp_path, empty_hf_cache, monkeypatch):
    """A pretrained tag whose weights are in the HF cache loads with HF_HUB_OFFLINE=1, safetensors first."""
    import open_clip
    from open_clip import pretrained as oc_pretrained
    from safetensors.torch import save_file

    arch = "mmbench-test-tiny-openclip"
    (tmp_path / f"{arch}.json").write_text(json.dumps(OPEN_CLIP_TINY))
    open_clip.add_model_config(tmp_path / f"{arch}.json")
    tag_cfg = oc_pretrained._pcfg(hf_hub="mmbench-test/tiny-openclip/")
    real_get = oc_pretrained.get_pretrained_cfg
    monkeypatch.setattr(oc_pretrained, "get_pretrained_cfg",
                        lambda model, tag: tag_cfg if (model, tag) == (arch, "tiny_tag") else real_get(model, tag))
    snapshot = _fake_hub_snapshot(empty_hf_cache, "mmbench-test/tiny-openclip")
    load = get_loader("open_clip")
    safe = load(_tiny("s", "open_clip", OPEN_CLIP_TINY, seed=1), CPU, FP32).model.state_dict()
    pickled = load(_tiny("p", "open_clip", OPEN_CLIP_TINY, seed=2), CPU, FP32).model.state_dict()
    save_file({k: v.contiguous() for k, v in safe.items()}, str(snapshot / "open_clip_model.safetensors"))
    torch.save(pickled, snapshot / "open_clip_pytorch_model.bin")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(name="test-openclip-cached", task=TASK, tier="online", backend="open_clip",
                     source="mmbench-test/tiny-openclip", options={"arch": arch, "pretrained": "tiny_tag"})
    backend = load(spec, CPU, FP32)
    assert backend.note == ""
    loaded = backend.model.state_dict()
    assert all(torch.equal(loaded[k], safe[k]) for k in safe)  # the .safetensors file, not the .bin


def test_open_clip_unknown_tag_is_a_registry_error_not_a_fallback():
    spec = ModelSpec(name="bad-tag", task=TASK, tier="online", backend="open_clip", source="x",
                     options={"arch": "ViT-B-32", "pretrained": "no_such_tag"})
    with pytest.raises(UnknownModelError, match="no_such_tag"):
        get_loader("open_clip")(spec, CPU, FP32)


def test_programming_errors_are_not_turned_into_unavailable():
    broken = {k: v for k, v in OPEN_CLIP_TINY.items() if k != "vision_cfg"}  # a malformed config is a bug
    with pytest.raises(Exception) as info:
        get_loader("open_clip")(_tiny("broken", "open_clip", broken), CPU, FP32)
    assert not isinstance(info.value, ModelUnavailableError)


# ------------------------------------------------------------------ transformers
def test_hf_clip_tiny_matches_transformers(registered):
    spec = registered(_tiny("test-hfclip-tiny", "transformers_clip", HF_CLIP_TINY))
    pipe = mmbench.pipeline(TASK, model=spec.name, device="cpu", cache=False)
    b = pipe.backend
    assert b.note == "random weights (test model, not pretrained)" and b.embed_dim == 32
    assert b.processor.tokenizer is b.tokenizer and not b.model.training

    images = _images()
    sim = pipe.similarity_matrix(images, TEXTS)
    with torch.inference_mode():  # transformers' own recipe
        out = b.model(**b.processor(text=TEXTS, images=images, return_tensors="pt", padding=True))
    np.testing.assert_allclose(sim, (out.logits_per_image / b.logit_scale).numpy(), atol=1e-5)
    assert b.logit_scale == pytest.approx(float(b.model.logit_scale.detach().exp()))

    zs = pipe.zero_shot_classify(images[1], ["cat", "dog"])
    assert float(zs.probs.sum()) == pytest.approx(1.0, abs=1e-5)
    long_text = " ".join(["word"] * 100)  # longer than max_position_embeddings: truncated, not a crash
    assert pipe.embed_texts([long_text]).shape == (1, 32)


def test_open_clip_bpe_tokenizer_for_transformers_matches_open_clip():
    from open_clip.tokenizer import SimpleTokenizer

    from mmbench.backends.hf_clip_backend import clip_tokenizer_from_open_clip

    hf, oc = clip_tokenizer_from_open_clip(), SimpleTokenizer()
    assert len(hf) == 49408 and (hf.bos_token_id, hf.eos_token_id) == (49406, 49407)
    for text in ["a photo of a cat.", "Hello,   World! It's 2024 — naïve café", "emoji 🙂 test"]:
        assert hf(text)["input_ids"] == [oc.sot_token_id, *oc.encode(text), oc.eot_token_id]


def _save_tiny_hf(folder, seed: int = 0):
    backend = get_loader("transformers_clip")(_tiny("save", "transformers_clip", HF_CLIP_TINY, seed=seed), CPU, FP32)
    backend.model.save_pretrained(folder)  # safetensors
    backend.processor.save_pretrained(folder)
    return backend


def test_hf_clip_loads_hub_id_from_hf_cache_offline(empty_hf_cache, monkeypatch):
    snapshot = _fake_hub_snapshot(empty_hf_cache, "mmbench-test/tiny-hf-clip")
    original = _save_tiny_hf(snapshot, seed=3)
    assert (snapshot / "model.safetensors").is_file()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(name="test-hfclip-cached", task=TASK, tier="online", backend="transformers_clip",
                     source="mmbench-test/tiny-hf-clip")
    backend = get_loader("transformers_clip")(spec, CPU, FP32)
    assert backend.note == ""
    images = _images(2)
    with torch.inference_mode():
        a = backend.encode_images(backend.preprocess_images(images))
        b = original.encode_images(original.preprocess_images(images))
    torch.testing.assert_close(a, b)


def test_hf_clip_falls_back_to_bin_weights_without_safetensors(tmp_path):
    folder = tmp_path / "bin-only"
    original = _save_tiny_hf(folder, seed=5)
    (folder / "model.safetensors").unlink()
    torch.save(original.model.state_dict(), folder / "pytorch_model.bin")
    spec = ModelSpec(name="test-hfclip-bin", task=TASK, tier="online", backend="transformers_clip", source=str(folder))
    backend = get_loader("transformers_clip")(spec, CPU, FP32)
    key = "visual_projection.weight"
    assert torch.equal(backend.model.state_dict()[key], original.model.state_dict()[key])


def test_hf_clip_loads_local_folder(tmp_path, registered):
    _save_tiny_hf(tmp_path / "ckpt", seed=4)
    spec = registered(ModelSpec(name="test-hfclip-folder", task=TASK, tier="online", backend="transformers_clip",
                                source=str(tmp_path / "ckpt")))
    pipe = mmbench.pipeline(TASK, model=spec.name, device="cpu", cache=False, fallback=False)
    assert pipe.backend.note == "" and pipe.similarity_matrix(_images(1), TEXTS).shape == (1, 3)


# ------------------------------------------------------------------ unavailable weights and fallback
ONLINE_ROWS = ["openclip-vit-b-32", "clip-vit-base-patch32"]


@pytest.mark.parametrize("name", ONLINE_ROWS)
def test_missing_weights_offline_raise_unavailable_fast(name, empty_hf_cache, monkeypatch):
    spec = get_spec(name)
    load = get_loader(spec.backend)  # imports the library outside the timed part
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as info:
        load(spec, CPU, FP32)
    assert time.perf_counter() - start < 5
    err = info.value
    assert err.model == spec.name and spec.source in err.message and "offline mode" in err.message
    assert err.hint == spec.how_to_get()


@pytest.mark.parametrize("name", ONLINE_ROWS)
def test_missing_weights_without_network_raise_unavailable_fast(name, empty_hf_cache, monkeypatch):
    """No HF_HUB_OFFLINE, but no route to the hub: a short probe, not huggingface_hub's minute of retries."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MMBENCH_OFFLINE", raising=False)
    _hub.forget_probe()
    if _hub.hub_reachable():
        pytest.skip("the Hugging Face hub is reachable from this machine")
    _hub.forget_probe()
    spec = get_spec(name)
    load = get_loader(spec.backend)
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as info:
        load(spec, CPU, FP32)
    assert time.perf_counter() - start < 5
    assert spec.source in info.value.message and "cannot be reached" in info.value.message


@pytest.mark.parametrize("why", ["HF_HUB_OFFLINE", "no network"])
def test_default_pipeline_falls_back_to_offline_tier(why, empty_hf_cache, monkeypatch, registered):
    """Offline mode or no route to the hub: the default online CLIP gives way to the offline row,
    quickly, with a notice naming both.

    The offline row is swapped for a tiny open_clip model of the same name, so this checks the
    fallback decision whether or not the trained tiny CLIP weights are present.
    """
    offline = get_spec("mmbench-tiny-clip")
    registered(replace(offline, backend="open_clip", options={"config": OPEN_CLIP_TINY}))
    monkeypatch.delenv("MMBENCH_OFFLINE", raising=False)
    if why == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        _hub.forget_probe()
        if _hub.hub_reachable():
            pytest.skip("the Hugging Face hub is reachable from this machine")
        _hub.forget_probe()
    get_loader("open_clip")  # import open_clip outside the timed part
    start = time.perf_counter()
    pipe = mmbench.pipeline(TASK, device="cpu", cache=False)
    assert time.perf_counter() - start < 10
    assert pipe.spec.name == "mmbench-tiny-clip" and pipe.tier == "offline"
    assert "openclip-vit-b-32" in pipe.notice and "mmbench-tiny-clip" in pipe.notice
    assert pipe.similarity_matrix(_images(1), TEXTS).shape == (1, 3)


def test_default_pipeline_falls_back_to_trained_tiny_clip(empty_hf_cache, monkeypatch):
    spec = get_spec("mmbench-tiny-clip")
    # the trained weights ship in the repository: missing ones are a broken checkout, not a skip
    assert spec.assets_path is not None and (spec.assets_path / "model.safetensors").is_file(), \
        "the trained mmbench-tiny-clip weights are missing from assets/ (git checkout -- assets)"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = mmbench.pipeline(TASK, device="cpu", cache=False)
    assert pipe.spec.name == "mmbench-tiny-clip"
    assert "openclip-vit-b-32" in pipe.notice and "mmbench-tiny-clip" in pipe.notice
