"""GPU checks (run with `python -m pytest -m gpu` on a CUDA machine): the device policy picks
cuda and half precision, and every matching backend gives the CPU fp32 answer within
half-precision tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmbench
from mmbench.data import World
from mmbench.registry import ModelSpec, register, unregister

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TINY_OPEN_CLIP = {"embed_dim": 32,
                  "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
                  "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}}
TINY_HF_CLIP = {"projection_dim": 32,
                "text_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                "num_attention_heads": 2, "max_position_embeddings": 32, "vocab_size": 49408},
                "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                  "num_attention_heads": 2, "image_size": 32, "patch_size": 8}}


def _specs():
    return [
        ModelSpec(name="gpu-tiny-open-clip", task="image-text-matching", tier="online", backend="open_clip",
                  source="config", options={"config": TINY_OPEN_CLIP}),
        ModelSpec(name="gpu-tiny-hf-clip", task="image-text-matching", tier="online", backend="transformers_clip",
                  source="config", options={"config": TINY_HF_CLIP, "tokenizer": "open_clip"}),
        mmbench.get_spec("mmbench-tiny-clip"),
    ]


def test_device_policy_picks_cuda_and_half_precision():
    dev = mmbench.resolve_device(None)
    assert dev.type == "cuda"
    assert mmbench.resolve_dtype(dev) in (torch.bfloat16, torch.float16)


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: s.name)
def test_gpu_half_precision_matches_cpu_fp32(spec):
    register(spec)
    try:
        scenes = World(seed=10_500).scenes(6)
        images, texts = [s.image for s in scenes], [s.caption for s in scenes]
        cpu = mmbench.pipeline("image-text-matching", model=spec.name, device="cpu", cache=False)
        gpu = mmbench.pipeline("image-text-matching", model=spec.name, device="cuda", cache=False)
        assert next(gpu.backend.torch_modules()[0].parameters()).dtype in (torch.bfloat16, torch.float16)
        a, b = cpu.similarity_matrix(images, texts), gpu.similarity_matrix(images, texts)
        np.testing.assert_allclose(a, b, atol=3e-2)
        if spec.name == "mmbench-tiny-clip":  # same decisions, not just close numbers
            assert (a.argmax(1) == b.argmax(1)).mean() >= 5 / 6
    finally:
        if spec.name != "mmbench-tiny-clip":
            unregister(spec.name)
