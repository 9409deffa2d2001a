"""``mmbench.pipeline``: the one door through which every model is loaded.

Resolution order for ``pipeline(task)``: the task's default *online* checkpoint (the real
pretrained model), and when that cannot be resolved here (no network, ``HF_HUB_OFFLINE=1``,
``MMBENCH_OFFLINE=1``, missing package) the task's *offline* tier, with a visible notice on the
returned pipeline saying what happened. If nothing can load, :class:`ModelUnavailableError`
names the checkpoint and how to obtain it. Loaded pipelines live in one bounded LRU cache.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from .backends import get_loader, offline_mode
from .cache import ModelCache
from .device import resolve_device, resolve_dtype
from .errors import ModelUnavailableError, UnknownTaskError
from .registry import ModelSpec, default_spec, get_spec, tasks
from .telemetry import watch_cache

log = logging.getLogger("mmbench")

#: task -> "module:class" of its pipeline.
TASK_PIPELINES: dict[str, str] = {
    "image-text-matching": "mmbench.pipelines.matching:ImageTextMatchingPipeline",
    "image-classification": "mmbench.pipelines.classification:ImageClassificationPipeline",
    "sentence-embedding": "mmbench.pipelines.sentence_embedding:SentenceEmbeddingPipeline",
    "audio-classification": "mmbench.pipelines.audio_classification:AudioClassificationPipeline",
    "speech-recognition": "mmbench.pipelines.speech:SpeechRecognitionPipeline",
    "video-classification": "mmbench.pipelines.video:VideoClassificationPipeline",
    "text-to-speech": "mmbench.pipelines.audio_generation:TextToSpeechPipeline",
    "text-to-audio": "mmbench.pipelines.audio_generation:TextToAudioPipeline",
    "image-to-text": "mmbench.pipelines.captioning:ImageCaptioningPipeline",
    "visual-question-answering": "mmbench.pipelines.vqa:VisualQuestionAnsweringPipeline",
    "text-to-image": "mmbench.pipelines.text_to_image:TextToImagePipeline",
    "face-expression": "mmbench.pipelines.face_expression:FaceExpressionPipeline",
}

#: The process-wide model cache (bounded by count and memory); its loads, hits and evictions are
#: reported in the Prometheus metrics (read at scrape time: nothing is imported here).
MODEL_CACHE = ModelCache()
watch_cache(MODEL_CACHE)


def pipeline(task: str, model: str | ModelSpec | None = None, device: Any = None, dtype: Any = None,
             *, fallback: bool = True, cache: bool = True) -> Any:
    """Load the pipeline for ``task``.

    Args:
        task: e.g. ``"image-text-matching"`` (see :func:`mmbench.registry.tasks`).
        model: registry name (``"openclip-vit-b-32"``, ``"mmbench-tiny-clip"``), a
            :class:`~mmbench.registry.ModelSpec`, or None for the task default.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"`` or None (auto: cuda → mps → cpu).
        dtype: override the device's default dtype (fp32 on CPU, bf16/fp16 on GPU).
        fallback: when the requested online checkpoint cannot be loaded, load the task's
            offline tier instead (and say so in ``pipe.notice``). False raises instead.
        cache: reuse an already-loaded model from the process-wide LRU cache.

    Returns:
        The task's pipeline object; ``pipe.notice`` is non-empty after a fallback.

    Raises:
        UnknownTaskError, UnknownModelError, ModelUnavailableError (message names the checkpoint
        and how to get it), InvalidInputError (bad device/dtype).
    """
    if task not in TASK_PIPELINES:
        planned = task in tasks()
        raise UnknownTaskError(
            f"Task '{task}' is {'planned but not implemented yet' if planned else 'unknown'}.",
            hint=f"Available tasks: {', '.join(sorted(TASK_PIPELINES))}.")
    dev = resolve_device(device)
    dt = resolve_dtype(dev, dtype)
    if isinstance(model, ModelSpec):
        spec = model
    elif model is None:
        spec = default_spec(task, "online") or default_spec(task, "offline")
        assert spec is not None
    else:
        spec = get_spec(model, task)

    notice = ""
    try:
        backend = _load_backend_remembering_failures(spec, dev, dt, cache)
    except ModelUnavailableError as err:
        offline = default_spec(task, "offline")
        if not fallback or spec.tier != "online" or offline is None or offline.name == spec.name:
            raise
        reason = str(err.message).rstrip(".")
        notice = (f"Could not load the online model '{spec.name}' ({reason}); "
                  f"using the offline model '{offline.name}' instead.")
        if _warned.setdefault(notice, True) is True and len(_warned) < 1000:
            _warned[notice] = False
            log.warning(notice)  # once per process and reason, not on every request
        spec = offline
        backend = _load_backend(spec, dev, dt, cache)
    module, cls = TASK_PIPELINES[task].split(":")
    pipe_cls = getattr(importlib.import_module(module), cls)
    return pipe_cls(backend, spec, notice=notice)


#: Online checkpoints that failed to load recently: name -> (monotonic time, error). A web app
#: calls pipeline() on every request; without this each one would retry the hub.
_recent_failures: dict[str, tuple[float, ModelUnavailableError]] = {}
_warned: dict[str, bool] = {}
RETRY_AFTER_S = 300.0


def _load_backend_remembering_failures(spec: ModelSpec, device: Any, dtype: Any, cache: bool) -> Any:
    import time

    key = f"{spec.name}|{spec.source}|{offline_mode()}"
    failed = _recent_failures.get(key)
    if spec.tier == "online" and failed and time.monotonic() - failed[0] < RETRY_AFTER_S:
        raise failed[1]
    try:
        return _load_backend(spec, device, dtype, cache)
    except ModelUnavailableError as err:
        if spec.tier == "online":
            _recent_failures[key] = (time.monotonic(), err)
        raise


def _load_backend(spec: ModelSpec, device: Any, dtype: Any, cache: bool) -> Any:
    if not spec.ready:
        raise ModelUnavailableError(
            f"Model '{spec.name}' is listed in the registry but its pipeline is not implemented yet"
            + (f" (issue #{spec.issue})." if spec.issue else "."), model=spec.name)
    loader = get_loader(spec.backend)
    if loader is None:
        raise ModelUnavailableError(f"No backend '{spec.backend}' for model '{spec.name}'.", model=spec.name)
    key = (spec.name, spec.source, tuple(sorted((k, repr(v)) for k, v in spec.options.items())), str(device), str(dtype))
    if not cache:
        return loader(spec, device, dtype)
    return MODEL_CACHE.get_or_load(key, lambda: loader(spec, device, dtype))
