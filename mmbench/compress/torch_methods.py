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
    import torch

    if dtype not in HALF_DTYPES:
        raise CompressionError(f"Half precision must be one of {', '.join(HALF_DTYPES)}, not {dtype!r}.")
    model = dual_encoder_model(backend)
    target = getattr(torch, dtype)
    half = copy.deepcopy(model).to(target).eval()
    return TorchCompressedBackend(half, backend, target, f"{dtype} copy")


def int8_dynamic(backend: Any) -> TorchCompressedBackend:
    """Dynamic int8 quantization (``torch.ao.quantization.quantize_dynamic``) of every ``nn.Linear``.

    Weights are stored as int8 (per-tensor scale); activations are quantized on the fly per batch,
    so no calibration data is needed. Convolutions, embeddings and layer norms stay in float32.
    Needs a float32 model on the CPU (quantized kernels are CPU-only).
    """
    import torch

    model = dual_encoder_model(backend)
    params = list(model.parameters())
    if params and (params[0].dtype != torch.float32 or params[0].device.type != "cpu"):
        raise CompressionError(f"Dynamic int8 quantization needs a float32 model on the CPU; this one is "
                               f"{params[0].dtype} on {params[0].device}.",
                               hint="Load the pipeline with device='cpu' (and the default float32 dtype).")
    if not any(isinstance(m, torch.nn.Linear) for m in model.modules()):
        raise CompressionError("The model has no nn.Linear layer for dynamic int8 quantization to convert.")
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as err:  # pragma: no cover - removed from a future torch
        raise CompressionError("This PyTorch has no torch.ao.quantization.quantize_dynamic.",
                               hint="Install a PyTorch that still ships torch.ao (<= 2.14), or use the 'onnx-int8' "
                                    "method (ONNX Runtime quantization).") from err
    with warnings.catch_warnings():  # torch.ao's deprecation notice (the API moves to torchao)
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, dtype=torch.qint8)
    return TorchCompressedBackend(quantized, backend, torch.float32, "dynamic int8 (torch.ao, nn.Linear)")
