"""``compress(pipe, method)``: one entry point over the compression techniques.

Every method returns a :class:`CompressedModel` whose ``pipeline`` is a matching pipeline of the
same class as ``pipe`` over the compressed backend, so the same evaluation code
(:func:`mmbench.eval.matching.evaluate_matching`, ``zero_shot_classify_batch``...) scores it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CompressionError, UnknownMethodError
from .onnx_runtime import OnnxBackend, export_towers, quantize_int8
from .torch_methods import TorchCompressedBackend, dual_encoder_model, half_precision, int8_dynamic

#: method name -> what it does (shown by the benchmark and in errors).
METHODS: dict[str, str] = {
    "fp32": "the original float32 PyTorch model (the reference row)",
    "float16": "float16 copy of every weight (PyTorch)",
    "bfloat16": "bfloat16 copy of every weight (PyTorch)",
    "int8-dynamic": "dynamic int8 quantization of nn.Linear (torch.ao.quantization.quantize_dynamic)",
    "onnx": "image and text towers exported to ONNX, run by ONNX Runtime (CPU provider, float32)",
    "onnx-int8": "the ONNX towers quantized to dynamic int8 by onnxruntime.quantization, run by ONNX Runtime",
    "distilled": "the distilled student (knowledge distillation on the procedural world, mmbench train tiny-clip-student)",
}

#: teacher registry row -> the registry row of its distilled student (the ``"distilled"`` method loads it).
DISTILLED_STUDENTS: dict[str, str] = {"mmbench-tiny-clip": "mmbench-tiny-clip-student"}

#: Child modules that are not part of the two towers (the tiny CLIP's matching head). They are left
#: out of ``size_bytes`` so that PyTorch rows and the ONNX files (towers only) measure the same parts.
HEAD_MODULES = ("itm",)


@dataclass
class CompressedModel:
    """A compressed copy of a matching pipeline's model.

    Attributes:
        method: a key of :data:`METHODS`.
        backend: backend-like object (``preprocess_images``, ``tokenize``, ``encode_images``,
            ``encode_texts``, ``logit_scale``, ``embed_dim``) running the compressed model.
        pipeline: a pipeline of the original's class over ``backend``; its ``spec.name`` is
            ``"<model>+<method>"``.
        files: the files written (model weights or ONNX files).
        size_bytes: bytes on disk of the two towers and projections as stored by this method.
    """

    method: str
    backend: Any
    pipeline: Any
    files: list[Path] = field(default_factory=list)
    size_bytes: int = 0

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    def __repr__(self) -> str:
        return f"CompressedModel(method={self.method!r}, model={self.pipeline.spec.name!r}, size_mb={self.size_mb:.2f})"


def _save_torch(model: Any, folder: Path) -> Path:
    """``torch.save`` of the state dict minus :data:`HEAD_MODULES` (int8 packed weights included)."""
    import torch

    state = {k: v for k, v in model.state_dict().items() if k.split(".")[0] not in HEAD_MODULES}
    path = folder / "towers.pt"
    torch.save(state, path)
    return path


def _distilled(pipe: Any) -> Any:
    """The registered student of ``pipe``'s model, on ``pipe``'s device, as a compressed backend."""
    from ..loading import pipeline

    student = DISTILLED_STUDENTS.get(pipe.spec.name)
    if student is None:
        raise CompressionError(f"'{pipe.spec.name}' has no distilled student.",
                               hint=f"Distilled students exist for: {', '.join(DISTILLED_STUDENTS)}.")
    sb = pipeline("image-text-matching", model=student, device=str(pipe.backend.device), fallback=False,
                  cache=False).backend
    return TorchCompressedBackend(dual_encoder_model(sb), sb, sb.dtype, METHODS["distilled"])


def compress(pipe: Any, method: str, *, folder: str | Path | None = None, threads: int | None = None) -> CompressedModel:
    """Compress the model of an image-text matching pipeline ``pipe`` with ``method``.

    Args:
        pipe: a loaded matching pipeline, e.g.
            ``mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")``.
        method: one of :data:`METHODS` (``"fp32"``, ``"float16"``, ``"bfloat16"``, ``"int8-dynamic"``,
            ``"onnx"``, ``"onnx-int8"``, ``"distilled"``: the student of :data:`DISTILLED_STUDENTS` trained
        by ``mmbench train tiny-clip-student``, loaded from its registry row, not trained here).
        folder: where the files go (a new temporary folder when omitted).
        threads: ONNX Runtime intra-op threads (default: ``torch.get_num_threads()``).

    Raises:
        UnknownMethodError: ``method`` is not in :data:`METHODS`.
        CompressionError: the model cannot be compressed that way (e.g. an operator has no ONNX
            translation); the hint says what to use instead.
        DependencyError: ``onnx``/``onnxruntime`` is not installed.
    """
    if method not in METHODS:
        raise UnknownMethodError(f"Unknown compression method {method!r}.",
                                 hint=f"Use one of: {', '.join(METHODS)}.")
    backend = getattr(pipe, "backend", None)
    if backend is None:
        raise CompressionError(f"{pipe!r} is not a loaded mmbench pipeline.",
                               hint="Pass the object returned by mmbench.pipeline('image-text-matching', ...).")
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix=f"mmbench-{method}-"))
    folder.mkdir(parents=True, exist_ok=True)
    if method in ("onnx", "onnx-int8"):
        paths = export_towers(backend, folder)
        if method == "onnx-int8":
            paths = quantize_int8(paths, folder)
        new: Any = OnnxBackend(paths, backend, METHODS[method], threads=threads)
        files = list(paths.values())
    else:
        if method == "distilled":
            new = _distilled(pipe)
        elif method == "fp32":
            new = TorchCompressedBackend(dual_encoder_model(backend), backend, backend.dtype, METHODS[method])
        elif method == "int8-dynamic":
            new = int8_dynamic(backend)
        else:
            new = half_precision(backend, method)
        files = [_save_torch(new.model, folder)]
    spec = dataclasses.replace(pipe.spec, name=f"{pipe.spec.name}+{method}")
    wrapped = type(pipe)(new, spec, getattr(pipe, "notice", ""))
    return CompressedModel(method, new, wrapped, files, sum(f.stat().st_size for f in files))
