"""Compressed copies of a dual encoder that stay in PyTorch: half precision and dynamic int8.

Each function takes the backend of a loaded image-text matching pipeline (anything whose ``model``
has ``encode_image`` and ``encode_text``, e.g. :class:`mmbench.backends.tiny_clip.TinyClipBackend`)
and returns a :class:`TorchCompressedBackend`: a deep copy of the model, converted, behind the same
methods the matching pipeline calls. The original model is never modified.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

from ..errors import CompressionError

#: dtype name -> torch dtype attribute, for :func:`half_precision`.
HALF_DTYPES = ("float16", "bfloat16")


def dual_encoder_model(backend: Any) -> Any:
    """The backend's ``torch.nn.Module`` with ``encode_image``/``encode_text``, or a
    :class:`CompressionError` naming what is missing."""
    import torch

    model = getattr(backend, "model", None)
    if not isinstance(model, torch.nn.Module) or not all(callable(getattr(model, f, None))
                                                         for f in ("encode_image", "encode_text")):
        name = getattr(getattr(backend, "spec", None), "name", type(backend).__name__)
        raise CompressionError(f"'{name}' has no PyTorch dual encoder (a model with encode_image and encode_text) "
                               "to compress.",
                               hint="Compression works on image-text matching pipelines backed by a PyTorch CLIP, "
                                    "e.g. mmbench.pipeline('image-text-matching', model='mmbench-tiny-clip').")
    return model


class TorchCompressedBackend:
    """A converted copy of a dual encoder behind the matching pipeline's backend methods.

    Inputs are prepared by the original backend (same preprocessing, same tokenizer) and cast to
    this copy's floating dtype; ``encode_images``/``encode_texts`` run the copy. When the model has a
    matching head (``match_logits``), re-ranking works too, on the compressed head.
    """

    def __init__(self, model: Any, original: Any, dtype: Any, note: str) -> None:
        self.model, self.original, self.dtype, self.note = model, original, dtype, note
        self.spec, self.device = original.spec, original.device
        self.embed_dim = original.embed_dim
        self.tokenizer = getattr(original, "tokenizer", None)
        if callable(getattr(model, "match_logits", None)) and callable(getattr(original, "match_logits", None)):
            self.match_logits = self._match_logits  # the pipeline re-ranks when this attribute exists

    @property
    def logit_scale(self) -> float:
        return float(self.original.logit_scale)

    def preprocess_images(self, images: list) -> Any:
        return self.original.preprocess_images(images).to(self.dtype)

    def tokenize(self, texts: list[str]) -> Any:
        return self.original.tokenize(texts)

    def encode_images(self, pixels: Any) -> Any:
        return self.model.encode_image(pixels.to(self.dtype))

    def encode_texts(self, ids: Any) -> Any:
        return self.model.encode_text(ids)

    def _match_logits(self, pixels: Any, ids: Any) -> Any:
        return self.model.match_logits(pixels.to(self.dtype), ids)

    def unknown_words(self, texts: list[str]) -> list[str]:
        find = getattr(self.original, "unknown_words", None)
        return find(texts) if find else []

    def torch_modules(self) -> list:
        return [self.model]


def half_precision(backend: Any, dtype: str = "float16") -> TorchCompressedBackend:
    """A float16 or bfloat16 copy of ``backend``'s model (all parameters and buffers cast).

    On CPU both run (PyTorch has CPU kernels for them), but only bfloat16 is usually fast there;
    float16 mostly saves memory and disk.
    """
    half, target = to_half(dual_encoder_model(backend), dtype)
    return TorchCompressedBackend(half, backend, target, f"{dtype} copy")


def to_half(module: Any, dtype: str = "float16") -> tuple[Any, Any]:
    """``(a float16/bfloat16 deep copy of module, the torch dtype)``; the original is untouched."""
    import torch

    if dtype not in HALF_DTYPES:
        raise CompressionError(f"Half precision must be one of {', '.join(HALF_DTYPES)}, not {dtype!r}.")
    target = getattr(torch, dtype)
    return copy.deepcopy(module).to(target).eval(), target


def _float32_cpu(module: Any, what: str) -> None:
    import torch

    params = list(module.parameters())
    if params and (params[0].dtype != torch.float32 or params[0].device.type != "cpu"):
        raise CompressionError(f"{what} needs a float32 model on the CPU; this one is "
                               f"{params[0].dtype} on {params[0].device}.",
                               hint="Load the pipeline with device='cpu' (and the default float32 dtype).")
    if not any(isinstance(m, torch.nn.Linear) for m in module.modules()):
        raise CompressionError(f"The model has no nn.Linear layer for {what[0].lower() + what[1:]} to convert "
                               "(a network of convolutions).",
                               hint="Convolutions need static quantization with calibration data, which mmbench does "
                                    "not do; use 'bfloat16' (half the size) or 'onnx' (ONNX Runtime) instead.")


def quantize_linear_int8(module: Any) -> Any:
    """Dynamic int8 quantization (``torch.ao.quantization.quantize_dynamic``) of every ``nn.Linear``
    of a deep copy of ``module``: int8 weights with one scale per output channel (per-tensor scales
    cost MiniLM's embeddings a cosine of 0.945 to the original, per-channel 0.98, at the same speed),
    activations quantized on the fly per batch (no calibration). Convolutions, embeddings, layer
    norms and attention stay in float32."""
    import torch

    _float32_cpu(module, "Dynamic int8 quantization")
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as err:  # pragma: no cover - removed from a future torch
        raise CompressionError("This PyTorch has no torch.ao.quantization.quantize_dynamic.",
                               hint="Install a PyTorch that still ships torch.ao (<= 2.14), or use the 'onnx-int8' "
                                    "method (ONNX Runtime quantization).") from err
    copied = copy.deepcopy(module).eval()
    names = _linear_names(copied)
    if not names:
        raise CompressionError("Every nn.Linear of the model sits inside a PyTorch transformer layer, whose fused "
                               "fast path cannot run quantized weights.", hint="Use 'bfloat16' or 'torchao-int8'.")
    with warnings.catch_warnings():  # torch.ao's deprecation notice (the API moves to torchao)
        warnings.simplefilter("ignore")
        return quantize_dynamic(copied, {name: per_channel_dynamic_qconfig for name in names}, dtype=torch.qint8)


def _linear_names(module: Any) -> set[str]:
    """Names of the ``nn.Linear`` layers to quantize: all but those inside ``nn.TransformerEncoderLayer``/
    ``DecoderLayer``/``MultiheadAttention``, whose fused fast path reads ``.weight`` tensors (PyTorch's
    own attention keeps its output projection unquantized for the same reason)."""
    import torch

    fused = (torch.nn.TransformerEncoderLayer, torch.nn.TransformerDecoderLayer, torch.nn.MultiheadAttention)
    skip = [name for name, m in module.named_modules() if isinstance(m, fused)]
    return {name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)
            and not any(name.startswith(prefix + ".") for prefix in skip)}


def torchao_weight_only_int8(module: Any) -> Any:
    """Weight-only int8 (torchao ``Int8WeightOnlyConfig``: int8 weights with a per-channel scale,
    float activations) of every ``nn.Linear`` of a deep copy of ``module``.

    In eager mode on a CPU the weights are dequantized at every call, so it saves memory but is
    usually *slower* than float32; torchao's speed-ups come from ``torch.compile`` fusing the
    dequantization into the matmul (and from GPUs). ``mmbench bench compress`` measures it.
    """
    from ..errors import DependencyError

    _float32_cpu(module, "Weight-only int8 (torchao)")
    import logging

    pytree_log = logging.getLogger("torch.utils._pytree")
    level = pytree_log.level
    pytree_log.setLevel(logging.ERROR)  # torchao's import logs a deprecation notice of torch.compile's
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except ImportError as err:
        raise DependencyError("The 'torchao-int8' method needs the Python package 'torchao', which is not installed.",
                              hint="Run: pip install torchao (it is in mmbench's dependencies: pip install -e .)") from err
    finally:
        pytree_log.setLevel(level)
    quantized = copy.deepcopy(module).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_(quantized, Int8WeightOnlyConfig())
    return quantized


def int8_dynamic(backend: Any) -> TorchCompressedBackend:
    """Dynamic int8 quantization of every ``nn.Linear`` of ``backend``'s dual encoder
    (:func:`quantize_linear_int8`). Needs a float32 model on the CPU (quantized kernels are CPU-only)."""
    import torch

    quantized = quantize_linear_int8(dual_encoder_model(backend))
    return TorchCompressedBackend(quantized, backend, torch.float32, "dynamic int8 (torch.ao, nn.Linear)")


def torchao_int8(backend: Any) -> TorchCompressedBackend:
    """Weight-only int8 (torchao) of ``backend``'s dual encoder (:func:`torchao_weight_only_int8`)."""
    import torch

    quantized = torchao_weight_only_int8(dual_encoder_model(backend))
    return TorchCompressedBackend(quantized, backend, torch.float32, "weight-only int8 (torchao)")
