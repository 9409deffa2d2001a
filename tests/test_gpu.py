"""GPU checks (run with `python -m pytest -m gpu` on a CUDA machine): the device policy picks
cuda and half precision, and every matching backend gives the CPU fp32 answer within
half-precision tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmbench
from mmbench.data import World
from mmbench.registry import register, unregister
from tiny_models import HF_CLIP_TINY, OPEN_CLIP_TINY, tiny_spec

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _specs():
    return [
        tiny_spec("gpu-tiny-open-clip", "image-text-matching", "open_clip", OPEN_CLIP_TINY),
        tiny_spec("gpu-tiny-hf-clip", "image-text-matching", "transformers_clip", HF_CLIP_TINY, tokenizer="open_clip"),
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
