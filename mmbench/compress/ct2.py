"""Whisper through CTranslate2 (faster-whisper) at another compute type: int8 or float32.

The offline tier ``whisper-tiny.en-ct2`` ships CTranslate2 weights stored in float16 (75 MB for 39 M
parameters). CTranslate2 converts them when it loads the model: ``compute_type="float32"`` runs the
original weights in float32, ``"int8"`` quantizes every weight matrix to int8 (per-row scales) and
quantizes activations on the fly (``int8_float32`` on CPUs: int8 matmuls, float32 elsewhere). No
file is written: the same model folder is loaded with the other compute type; ``weight_bytes`` is
what the weights take in memory (parameters x bytes of the compute type's weight dtype).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ..errors import CompressionError

#: compress method -> CTranslate2 compute type on the CPU.
CT2_METHODS: dict[str, str] = {"fp32": "float32", "int8-dynamic": "int8", "ct2-float32": "float32", "ct2-int8": "int8"}
#: bytes per weight held in memory by a compute type.
WEIGHT_BYTES = {"float32": 4, "int8": 1, "int8_float32": 1, "float16": 2, "bfloat16": 2, "int8_float16": 1}


def is_ct2_pipeline(pipe: Any) -> bool:
    """A speech-recognition pipeline over faster-whisper (a CTranslate2 model)."""
    return getattr(getattr(pipe, "spec", None), "backend", None) == "faster_whisper"


def ct2_backend(pipe: Any, method: str, threads: int | None = None) -> Any:
    """A copy of ``pipe``'s faster-whisper backend loaded with the compute type of ``method``
    (:data:`CT2_METHODS`), on the CPU with ``threads`` threads (default: the cores, at most 4, as the backend)."""
    if method not in CT2_METHODS:
        raise CompressionError(f"The method {method!r} does not apply to a CTranslate2 Whisper model.",
                               hint=f"Use one of: {', '.join(CT2_METHODS)} (CTranslate2 float32 or int8).")
    from faster_whisper import WhisperModel

    original = pipe.backend
    compute_type = CT2_METHODS[method]
    cpu_threads = int(threads or min(4, os.cpu_count() or 1))
    try:
        model = WhisperModel(str(original.path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)
    except (RuntimeError, ValueError) as err:
        raise CompressionError(f"CTranslate2 cannot load '{pipe.spec.name}' as {compute_type}: {err}",
                               hint="Supported on this CPU: " + ", ".join(_supported())) from err
    new = copy.copy(original)
    new.model, new.dtype = model, compute_type
    new.note = f"CTranslate2 {model.model.compute_type}"
    return new


def weight_bytes(backend: Any, params: int) -> int:
    """Bytes of the weights in memory at the backend's compute type (``params`` from the registry)."""
    return int(params * WEIGHT_BYTES.get(str(backend.model.model.compute_type), 4))


def _supported() -> list[str]:
    import ctranslate2

    return sorted(ctranslate2.get_supported_compute_types("cpu"))
