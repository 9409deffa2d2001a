"""Model compression for image-text matching pipelines (chapter 7.5.2).

>>> pipe = mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")  # doctest: +SKIP
>>> small = compress(pipe, "int8-dynamic")                                                   # doctest: +SKIP
>>> small.pipeline.zero_shot_classify(image, ["red circle", "blue square"])                  # doctest: +SKIP

:func:`compress` is the one entry point (methods in :data:`METHODS`); the techniques are also
callable on a backend: :func:`half_precision`, :func:`int8_dynamic` (PyTorch) and
:func:`export_towers` / :func:`quantize_int8` / :class:`OnnxBackend` (ONNX Runtime).
``mmbench bench compress`` measures size, latency and held-out zero-shot accuracy of each.
"""

from __future__ import annotations

from .api import DISTILLED_STUDENTS, METHODS, CompressedModel, compress
from .onnx_runtime import OnnxBackend, export_towers, quantize_int8
from .torch_methods import TorchCompressedBackend, half_precision, int8_dynamic

__all__ = ["DISTILLED_STUDENTS", "METHODS", "CompressedModel", "compress", "OnnxBackend", "export_towers", "quantize_int8",
           "TorchCompressedBackend", "half_precision", "int8_dynamic"]
