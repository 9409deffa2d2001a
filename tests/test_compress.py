"""mmbench.compress on the shipped tiny CLIP: compressed copies embed like the original, still classify
held-out world images, shrink on disk, and bad requests fail with typed errors."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from mmbench.compress import METHODS, compress, export_towers
from mmbench.data.world import shape_colour_classes
from mmbench.errors import CompressionError, MMBenchError, UnknownMethodError
from mmbench.eval.matching import zero_shot_set

pytestmark = pytest.mark.usefixtures("one_thread")

HELD_OUT_SEED = 20_017  # not a training seed, not the eval's default either
CAPTIONS = ["a photo of a red circle.", "a blue square left of a green triangle", "a yellow star"]


@pytest.fixture(scope="module")
def held_out():
    images, labels = zero_shot_set(12, HELD_OUT_SEED)
    return images, labels


@pytest.fixture(scope="module")
def compressed(tiny_pipe, tmp_path_factory):
    """Each method once for the module (the ONNX export and int8 conversion take a few seconds)."""
    return {m: compress(tiny_pipe, m, folder=tmp_path_factory.mktemp(m), threads=1)
            for m in ("fp32", "int8-dynamic", "onnx", "onnx-int8", "bfloat16")}


# Tolerances on L2-normalised embeddings (unit vectors, cosine near 1): ONNX Runtime fp32 runs the
# same float32 graph, so only summation order differs; int8 and bfloat16 round every weight.
TOLERANCE = {"fp32": 0.0, "onnx": 1e-4, "onnx-int8": 2e-2, "int8-dynamic": 2e-2, "bfloat16": 2e-2}


@pytest.mark.parametrize("method", list(TOLERANCE))
def test_embeddings_close_to_the_original(tiny_pipe, compressed, held_out, method):
    images, _ = held_out
    pipe = compressed[method].pipeline
    for ours, ref in ((pipe.embed_images(images), tiny_pipe.embed_images(images)),
                      (pipe.embed_texts(CAPTIONS), tiny_pipe.embed_texts(CAPTIONS))):
        assert ours.shape == ref.shape and ours.dtype == np.float32
        assert np.allclose(ours, ref, atol=TOLERANCE[method], rtol=0), (method, np.abs(ours - ref).max())


def test_onnx_raw_embeddings_within_1e_4(tiny_pipe, compressed, held_out):
    """The bar of the issue, on the towers' raw (unnormalised) outputs for the same inputs."""
    images, _ = held_out
    onnx = compressed["onnx"].backend
    px = tiny_pipe.backend.preprocess_images([_pil(im) for im in images])
    ids = tiny_pipe.backend.tokenize(CAPTIONS)
    with torch.inference_mode():
        assert torch.allclose(onnx.encode_images(px), tiny_pipe.backend.encode_images(px), atol=1e-4, rtol=0)
        assert torch.allclose(onnx.encode_texts(ids), tiny_pipe.backend.encode_texts(ids), atol=1e-4, rtol=0)


@pytest.mark.parametrize("method", ["int8-dynamic", "onnx", "onnx-int8", "bfloat16"])
def test_zero_shot_on_held_out_world(compressed, held_out, method):
    images, labels = held_out
    results = compressed[method].pipeline.zero_shot_classify_batch(images, shape_colour_classes())
    assert [r.top for r in results] == labels


def test_sizes_shrink(compressed):
    fp32 = compressed["fp32"].size_bytes
    assert fp32 > 5e6  # the two towers in float32 (~2.9 M parameters)
    assert compressed["int8-dynamic"].size_bytes < 0.4 * fp32
    assert compressed["onnx-int8"].size_bytes < 0.4 * fp32
    assert compressed["bfloat16"].size_bytes < 0.55 * fp32
    assert abs(compressed["onnx"].size_bytes - fp32) < 0.1 * fp32  # same float32 weights, another container


def test_compressed_pipeline_is_a_matching_pipeline(tiny_pipe, compressed):
    int8 = compressed["int8-dynamic"].pipeline
    assert type(int8) is type(tiny_pipe) and int8.spec.name == "mmbench-tiny-clip+int8-dynamic"
    assert int8.can_rerank  # the PyTorch copies keep the (quantized) matching head
    assert not compressed["onnx"].pipeline.can_rerank  # the ONNX files hold the two towers only
    assert not any(isinstance(m, torch.nn.Linear) and type(m) is torch.nn.Linear
                   for m in compressed["int8-dynamic"].backend.model.visual.modules())
    # the original model is untouched
    assert all(type(m) is torch.nn.Linear for m in tiny_pipe.backend.model.visual.modules()
               if isinstance(m, torch.nn.Linear))


def test_unknown_method_is_a_typed_error(tiny_pipe):
    with pytest.raises(UnknownMethodError) as err:
        compress(tiny_pipe, "int4-magic")
    assert "int8-dynamic" in str(err.value) and set(METHODS) >= {"onnx", "onnx-int8", "float16"}


def test_not_a_pipeline_is_a_typed_error():
    with pytest.raises(CompressionError):
        compress(object(), "onnx")


def _fake_backend(tiny_pipe, encode_image):
    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(4, 4)

        def encode_image(self, pixels):
            return encode_image(pixels)

        def encode_text(self, ids):
            return self.proj(ids[:, :4].float())

    b = tiny_pipe.backend
    return types.SimpleNamespace(model=Model(), spec=b.spec, preprocess_images=b.preprocess_images, tokenize=b.tokenize)


def test_unexportable_operator_is_a_typed_error(tiny_pipe, tmp_path):
    backend = _fake_backend(tiny_pipe, lambda px: torch.fft.fft(px).abs().flatten(1))
    with pytest.raises(CompressionError) as err:
        export_towers(backend, tmp_path)
    assert "cannot be exported to ONNX" in str(err.value) and "int8-dynamic" in err.value.hint


def test_trace_that_freezes_a_value_is_caught(tiny_pipe, tmp_path):
    """A NumPy call is frozen into a constant by the tracer; the export 'works' but is wrong."""
    backend = _fake_backend(tiny_pipe, lambda px: torch.tensor(px.numpy().mean(axis=(2, 3))))
    with pytest.raises(CompressionError, match="does not reproduce"):
        export_towers(backend, tmp_path)


def test_model_without_towers_is_a_typed_error(tiny_pipe):
    fake = types.SimpleNamespace(backend=types.SimpleNamespace(model=None, spec=tiny_pipe.spec), spec=tiny_pipe.spec)
    for method in ("int8-dynamic", "onnx", "float16"):
        with pytest.raises(CompressionError, match="no PyTorch dual encoder") as err:
            compress(fake, method)
        assert isinstance(err.value, MMBenchError) and err.value.hint


def test_fused_attention_export_is_one_node_per_layer_and_the_same_function(tiny_pipe, compressed, tmp_path):
    """The default export turns each attention layer into ONNX Runtime's MultiHeadAttention;
    fuse_attention=False writes standard operators only; both reproduce PyTorch."""
    import collections

    import onnx

    from mmbench.compress import OnnxBackend

    config = tiny_pipe.backend.model.config
    plain = export_towers(tiny_pipe.backend, tmp_path, fuse_attention=False)
    fused = compressed["onnx"].backend.paths
    for which, layers in (("image", config.vision_layers), ("text", config.text_layers)):
        ops = collections.Counter(n.op_type for n in onnx.load(str(fused[which])).graph.node)
        assert ops["MultiHeadAttention"] == layers and ops["Softmax"] == 0
        ops = collections.Counter(n.op_type for n in onnx.load(str(plain[which])).graph.node)
        assert ops["MultiHeadAttention"] == 0 and ops["Softmax"] == layers
    backend = OnnxBackend(plain, tiny_pipe.backend, "plain", threads=1)
    ids = tiny_pipe.backend.tokenize(CAPTIONS)  # different lengths: the key-padding mask matters
    with torch.inference_mode():
        for onnx_backend in (backend, compressed["onnx"].backend):
            assert torch.allclose(onnx_backend.encode_texts(ids), tiny_pipe.backend.encode_texts(ids), atol=1e-4, rtol=0)


def _pil(arr):
    from PIL import Image

    return Image.fromarray(arr)


# -- the distilled student (mmbench train tiny-clip-student) ------------------------------------------
@pytest.fixture(scope="module")
def student_pipe():
    import mmbench

    return mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip-student", device="cpu", fallback=False)


def test_student_is_at_most_a_quarter_of_the_teacher(tiny_pipe, student_pipe):
    def count(pipe):
        return sum(p.numel() for p in pipe.backend.model.parameters())

    assert count(student_pipe) <= 0.25 * count(tiny_pipe)
    assert student_pipe.backend.model.config.vision_layers < tiny_pipe.backend.model.config.vision_layers
    assert student_pipe.embed_dim == tiny_pipe.embed_dim  # same joint space: distilled embedding to embedding


def test_student_zero_shot_on_held_out_world(student_pipe, held_out):
    images, labels = held_out
    results = student_pipe.zero_shot_classify_batch(images, shape_colour_classes())
    assert np.mean([r.top == y for r, y in zip(results, labels)]) >= 11 / 12


def test_distilled_method_loads_the_student(tiny_pipe, student_pipe, held_out, tmp_path):
    cm = compress(tiny_pipe, "distilled", folder=tmp_path)
    assert cm.pipeline.spec.name == "mmbench-tiny-clip+distilled" and type(cm.pipeline) is type(tiny_pipe)
    assert cm.backend.spec.name == "mmbench-tiny-clip-student"
    assert not cm.pipeline.can_rerank and not student_pipe_has_head(cm)  # a dual encoder: no matching head
    images, _ = held_out
    assert np.allclose(cm.pipeline.embed_images(images[:3]), student_pipe.embed_images(images[:3]), atol=1e-5)
    assert 0 < cm.size_bytes < 0.4 * compress(tiny_pipe, "fp32", folder=tmp_path / "fp32").size_bytes


def student_pipe_has_head(cm):
    return callable(getattr(cm.backend, "match_logits", None))


def test_distilled_needs_a_known_teacher(student_pipe):
    with pytest.raises(CompressionError, match="no distilled student"):
        compress(student_pipe, "distilled")
