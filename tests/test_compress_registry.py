"""Registry rows of compressed copies (``backend = "compressed"``): listed like any model, loaded through
``mmbench.pipeline`` from the base model's offline weights, and as accurate as the base on held-out
world images."""

from __future__ import annotations

import numpy as np
import pytest

import mmbench
from mmbench.data.world import shape_colour_classes
from mmbench.errors import ModelUnavailableError
from mmbench.eval.matching import zero_shot_set
from mmbench.registry import ModelSpec, get_spec, list_models, register, unregister

pytestmark = pytest.mark.usefixtures("one_thread")

ROWS = {"mmbench-tiny-clip-int8": "int8-dynamic", "mmbench-tiny-clip-onnx": "onnx",
        "mmbench-tiny-clip-onnx-int8": "onnx-int8"}
HELD_OUT_SEED = 20_029  # not a training seed, not the eval's default either


@pytest.fixture(scope="module")
def held_out():
    return zero_shot_set(150, HELD_OUT_SEED)


def _top1(pipe, images, labels) -> float:
    results = pipe.zero_shot_classify_batch(images, shape_colour_classes())
    return float(np.mean([r.top == y for r, y in zip(results, labels)]))


def test_rows_are_listed_for_the_task_with_their_base_and_method():
    listed = {s.name: s for s in list_models("image-text-matching", tier="offline", ready_only=True)}
    for name, method in ROWS.items():
        spec = listed[name]
        assert spec.backend == "compressed" and spec.options == {"base": "mmbench-tiny-clip", "method": method}
        assert "mmbench-tiny-clip" in spec.how_to_get() and "mmbench train tiny-clip" in spec.how_to_get()
    assert listed["mmbench-tiny-clip"].default and not any(listed[n].default for n in ROWS)


@pytest.mark.parametrize("name", list(ROWS))
def test_pipeline_loads_the_row_and_keeps_zero_shot_accuracy(tiny_pipe, held_out, name):
    images, labels = held_out
    pipe = mmbench.pipeline("image-text-matching", model=name, device="cpu", cache=False)
    assert type(pipe) is type(tiny_pipe) and pipe.spec.name == name and pipe.notice == ""
    assert ROWS[name] in pipe.backend.note
    base, ours = _top1(tiny_pipe, images, labels), _top1(pipe, images, labels)
    assert base >= 0.95 and abs(ours - base) <= 0.02, (name, base, ours)
    # the same embedding space: the original's and the copy's text embeddings point the same way
    texts = ["a photo of a red circle.", "a small blue square above a green triangle"]
    cos = (pipe.embed_texts(texts) * tiny_pipe.embed_texts(texts)).sum(1)
    assert cos.min() > (0.9999 if ROWS[name] == "onnx" else 0.97), cos
    assert pipe.can_rerank == (ROWS[name] == "int8-dynamic")  # the ONNX files hold the two towers only


def test_a_row_without_a_known_method_fails_with_a_typed_error():
    spec = ModelSpec(name="tiny-clip-broken", task="image-text-matching", tier="offline", backend="compressed",
                     source="compress:mmbench-tiny-clip", good_for="test",
                     options={"base": "mmbench-tiny-clip", "method": "zip"})
    register(spec)
    try:
        with pytest.raises(ModelUnavailableError, match="int8-dynamic"):
            mmbench.pipeline("image-text-matching", model="tiny-clip-broken", device="cpu", cache=False)
    finally:
        unregister(spec.name)
    assert get_spec("mmbench-tiny-clip-onnx").tier == "offline"
