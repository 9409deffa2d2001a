"""``compress(pipe, method)``: one entry point over the compression techniques.

Every method returns a :class:`CompressedModel` whose ``pipeline`` is a pipeline of the same class
as ``pipe`` over the compressed backend, so the same evaluation code scores it
(:func:`mmbench.eval.matching.evaluate_matching`, ``zero_shot_classify_batch``, ``embed``,
``probabilities``...). CLIPs go through the dual-encoder path here (two ONNX towers); the other
families through :mod:`.targets`, faster-whisper through :mod:`.ct2`, pruning through :mod:`.pruning`.
A fusion-lab model has no pipeline: its ``CompressedModel.backend`` is the compressed model."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CompressionError, UnknownMethodError
from .onnx_runtime import OnnxBackend, export_towers, quantize_int8
from .torch_methods import TorchCompressedBackend, dual_encoder_model, half_precision, int8_dynamic, torchao_int8

#: method name -> what it does (shown by the benchmark and in errors).
METHODS: dict[str, str] = {
    "fp32": "the original float32 PyTorch model (the reference row)",
    "float16": "float16 copy of every weight (PyTorch)",
    "bfloat16": "bfloat16 copy of every weight (PyTorch)",
    "int8-dynamic": "dynamic int8 quantization of nn.Linear (torch.ao.quantization.quantize_dynamic); "
                    "CTranslate2 int8 for faster-whisper models",
    "torchao-int8": "weight-only int8 of nn.Linear (torchao Int8WeightOnlyConfig; eager PyTorch)",
    "onnx": "exported to ONNX, run by ONNX Runtime (CPU provider, float32, every graph optimisation)",
    "onnx-int8": "the ONNX export quantized to dynamic int8 by onnxruntime.quantization, run by ONNX Runtime",
    "prune-magnitude": "global L1 magnitude pruning of every nn.Linear (amount=0.5) + a short fine-tune (tiny CLIP)",
    "prune-structured": "structured pruning of MLP hidden units (amount=0.5) + a short fine-tune (tiny CLIP)",
    "distilled": "the distilled student (knowledge distillation on the procedural world: mmbench train "
                 "tiny-clip-student for the tiny CLIP; trained at call time, a quarter of the size, for a fusion model)",
    "ct2-float32": "CTranslate2 float32 (faster-whisper models; the same as fp32 there)",
    "ct2-int8": "CTranslate2 int8 weights and on-the-fly int8 activations (faster-whisper models)",
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


def _fusion_student(teacher: Any, data: Any, folder: Path) -> tuple[Any, list[Path]]:
    """A fusion model distilled into a quarter-size student on ``data`` (a fusion-lab ``LabData``;
    default: the ``lab_data`` the teacher carries), :func:`mmbench.fusion.distill.distill`."""
    import torch

    from ..fusion.distill import distill

    data = data if data is not None else getattr(teacher, "lab_data", None)
    if data is None or not all(hasattr(data, split) for split in ("train", "val")):
        raise CompressionError(f"Distilling the fusion model '{getattr(teacher, 'name', '?')}' needs its training data.",
                               hint="Pass data= (the fusion lab's LabData, e.g. mmbench.fusion.data.seed_data(0, "
                                    "FusionSetting())) or set model.lab_data.")
    student = distill(teacher, data.train, data.val)
    path = folder / "student.pt"
    torch.save(student.state_dict(), path)
    return student, [path]


def compress(pipe: Any, method: str, *, folder: str | Path | None = None, threads: int | None = None,
             **options: Any) -> CompressedModel:
    """Compress the model of ``pipe`` with ``method``.

    Args:
        pipe: a loaded pipeline, e.g. ``mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip",
            device="cpu")`` (CLIPs with ``encode_image``/``encode_text``), a sentence-embedding,
            EfficientNet-Lite or tiny-video pipeline (:data:`mmbench.compress.targets.TARGETS`), a
            faster-whisper speech pipeline (``fp32``/``ct2-float32``, ``int8-dynamic``/``ct2-int8``),
            or a trained fusion-lab model (a ``FusionModel``; the result's ``backend`` is the model).
        method: one of :data:`METHODS`. ``"distilled"`` loads the student of :data:`DISTILLED_STUDENTS`
            (trained by ``mmbench train tiny-clip-student``, not here), or for a fusion model trains a
            quarter-size student here (:mod:`mmbench.fusion.distill`, ~15 s on one core); the
            ``prune-*`` methods fine-tune.
        folder: where the files go (a new temporary folder when omitted).
        threads: ONNX Runtime intra-op threads and CTranslate2 threads (default: ``torch.get_num_threads()``).
        options: ``amount`` (pruned share, default 0.5), ``finetune_steps`` (default 100),
            ``batch_size`` (default 32) and ``log`` (a progress callback) for the ``prune-*`` methods;
            ``data`` (the fusion lab's ``LabData``; default ``model.lab_data``) for a fusion model's ``distilled``.

    Raises:
        UnknownMethodError: ``method`` is not in :data:`METHODS`.
        CompressionError: the model cannot be compressed that way (e.g. an operator has no ONNX
            translation, or the method does not apply to the model); the hint says what to use instead.
        DependencyError: ``onnx``/``onnxruntime``/``torchao`` is not installed.
    """
    from .ct2 import ct2_backend, is_ct2_pipeline
    from .targets import compress_network, is_fusion_model

    if method not in METHODS:
        raise UnknownMethodError(f"Unknown compression method {method!r}.",
                                 hint=f"Use one of: {', '.join(METHODS)}.")
    fusion_student = method == "distilled" and is_fusion_model(pipe)
    unknown = set(options) - ({"data"} if fusion_student else {"amount", "finetune_steps", "batch_size", "log"})
    if unknown or (options and not (method.startswith("prune-") or fusion_student)):
        raise CompressionError(f"Options {sorted(options)} do not apply to the {method!r} method.",
                               hint="amount=, finetune_steps=, batch_size= and log= are for prune-magnitude "
                                    "and prune-structured; data= for 'distilled' on a fusion model.")
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix=f"mmbench-{method}-"))
    folder.mkdir(parents=True, exist_ok=True)
    if fusion_student:
        model, files = _fusion_student(pipe, options.get("data"), folder)
        return CompressedModel(method, model, None, files, sum(f.stat().st_size for f in files))
    if is_fusion_model(pipe):
        model, files = compress_network(pipe, method, folder, threads)
        return CompressedModel(method, model, None, files, sum(f.stat().st_size for f in files))
    backend = getattr(pipe, "backend", None)
    if backend is None:
        raise CompressionError(f"{pipe!r} is not a loaded mmbench pipeline.",
                               hint="Pass the object returned by mmbench.pipeline(...), e.g. "
                                    "mmbench.pipeline('image-text-matching', model='mmbench-tiny-clip').")
    if is_ct2_pipeline(pipe):
        new: Any = ct2_backend(pipe, method, threads)
        files = sorted(Path(new.path).glob("*.bin"))
    elif getattr(getattr(pipe, "spec", None), "task", None) != "image-text-matching":
        new, files = compress_network(pipe, method, folder, threads)
    else:
        new, files = _dual_encoder(pipe, backend, method, folder, threads, options)
    spec = dataclasses.replace(pipe.spec, name=f"{pipe.spec.name}+{method}")
    wrapped = type(pipe)(new, spec, getattr(pipe, "notice", ""))
    return CompressedModel(method, new, wrapped, files, sum(f.stat().st_size for f in files))


def _dual_encoder(pipe: Any, backend: Any, method: str, folder: Path, threads: int | None,
                  options: dict) -> tuple[Any, list[Path]]:
    """The tiny CLIP (or another PyTorch CLIP) path: two towers, the matching head kept by PyTorch methods."""
    if method in ("onnx", "onnx-int8"):
        paths = export_towers(backend, folder)
        if method == "onnx-int8":
            paths = quantize_int8(paths, folder)
        return OnnxBackend(paths, backend, METHODS[method], threads=threads), list(paths.values())
    if method == "distilled":
        new = _distilled(pipe)
    elif method == "fp32":
        new = TorchCompressedBackend(dual_encoder_model(backend), backend, backend.dtype, METHODS[method])
    elif method == "int8-dynamic":
        new = int8_dynamic(backend)
    elif method == "torchao-int8":
        new = torchao_int8(backend)
    elif method.startswith("prune-"):
        from .pruning import prune_backend

        new = prune_backend(backend, method, **options)
    elif method in ("float16", "bfloat16"):
        new = half_precision(backend, method)
    else:
        raise CompressionError(f"The method {method!r} does not apply to '{pipe.spec.name}'.",
                               hint="ct2-* methods are for faster-whisper speech models.")
    return new, [_save_torch(new.model, folder)]
