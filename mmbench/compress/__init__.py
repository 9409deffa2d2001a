"""Model compression (chapter 7.5.2): one entry point over quantization, pruning, distillation and
optimised runtimes, for the tiny CLIP and the other offline models.

>>> pipe = mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")  # doctest: +SKIP
>>> small = compress(pipe, "int8-dynamic")                                                   # doctest: +SKIP
>>> small.pipeline.zero_shot_classify(image, ["red circle", "blue square"])                  # doctest: +SKIP

:func:`compress` is the one entry point (methods in :data:`METHODS`; the families it knows besides
CLIPs in :data:`mmbench.compress.targets.TARGETS`, plus fusion-lab models and faster-whisper). The
techniques are also callable on their own: :func:`half_precision`, :func:`int8_dynamic`,
:func:`quantize_linear_int8`, :func:`torchao_weight_only_int8` (PyTorch), :func:`export_towers` /
:func:`export_module` / :func:`quantize_int8` / :class:`OnnxBackend` (ONNX Runtime),
:func:`magnitude_prune` / :func:`structured_prune` (pruning), and :func:`cpu_runtime` sets the
threads and allocator a measurement runs with. ``mmbench bench compress`` measures size, latency
and each model's held-out metric. Registry rows with ``backend = "compressed"`` (e.g.
``mmbench-tiny-clip-int8``, ``-onnx``, ``-onnx-int8``) are built by :mod:`.loader` when
``mmbench.pipeline`` loads them.
"""

from __future__ import annotations

from .api import DISTILLED_STUDENTS, METHODS, CompressedModel, compress
from .onnx_runtime import OnnxBackend, export_module, export_towers, make_session, quantize_int8
from .pruning import magnitude_prune, sparsity, structured_prune
from .runtime import cpu_runtime, reuse_freed_memory
from .torch_methods import (TorchCompressedBackend, half_precision, int8_dynamic, quantize_linear_int8,
                            torchao_weight_only_int8)

__all__ = ["DISTILLED_STUDENTS", "METHODS", "CompressedModel", "compress", "OnnxBackend", "export_module",
           "export_towers", "make_session", "quantize_int8", "magnitude_prune", "sparsity", "structured_prune",
           "cpu_runtime", "reuse_freed_memory", "TorchCompressedBackend", "half_precision", "int8_dynamic",
           "quantize_linear_int8", "torchao_weight_only_int8"]
